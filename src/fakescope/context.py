"""Opt-in evidence of an extraction besides the face crops: background windows around each face
and runs of truly consecutive frames, for signals that need the background or motion
(``fakescope.forensics``). Off by default; when on, it is part of the cache key."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from .cache import EntryWriter
from .errors import ConfigError
from .faces import CropSettings, FaceCrop, crop_face
from .types import FaceBox, SampledFrame

__all__ = ["ContextCutter", "ContextSettings"]


@dataclass(frozen=True)
class ContextSettings:
    """Opt-in evidence besides the face crops, for signals that need background and motion.

    For each face of each sampled frame, a square window around the face box (``margin`` face-box
    sides: at 2.0 the box fills the central half, seed 000's face/background split) is kept at
    ``size`` pixels, for that frame and the ``run - 1`` frames that follow it in the video (truly
    consecutive frames, all cut at the sampled frame's box so a static background stays still).
    """

    margin: float = 2.0
    size: int = 224
    run: int = 3

    def __post_init__(self) -> None:
        if not 1.0 < self.margin <= 4.0:
            raise ConfigError(f"context.margin must be within (1, 4], got {self.margin}")
        if not 16 <= self.size <= 2048:
            raise ConfigError(f"context.size must be within 16..2048, got {self.size}")
        if not 1 <= self.run <= 16:
            raise ConfigError(f"context.run must be within 1..16, got {self.run}")

    def to_dict(self) -> dict[str, object]:
        return {"margin": self.margin, "size": self.size, "run": self.run}


class ContextCutter:
    """Cuts the windows of ``ContextSettings`` while frames stream past, then names them by
    track once tracking is known (like the face crops)."""

    FOLDER = "context"

    def __init__(self, settings: ContextSettings) -> None:
        self.settings = settings
        self.crop = CropSettings(margin=settings.margin, size=settings.size)
        self.anchors: dict[int, tuple[int, list[FaceBox]]] = {}  # frame index -> (pos, faces)
        self.cuts: dict[tuple[int, int, int], Future[FaceCrop]] = {}  # (pos, face, offset)

    def frames_to_decode(
        self, sampled: list[int], segments: list[int], n_frames: int
    ) -> tuple[list[int], list[int]]:
        seg_of = dict(zip(sampled, segments))
        run = self.settings.run
        want = sorted({i + k for i in sampled for k in range(run) if i + k < n_frames})
        return want, [int(seg_of.get(i, 0)) for i in want]

    def anchor(
        self,
        pos: int,
        frame: SampledFrame,
        faces: list[FaceBox],
        writer: EntryWriter,
        pool: ThreadPoolExecutor,
    ) -> None:
        self.anchors[frame.index] = (pos, faces)
        self._cut(pos, 0, frame, faces, writer, pool)

    def follow(self, frame: SampledFrame, writer: EntryWriter, pool: ThreadPoolExecutor) -> None:
        """Cut ``frame`` at the boxes of the sampled frames it follows within a run."""
        for offset in range(1, self.settings.run):
            anchor = self.anchors.get(frame.index - offset)
            if anchor is not None:
                self._cut(anchor[0], offset, frame, anchor[1], writer, pool)

    def _cut(
        self,
        pos: int,
        offset: int,
        frame: SampledFrame,
        faces: list[FaceBox],
        writer: EntryWriter,
        pool: ThreadPoolExecutor,
    ) -> None:
        for k, box in enumerate(faces):
            self.cuts[(pos, k, offset)] = pool.submit(
                self._cut_and_write, writer, _tmp_name(pos, k, offset), frame.image, box
            )

    def _cut_and_write(
        self, writer: EntryWriter, name: str, image: np.ndarray, box: FaceBox
    ) -> FaceCrop:
        crop = crop_face(image, box, self.crop)
        writer.add_crop(name, crop.image, self.FOLDER)
        return crop

    def track_meta(
        self,
        track: Any,
        detections: list[list[FaceBox]],
        frames: list[dict[str, Any]],
        writer: EntryWriter,
    ) -> dict[str, Any]:
        """Per sampled frame of the track: the run's files and frame indices (consecutive; cut
        short where the video ends), the window in frame pixels (x0, y0, side) and the face box
        in window pixels."""
        files, indices, windows, boxes = [], [], [], []
        for pos, box in zip(track.frames, track.boxes):
            k = next(i for i, b in enumerate(detections[pos]) if b is box)
            first = frames[pos]["index"]
            names: list[str] = []
            crop: FaceCrop | None = None
            for offset in range(self.settings.run):
                future = self.cuts.pop((pos, k, offset), None)
                if future is None:  # the run stops at the first frame that was not decoded
                    break
                cut = future.result()
                if crop is None:
                    crop = cut
                name = f"t{track.track_id:03d}_f{first:06d}_r{offset}.png"
                writer.rename_crop(_tmp_name(pos, k, offset), name, self.FOLDER)
                names.append(name)
            assert crop is not None  # offset 0 is cut with the face crop itself
            m = crop.matrix
            scale = float(m[0, 0])
            corners = np.array([[box.x1, box.y1], [box.x2, box.y2]]) * scale + m[:, 2]
            window = (-m[0, 2] / scale, -m[1, 2] / scale, self.settings.size / scale)
            files.append(names)
            indices.append([first + i for i in range(len(names))])
            windows.append([round(float(v), 2) for v in window])
            boxes.append([round(float(v), 2) for v in corners.ravel()])
        return {
            **self.settings.to_dict(),
            "files": files,
            "frame_indices": indices,
            "windows": windows,
            "boxes": boxes,
        }

    def remove_unused(self, writer: EntryWriter) -> None:
        """Windows of faces that no kept track uses."""
        for (pos, k, offset), future in self.cuts.items():
            future.result()
            writer.remove_crop(_tmp_name(pos, k, offset), self.FOLDER)
        self.cuts.clear()


def _tmp_name(pos: int, k: int, offset: int) -> str:
    return f"tmp_{pos:06d}_{k:03d}_{offset:02d}.png"
