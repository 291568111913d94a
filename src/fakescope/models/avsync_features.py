"""Hand-made audio-visual sync features for ``avsync`` (issue 13 §6): mouth motion against the
speech envelope, and their normalised cross-correlation at lags -K..K.

Nothing here is learnt: the classic audio-visual correlation (the lips move when the sound
comes) needs no training data, so a sync detector built on it does not have to learn it from a
few dozen talking heads. Everything is PyTorch (batched, any device, differentiable where it
matters: nowhere, the features are fixed).

Per frame (the sample's T = S*F crops, F per second), from the grey crop blurred by a Gaussian:

``flow_mouth``
    mean optical-flow magnitude in the mouth box (Lucas-Kanade, two warped iterations, on the
    crop's own pixels), after removing the face's median flow (the head's own motion);
``flow_mouth_rel``
    the same minus the magnitude in the eye band (what moves the mouth alone);
``flow_open``
    |mean vertical flow of the mouth box's lower half - its upper half| (lips parting or
    closing);
``diff_mouth``
    mean absolute grey change in the mouth box since the previous crop;
``diff_mouth_rel``
    the same minus the eye band's.

Per frame, from the 16-kHz sound (STFT 32 ms / 10 ms, pooled over the 1/F s around the frame):
log energy in 80-300, 300-1000, 1000-3000, 3000-8000 and 300-3000 Hz (``band_*``, ``speech``),
the spectral flux (``flux``) and the rise of the speech-band energy (``onset``).

The boxes are fractions of the crop (``fakescope extract``: the face box times its margin,
1.3 by default, not aligned): on such crops the mouth corners sit at 0.66-0.70 of the height
and 0.3-0.65 of the width (YuNet keypoints of the avsync training clips).

``ncc_profiles(v, a, max_lag, weights)``: for every visual and audio feature, the weighted
normalised cross-correlation of ``v_t`` with ``a_{t+k}`` for k = -K..K over the frames both
cover (a sound that comes d seconds late peaks at k = +d*F). A real talking head correlates at
k = 0 (its neighbours too: the envelopes are smooth); audio shifted by d peaks off zero or not at
all; another person's speech correlates nowhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "AUDIO_FEATURES",
    "BOXES",
    "VIDEO_FEATURES",
    "audio_sync_features",
    "grey_frames",
    "lk_flow",
    "ncc_profiles",
    "segment_weights",
    "smooth_time",
    "standardise_time",
    "video_sync_features",
]

SAMPLE_RATE = 16000
N_FFT, HOP = 512, 160  # 32-ms windows every 10 ms: 100 feature frames per second
FEATURE_HZ = SAMPLE_RATE // HOP

# (top, bottom, left, right) as fractions of the crop's side
BOXES: dict[str, tuple[float, float, float, float]] = {
    "mouth": (0.60, 0.84, 0.30, 0.70),
    "eyes": (0.31, 0.50, 0.23, 0.77),
    "face": (0.23, 0.86, 0.19, 0.81),
}

VIDEO_FEATURES = ("flow_mouth", "flow_mouth_rel", "flow_open", "diff_mouth", "diff_mouth_rel")
AUDIO_BANDS: dict[str, tuple[float, float]] = {
    "band_80": (80.0, 300.0),
    "band_300": (300.0, 1000.0),
    "band_1k": (1000.0, 3000.0),
    "band_3k": (3000.0, 8000.0),
    "speech": (300.0, 3000.0),
}
AUDIO_FEATURES = (*AUDIO_BANDS, "flux", "onset")


def _box(name: str, h: int, w: int) -> tuple[slice, slice]:
    top, bottom, left, right = BOXES[name]
    return slice(round(top * h), round(bottom * h)), slice(round(left * w), round(right * w))


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    r = max(1, math.ceil(2 * sigma))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """(N, 1, H, W) separable Gaussian blur, edges replicated."""
    if sigma <= 0:
        return x
    k = _gaussian_kernel(sigma).to(x)
    r = (len(k) - 1) // 2
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))


def grey_frames(
    frames: torch.Tensor, mean: Sequence[float], std: Sequence[float], sigma: float = 1.0
) -> torch.Tensor:
    """Normalised crops (B, S, F, 3, H, W) -> blurred grey (B, S*F, H, W) in [0, 1]."""
    b, s, f, c, h, w = frames.shape
    m = torch.as_tensor(list(mean), dtype=torch.float32, device=frames.device).view(1, 3, 1, 1)
    sd = torch.as_tensor(list(std), dtype=torch.float32, device=frames.device).view(1, 3, 1, 1)
    x = frames.reshape(b * s * f, c, h, w).float() * sd + m
    grey = x.mean(1, keepdim=True)
    return _blur(grey, sigma).reshape(b, s * f, h, w)


def _box_mean(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) mean over a ``size`` x ``size`` box, edges replicated (separable)."""
    lo, hi = size // 2, size - 1 - size // 2
    x = F.avg_pool2d(F.pad(x, (lo, hi, 0, 0), mode="replicate"), (1, size), 1)
    return F.avg_pool2d(F.pad(x, (0, 0, lo, hi), mode="replicate"), (size, 1), 1)


def lk_flow(prev: torch.Tensor, nxt: torch.Tensor, window: int = 7, iters: int = 2) -> torch.Tensor:
    """Dense Lucas-Kanade optical flow from ``prev`` to ``nxt`` (N, 1, H, W) -> (N, 2, H, W)
    (x, y in pixels): ``iters`` rounds of solving the 2x2 normal equations over a
    ``window`` x ``window`` box after warping ``nxt`` back by the flow so far (regularised by
    1 % of the image's mean gradient energy, so flat regions answer ~0)."""
    n, _, h, w = prev.shape
    flow = prev.new_zeros(n, 2, h, w)
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=prev.dtype, device=prev.device),
        torch.arange(w, dtype=prev.dtype, device=prev.device),
        indexing="ij",
    )
    sobel = prev.new_tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8
    kernels = torch.stack([sobel, sobel.t()]).unsqueeze(1)  # (2, 1, 3, 3): d/dx, d/dy
    for _ in range(iters):
        gx = (xs + flow[:, 0]) * (2 / max(w - 1, 1)) - 1
        gy = (ys + flow[:, 1]) * (2 / max(h - 1, 1)) - 1
        warped = F.grid_sample(
            nxt, torch.stack([gx, gy], -1), padding_mode="border", align_corners=True
        )
        grad = F.conv2d(F.pad((prev + warped) / 2, (1, 1, 1, 1), mode="replicate"), kernels)
        ix, iy = grad[:, :1], grad[:, 1:]
        it = warped - prev
        prods = torch.cat([ix * ix, iy * iy, ix * iy, ix * it, iy * it], 1)
        sxx, syy, sxy, sxt, syt = _box_mean(prods, window).unbind(1)
        reg = 1e-2 * (sxx + syy).mean((1, 2), keepdim=True) + 1e-9
        sxx, syy = sxx + reg, syy + reg
        det = sxx * syy - sxy * sxy
        du = -(syy * sxt - sxy * syt) / det
        dv = -(sxx * syt - sxy * sxt) / det
        flow = flow + torch.stack([du, dv], 1)
    return flow


def video_sync_features(
    grey: torch.Tensor,
    names: Sequence[str] = VIDEO_FEATURES,
    *,
    window: int = 7,
    iters: int = 2,
) -> torch.Tensor:
    """Blurred grey crops (B, T, H, W) -> (B, T, len(names)) per-frame mouth-motion features
    (module docstring). Frame t describes the change from crop t-1 to t; the first crop copies
    the second's values."""
    bad = set(names) - set(VIDEO_FEATURES)
    if bad:
        raise ValueError(f"unknown video sync feature(s) {sorted(bad)}; known: {VIDEO_FEATURES}")
    b, t, h, w = grey.shape
    if t < 2:
        return grey.new_zeros(b, t, len(names))
    # work on the face box only (plus a margin for the filters): the mouth and the eyes lie in it
    fy, fx = _box("face", h, w)
    m = window // 2 + 2
    y0, y1 = max(0, fy.start - m), min(h, fy.stop + m)
    x0, x1 = max(0, fx.start - m), min(w, fx.stop + m)
    sub = grey[:, :, y0:y1, x0:x1]
    sh, sw = y1 - y0, x1 - x0
    prev = sub[:, :-1].reshape(-1, 1, sh, sw)
    nxt = sub[:, 1:].reshape(-1, 1, sh, sw)

    def rel(name: str) -> tuple[slice, slice]:
        ys, xs = _box(name, h, w)
        return slice(ys.start - y0, ys.stop - y0), slice(xs.start - x0, xs.stop - x0)

    my, mx = rel("mouth")
    ey, ex = rel("eyes")
    fy, fx = rel("face")
    out: dict[str, torch.Tensor] = {}
    if any(n.startswith("flow") for n in names):
        flow = lk_flow(prev, nxt, window, iters)
        head = flow[:, :, fy, fx].flatten(2).median(-1).values  # (N, 2): the head's motion
        flow = flow - head[:, :, None, None]
        mag = flow.pow(2).sum(1).add(1e-12).sqrt()
        mouth = mag[:, my, mx].mean((1, 2))
        out["flow_mouth"] = mouth
        out["flow_mouth_rel"] = mouth - mag[:, ey, ex].mean((1, 2))
        vy = flow[:, 1, my, mx]
        half = vy.shape[1] // 2
        out["flow_open"] = (vy[:, half:].mean((1, 2)) - vy[:, :half].mean((1, 2))).abs()
    if any(n.startswith("diff") for n in names):
        diff = (nxt - prev).abs()[:, 0]
        mouth = diff[:, my, mx].mean((1, 2))
        out["diff_mouth"] = mouth
        out["diff_mouth_rel"] = mouth - diff[:, ey, ex].mean((1, 2))
    feats = torch.stack([out[n] for n in names], -1).reshape(b, t - 1, len(names))
    return torch.cat([feats[:, :1], feats], 1)


def _band_masks(device: torch.device) -> torch.Tensor:
    freqs = torch.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1, device=device)
    return torch.stack(
        [((freqs >= lo) & (freqs < hi)).float() for lo, hi in AUDIO_BANDS.values()]
    )  # (bands, bins)


def audio_sync_features(
    wave: torch.Tensor, steps: int, names: Sequence[str] = AUDIO_FEATURES
) -> torch.Tensor:
    """(B, samples) 16-kHz sound of a sample -> (B, steps, len(names)): per-frame features
    (module docstring) for ``steps`` frames spread evenly over the sound, frame j at
    j * samples / steps (the crop times of a sample), each the mean over the 1/steps of the
    sound around it."""
    bad = set(names) - set(AUDIO_FEATURES)
    if bad:
        raise ValueError(f"unknown audio sync feature(s) {sorted(bad)}; known: {AUDIO_FEATURES}")
    _, n = wave.shape
    window = torch.hann_window(N_FFT, device=wave.device)
    spec = torch.stft(wave.float(), N_FFT, HOP, window=window, center=True, return_complex=True)
    power = spec.abs().pow(2)  # (B, bins, frames) at FEATURE_HZ, frame k centred at k * HOP
    bands = torch.einsum("kf,bfn->bkn", _band_masks(wave.device), power)  # (B, bands, frames)
    floor = 1e-3 * bands.mean(-1, keepdim=True) + 1e-10  # quiet stretches flattened, not noise
    logb = torch.log(bands + floor)
    logp = torch.log(power + 1e-3 * power.mean((1, 2), keepdim=True) + 1e-10)
    flux = F.pad((logp[:, :, 1:] - logp[:, :, :-1]).clamp_min(0).mean(1), (1, 0))  # (B, frames)
    per_hz: dict[str, torch.Tensor] = {k: logb[:, i] for i, k in enumerate(AUDIO_BANDS)}
    per_hz["flux"] = flux
    # pool to the frame rate: the mean over the 1/steps s around each frame time
    frames = logb.shape[-1]
    stacked = torch.stack([per_hz[k] for k in (*AUDIO_BANDS, "flux")], 1)  # (B, C, frames)
    width = max(1, round(n / steps / HOP))
    pooled = F.avg_pool1d(
        F.pad(stacked, (width // 2, width - 1 - width // 2), mode="replicate"), width, 1
    )  # (B, C, frames): centred box mean
    idx = torch.clamp(
        torch.round(torch.arange(steps, device=wave.device) * (n / steps) / HOP).long(),
        0,
        frames - 1,
    )
    at = pooled[:, :, idx].transpose(1, 2)  # (B, steps, C)
    cols = {k: at[..., i] for i, k in enumerate((*AUDIO_BANDS, "flux"))}
    speech = cols["speech"]
    cols["onset"] = F.pad((speech[:, 1:] - speech[:, :-1]).clamp_min(0), (1, 0))
    return torch.stack([cols[k] for k in names], -1)


def smooth_time(x: torch.Tensor, width: int) -> torch.Tensor:
    """(B, T, C) box mean over ``width`` frames (edges replicated)."""
    if width <= 1:
        return x
    y = F.pad(x.transpose(1, 2), (width // 2, width - 1 - width // 2), mode="replicate")
    return F.avg_pool1d(y, width, 1).transpose(1, 2)


def standardise_time(x: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance over time (dim 1) per sample and feature (a constant one: 0)."""
    x = x - x.mean(1, keepdim=True)
    return x / x.pow(2).mean(1, keepdim=True).add(1e-8).sqrt()


def segment_weights(
    segments: int, steps: int, sigma: float, device: torch.device | None = None
) -> torch.Tensor:
    """(segments, segments*steps) Gaussian weights centred on each segment's middle frame with
    ``sigma`` frames: the local windows a segment's own correlation is measured over."""
    t = torch.arange(segments * steps, dtype=torch.float32, device=device)
    centres = (torch.arange(segments, dtype=torch.float32, device=device) + 0.5) * steps - 0.5
    return torch.exp(-0.5 * ((t[None] - centres[:, None]) / max(sigma, 1e-3)) ** 2)


def ncc_profiles(
    v: torch.Tensor, a: torch.Tensor, max_lag: int, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Weighted normalised cross-correlation of every visual feature ``v`` (B, T, Cv) with
    every audio feature ``a`` (B, T, Ca) at lags k = -K..K: ``v_t`` against ``a_{t+k}`` over
    the t where both exist, each of the G rows of ``weights`` (G, T) (default: one row of ones)
    weighing the frames of ``v``. Returns (B, G, Cv, Ca, 2K+1); a constant feature gives 0."""
    b, t, cv = v.shape
    ca = a.shape[-1]
    if weights is None:
        weights = v.new_ones(1, t)
    weights = weights.to(v)
    out = []
    for k in range(-max_lag, max_lag + 1):
        if abs(k) >= t:
            out.append(v.new_zeros(b, weights.shape[0], cv, ca))
            continue
        vv = v[:, max(0, -k) : t - max(0, k)]
        aa = a[:, max(0, k) : t + min(0, k)]
        ww = weights[:, max(0, -k) : t - max(0, k)]
        ww = ww / ww.sum(-1, keepdim=True).clamp_min(1e-8)  # (G, T')
        mv = torch.einsum("gt,btc->bgc", ww, vv)
        ma = torch.einsum("gt,btc->bgc", ww, aa)
        # centred per row: (B, G, T', C)
        dv = vv[:, None] - mv[:, :, None]
        da = aa[:, None] - ma[:, :, None]
        cov = torch.einsum("gt,bgtc,bgtd->bgcd", ww, dv, da)
        var_v = torch.einsum("gt,bgtc->bgc", ww, dv * dv)
        var_a = torch.einsum("gt,bgtc->bgc", ww, da * da)
        denom = (var_v[..., :, None] * var_a[..., None, :]).clamp_min(1e-10).sqrt()
        out.append(cov / denom)
    return torch.stack(out, -1)
