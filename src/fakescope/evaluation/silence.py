"""The "leading silence" shortcut baseline (issue 13 §4).

Fake clips in FakeAVCeleb and AV-Deepfake1M are known to start with silence. A classifier that
sees nothing but the seconds from the start of the video to the first speech (silero VAD,
``io.audio.leading_silence``) is fitted on the train split's videos (a logistic regression on
that one number, i.e. its direction and a threshold) and scored on the evaluated videos that
have an audio track. ``evaluate`` reports it beside the detector, with the detector's AUC on
the same videos: a detector that does not clearly beat it may have learned the silence.

Without a train split (or one holding a single class) there is nothing to fit: the raw
feature is scored in the direction the literature reports (longer silence = fake) and the
result says so. The per-video values are cached under ``CACHE/silence/`` by file content.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_write_json

__all__ = [
    "SILENCE_VERSION",
    "make_silence_job",
    "shortcuts_markdown",
    "silence_baseline",
    "video_silence",
]

log = logging.getLogger(__name__)

SILENCE_VERSION = 1  # bump when decoding or VAD settings change: cached values recompute


def video_silence(path: str | os.PathLike[str], cache_dir: str | None = None) -> dict[str, Any]:
    """``{"leading_silence": seconds | None, "audio": ok | none | broken | failed, "error"}``
    of one video; cached under ``cache_dir/silence/`` by the file's content when given."""
    from ..cache import file_fingerprint

    spath = os.fspath(path)
    file: Path | None = None
    if cache_dir is not None and os.path.isfile(spath):
        fp = file_fingerprint(spath)
        file = Path(cache_dir) / "silence" / fp[:2] / f"{fp}.v{SILENCE_VERSION}.json"
        if file.is_file():
            try:
                cached: dict[str, Any] = json.loads(file.read_text())
                return cached
            except (OSError, ValueError):
                pass
    row = _compute(spath)
    if file is not None and row["audio"] != "failed":  # a failure may be transient: retry
        atomic_write_json(file, row)
    return row


def _compute(path: str) -> dict[str, Any]:
    from ..errors import AudioError, FakescopeError
    from ..io.audio import leading_silence, load_audio

    try:
        track = load_audio(path)
    except AudioError as exc:
        return {"leading_silence": None, "audio": "broken", "error": str(exc)}
    except (FakescopeError, OSError) as exc:
        return {"leading_silence": None, "audio": "failed", "error": " ".join(str(exc).split())}
    if track is None:
        return {"leading_silence": None, "audio": "none", "error": None}
    return {"leading_silence": round(leading_silence(track), 4), "audio": "ok", "error": None}


def make_silence_job(cache_dir: str | None = None) -> Callable[[str], dict[str, Any]]:
    """Per worker (``engine.map`` / ``protocol.run_jobs``): the leading silence of a video."""

    def job(path: str) -> dict[str, Any]:
        return {"path": path, "status": "ok", **video_silence(path, cache_dir)}

    return job


def _finite(x: Sequence[float | None], y: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    xs = np.asarray([math.nan if v is None else float(v) for v in x], float)
    ys = np.asarray(list(y), int)
    keep = np.isfinite(xs)
    return xs[keep], ys[keep]


def silence_baseline(
    train_x: Sequence[float | None],
    train_y: Sequence[int],
    test_x: Sequence[float | None],
    test_y: Sequence[int],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit on the train videos that have audio, score the test videos that have audio.

    ``*_x``: leading silence in seconds, None or nan for videos without (usable) audio.
    Returns the videos used, the fitted direction (``longer_is_fake``) and threshold in
    seconds, AUC with a 95% bootstrap interval, AP and accuracy at the fitted threshold (or a
    ``reason`` when the test videos with audio hold a single class)."""
    from sklearn.linear_model import LogisticRegression

    from .metrics import average_precision

    xtr, ytr = _finite(train_x, train_y)
    xte, yte = _finite(test_x, test_y)
    out: dict[str, Any] = {
        "feature": "seconds from the start of the video to the first speech (silero VAD)",
        "train_videos": len(xtr),
        "test_videos": len(xte),
        "test_videos_without_audio": len(test_x) - len(xte),
        "real": int((yte == 0).sum()),
        "fake": int((yte == 1).sum()),
        "median_real": float(np.median(xte[yte == 0])) if (yte == 0).any() else None,
        "median_fake": float(np.median(xte[yte == 1])) if (yte == 1).any() else None,
    }
    threshold: float | None = None
    if len(set(ytr.tolist())) == 2:
        mu, sd = float(xtr.mean()), float(xtr.std()) or 1.0
        clf = LogisticRegression(C=1.0).fit(((xtr - mu) / sd)[:, None], ytr)
        w, b = (
            float(clf.coef_[0, 0]) / sd,
            float(clf.intercept_[0]) - float(clf.coef_[0, 0]) * mu / sd,
        )
        longer_is_fake = w >= 0
        if w != 0:
            threshold = -b / w  # where the fitted probability crosses 0.5
        out["fitted_on"] = "train split"
        scores = 1.0 / (1.0 + np.exp(-(w * xte + b)))
    else:
        longer_is_fake = True
        out["fitted_on"] = None
        out["note"] = (
            "no train split with real and fake videos that have audio: the raw feature, "
            "longer silence = fake (the known shortcut's direction)"
        )
        scores = xte.copy()
    out["longer_is_fake"] = bool(longer_is_fake)
    out["threshold_seconds"] = None if threshold is None else round(float(threshold), 4)
    if not _two_classes(yte):
        out["reason"] = "the test videos with audio hold a single class (or none)"
        return out
    out["auc"], interval = _auc_with_interval(yte, scores, n_boot, seed)
    out["ap"] = average_precision(yte, scores)
    if threshold is not None:
        pred = (xte >= threshold) if longer_is_fake else (xte < threshold)
        out["accuracy"] = float((pred.astype(int) == yte).mean())
    out["auc_interval"] = interval
    return out


def model_on_same_videos(
    baseline: dict[str, Any], y: np.ndarray, p: np.ndarray, *, n_boot: int = 1000, seed: int = 0
) -> None:
    """Add the detector's AUC (and interval) on the baseline's test videos to ``baseline``."""
    if not _two_classes(y):
        return
    baseline["model_auc"], baseline["model_auc_interval"] = _auc_with_interval(y, p, n_boot, seed)


def _two_classes(y: np.ndarray) -> bool:
    """Whether the 0/1 labels ``y`` hold both classes (an AUC exists)."""
    return bool(0 < y.sum() < len(y))


def _auc_with_interval(
    y: np.ndarray, scores: np.ndarray, n_boot: int, seed: int
) -> tuple[float, list[float] | None]:
    """ROC AUC and its 95% bootstrap interval (None with ``n_boot=0`` or when no interval can
    be drawn)."""
    from .metrics import MetricError, bootstrap_ci, roc_auc

    auc = roc_auc(y, scores)
    if n_boot:
        try:
            _, low, high = bootstrap_ci("roc_auc", y, scores, n_boot=n_boot, seed=seed)
            return auc, [low, high]
        except MetricError:
            pass
    return auc, None


def _auc_text(r: dict[str, Any], key: str) -> str:
    if r.get(key) is None:
        return "-"
    iv = r.get(f"{key}_interval")
    return f"{r[key]:.3f}" + (f" [{iv[0]:.3f}, {iv[1]:.3f}]" if iv else "")


def shortcuts_markdown(shortcuts: dict[str, Any], video_level: Any = None) -> list[str]:
    """The summary's section on shortcut baselines."""
    lines = [
        "",
        "## Shortcut baselines",
        "",
        "A classifier on one trivial cue, on the videos where the cue exists, beside the "
        "detector on the same videos (AUC with 95% bootstrap intervals).",
        "",
        "| baseline | videos (real/fake) | baseline AUC | detector AUC, same videos | AP | "
        "accuracy | fitted on |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in shortcuts.items():
        if r.get("reason"):
            lines.append(f"| {name} | {r['real']}/{r['fake']} | not computed: {r['reason']} "
                         "| - | - | - | - |")  # fmt: skip
            continue
        acc = r.get("accuracy")
        lines.append(
            f"| {name} | {r['real']}/{r['fake']} | {_auc_text(r, 'auc')} | "
            f"{_auc_text(r, 'model_auc')} | {r['ap']:.3f} | "
            f"{'-' if acc is None else f'{acc:.3f}'} | {r.get('fitted_on') or 'nothing (raw)'} |"
        )
    for name, r in shortcuts.items():
        if name == "leading_silence" and r.get("median_real") is not None:
            direction = "longer" if r.get("longer_is_fake") else "shorter"
            fake = r.get("median_fake")
            lines += [
                "",
                f"Leading silence: median {r['median_real']:.2f} s (real) vs "
                f"{'-' if fake is None else f'{fake:.2f}'} s (fake); {direction} silence "
                f"scores as fake; {r['test_videos_without_audio']} evaluated video(s) without "
                "usable audio left out." + (f" {r['note']}." if r.get("note") else ""),
            ]
    lines.append("")
    return lines


def evaluate_silence(
    manifest: Any,
    table: Any,
    paths: list[str],
    cache_dir: str | None,
    engine: Any,
    progress: Any = None,
    *,
    n_boot: int = 1000,
    max_train: int = 2000,
    seed: int = 0,
) -> dict[str, Any] | None:
    """The baseline for ``evaluate``: fitted on (at most ``max_train``, a seeded sample of) the
    manifest's train videos that are not evaluated, scored on ``table``/``paths``. Returns
    ``{"leading_silence": {...}}`` with the per-video values under ``_values`` (video id ->
    seconds) for ``evaluate_table``, or None when no evaluated video has audio."""
    from .protocol import run_jobs

    full = manifest.table
    train = full[(full["split"] == "train") & ~full["video_id"].isin(set(table["video_id"]))]
    if len(train) > max_train:
        train = train.sample(n=max_train, random_state=seed)
    train_paths = manifest.absolute_paths_of(train)
    rows = run_jobs(make_silence_job, (cache_dir,), list(paths) + train_paths, engine, progress)

    def values(ps: list[str]) -> list[float | None]:
        return [rows.get(p, {}).get("leading_silence") for p in ps]

    test_x = values(paths)
    if all(v is None for v in test_x):
        return None
    broken = sum(rows.get(p, {}).get("audio") == "broken" for p in paths)
    result = silence_baseline(
        values(train_paths), train["label"].astype(int).tolist(),
        test_x, table["label"].astype(int).tolist(), n_boot=n_boot, seed=seed,
    )  # fmt: skip
    result["test_videos_broken_audio"] = broken
    result["train_sampled"] = len(train_paths)
    result["_values"] = dict(zip(table["video_id"], test_x))
    return {"leading_silence": result}
