"""Robustness: the same evaluation after the degradations that videos meet on their way to a
viewer, as one table of metric vs. perturbation.

Perturbations (``parse_perturbation``):

``jpeg:Q``
    every cached face crop re-compressed as a JPEG of quality ``Q`` (1-100) before the network;
    the faces found are the clean video's, so only the pixels of the crops change.
``h264:CRF[:PRESET]``
    the whole video re-encoded with H.264 (libx264, ``CRF`` 0-51, x264's default preset
    ``medium``), then sampled, faces detected and scored from scratch, as a re-upload would be.
``resize:SHORT[:CRF]``
    the video downscaled so that its short side is ``SHORT`` pixels (never upscaled) and
    re-encoded with H.264 at ``CRF`` (default 18, visually lossless), so the loss is resolution.

Re-encoded videos are kept under ``CACHE/perturbed/`` by content (an interrupted run resumes)
and their faces go through the crop cache like any video. Audio is dropped; frame timestamps,
display rotation and every frame are kept.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, InputError
from ..io.reencode import PRESETS, reencode_video

__all__ = [
    "DEFAULT_PERTURBATIONS",
    "Perturbation",
    "jpeg_crops",
    "make_robustness_job",
    "parse_perturbation",
    "parse_perturbations",
    "perturbed_video",
    "reencode_video",
]

DEFAULT_PERTURBATIONS = (
    "jpeg:100", "jpeg:90", "jpeg:75", "jpeg:50", "jpeg:30",
    "h264:23", "h264:32", "h264:40", "resize:480",
)  # fmt: skip


@dataclass(frozen=True)
class Perturbation:
    """One degradation; ``kind`` is ``crop`` (applied to the face crops) or ``video``."""

    name: str
    kind: str
    quality: int = 0
    crf: int = 0
    short_side: int = 0
    preset: str = "medium"

    @property
    def label(self) -> str:
        if self.kind == "crop":
            return f"JPEG quality {self.quality} (face crops)"
        if self.short_side:
            return f"downscaled to {self.short_side}p (H.264 CRF {self.crf})"
        return f"H.264 CRF {self.crf}" + (f" ({self.preset})" if self.preset != "medium" else "")

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")


def _int(spec: str, text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ConfigError(
            f"robustness: '{spec}': expected an integer in {low}..{high}, got '{text}'"
        )
    return value


def parse_perturbation(spec: str) -> Perturbation:
    """``jpeg:75`` | ``h264:32`` | ``h264:32:veryfast`` | ``resize:480`` | ``resize:480:23``."""
    parts = spec.strip().lower().split(":")
    kind, args = parts[0], parts[1:]
    if kind == "jpeg" and len(args) == 1:
        return Perturbation(spec.strip(), "crop", quality=_int(spec, args[0], 1, 100))
    if kind == "h264" and len(args) in (1, 2):
        preset = args[1] if len(args) == 2 else "medium"
        if preset not in PRESETS:
            raise ConfigError(
                f"robustness: '{spec}': unknown x264 preset; choose from {', '.join(PRESETS)}"
            )
        return Perturbation(spec.strip(), "video", crf=_int(spec, args[0], 0, 51), preset=preset)
    if kind == "resize" and len(args) in (1, 2):
        crf = _int(spec, args[1], 0, 51) if len(args) == 2 else 18
        return Perturbation(
            spec.strip(), "video", crf=crf, short_side=_int(spec, args[0], 16, 8192)
        )
    raise ConfigError(
        f"robustness: unknown perturbation '{spec}'; use jpeg:Q, h264:CRF[:PRESET] or resize:SHORT[:CRF]"
    )


def parse_perturbations(specs: str | list[str] | tuple[str, ...] | None) -> list[Perturbation]:
    """A comma-separated list (or ``default``) -> perturbations, duplicates removed."""
    if specs is None or specs == "default":
        specs = list(DEFAULT_PERTURBATIONS)
    if isinstance(specs, str):
        specs = [s for s in specs.split(",") if s.strip()]
    out: dict[str, Perturbation] = {}
    for spec in specs:
        for s in DEFAULT_PERTURBATIONS if spec.strip() == "default" else [spec]:
            p = parse_perturbation(s)
            out.setdefault(p.name, p)
    if not out:
        raise ConfigError("robustness: no perturbation given")
    return list(out.values())


def jpeg_crops(crops: np.ndarray, quality: int) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB crops, each re-compressed as a JPEG of ``quality``."""
    import cv2

    out = np.empty_like(crops)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    for i, crop in enumerate(crops):
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(crop[..., ::-1]), params)
        if not ok:  # pragma: no cover - OpenCV always encodes a uint8 image
            raise RuntimeError("JPEG encoding failed")
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        if decoded is None:  # pragma: no cover - a buffer OpenCV just wrote always decodes
            raise RuntimeError("JPEG decoding failed")
        out[i] = decoded[..., ::-1]
    return out


def perturbed_video(
    src: str, p: Perturbation, work: str | os.PathLike[str], fingerprint: str | None = None
) -> Path:
    """The re-encoded copy of ``src`` for a video perturbation, made once per content
    (``fingerprint``: the file's ``file_fingerprint``, when the caller has it already)."""
    from ..cache import file_fingerprint

    dst = Path(work) / p.slug / f"{fingerprint or file_fingerprint(src)}.mp4"
    if not dst.is_file():
        reencode_video(src, dst, p.crf, short_side=p.short_side, preset=p.preset)
    return dst


def make_robustness_job(
    model: str,
    settings: Any,
    cache_dir: str,
    specs: list[str],
    device: str = "cpu",
) -> Callable[[str], dict[str, Any]]:
    """Per worker: load the detector once; per video: ``{"path", "perturbed": {name: row}}``
    where each row is what ``make_score_job`` gives for the clean video (status, error, scores).

    A ``StagedJob``: the next video's re-encoding and face extraction overlap this video's
    network passes."""
    from ..cache import file_fingerprint
    from ..engines import StagedJob
    from ..extraction import Extractor
    from ..models import load_detector
    from .protocol import score_row

    detector = load_detector(model, device)
    extractor = Extractor(settings, cache_dir)
    perturbations = [parse_perturbation(s) for s in specs]
    work = Path(cache_dir) / "perturbed"

    def extract(path: str) -> tuple[str, Any, dict[str, Any]]:
        clean = extractor(path) if any(p.kind == "crop" for p in perturbations) else None
        videos: dict[str, Any] = {}
        fingerprint: str | None = None
        for p in perturbations:
            if p.kind == "video":
                try:
                    fingerprint = fingerprint or file_fingerprint(path)  # read the file once
                    videos[p.name] = extractor(perturbed_video(path, p, work, fingerprint))
                except (InputError, OSError) as exc:
                    videos[p.name] = exc
        return path, clean, videos

    def row(
        result: Any, transform: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> dict[str, Any]:
        if isinstance(result, BaseException):
            return {"status": "failed", "error": " ".join(str(result).split())}
        return score_row(result, detector, transform)

    def score(extracted: tuple[str, Any, dict[str, Any]]) -> dict[str, Any]:
        path, clean, videos = extracted
        rows: dict[str, Any] = {}
        for p in perturbations:
            if p.kind == "crop":
                rows[p.name] = row(clean, partial(jpeg_crops, quality=p.quality))
            else:
                rows[p.name] = row(videos[p.name])
        return {"path": path, "perturbed": rows}

    job: Callable[[str], dict[str, Any]] = StagedJob(extract, score)
    return job
