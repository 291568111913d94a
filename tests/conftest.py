"""Shared fixtures: synthetic clips built by the tests, the sample videos when present."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

# Tests never touch the network: the hubs' offline switches are read when huggingface_hub is
# first imported, so set them before anything imports it (a test that sets them later would
# otherwise wait for connection timeouts, about a minute each here)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import av
import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FAKESCOPE_SHARED_DATA", ROOT.parent / "shared" / "data"))
SAMPLES = SHARED_DATA / "samples"


@functools.cache
def _astronaut() -> np.ndarray:
    from skimage import data

    photo = data.astronaut()  # decodes a PNG: ~40 ms, once per session instead of per frame
    photo.flags.writeable = False
    return photo


def face_photo() -> np.ndarray:
    """A real face photo that ships inside scikit-image (512x512 RGB); a fresh copy per call."""
    return _astronaut().copy()


def render_frame(i: int, width: int, height: int, face: bool, variant: int = 0) -> np.ndarray:
    """Frame ``i`` of a synthetic clip: the astronaut photo drifting, or a face-free pattern.

    Each frame carries its index as a bright bar code along the top edge so that tests can
    check which frame a decoder returned.
    """
    if face:
        photo = _astronaut()
        side = min(width, height)
        scale = side / 512 * 0.95
        dx = (width - 512 * scale) / 2 + 6 * np.sin(i / 5 + variant)
        dy = (height - 512 * scale) / 2 + 4 * np.cos(i / 7 + variant)
        m = np.array([[scale, 0, dx], [0, scale, dy]], np.float32)
        img = cv2.warpAffine(photo, m, (width, height), borderMode=cv2.BORDER_CONSTANT)
    else:
        yy, xx = np.mgrid[0:height, 0:width]
        img = np.stack(
            [
                (xx * 255 // max(1, width - 1)),
                (yy * 255 // max(1, height - 1)),
                np.full_like(xx, (i * 7) % 255),
            ],
            axis=-1,
        ).astype(np.uint8)
    return img


def write_video(
    path: Path,
    n_frames: int = 40,
    width: int = 320,
    height: int = 240,
    fps: int = 25,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    face: bool = True,
    rotation: int = 0,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    variant: int = 0,
) -> Path:
    """Encode a synthetic clip with PyAV. ``pts`` (in ``time_base``) makes a variable-rate clip.

    ``width``/``height`` are the display size: with ``rotation`` the frames are stored turned
    the other way, as a phone records them, and the display matrix turns them upright.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    k = (rotation // 90) % 4
    stored_w, stored_h = (height, width) if k % 2 else (width, height)
    with av.open(str(path), "w", options=container_options or {}) as c:
        s = c.add_stream(codec, rate=fps, options=options or {})
        s.width, s.height, s.pix_fmt = stored_w, stored_h, pix_fmt
        if time_base is not None:
            s.time_base = time_base
            s.codec_context.time_base = time_base
        if rotation:
            s.set_display_rotation(rotation)
        for i in range(n_frames):
            image = np.ascontiguousarray(
                np.rot90(render_frame(i, width, height, face, variant), -k)
            )
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if pts is not None:
                frame.pts = int(pts[i])
                frame.time_base = time_base
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    return path


def decode_all_rgb(path: Path) -> list[np.ndarray]:
    """Reference: every frame of a plain sequential decode, RGB."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


@pytest.fixture(autouse=True)
def _torch_threads_kept() -> Iterator[None]:
    """PyTorch's thread count is process-wide: a test (or a library it calls) that lowers it
    would leave every later test on fewer cores, so it is put back after each test."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    yield
    if torch is not None and before is not None and torch.get_num_threads() != before:
        torch.set_num_threads(before)


@pytest.fixture
def make_video(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str = "clip.mp4", **kwargs: object) -> Path:
        return write_video(tmp_path / name, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def face_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-second 320x240 H.264 clip (B-frames, keyframe every 12 frames) with one face."""
    return write_video(
        tmp_path_factory.mktemp("clips") / "face.mp4", n_frames=50, options={"g": "12", "bf": "2"}
    )


@pytest.fixture(scope="session")
def samples() -> Path:
    if not (SAMPLES / "labels.csv").is_file():
        pytest.skip(f"sample videos not found in {SAMPLES} (set FAKESCOPE_SHARED_DATA)")
    return SAMPLES


@pytest.fixture
def offline_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Hugging Face hub switched off for one test, even where huggingface_hub was imported
    before the environment said so (its switch is read at import)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    try:
        import huggingface_hub.constants as hub_constants
    except ImportError:
        return
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)


def write_av_clip(
    path: Path,
    n_frames: int = 50,
    fps: int = 25,
    width: int = 160,
    height: int = 120,
    audio: np.ndarray | None = None,
    sample_rate: int = 44100,
    audio_codec: str = "aac",
    audio_delay: float = 0.0,
    face: bool = False,
) -> Path:
    """A clip with a video stream (H.264, ``n_frames`` at ``fps``) and, when ``audio`` is
    given (mono float32 in [-1, 1] at ``sample_rate``), an audio stream whose first sample
    plays ``audio_delay`` seconds after the first frame."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        aframes: list[av.AudioFrame] = []
        if audio is not None:
            as_ = c.add_stream(audio_codec, rate=sample_rate)
            as_.layout = "mono"
            fmt = as_.codec_context.codec.audio_formats[0].name
            step = as_.codec_context.frame_size or 1024
            offset = round(audio_delay * sample_rate)
            for i in range(0, len(audio), step):
                chunk = np.asarray(audio[i : i + step], np.float32)
                if len(chunk) < step:
                    chunk = np.pad(chunk, (0, step - len(chunk)))
                if fmt.startswith("s16"):
                    arr = (np.clip(chunk, -1, 1) * 32767).astype(np.int16)[None]
                else:
                    arr = chunk[None]
                frame = av.AudioFrame.from_ndarray(arr, format=fmt, layout="mono")
                frame.sample_rate = sample_rate
                frame.pts = offset + i
                frame.time_base = Fraction(1, sample_rate)
                aframes.append(frame)
        # 8 distinct pictures, cycled: rendering dominates the cost of writing a clip
        images = [render_frame(i, width, height, face) for i in range(min(n_frames, 8))]
        vframes = [
            av.VideoFrame.from_ndarray(images[i % len(images)], format="rgb24")
            for i in range(n_frames)
        ]
        for frame in vframes:
            for packet in vs.encode(frame):
                c.mux(packet)
        for packet in vs.encode():
            c.mux(packet)
        if audio is not None:
            for aframe in aframes:
                for packet in as_.encode(aframe):
                    c.mux(packet)
            for packet in as_.encode():
                c.mux(packet)
    return path
