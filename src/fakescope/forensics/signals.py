"""Five handcrafted forensic signals of one face clip (seed 000, Experiment 1).

Each function takes uint8 RGB arrays and returns one float per video (NaN when the clip is too
short to define it). Definitions and parameters follow seed 000's code (``compute_*`` in its
Section 2) unless a note below says otherwise:

``flicker_hll``
    3D DWT (sym2, one level, PyWavelets, ``reflect`` padding as the seed's own convolution)
    of the grey face clip (T, H, W) in [0, 1]; mean square of the HLL sub-band: detail along
    time, approximation along both image axes (temporal flicker of smooth regions).
``srm_sharpness``
    per frame: grey / 255 filtered with the seed's 5x5 second-order SRM kernel (/4), Sobel
    gradient magnitude (3x3) of that residual, 90th percentile / median; mean over frames.
``noise_autocorr``
    per frame: grey - GaussianBlur(5x5, sigma from the size); Pearson correlation of the
    residuals of consecutive frames of the clip (pairs where either is flat are skipped); mean.
``color_wasserstein``
    per frame: 32-bin histogram per RGB channel over [0, 1] of the face and of the background;
    1-D Wasserstein distance between the two histograms (bin centres weighted by the bin
    masses); mean over channels, then frames. **Differs from the seed**, which passes the two
    arrays of bin heights to ``scipy.stats.wasserstein_distance`` as if they were samples: that
    compares the shapes of the histograms' height profiles, not where the colours lie (a face
    shifted in hue with an unchanged histogram shape would score ~0).
``flow_boundary``
    Farneback flow (pyr_scale 0.5, 3 levels, window 15, 3 iterations, poly_n 5, poly_sigma
    1.2) between consecutive frames; |mean magnitude on the 8-px band just inside the face
    box's edge - mean magnitude inside that band|; mean over frame pairs. The seed pairs frames
    1/32 of a video apart; here the pairs are truly consecutive video frames (runs of
    ``ContextSettings``).

The seed works on a 224 x 224 crop of the frame centre ("rough face region"): here the face
comes from the detector (the cached face crop for the first three; for the last two a window
of twice the face box, whose central half is the box, as in the seed's face/background split),
resized to ``ForensicSettings.size`` (224, the seed's ``img_size``).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..errors import MissingDependencyError

__all__ = [
    "HYPOTHESIS",
    "SIGNALS",
    "SRM_KERNEL",
    "ForensicSettings",
    "boundary_mean",
    "color_wasserstein",
    "flicker_hll",
    "flow_boundary",
    "noise_autocorr",
    "srm_sharpness",
]

SIGNALS = ("flicker_hll", "srm_sharpness", "noise_autocorr", "color_wasserstein", "flow_boundary")

# the seed's hypotheses: every signal is expected to be higher on fakes (its Exp1 calls a
# significant difference the other way "inverted")
HYPOTHESIS = dict.fromkeys(SIGNALS, "fake>real")

SRM_KERNEL = (
    np.array(
        [
            [0, 0, 0, 0, 0],
            [0, -1, 2, -1, 0],
            [0, 2, -4, 2, 0],
            [0, -1, 2, -1, 0],
            [0, 0, 0, 0, 0],
        ],
        np.float32,
    )
    / 4.0
)


@dataclass(frozen=True)
class ForensicSettings:
    """Parameters of the five signals (all part of the signal cache key)."""

    size: int = 224  # every face clip and window is resized to size x size (seed: img_size)
    wavelet: str = "sym2"
    wavelet_mode: str = "reflect"
    blur: int = 5  # noise residual: grey - GaussianBlur(blur x blur)
    bins: int = 32  # colour histogram bins per channel
    ring: int = 8  # flow band width in pixels (at ``size``)
    # Farneback: pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags
    farneback: tuple[float, int, int, int, int, float, int] = (0.5, 3, 15, 3, 5, 1.2, 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "wavelet": self.wavelet,
            "wavelet_mode": self.wavelet_mode,
            "blur": self.blur,
            "bins": self.bins,
            "ring": self.ring,
            "farneback": list(self.farneback),
        }


def _gray(frames: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB -> (T, H, W) float32 in [0, 1] (ITU-R 601 luma, as the seed)."""
    return np.stack(
        [cv2.cvtColor(np.asarray(f), cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0 for f in frames]
    )


def flicker_hll(clip: np.ndarray, wavelet: str = "sym2", mode: str = "reflect") -> float:
    """Energy of the HLL sub-band of a one-level 3D DWT of the grey clip (T >= 2)."""
    try:
        import pywt
    except ImportError:
        raise MissingDependencyError("PyWavelets", "forensics", "flicker_hll") from None
    if len(clip) < 2:
        return float("nan")
    coeffs = pywt.dwtn(_gray(clip).astype(np.float64), wavelet, mode=mode, axes=(0, 1, 2))
    return float(np.mean(coeffs["daa"] ** 2))  # detail in time (axis 0), approximation in space


def srm_sharpness(clip: np.ndarray) -> float:
    """Mean over frames of p90 / median of the Sobel magnitude of the SRM residual."""
    if len(clip) == 0:
        return float("nan")
    ratios = []
    for gray in _gray(clip):
        noise = cv2.filter2D(gray, cv2.CV_32F, SRM_KERNEL)
        gx = cv2.Sobel(noise, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(noise, cv2.CV_32F, 0, 1, ksize=3)
        mag = np.sqrt(gx * gx + gy * gy)
        ratios.append(float(np.percentile(mag, 90)) / max(float(np.median(mag)), 1e-8))
    return float(np.mean(ratios))


def noise_autocorr(clip: np.ndarray, blur: int = 5) -> float:
    """Mean Pearson correlation of the noise residuals of consecutive frames."""
    residuals = [g - cv2.GaussianBlur(g, (blur, blur), 0) for g in _gray(clip)]
    corrs = []
    for r1, r2 in itertools.pairwise(residuals):
        a, b = r1.ravel(), r2.ravel()
        if a.std() > 1e-6 and b.std() > 1e-6:
            corrs.append(float(np.corrcoef(a, b)[0, 1]))
    return float(np.mean(corrs)) if corrs else float("nan")


def color_wasserstein(
    windows: np.ndarray, face: np.ndarray, valid: np.ndarray | None = None, bins: int = 32
) -> float:
    """Mean 1-D Wasserstein distance between face and background colour histograms.

    ``windows`` (T, H, W, 3) uint8; ``face`` (T, H, W) or (H, W) bool, the face region;
    ``valid`` the same shape, False where the window left the frame (never background).
    """
    from scipy.stats import wasserstein_distance

    face = np.broadcast_to(face, windows.shape[:3])
    valid = (
        np.ones(windows.shape[:3], bool) if valid is None else np.broadcast_to(valid, face.shape)
    )
    centres = (np.arange(bins) + 0.5) / bins
    edges = np.linspace(0.0, 1.0, bins + 1)
    dists = []
    for img, f, v in zip(windows, face, valid):
        x = img.astype(np.float32) / 255.0
        fg, bg = x[f & v], x[~f & v]
        if len(fg) == 0 or len(bg) == 0:
            continue
        per_channel = []
        for c in range(x.shape[-1]):
            fh = np.histogram(fg[:, c], bins=edges)[0].astype(np.float64)
            bh = np.histogram(bg[:, c], bins=edges)[0].astype(np.float64)
            per_channel.append(wasserstein_distance(centres, centres, fh, bh))
        dists.append(float(np.mean(per_channel)))
    return float(np.mean(dists)) if dists else float("nan")


def flow_boundary(
    runs: Sequence[np.ndarray],
    boxes: Sequence[Sequence[float]],
    ring: int = 8,
    farneback: tuple[float, int, int, int, int, float, int] = (0.5, 3, 15, 3, 5, 1.2, 0),
) -> float:
    """Mean over consecutive frame pairs of |flow on the band inside the face edge - flow
    inside the band|.

    ``runs``: per sampled time, (R, H, W, 3) uint8 consecutive frames cut at one window;
    ``boxes``: the face box (x1, y1, x2, y2) of each run in window pixels.
    """
    from .flow import boundary_masks, run_flows  # the one Farneback path (seed 003's flow too)

    todo = []
    for run, box in zip(runs, boxes):
        if len(run) < 2:
            continue
        masks = boundary_masks(run.shape[1:3], box, ring)
        if masks is not None:  # else no interior is left inside the band
            todo.append((run, masks))
    # Farneback releases the GIL: the runs' flows on up to OpenCV's thread count
    # (cv2.setNumThreads(1) keeps it serial), in order, so the value does not depend on it
    threads = max(1, min(len(todo), cv2.getNumThreads(), os.cpu_count() or 1, 4))
    with ThreadPoolExecutor(threads) as pool:
        flows = list(pool.map(lambda item: run_flows(item[0], farneback), todo))
    discs = []
    for (_run, (band, inner)), run_flow in zip(todo, flows):
        for flow in run_flow:
            mag = np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2)
            discs.append(abs(float(mag[band].mean()) - float(mag[inner].mean())))
    return boundary_mean(discs)


def boundary_mean(terms: Iterable[float | None]) -> float:
    """``flow_boundary`` from its per-pair terms (None: a pair without a band, as a flow cache
    stores it): their mean, NaN when there is none."""
    values = [t for t in terms if t is not None]
    return float(np.mean(values)) if values else float("nan")
