"""Self-blended images (SBI): pseudo-fakes blended from two altered copies of one real face.

Follows the published recipe (Shiohara & Yamasaki, CVPR 2022; mapooon/SelfBlendedImages,
``src/utils/sbi.py`` and ``blend.py``):

1. mask = convex hull of the face landmarks (see :func:`self_blend` for the region choices);
2. one copy (source with p .5, else target) gets colour changes (RGB shift p .3, HSV shift,
   brightness/contrast) then either a x2/x4 nearest downscale + linear upscale or a sharpen;
3. source and mask get a small affine jitter, the mask alone a mild elastic warp;
4. the mask is resized to a random 192..256 px size, blurred (odd kernel 5..25), binarised,
   blurred again (odd kernel 5..25, sigma 5..45), normalised and resized back;
5. blend ratio from {.25, .5, .75, 1, 1, 1}: ``out = source*m + target*(1-m)`` with
   ``m = mask*ratio``.

Everything is numpy + OpenCV and every random draw comes from the ``numpy.random.Generator``
passed in, so a seed gives bit-identical output.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .._atomic import atomic_write_bytes
from ..errors import ConfigError

__all__ = ["SBIConfig", "SBIResult", "sbi_crop_window", "sbi_gallery", "self_blend"]

# iBUG-68 indices of the lower face: jaw 1..15 and nose 28..35 (cheeks, nose, mouth, chin)
LOWER_FACE_68: tuple[int, ...] = (*range(1, 16), *range(28, 36))


def _pair(value: Any, name: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"sbi.{name} must be a pair [low, high], got {value!r}") from None
    if lo > hi:
        raise ConfigError(f"sbi.{name} must have low <= high, got {value!r}")
    return lo, hi


@dataclass(frozen=True)
class SBIConfig:
    """Every probability and range of the SBI recipe; the defaults are the published ones.

    Colour units follow the published code (albumentations on uint8 images): ``rgb_shift_limit``
    in 0..255 levels; ``hue_shift_limit`` in OpenCV hue steps (0..179) and
    ``sat_shift_limit``/``val_shift_limit`` in 0..255 levels, so the published ±0.3 is at most
    a one-level change plus the loss of an RGB→HSV→RGB round trip; ``brightness_limit`` as a
    fraction of 255 and ``contrast_limit`` as a gain offset. Widen them to get stronger colour
    mismatch.

    ``elastic_alpha``/``elastic_sigma`` apply to a crop of ``elastic_reference_size`` px; for
    another size ``s`` sigma scales by ``s/ref`` and alpha by ``(s/ref)**2``, so the warp stays
    the same relative to the face. ``mask_size_range``, ``blur_kernel_range`` and
    ``blur_sigma_range`` are pixels at the 192..256 px working size of the mask blur, whatever
    the crop size (as published).

    ``keypoint_*`` shape the face region built from 5 keypoints, in units of the eye-to-mouth
    distance ``d`` (see :func:`self_blend`). ``crop_margin_*`` are for :func:`sbi_crop_window`.
    """

    p_transform_source: float = 0.5
    p_rgb_shift: float = 0.3
    rgb_shift_limit: float = 20.0
    hue_shift_limit: float = 0.3
    sat_shift_limit: float = 0.3
    val_shift_limit: float = 0.3
    brightness_limit: float = 0.1
    contrast_limit: float = 0.1
    p_downscale: float = 0.5  # else sharpen (the published OneOf of the two)
    downscale_factors: tuple[int, ...] = (2, 4)
    sharpen_alpha: tuple[float, float] = (0.2, 0.5)
    sharpen_lightness: tuple[float, float] = (0.5, 1.0)
    translate_x: float = 0.03
    translate_y: float = 0.015
    scale_range: tuple[float, float] = (0.95, 1 / 0.95)
    p_reduced_hull: float = 0.25
    elastic_alpha: float = 50.0
    elastic_sigma: float = 7.0
    elastic_reference_size: int = 256
    mask_size_range: tuple[int, int] = (192, 256)
    blur_kernel_range: tuple[int, int] = (5, 25)
    blur_sigma_range: tuple[int, int] = (5, 45)
    blend_ratios: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
    keypoint_top: float = 1.0
    keypoint_bottom: float = 1.8
    keypoint_half_width: float = 1.1
    keypoint_yaw_shift: float = 1.4
    crop_margin_range: tuple[float, float] = (0.2, 0.8)
    crop_margin_eval: float = 0.5

    def __post_init__(self) -> None:
        # accept lists (YAML/JSON) and store tuples
        for name in ("sharpen_alpha", "sharpen_lightness", "scale_range", "crop_margin_range"):
            object.__setattr__(self, name, _pair(getattr(self, name), name))
        for name in ("mask_size_range", "blur_kernel_range", "blur_sigma_range"):
            lo, hi = _pair(getattr(self, name), name)
            if lo != int(lo) or hi != int(hi) or lo < 1:
                raise ConfigError(
                    f"sbi.{name} must be positive integers, got {getattr(self, name)}"
                )
            object.__setattr__(self, name, (int(lo), int(hi)))
        for name in ("downscale_factors", "blend_ratios"):
            try:
                values = tuple(getattr(self, name))
            except TypeError:
                raise ConfigError(
                    f"sbi.{name} must be a list, got {getattr(self, name)!r}"
                ) from None
            if not values:
                raise ConfigError(f"sbi.{name} must not be empty")
            object.__setattr__(self, name, values)
        for name in ("p_transform_source", "p_rgb_shift", "p_downscale", "p_reduced_hull"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"sbi.{name} must be within 0..1, got {getattr(self, name)}")
        if any(int(f) != f or f < 1 for f in self.downscale_factors):
            raise ConfigError(
                f"sbi.downscale_factors must be integers >= 1: {self.downscale_factors}"
            )
        object.__setattr__(self, "downscale_factors", tuple(int(f) for f in self.downscale_factors))
        if any(not 0.0 < r <= 1.0 for r in self.blend_ratios):
            raise ConfigError(f"sbi.blend_ratios must be within (0, 1]: {self.blend_ratios}")
        object.__setattr__(self, "blend_ratios", tuple(float(r) for r in self.blend_ratios))
        k_lo, k_hi = self.blur_kernel_range
        if k_lo % 2 == 0 and k_lo == k_hi:
            raise ConfigError(f"sbi.blur_kernel_range holds no odd size: {self.blur_kernel_range}")
        if self.scale_range[0] <= 0:
            raise ConfigError(f"sbi.scale_range must be positive, got {self.scale_range}")
        if self.elastic_reference_size < 1 or self.elastic_alpha < 0 or self.elastic_sigma <= 0:
            raise ConfigError("sbi.elastic_* must be positive (alpha may be 0: no warp)")
        if min(self.keypoint_top + self.keypoint_bottom, self.keypoint_half_width) <= 0:
            raise ConfigError("sbi.keypoint_* must describe a region of positive size")

    def to_dict(self) -> dict[str, Any]:
        """Every field, tuples as lists (JSON-safe)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class SBIResult:
    """A self-blended pseudo-fake.

    ``image``: the blended H×W×3 uint8 RGB image. ``mask``: H×W float32 in [0, 1], the blend
    weight of the source actually used (mask × ratio). ``params``: the draws (JSON-safe).
    ``target``: the target copy (colour-altered when ``params["transformed"] == "target"``);
    the published training pairs the pseudo-fake with this image as its real counterpart, and
    ``image`` equals it exactly wherever ``mask == 0``.
    """

    image: np.ndarray
    mask: np.ndarray
    params: dict[str, Any]
    target: np.ndarray


def _check_image(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an H×W×3 uint8 RGB image, got {img.dtype} {img.shape}")
    return np.ascontiguousarray(img)


def _check_points(points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, np.float32)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3 or not np.isfinite(pts).all():
        raise ValueError(f"expected (N, 2) finite landmarks with N >= 3, got {pts.shape}")
    return pts


def _keypoint_polygon(kp: np.ndarray, config: SBIConfig) -> np.ndarray:
    """An ellipse around the face from 5 keypoints (eyes, nose tip, mouth corners)."""
    kp64 = kp.astype(np.float64)
    eyes = (kp64[0] + kp64[1]) / 2
    mouth = (kp64[3] + kp64[4]) / 2
    down = mouth - eyes
    d = float(np.hypot(*down))
    if d < 1e-3:  # degenerate keypoints: fall back to the eye distance and an upright face
        d = max(float(np.hypot(*(kp64[1] - kp64[0]))), 1.0)
        down = np.array([0.0, d])
    u = down / d  # face "down" axis
    v = np.array([u[1], -u[0]])  # face "across" axis, towards the image right when upright
    half_w = config.keypoint_half_width * d
    shift = -config.keypoint_yaw_shift * float((kp64[2] - eyes) @ v)
    shift = float(np.clip(shift, -0.5 * half_w, 0.5 * half_w))
    centre = eyes + u * ((config.keypoint_bottom - config.keypoint_top) / 2 * d) + v * shift
    half_h = (config.keypoint_top + config.keypoint_bottom) / 2 * d
    t = np.linspace(0.0, 2 * np.pi, 48, endpoint=False)
    return (centre + np.outer(np.cos(t) * half_w, v) + np.outer(np.sin(t) * half_h, u)).astype(
        np.float32
    )


def _face_region(
    pts: np.ndarray, h: int, w: int, rng: np.random.Generator, config: SBIConfig
) -> tuple[np.ndarray, str]:
    n = len(pts)
    if n == 5:
        poly, kind = _keypoint_polygon(pts, config), "keypoint_ellipse"
    elif n >= 68 and rng.random() < config.p_reduced_hull:
        if n > 68:  # published: 81 points (with forehead) -> the 68 without it
            poly, kind = pts[:68], "hull68"
        else:
            poly, kind = pts[list(LOWER_FACE_68)], "lower_face"
    else:
        poly, kind = pts, "hull"
    hull = cv2.convexHull(np.ascontiguousarray(poly, np.float32))
    mask = np.zeros((h, w), np.float32)
    cv2.fillConvexPoly(mask, np.round(hull * 16).astype(np.int32), 1.0, cv2.LINE_8, 4)
    return mask, kind


def _lut(values: np.ndarray) -> np.ndarray:
    return np.clip(values, 0, 255).astype(np.uint8)  # truncation, as albumentations does


def _colour_quality(
    image: np.ndarray, rng: np.random.Generator, config: SBIConfig
) -> tuple[np.ndarray, dict[str, Any]]:
    """The published source transform: colour changes, then downscale-upscale or sharpen."""
    params: dict[str, Any] = {}
    levels = np.arange(256, dtype=np.float32)
    out = image
    if rng.random() < config.p_rgb_shift:
        lim = config.rgb_shift_limit
        shifts = rng.uniform(-lim, lim, 3)
        lut = np.stack([_lut(levels + s) for s in shifts], axis=-1)[None]
        out = cv2.LUT(out, lut)
        params["rgb_shift"] = [float(s) for s in shifts]
    hsv_shift = rng.uniform(-1.0, 1.0, 3) * np.array(
        [config.hue_shift_limit, config.sat_shift_limit, config.val_shift_limit]
    )
    hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
    lut = np.stack(
        [
            np.mod(levels + hsv_shift[0], 180).astype(np.uint8),
            _lut(levels + hsv_shift[1]),
            _lut(levels + hsv_shift[2]),
        ],
        axis=-1,
    )[None]
    out = cv2.cvtColor(cv2.LUT(hsv, lut), cv2.COLOR_HSV2RGB)
    params["hsv_shift"] = [float(s) for s in hsv_shift]
    brightness = float(rng.uniform(-config.brightness_limit, config.brightness_limit))
    contrast = float(rng.uniform(-config.contrast_limit, config.contrast_limit))
    out = cv2.LUT(out, _lut(levels * (1.0 + contrast) + brightness * 255.0))
    params["brightness"], params["contrast"] = brightness, contrast
    h, w = out.shape[:2]
    if rng.random() < config.p_downscale:
        factor = int(config.downscale_factors[int(rng.integers(len(config.downscale_factors)))])
        small = cv2.resize(
            out, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_NEAREST
        )
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        params["quality"] = {"op": "downscale", "factor": factor}
    else:
        alpha = float(rng.uniform(*config.sharpen_alpha))
        lightness = float(rng.uniform(*config.sharpen_lightness))
        effect = np.full((3, 3), -1.0, np.float32)
        effect[1, 1] = 8.0 + lightness
        identity = np.zeros((3, 3), np.float32)
        identity[1, 1] = 1.0
        out = cv2.filter2D(out, -1, (1 - alpha) * identity + alpha * effect)
        params["quality"] = {"op": "sharpen", "alpha": alpha, "lightness": lightness}
    return out, params


def _affine(
    source: np.ndarray, mask: np.ndarray, rng: np.random.Generator, config: SBIConfig
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """The same small translation + per-axis scale about the centre for source and mask."""
    h, w = mask.shape
    tx = float(rng.uniform(-config.translate_x, config.translate_x))
    ty = float(rng.uniform(-config.translate_y, config.translate_y))
    sx = float(rng.uniform(*config.scale_range))
    sy = float(rng.uniform(*config.scale_range))
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    m = np.array([[sx, 0.0, cx - sx * cx + tx * w], [0.0, sy, cy - sy * cy + ty * h]])
    src = cv2.warpAffine(
        source, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
    msk = cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return src, msk, {"tx": tx, "ty": ty, "sx": sx, "sy": sy}


@functools.lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx.setflags(write=False)
    gy.setflags(write=False)
    return gx, gy


def _elastic(
    mask: np.ndarray, rng: np.random.Generator, config: SBIConfig
) -> tuple[np.ndarray, dict[str, float]]:
    """Displace the mask by uniform noise fields smoothed by a Gaussian (sigma) times alpha."""
    h, w = mask.shape
    scale = math.sqrt(h * w) / config.elastic_reference_size
    sigma = config.elastic_sigma * scale
    alpha = config.elastic_alpha * scale * scale
    params = {"alpha": alpha, "sigma": sigma}
    if alpha == 0:
        return mask, params
    gx, gy = _grid(h, w)
    dx = rng.random((h, w), dtype=np.float32) * 2 - 1
    dy = rng.random((h, w), dtype=np.float32) * 2 - 1
    dx = cv2.GaussianBlur(dx, (0, 0), sigma) * np.float32(alpha)
    dy = cv2.GaussianBlur(dy, (0, 0), sigma) * np.float32(alpha)
    out = cv2.remap(
        mask, gx + dx, gy + dy, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    return out, params


def _odd(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    lo, hi = bounds
    choices = np.arange(lo + (lo + 1) % 2, hi + 1, 2)
    return int(choices[int(rng.integers(len(choices)))])


def _blend_mask(
    mask: np.ndarray, rng: np.random.Generator, config: SBIConfig
) -> tuple[np.ndarray, dict[str, Any]]:
    """Soften the mask edge at a random 192..256 px working size; peak normalised to 1."""
    h, w = mask.shape
    lo, hi = config.mask_size_range
    mh, mw = int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1))
    k1 = _odd(rng, config.blur_kernel_range)
    k2 = _odd(rng, config.blur_kernel_range)
    s2 = int(rng.integers(config.blur_sigma_range[0], config.blur_sigma_range[1] + 1))
    params = {"size": [mw, mh], "kernel1": k1, "kernel2": k2, "sigma2": s2}
    small = cv2.resize(mask, (mw, mh), interpolation=cv2.INTER_LINEAR)
    blurred = cv2.GaussianBlur(small, (k1, k1), 0)
    # the published mask is uint8, so this blur rounds: a 0.5 threshold that smooths corners
    core = (blurred >= 0.5).astype(np.float32)
    # a sliver of a mask: keep its blurred shape
    soft = cv2.GaussianBlur(core if core.any() else blurred, (k2, k2), s2)
    peak = float(soft.max())
    if peak <= 0:
        return np.zeros((h, w), np.float32), params
    out = cv2.resize(soft * (1.0 / peak), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(out, 0.0, 1.0, out=out), params


def self_blend(
    image: np.ndarray,
    landmarks: np.ndarray,
    rng: np.random.Generator,
    *,
    config: SBIConfig = SBIConfig(),
) -> SBIResult:
    """A pseudo-fake from one real face crop (H×W×3 uint8 RGB) and its landmarks in crop pixels.

    Face region (the mask before warping and blurring), by the number of points:

    - 81 (68 + forehead): hull of all; with p ``p_reduced_hull`` the first 68 (published);
    - 68 (iBUG): hull of all (eyebrows to chin); with p ``p_reduced_hull`` only the lower
      face, jaw 1..15 + nose 28..35 (cheeks, nose, mouth, chin: the part mouth-reenactment
      fakes change). This variant is ours: the published choice needs forehead points;
    - 5 keypoints: an ellipse in the face's own frame (origin at the eye midpoint, "down" axis
      towards the mouth midpoint, ``d`` = their distance): from ``keypoint_top``·d above the
      eyes (mid forehead) to ``keypoint_bottom``·d below them (chin), ``keypoint_half_width``·d
      wide on each side, shifted sideways by ``-keypoint_yaw_shift`` × the nose tip's sideways
      offset (at most half the half-width) to follow head yaw. The defaults were fitted on
      dlib's 68-point hulls of 20 faces (eyebrows -0.42 d, chin 1.74 d, width 2.16 d; the hull
      centre moves ~-1.4 × the nose offset) and extended upwards to cover the forehead;
    - any other count: hull of all points.
    """
    img = _check_image(image)
    pts = _check_points(landmarks)
    h, w = img.shape[:2]
    mask, region = _face_region(pts, h, w, rng, config)
    if not mask.any():
        raise ValueError("the landmarks' face region lies outside the image")
    params: dict[str, Any] = {"region": region}
    transform_source = bool(rng.random() < config.p_transform_source)
    altered, params["transform"] = _colour_quality(img, rng, config)
    source, target = (altered, img) if transform_source else (img, altered)
    params["transformed"] = "source" if transform_source else "target"
    source, mask, params["affine"] = _affine(source, mask, rng, config)
    mask, params["elastic"] = _elastic(mask, rng, config)
    mask, params["mask_blur"] = _blend_mask(mask, rng, config)
    ratio = float(config.blend_ratios[int(rng.integers(len(config.blend_ratios)))])
    params["ratio"] = ratio
    if ratio != 1.0:
        mask *= np.float32(ratio)
    m = mask[..., None]
    blended = source.astype(np.float32) * m + target.astype(np.float32) * (1.0 - m)
    out = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return SBIResult(out, mask, params, target.copy() if target is img else target)


def sbi_crop_window(
    height: int,
    width: int,
    crop_margin: float,
    rng: np.random.Generator,
    *,
    train: bool = True,
    config: SBIConfig = SBIConfig(),
) -> tuple[int, int, int, int]:
    """The published training crop inside one of our face crops: ``(x0, y0, x1, y1)``.

    Our crops are centred on the detector box, whose longer side is the crop side divided by
    ``crop_margin`` (``CropSettings.margin``). SBI keeps the box plus, on each side, box side/4
    × U(``crop_margin_range``) in training and × ``crop_margin_eval`` otherwise (four
    independent draws: left, right, top, bottom), clipped to the crop. Apply the same window
    to a real crop and its pseudo-fake, then resize to the network input.
    """
    if crop_margin <= 0:
        raise ValueError(f"crop_margin must be positive, got {crop_margin}")
    box = min(height, width) / crop_margin
    if train:
        factors = rng.uniform(*config.crop_margin_range, 4)
    else:
        factors = np.full(4, config.crop_margin_eval)
    left, right, top, bottom = (box / 4 * factors).tolist()
    cx, cy = width / 2.0, height / 2.0
    x0 = max(0, math.floor(cx - box / 2 - left))
    x1 = min(width, math.ceil(cx + box / 2 + right))
    y0 = max(0, math.floor(cy - box / 2 - top))
    y1 = min(height, math.ceil(cy + box / 2 + bottom))
    return x0, y0, x1, y1


def sbi_gallery(
    images: Sequence[np.ndarray],
    landmarks_list: Sequence[np.ndarray],
    out_png: str | os.PathLike[str],
    *,
    seed: int = 0,
    rows: int = 8,
    config: SBIConfig = SBIConfig(),
) -> Path:
    """Write a PNG of (real | pseudo-fake | mask) triplets for eyeballing.

    Sample ``i`` goes to row ``i % rows`` of triplet column ``i // rows``; every tile has the
    first image's size. "Real" is the result's ``target`` (what the pseudo-fake is paired with).
    """
    if len(images) != len(landmarks_list) or not images:
        raise ValueError("sbi_gallery needs as many landmark arrays as images, at least one")
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    rng = np.random.default_rng(seed)
    th, tw = np.asarray(images[0]).shape[:2]
    n_rows = min(rows, len(images))
    n_cols = -(-len(images) // rows)
    canvas = np.zeros((n_rows * th, n_cols * 3 * tw, 3), np.uint8)
    for i, (image, landmarks) in enumerate(zip(images, landmarks_list)):
        result = self_blend(image, landmarks, rng, config=config)
        mask = np.rint(result.mask * 255).astype(np.uint8)
        tiles = [result.target, result.image, np.repeat(mask[..., None], 3, axis=2)]
        y, x = (i % rows) * th, (i // rows) * 3 * tw
        for k, tile in enumerate(tiles):
            if tile.shape[:2] != (th, tw):
                tile = cv2.resize(tile, (tw, th), interpolation=cv2.INTER_AREA)
            canvas[y : y + th, x + k * tw : x + (k + 1) * tw] = tile
    ok, buf = cv2.imencode(".png", cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"cannot encode the SBI gallery for {out_png}")
    atomic_write_bytes(out_png, buf.tobytes())
    return Path(out_png)
