"""Mild, forensics-suited augmentations for uint8 RGB face crops and clips (numpy + OpenCV).

Order: horizontal flip, colour jitter, grayscale (as torchvision's ``RandomGrayscale`` after
``ColorJitter``, seed 000), downscale-upscale, Gaussian blur, Gaussian noise, H.264
intra-frame re-compression (libx264 at a random CRF, the codec of most real-world video), JPEG
re-compression, random erasing; each fires with its own probability. A clip (T×H×W×3) gets
one draw applied to every frame: the same flip, colour lookup table, scale, blur, noise field,
JPEG quality and erased rectangle (with the same fill), so identical frames stay identical.
Stacking a real crop and its pseudo-fake as a 2-frame clip gives both the same draw.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import cv2
import numpy as np

from ..errors import ConfigError

__all__ = ["AugmentConfig", "augment_clip", "augment_image", "h264_intra"]

_PROBABILITIES = (
    "p_flip",
    "p_color",
    "p_gray",
    "p_blur",
    "p_noise",
    "p_jpeg",
    "p_downscale",
    "p_erase",
    "p_h264",
)
_RANGES = (
    "blur_sigma",
    "noise_std",
    "jpeg_quality",
    "downscale",
    "erase_area",
    "erase_aspect",
    "h264_crf",
)
_DOWN_INTERPOLATIONS = (cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC)


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges; the defaults are mild, for deepfake-detector training.

    Colour jitter factors are drawn from ``1 ± brightness`` (gain), ``1 ± contrast`` (about the
    clip's mean luminance), ``1 ± saturation`` and a hue shift of ``± hue`` of the hue circle;
    ``p_gray`` then turns the image grey (off by default, so existing recipes draw as before).
    ``noise_std`` is in 0..255 levels; ``downscale`` is the scale factor of the intermediate
    image; ``erase_area`` is the erased fraction of the image and ``erase_aspect`` its
    height/width ratio (log-uniform); the rectangle is filled with uniform noise with
    p ``p_erase_noise``, else with one random colour. ``AugmentConfig.none()`` is the identity.
    """

    p_flip: float = 0.5
    p_color: float = 0.3
    brightness: float = 0.1
    contrast: float = 0.1
    saturation: float = 0.1
    hue: float = 0.02
    p_gray: float = 0.0  # grayscale (ITU-R 601 luma in all three channels); seed 000: 0.05
    p_blur: float = 0.1
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    p_noise: float = 0.1
    noise_std: tuple[float, float] = (2.0, 8.0)
    p_jpeg: float = 0.3
    jpeg_quality: tuple[int, int] = (60, 100)
    p_downscale: float = 0.2
    downscale: tuple[float, float] = (0.5, 0.9)
    p_erase: float = 0.1
    erase_area: tuple[float, float] = (0.02, 0.15)
    erase_aspect: tuple[float, float] = (0.3, 3.3)
    p_erase_noise: float = 0.5
    p_h264: float = 0.0  # H.264 intra-frame coding at a CRF drawn from h264_crf
    h264_crf: tuple[float, float] = (23.0, 40.0)

    def __post_init__(self) -> None:
        for name in _RANGES:  # accept lists (YAML/JSON) and store tuples
            value = getattr(self, name)
            try:
                lo, hi = (float(v) for v in value)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"augment.{name} must be a pair [low, high], got {value!r}"
                ) from None
            if lo > hi:
                raise ConfigError(f"augment.{name} must have low <= high, got {value!r}")
            object.__setattr__(self, name, (lo, hi))
        for name in (*_PROBABILITIES, "p_erase_noise"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"augment.{name} must be within 0..1, got {getattr(self, name)}")
        for name in ("brightness", "contrast", "saturation"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"augment.{name} must be within 0..1, got {getattr(self, name)}")
        if not 0.0 <= self.hue <= 0.5:
            raise ConfigError(f"augment.hue must be within 0..0.5, got {self.hue}")
        q_lo, q_hi = self.jpeg_quality
        if q_lo != int(q_lo) or q_hi != int(q_hi) or not 1 <= q_lo <= q_hi <= 100:
            raise ConfigError(
                f"augment.jpeg_quality must be integers in 1..100: {self.jpeg_quality}"
            )
        object.__setattr__(self, "jpeg_quality", (int(q_lo), int(q_hi)))
        if not 0.0 < self.downscale[0] <= self.downscale[1] <= 1.0:
            raise ConfigError(f"augment.downscale must be within (0, 1], got {self.downscale}")
        if not 0.0 < self.erase_area[0] <= self.erase_area[1] <= 1.0:
            raise ConfigError(f"augment.erase_area must be within (0, 1], got {self.erase_area}")
        if self.erase_aspect[0] <= 0:
            raise ConfigError(f"augment.erase_aspect must be positive, got {self.erase_aspect}")
        if not 0 <= self.h264_crf[0] <= self.h264_crf[1] <= 51:
            raise ConfigError(f"augment.h264_crf must be within 0..51, got {self.h264_crf}")
        if self.blur_sigma[0] <= 0 or self.noise_std[0] < 0:
            raise ConfigError("augment.blur_sigma must be positive and noise_std non-negative")

    @classmethod
    def none(cls) -> AugmentConfig:
        """The identity: every probability 0."""
        return cls(
            p_flip=0.0,
            p_color=0.0,
            p_blur=0.0,
            p_noise=0.0,
            p_jpeg=0.0,
            p_downscale=0.0,
            p_erase=0.0,
            p_h264=0.0,
            p_gray=0.0,
        )

    @property
    def disabled(self) -> bool:
        """True when no augmentation can fire."""
        return all(getattr(self, name) == 0 for name in _PROBABILITIES)

    def to_dict(self) -> dict[str, Any]:
        """Every field, tuples as lists (JSON-safe)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


def _draw(rng: np.random.Generator, h: int, w: int, config: AugmentConfig) -> dict[str, Any]:
    """One draw of every augmentation's parameters for an H×W image (or clip)."""
    p: dict[str, Any] = {}
    if rng.random() < config.p_flip:
        p["flip"] = True
    if rng.random() < config.p_color:
        b, c, s = rng.uniform(-1.0, 1.0, 3) * [
            config.brightness,
            config.contrast,
            config.saturation,
        ]
        p["color"] = (1.0 + b, 1.0 + c, 1.0 + s, float(rng.uniform(-config.hue, config.hue)) * 180)
    if config.p_gray > 0 and rng.random() < config.p_gray:  # no draw when off: streams kept
        p["gray"] = True
    if rng.random() < config.p_downscale:
        factor = float(rng.uniform(*config.downscale))
        interp = _DOWN_INTERPOLATIONS[int(rng.integers(len(_DOWN_INTERPOLATIONS)))]
        p["downscale"] = (max(1, round(w * factor)), max(1, round(h * factor)), interp)
    if rng.random() < config.p_blur:
        p["blur"] = float(rng.uniform(*config.blur_sigma))
    if rng.random() < config.p_noise:
        std = float(rng.uniform(*config.noise_std))
        p["noise"] = rng.standard_normal((h, w, 3), dtype=np.float32) * np.float32(std)
    if config.p_h264 > 0 and rng.random() < config.p_h264:  # no draw when off: v1 streams kept
        p["h264"] = round(rng.uniform(*config.h264_crf))
    if rng.random() < config.p_jpeg:
        p["jpeg"] = int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1))
    if rng.random() < config.p_erase:
        area = rng.uniform(*config.erase_area) * h * w
        aspect = float(np.exp(rng.uniform(*np.log(config.erase_aspect))))
        eh = int(np.clip(round(np.sqrt(area * aspect)), 1, h))
        ew = int(np.clip(round(np.sqrt(area / aspect)), 1, w))
        y0 = int(rng.integers(0, h - eh + 1))
        x0 = int(rng.integers(0, w - ew + 1))
        if rng.random() < config.p_erase_noise:
            fill = rng.integers(0, 256, (eh, ew, 3), dtype=np.uint8)
        else:
            fill = np.broadcast_to(rng.integers(0, 256, 3, dtype=np.uint8), (eh, ew, 3))
        p["erase"] = (y0, x0, eh, ew, fill)
    return p


def _color(clip: np.ndarray, gain: float, contrast: float, sat: float, hue: float) -> np.ndarray:
    """Brightness + contrast as one lookup table, then saturation + hue in HSV, frame by frame."""
    levels = np.arange(256, dtype=np.float32)
    mean = float(clip.reshape(-1, 3).mean(0) @ np.array([0.299, 0.587, 0.114])) * gain
    lut = np.clip(np.rint((levels * gain - mean) * contrast + mean), 0, 255).astype(np.uint8)
    hsv_lut = np.stack(
        [
            np.mod(np.rint(levels + hue), 180).astype(np.uint8),
            np.clip(np.rint(levels * sat), 0, 255).astype(np.uint8),
            levels.astype(np.uint8),
        ],
        axis=-1,
    )[None]
    out = np.empty_like(clip)
    for t, frame in enumerate(clip):
        hsv = cv2.cvtColor(cv2.LUT(frame, lut), cv2.COLOR_RGB2HSV)
        out[t] = cv2.cvtColor(cv2.LUT(hsv, hsv_lut), cv2.COLOR_HSV2RGB)
    return out


def _gray(frame: np.ndarray) -> np.ndarray:
    """RGB -> its luma (0.299 R + 0.587 G + 0.114 B, as torchvision) in all three channels."""
    luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    return np.repeat(luma[:, :, None], 3, axis=2)


def _jpeg(frame: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", frame[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if decoded is None:
        raise RuntimeError("JPEG decoding failed")
    return decoded[:, :, ::-1]


def h264_intra(clip: np.ndarray, crf: int, preset: str = "veryfast") -> np.ndarray:
    """Every frame of a T×H×W×3 uint8 RGB clip coded alone as an H.264 frame (libx264 at
    ``crf``, yuv420p, in memory) and decoded back. Each frame is its own stream, so a real crop
    and its pseudo-fake augmented as one clip never predict from, or share rate control with,
    each other."""
    return np.stack([_h264_frame(f, crf, preset) for f in clip])


def _h264_frame(frame: np.ndarray, crf: int, preset: str) -> np.ndarray:
    import io

    import av

    h, w = frame.shape[:2]
    padded = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")  # 4:2:0: even sizes
    buf = io.BytesIO()
    with av.open(buf, "w", format="h264") as out:
        stream = out.add_stream("libx264", rate=25, options={"crf": str(crf), "preset": preset})
        stream.width, stream.height, stream.pix_fmt = padded.shape[1], padded.shape[0], "yuv420p"
        stream.thread_count = 1
        out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(padded), "rgb24")))
        out.mux(stream.encode())
    buf.seek(0)
    with av.open(buf, "r", format="h264") as inp:
        decoded = [f.to_ndarray(format="rgb24") for f in inp.decode(video=0)]
    if len(decoded) != 1:
        raise RuntimeError(f"H.264 round trip returned {len(decoded)} frames for one")
    return np.asarray(decoded[0][:h, :w])


def _apply(clip: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    """Apply one draw to every frame of a T×H×W×3 clip; returns a new array."""
    h, w = clip.shape[1:3]
    out = np.ascontiguousarray(clip[:, :, ::-1]) if p.get("flip") else clip
    if "color" in p:
        out = _color(out, *p["color"])
    if p.get("gray"):
        out = np.stack([_gray(f) for f in out])
    if "downscale" in p:
        sw, sh, interp = p["downscale"]
        out = np.stack(
            [
                cv2.resize(
                    cv2.resize(f, (sw, sh), interpolation=interp),
                    (w, h),
                    interpolation=cv2.INTER_LINEAR,
                )
                for f in out
            ]
        )
    if "blur" in p:
        out = np.stack([cv2.GaussianBlur(f, (0, 0), p["blur"]) for f in out])
    if "noise" in p:
        noisy = out.astype(np.float32) + p["noise"]
        out = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    if "h264" in p:
        out = h264_intra(out, p["h264"])
    if "jpeg" in p:
        out = np.stack([_jpeg(f, p["jpeg"]) for f in out])
    if "erase" in p:
        y0, x0, eh, ew, fill = p["erase"]
        out = np.array(out)  # writable copy
        out[:, y0 : y0 + eh, x0 : x0 + ew] = fill
    return np.ascontiguousarray(out) if out is not clip else clip.copy()


def augment_clip(
    clip: np.ndarray, rng: np.random.Generator, config: AugmentConfig = AugmentConfig()
) -> np.ndarray:
    """Augment a T×H×W×3 uint8 RGB clip with ONE draw shared by all frames; input untouched."""
    arr = np.asarray(clip)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[3] != 3 or 0 in arr.shape:
        raise ValueError(f"expected a T×H×W×3 uint8 RGB clip, got {arr.dtype} {arr.shape}")
    if config.disabled:
        return arr.copy()
    return _apply(arr, _draw(rng, arr.shape[1], arr.shape[2], config))


def augment_image(
    image: np.ndarray, rng: np.random.Generator, config: AugmentConfig = AugmentConfig()
) -> np.ndarray:
    """Augment one H×W×3 uint8 RGB image; returns a new array, input untouched."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or 0 in arr.shape:
        raise ValueError(f"expected an H×W×3 uint8 RGB image, got {arr.dtype} {arr.shape}")
    return augment_clip(arr[None], rng, config)[0]
