"""Detection and calibration metrics: pure functions of numpy arrays.

Conventions used throughout:

* labels: ``1`` = fake (the positive class), ``0`` = real; booleans are accepted.
* scores: higher = more fake. Functions that need probabilities (ECE, Brier, reliability curve)
  require values in ``[0, 1]``; the others accept any finite score (e.g. logits).
* a sample is predicted fake when ``score >= threshold`` (scikit-learn's ``roc_curve``
  convention), everywhere in this module.
* invalid input (empty, length mismatch, NaN or infinite scores, labels other than 0/1, a single
  class where a ranking metric needs both) raises :class:`MetricError` with a one-line message.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from ..errors import FakescopeError

__all__ = [
    "AGGREGATIONS",
    "MetricError",
    "aggregate_by_video",
    "average_precision",
    "bootstrap_ci",
    "brier_score",
    "ece_floor",
    "eer",
    "expected_calibration_error",
    "fpr_at_tpr",
    "reliability_curve",
    "roc_auc",
    "summary",
    "threshold_metrics",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

AGGREGATIONS = ("mean", "max", "median", "topk-mean")

# Bootstrap resamples are drawn and scored in blocks of about this many cells (resamples x rows).
_BLOCK_CELLS = 1 << 20


class MetricError(FakescopeError, ValueError):
    """Input to a metric is invalid (empty, mismatched, NaN, single class, ...)."""


# --------------------------------------------------------------------------------------------
# input checks


def _as_1d(x: npt.ArrayLike, what: str, func: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise MetricError(f"{func}: {what} must be a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise MetricError(f"{func}: {what} is empty; at least one sample is needed")
    return arr


def _labels(y: npt.ArrayLike, func: str) -> IntArray:
    arr = _as_1d(y, "labels", func)
    if arr.dtype == np.bool_:
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.number):
        raise MetricError(f"{func}: labels must be numbers 0 (real) or 1 (fake), got {arr.dtype}")
    ok = (arr == 0) | (arr == 1)
    if not np.all(ok):
        bad = arr[~ok][0]
        raise MetricError(f"{func}: labels must be 0 (real) or 1 (fake), found {bad!r}")
    return arr.astype(np.int64)


def _scores(s: npt.ArrayLike, func: str, *, what: str = "scores") -> FloatArray:
    arr = _as_1d(s, what, func)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise MetricError(f"{func}: {what} must be numbers, got {arr.dtype}")
    out = arr.astype(np.float64)
    finite = np.isfinite(out)
    if not np.all(finite):
        n_nan = int(np.isnan(out).sum())
        kind = f"{n_nan} NaN" if n_nan else f"{int((~finite).sum())} infinite"
        raise MetricError(f"{func}: {what} contain {kind} value(s); every score must be finite")
    return out


def _check(
    y: npt.ArrayLike,
    s: npt.ArrayLike,
    func: str,
    *,
    both_classes: bool = False,
    probabilities: bool = False,
) -> tuple[IntArray, FloatArray]:
    """Validate a (labels, scores) pair and return them as int64 / float64 arrays."""
    what = "probabilities" if probabilities else "scores"
    labels = _labels(y, func)
    scores = _scores(s, func, what=what)
    if labels.shape != scores.shape:
        raise MetricError(
            f"{func}: labels and {what} differ in length ({labels.size} vs {scores.size})"
        )
    if probabilities and (scores.min() < 0.0 or scores.max() > 1.0):
        raise MetricError(
            f"{func}: probabilities must lie in [0, 1], got range "
            f"[{scores.min():.4g}, {scores.max():.4g}]"
        )
    if both_classes:
        _need_both(labels, func)
    return labels, scores


def _need_both(labels: IntArray, func: str) -> None:
    n_fake = int(labels.sum())
    if n_fake == 0 or n_fake == labels.size:
        only = "fake (1)" if n_fake else "real (0)"
        raise MetricError(
            f"{func}: all {labels.size} labels are {only}; "
            "it needs both real (0) and fake (1) samples"
        )


# --------------------------------------------------------------------------------------------
# ranking metrics


def roc_auc(y: npt.ArrayLike, s: npt.ArrayLike) -> float:
    """Area under the ROC curve (ties count one half), as ``sklearn.metrics.roc_auc_score``."""
    labels, scores = _check(y, s, "roc_auc", both_classes=True)
    return float(roc_auc_score(labels, scores))


def average_precision(y: npt.ArrayLike, s: npt.ArrayLike) -> float:
    """Average precision of the fake class, as ``sklearn.metrics.average_precision_score``."""
    labels, scores = _check(y, s, "average_precision", both_classes=True)
    return float(average_precision_score(labels, scores))


def _roc(labels: IntArray, scores: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Every ROC point (one per distinct score, plus the all-real point first)."""
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if not np.isfinite(thresholds[0]):
        # scikit-learn >= 1.3 uses +inf for "nothing predicted fake"; keep JSON-friendly floats.
        thresholds[0] = np.nextafter(scores.max(), np.inf)
    return np.asarray(fpr, np.float64), np.asarray(tpr, np.float64), thresholds


def eer(y: npt.ArrayLike, s: npt.ArrayLike) -> tuple[float, float]:
    """Equal error rate and the threshold where it is reached.

    Over the ROC points, take the first point that minimises ``|FNR - FPR|`` (as DeepfakeBench
    does) and report ``(FPR + FNR) / 2`` there: equal to DeepfakeBench's FPR whenever the ROC
    has a point with FPR = FNR, and 0.5 (not a perfect 0) for a constant predictor. All ROC
    points are used (``drop_intermediate=False``).
    """
    labels, scores = _check(y, s, "eer", both_classes=True)
    fpr, tpr, thresholds = _roc(labels, scores)
    i = int(np.argmin(np.abs((1.0 - tpr) - fpr)))
    return float((fpr[i] + 1.0 - tpr[i]) / 2.0), float(thresholds[i])


def fpr_at_tpr(y: npt.ArrayLike, s: npt.ArrayLike, tpr: float = 0.95) -> float:
    """The lowest false-positive rate among thresholds whose true-positive rate is >= ``tpr``."""
    if not 0.0 < tpr <= 1.0:
        raise MetricError(f"fpr_at_tpr: tpr must be in (0, 1], got {tpr}")
    labels, scores = _check(y, s, "fpr_at_tpr", both_classes=True)
    fpr, tpr_curve, _ = _roc(labels, scores)
    reach = tpr_curve >= tpr - 1e-12  # tolerate k/n rounding, e.g. 19/20 vs 0.95
    return float(fpr[reach].min())


# --------------------------------------------------------------------------------------------
# threshold metrics


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def threshold_metrics(y: npt.ArrayLike, s: npt.ArrayLike, threshold: float) -> dict[str, Any]:
    """Confusion counts and rates when ``score >= threshold`` is predicted fake.

    Keys: threshold, accuracy, precision, recall, f1, tpr, fpr, tnr, tp, fp, tn, fn. Any rate
    whose denominator is zero is 0.0 (scikit-learn's ``zero_division=0``); in particular
    precision is 0.0 when nothing is predicted fake. Single-class input is allowed.
    """
    if not math.isfinite(threshold):
        raise MetricError(f"threshold_metrics: threshold must be finite, got {threshold}")
    labels, scores = _check(y, s, "threshold_metrics")
    pred = scores >= threshold
    fake = labels == 1
    tp = int(np.sum(pred & fake))
    fp = int(np.sum(pred & ~fake))
    fn = int(np.sum(~pred & fake))
    tn = int(np.sum(~pred & ~fake))
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)  # = 2PR / (P + R), 0 when P + R = 0
    return {
        "threshold": float(threshold),
        "accuracy": _ratio(tp + tn, labels.size),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "tpr": recall,
        "fpr": _ratio(fp, fp + tn),
        "tnr": _ratio(tn, fp + tn),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


# --------------------------------------------------------------------------------------------
# calibration metrics


def _check_bins(n_bins: int, func: str) -> None:
    if int(n_bins) != n_bins or n_bins < 1:
        raise MetricError(f"{func}: n_bins must be a positive integer, got {n_bins!r}")


def _bin_index(probs: FloatArray, n_bins: int) -> tuple[FloatArray, IntArray]:
    """The bin edges and each probability's bin (see ``_bin_sums``)."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return edges, np.clip(np.searchsorted(edges, probs, side="right") - 1, 0, n_bins - 1)


def _bin_sums(
    labels: IntArray, probs: FloatArray, n_bins: int
) -> tuple[FloatArray, IntArray, FloatArray, FloatArray]:
    """Equal-width bins on [0, 1]: ``[lo, hi)`` except the last, ``[lo, 1]``."""
    edges, idx = _bin_index(probs, n_bins)
    counts = np.bincount(idx, minlength=n_bins).astype(np.int64)
    sum_p = np.asarray(np.bincount(idx, weights=probs, minlength=n_bins), np.float64)
    sum_y = np.asarray(np.bincount(idx, weights=labels, minlength=n_bins), np.float64)
    return edges, counts, sum_p, sum_y


def expected_calibration_error(y: npt.ArrayLike, p: npt.ArrayLike, n_bins: int = 15) -> float:
    """ECE of the fake probability: count-weighted mean over equal-width bins of
    ``|mean predicted - observed fake frequency|``.

    This is the reliability-diagram ECE of the positive class; for binary problems it equals
    the usual confidence/accuracy ECE of Guo et al. (2017) up to how bin edges are assigned.
    """
    _check_bins(n_bins, "expected_calibration_error")
    labels, probs = _check(y, p, "expected_calibration_error", probabilities=True)
    _, _, sum_p, sum_y = _bin_sums(labels, probs, int(n_bins))
    return float(np.abs(sum_p - sum_y).sum() / labels.size)


def ece_floor(p: npt.ArrayLike, n_bins: int = 15, draws: int = 1000, seed: int = 0) -> float:
    """The ECE a perfectly calibrated detector would read with these very probabilities:
    the mean ECE of ``p`` against labels drawn from it (``y ~ Bernoulli(p)``, ``draws``
    times; consistency resampling, Broecker and Smith 2007).

    On a small test set the ECE is biased upwards by sampling alone (20 videos in 15 bins
    read about 0.1-0.2 even when calibration is perfect): an ECE near its floor is noise, the
    excess over it is miscalibration.
    """
    _check_bins(n_bins, "ece_floor")
    if draws < 1:
        raise MetricError(f"ece_floor: draws must be >= 1, got {draws}")
    probs = _scores(p, "ece_floor", what="probabilities")
    if probs.min() < 0.0 or probs.max() > 1.0:
        raise MetricError(
            f"ece_floor: probabilities must lie in [0, 1], got range "
            f"[{probs.min():.4g}, {probs.max():.4g}]"
        )
    _, idx = _bin_index(probs, int(n_bins))
    onehot = np.zeros((probs.size, int(n_bins)))
    onehot[np.arange(probs.size), idx] = 1.0
    sum_p = probs @ onehot  # (bins,)
    labels = np.random.default_rng(seed).random((draws, probs.size)) < probs  # (draws, n)
    sum_y = labels.astype(np.float64) @ onehot  # (draws, bins)
    return float(np.mean(np.abs(sum_p[None, :] - sum_y).sum(axis=1) / probs.size))


def brier_score(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Mean squared difference between the fake probability and the label."""
    labels, probs = _check(y, p, "brier_score", probabilities=True)
    return float(np.mean((probs - labels) ** 2))


def reliability_curve(y: npt.ArrayLike, p: npt.ArrayLike, n_bins: int = 15) -> dict[str, Any]:
    """Per-bin data for a reliability diagram (same bins as the ECE).

    Returns arrays of length ``n_bins``: ``bin_centers``, ``mean_predicted``,
    ``observed_frequency`` (fraction of fakes), ``counts``; plus ``bin_edges`` (``n_bins + 1``).
    Empty bins have NaN mean and frequency.
    """
    _check_bins(n_bins, "reliability_curve")
    labels, probs = _check(y, p, "reliability_curve", probabilities=True)
    edges, counts, sum_p, sum_y = _bin_sums(labels, probs, int(n_bins))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.where(counts > 0, sum_p / counts, np.nan)
        freq = np.where(counts > 0, sum_y / counts, np.nan)
    return {
        "bin_edges": edges,
        "bin_centers": (edges[:-1] + edges[1:]) / 2.0,
        "mean_predicted": mean_p,
        "observed_frequency": freq,
        "counts": counts,
    }


# --------------------------------------------------------------------------------------------
# frame -> video aggregation


def aggregate_by_video(
    video_ids: npt.ArrayLike,
    frame_scores: npt.ArrayLike,
    frame_labels: npt.ArrayLike,
    how: str = "mean",
    *,
    k: int = 5,
) -> tuple[np.ndarray, FloatArray, IntArray]:
    """Pool frame scores into one score per video.

    ``how``: ``mean``, ``max``, ``median`` or ``topk-mean`` (mean of the ``k`` highest frame
    scores, or of all frames when a video has fewer). Returns ``(ids, scores, labels)`` with the
    videos in order of first appearance. A video whose frames carry both labels is an error.
    """
    func = "aggregate_by_video"
    if how not in AGGREGATIONS:
        raise MetricError(f"{func}: how must be one of {', '.join(AGGREGATIONS)}, got {how!r}")
    if how == "topk-mean" and (int(k) != k or k < 1):
        raise MetricError(f"{func}: k must be a positive integer, got {k!r}")
    ids = _as_1d(video_ids, "video_ids", func)
    labels, scores = _check(frame_labels, frame_scores, func)
    if ids.size != scores.size:
        raise MetricError(
            f"{func}: video_ids and frame scores differ in length ({ids.size} vs {scores.size})"
        )

    uniq, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    by_first = np.argsort(first, kind="stable")
    rank = np.empty_like(by_first)
    rank[by_first] = np.arange(by_first.size)
    video = rank[inverse.reshape(-1)]
    uniq = uniq[by_first]
    n_videos = uniq.size

    counts = np.bincount(video, minlength=n_videos)
    n_fake = np.bincount(video, weights=labels, minlength=n_videos)
    mixed = (n_fake > 0) & (n_fake < counts)
    if mixed.any():
        raise MetricError(
            f"{func}: video {uniq[mixed][0]!r} has frames labelled both real and fake "
            f"({int(mixed.sum())} such video(s)); every frame of a video needs the same label"
        )
    video_labels = (n_fake > 0).astype(np.int64)

    if how == "mean":
        video_scores = np.bincount(video, weights=scores, minlength=n_videos) / counts
        return uniq, video_scores, video_labels

    order = np.lexsort((scores, video))  # grouped by video, ascending score within a video
    ordered = scores[order]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    if how == "max":
        video_scores = ordered[starts + counts - 1]
    elif how == "median":
        video_scores = (ordered[starts + (counts - 1) // 2] + ordered[starts + counts // 2]) / 2
    else:  # topk-mean
        top = np.minimum(int(k), counts)
        pos_in_video = np.arange(scores.size) - np.repeat(starts, counts)
        keep = pos_in_video >= np.repeat(counts - top, counts)
        sums = np.bincount(video[order][keep], weights=ordered[keep], minlength=n_videos)
        video_scores = sums / top
    return uniq, np.asarray(video_scores, np.float64), video_labels


# --------------------------------------------------------------------------------------------
# bootstrap


_FAST_METRICS = ("roc_auc", "average_precision", "eer")


def _fast_name(metric: Callable[..., Any] | str) -> str | None:
    if isinstance(metric, str):
        if metric not in _FAST_METRICS:
            raise MetricError(
                f"bootstrap_ci: metric name must be one of {', '.join(_FAST_METRICS)}, "
                f"got {metric!r}; or pass a function (labels, scores) -> float"
            )
        return metric
    known: dict[Any, str] = {roc_auc: "roc_auc", average_precision: "average_precision", eer: "eer"}
    return known.get(metric)


def _weighted_stat(
    name: str, weights: FloatArray, y_desc: IntArray, starts: IntArray
) -> FloatArray:
    """``name`` for each row of ``weights`` (sample multiplicities, columns sorted by
    descending score, ties grouped at ``starts``); NaN where a row lacks a class."""
    pos = np.add.reduceat(weights * y_desc, starts, axis=1)
    neg = np.add.reduceat(weights * (1 - y_desc), starts, axis=1)
    cum_pos = np.cumsum(pos, axis=1)
    cum_neg = np.cumsum(neg, axis=1)
    n_pos = cum_pos[:, -1]
    n_neg = cum_neg[:, -1]
    out = np.full(weights.shape[0], np.nan)
    ok = (n_pos > 0) & (n_neg > 0)
    if not ok.any():
        return out
    pos, neg, cum_pos, cum_neg = pos[ok], neg[ok], cum_pos[ok], cum_neg[ok]
    n_pos, n_neg = n_pos[ok, None], n_neg[ok, None]
    if name == "roc_auc":
        # each positive beats the negatives below its score and ties half of those at it
        wins = pos * (n_neg - cum_neg + 0.5 * neg)
        out[ok] = wins.sum(axis=1) / (n_pos[:, 0] * n_neg[:, 0])
    elif name == "average_precision":
        predicted = cum_pos + cum_neg
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(predicted > 0, cum_pos / predicted, 0.0)
        out[ok] = (pos / n_pos * precision).sum(axis=1)
    else:  # eer, same rule as eer(): (FPR + FNR) / 2 at the first argmin of |FNR - FPR|
        zero = np.zeros((pos.shape[0], 1))
        fpr = np.concatenate((zero, cum_neg / n_neg), axis=1)
        tpr = np.concatenate((zero, cum_pos / n_pos), axis=1)
        i = np.argmin(np.abs((1.0 - tpr) - fpr), axis=1)
        rows = np.arange(fpr.shape[0])
        out[ok] = (fpr[rows, i] + 1.0 - tpr[rows, i]) / 2.0
    return out


def _point(name: str, labels: IntArray, scores: FloatArray) -> float:
    if name == "roc_auc":
        return roc_auc(labels, scores)
    if name == "average_precision":
        return average_precision(labels, scores)
    return eer(labels, scores)[0]


def _multiplicities(draws: IntArray, n_units: int) -> FloatArray:
    """How often each unit was drawn, per resample (row of ``draws``)."""
    b = draws.shape[0]
    offsets = (np.arange(b, dtype=np.int64) * n_units)[:, None]
    flat = np.bincount((draws + offsets).ravel(), minlength=b * n_units)
    return flat.reshape(b, n_units).astype(np.float64)


def bootstrap_ci(
    metric: Callable[[IntArray, FloatArray], Any] | str,
    y: npt.ArrayLike,
    s: npt.ArrayLike,
    *,
    groups: npt.ArrayLike | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    max_skipped: float = 0.1,
) -> tuple[float, float, float]:
    """Percentile-bootstrap ``(point, low, high)`` of ``metric(labels, scores)``.

    ``metric`` is a function returning a float, or one of ``roc_auc``, ``average_precision``,
    ``eer`` (the functions or their names; these run vectorised, and ``eer`` is reduced to its
    rate). With ``groups`` (e.g. the video id of each frame) whole groups are resampled, so
    correlated rows move together. Resamples holding a single class are skipped; more than
    ``max_skipped`` of them is an error. The same ``seed`` gives the same interval.
    """
    func = "bootstrap_ci"
    if int(n_boot) != n_boot or n_boot < 1:
        raise MetricError(f"{func}: n_boot must be a positive integer, got {n_boot!r}")
    if not 0.0 < alpha < 1.0:
        raise MetricError(f"{func}: alpha must be in (0, 1), got {alpha}")
    name = _fast_name(metric)
    labels, scores = _check(y, s, func, both_classes=True)
    n = labels.size

    if groups is None:
        unit_of_row: IntArray | None = None
        n_units = n
    else:
        g = _as_1d(groups, "groups", func)
        if g.size != n:
            raise MetricError(f"{func}: groups and labels differ in length ({g.size} vs {n})")
        _, inverse = np.unique(g, return_inverse=True)
        unit_of_row = inverse.reshape(-1).astype(np.int64)
        n_units = int(unit_of_row.max()) + 1

    if name is not None:
        point = _point(name, labels, scores)
        order = np.argsort(-scores, kind="stable")
        desc = scores[order]
        starts = np.flatnonzero(np.concatenate(([True], desc[1:] != desc[:-1]))).astype(np.int64)
        y_desc = labels[order]
    else:
        assert not isinstance(metric, str)
        point = float(metric(labels, scores))

    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_CELLS // n)  # each block builds a (block, n) weight matrix
    stats = np.full(int(n_boot), np.nan)
    done = 0
    while done < n_boot:
        b = min(block, int(n_boot) - done)
        draws = rng.integers(0, n_units, size=(b, n_units))
        if name is not None:
            mult = _multiplicities(draws, n_units)
            weights = mult if unit_of_row is None else mult[:, unit_of_row]
            stats[done : done + b] = _weighted_stat(name, weights[:, order], y_desc, starts)
        else:
            assert not isinstance(metric, str)
            if unit_of_row is None:
                row_draws = list(draws)
            else:
                per_row = _multiplicities(draws, n_units)[:, unit_of_row].astype(np.int64)
                row_draws = [np.repeat(np.arange(n), per_row[j]) for j in range(b)]
            for j, rows in enumerate(row_draws):
                ys = labels[rows]
                n_fake = int(ys.sum())
                if 0 < n_fake < ys.size:
                    stats[done + j] = float(metric(ys, scores[rows]))
        done += b

    valid = stats[~np.isnan(stats)]
    skipped = int(n_boot) - valid.size
    if skipped > max_skipped * n_boot or valid.size == 0:
        unit = "groups" if groups is not None else "rows"
        raise MetricError(
            f"{func}: {skipped} of {n_boot} resamples held a single class or gave NaN "
            f"(limit {max_skipped:.0%}); too few fake or real {unit} for a bootstrap interval"
        )
    low, high = np.quantile(valid, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(point), float(low), float(high)


# --------------------------------------------------------------------------------------------
# summary


def summary(
    y: npt.ArrayLike,
    s: npt.ArrayLike,
    *,
    threshold: float = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
    groups: npt.ArrayLike | None = None,
    alpha: float = 0.05,
    n_bins: int = 15,
) -> dict[str, Any]:
    """Every metric of this module in one JSON-ready dict (plain ints, floats, None).

    Calibration metrics (``brier_score``, ``expected_calibration_error`` and its sampling
    floor ``ece_floor``) are None unless all scores lie in [0, 1]. ``bootstrap`` holds percentile intervals for AUC, AP and EER (None
    when ``n_boot`` is 0), resampling whole ``groups`` when given.
    """
    labels, scores = _check(y, s, "summary", both_classes=True)
    eer_value, eer_threshold = eer(labels, scores)
    is_prob = bool(scores.min() >= 0.0 and scores.max() <= 1.0)
    n_groups = None
    if groups is not None:
        g = _as_1d(groups, "groups", "summary")
        if g.size != labels.size:
            raise MetricError(
                f"summary: groups and labels differ in length ({g.size} vs {labels.size})"
            )
        n_groups = int(np.unique(g).size)
    out: dict[str, Any] = {
        "n": int(labels.size),
        "n_fake": int(labels.sum()),
        "n_real": int(labels.size - labels.sum()),
        "n_groups": n_groups,
        "roc_auc": roc_auc(labels, scores),
        "average_precision": average_precision(labels, scores),
        "eer": eer_value,
        "eer_threshold": eer_threshold,
        "fpr_at_95_tpr": fpr_at_tpr(labels, scores, 0.95),
        "brier_score": brier_score(labels, scores) if is_prob else None,
        "expected_calibration_error": (
            expected_calibration_error(labels, scores, n_bins) if is_prob else None
        ),
        "ece_floor": ece_floor(scores, n_bins, seed=seed) if is_prob else None,
        "at_threshold": threshold_metrics(labels, scores, threshold),
        "at_eer_threshold": threshold_metrics(labels, scores, eer_threshold),
        "bootstrap": None,
    }
    if n_boot:
        boot: dict[str, Any] = {
            "n_boot": int(n_boot),
            "alpha": float(alpha),
            "seed": int(seed),
            "resampled": "groups" if groups is not None else "rows",
        }
        for name in _FAST_METRICS:
            _, low, high = bootstrap_ci(
                name, labels, scores, groups=groups, n_boot=n_boot, alpha=alpha, seed=seed
            )
            boot[name] = {"low": low, "high": high}
        out["bootstrap"] = boot
    return out
