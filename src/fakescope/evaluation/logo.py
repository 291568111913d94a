"""Leave-one-generator-out (LOGO): does a training recipe detect generators it never saw?

This module holds the folds, the paired check, the summary and the tables; running the
protocol (training, scoring, baselines) is ``evaluation.logo_run``.

For every generator ``g`` (the manipulation method of the fakes, or their source) in a
manifest with identity-level splits:

- **train** = the train split without the fakes of ``g``; **val** = the val split without the
  fakes of ``g`` (early stopping, video-level calibration, the threshold);
- **test** = the real videos of the test split and the fakes of ``g`` in the test split.

The splits are the manifest's own identity-level splits (``fakescope datasets split`` checks
them for leakage), so real identities never cross from training to test, and the held-out
generator is never seen in training or model selection. A fold without a held-out fake in the
test split is reported as skipped, with the reason.

Beside the recipe, on the same folds, two shortcut baselines are fitted on the fold's train
split: a logistic regression on file metadata only (resolution, fps, bitrate, codec, duration,
audio) and a linear probe on frozen ImageNet features of the same face crops. A detector that
does not beat both has learned a shortcut, not the manipulation. Where some videos have audio, a
third: a logistic regression on the leading silence (seconds to the first speech; issue 13),
scored on the test videos with audio.

The paired check takes every test fake whose pristine source video is in the manifest (FF++
``A_B`` against ``A``, DFDC fakes against their ``original``): same person, same encoding, so
only the manipulation separates the two; it reports the share of pairs where the fake scores
above its own source, each fake scored by the fold that held its generator out.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .metrics import MetricError, bootstrap_ci, ece_floor, expected_calibration_error, roc_auc

__all__ = [
    "Fold",
    "FoldResult",
    "auc_interval",
    "fold_manifest",
    "generator_names",
    "logo_folds",
    "logo_markdown",
    "paired_check",
    "predictions",
    "source_pairs",
    "summarise_folds",
    "training_view",
]

log = logging.getLogger(__name__)

# spellings of one generator across benchmarks -> one name
_ALIASES = {"dfdc": "DFDC", "deepfakedetection": "DeepFakeDetection"}


def generator_names(table: pd.DataFrame, column: str = "method") -> pd.Series:
    """The generator of every fake (None for real videos): ``column``, with the spellings of
    one generator across benchmarks merged (``dfdc`` and ``DFDC`` are one generator)."""
    if column not in table:
        from ..errors import ConfigError

        raise ConfigError(f"manifest has no column '{column}' to name generators by")
    names = table[column].astype(str)
    names = names.map(lambda m: _ALIASES.get(m.lower(), m))
    return names.where(table["label"].astype(int) == 1, None)


@dataclass(frozen=True)
class Fold:
    """One held-out generator: the video ids of each part, or why it cannot be evaluated."""

    generator: str
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    skipped: str | None = None

    @property
    def key(self) -> str:
        """A digest of the fold's data: folds with the same data share one trained model."""
        text = json.dumps([self.train, self.val], separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def logo_folds(
    table: pd.DataFrame,
    *,
    column: str = "method",
    generators: Sequence[str] | None = None,
    train_split: str = "train",
    val_split: str = "val",
    test_split: str = "test",
) -> list[Fold]:
    """One ``Fold`` per generator of the manifest (or of ``generators``), sorted by name."""
    gen = generator_names(table, column)
    split = table["split"].astype(str)
    ids = table["video_id"].astype(str)
    names = sorted(gen.dropna().unique())
    if generators:
        unknown = sorted(set(generators) - set(names))
        if unknown:
            from ..errors import ConfigError

            raise ConfigError(
                f"unknown generator(s) {', '.join(unknown)}; the manifest has {', '.join(names)}"
            )
        names = [n for n in names if n in set(generators)]
    folds = []
    for g in names:
        held = gen == g
        train = tuple(ids[(split == train_split) & ~held])
        val = tuple(ids[(split == val_split) & ~held])
        is_test = split == test_split
        test_fakes = is_test & held
        test = tuple(ids[(is_test & (table["label"].astype(int) == 0)) | test_fakes])
        reason = None
        if not test_fakes.any():
            where = ", ".join(sorted(set(split[held]))) or "no split"
            reason = f"no fake of {g} in the test split (its fakes are in: {where})"
        elif not (is_test & (table["label"].astype(int) == 0)).any():
            reason = "no real video in the test split"
        folds.append(Fold(g, train, val, test, reason))
    return folds


def training_view(fold: Fold, labels: dict[str, int], sbi: str) -> Fold:
    """The part of a fold that training sees. A recipe trained on real videos only
    (``data.sbi: only``) validates on real videos and their self-blended fakes, so it never
    sees a labelled fake: every fold then has the same training data and shares one model.
    Calibration and the threshold still use the fold's whole val split."""
    if sbi != "only":
        return fold
    return Fold(
        fold.generator,
        tuple(v for v in fold.train if labels[v] == 0),
        tuple(v for v in fold.val if labels[v] == 0),
        fold.test,
        fold.skipped,
    )


def fold_manifest(manifest: Any, fold: Fold, out: Path) -> Path:
    """A copy of the manifest whose ``split`` column is the fold's (others: ``excluded``)."""
    from ..datasets import write_manifest

    table = manifest.table.copy()
    ids = table["video_id"].astype(str)
    split = np.full(len(table), "excluded", dtype=object)
    for part in ("train", "val", "test"):
        split[ids.isin(set(getattr(fold, part))).to_numpy()] = part
    table["split"] = split
    return write_manifest(table, out, manifest.root, {"logo_fold": fold.generator})


def source_pairs(table: pd.DataFrame) -> list[tuple[str, str]]:
    """(fake video id, its pristine source's video id) for every fake whose source is in the
    manifest: same dataset, same compression, the real video of the fake's target identity."""
    reals = table[table["label"].astype(int) == 0]
    index: dict[tuple[Any, Any, str], str] = {}
    for _, r in reals.iterrows():
        for ident in (r.get("target_id"), Path(str(r["path"])).stem):
            if ident:
                index.setdefault((r["dataset"], r["compression"], str(ident)), str(r["video_id"]))
    pairs = []
    for _, f in table[table["label"].astype(int) == 1].iterrows():
        target = f.get("target_id")
        if not target:
            continue
        real = index.get((f["dataset"], f["compression"], str(target)))
        if real is not None:
            pairs.append((str(f["video_id"]), real))
    return pairs


def paired_check(
    pairs: Sequence[tuple[str, str]], scores: dict[str, float]
) -> dict[str, Any] | None:
    """Share of (fake, source) pairs where the fake scores above its own source."""
    got = [(scores[f], scores[r]) for f, r in pairs if f in scores and r in scores]
    if not got:
        return None
    diff = np.array([a - b for a, b in got])
    return {
        "pairs": len(got),
        "fake_above_source": float(np.mean(diff > 0)),
        "ties": int(np.sum(diff == 0)),
        "mean_margin": float(diff.mean()),
    }


def auc_interval(y: np.ndarray, s: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """AUC with a 95% bootstrap interval over videos (no interval when too few of a class)."""
    if len(np.unique(y)) < 2:
        return {"auc": None, "low": None, "high": None, "note": "one class only"}
    if n_boot <= 0:
        return {"auc": roc_auc(y, s), "low": None, "high": None}
    try:
        point, low, high = bootstrap_ci("roc_auc", y, s, n_boot=n_boot, seed=seed, max_skipped=0.5)
    except MetricError as exc:
        return {"auc": roc_auc(y, s), "low": None, "high": None, "note": str(exc)}
    return {"auc": point, "low": low, "high": high}


@dataclass
class FoldResult:
    """Test-video scores of one fold for the recipe and each baseline."""

    generator: str
    video_ids: list[str]
    labels: np.ndarray
    scores: dict[str, np.ndarray] = field(default_factory=dict)  # method -> probability
    threshold: float = 0.5
    calibration: dict[str, Any] | None = None
    train_seconds: float | None = None
    note: str | None = None
    same_dataset: np.ndarray | None = None  # the fakes and the reals of the fakes' dataset(s)
    raw: np.ndarray | None = None  # the detector's video logits before calibration (ranking)
    reused: bool = False  # the fold's model existed (an earlier run, or a fold with its data)


def summarise_folds(
    folds: list[Fold], results: list[FoldResult], pairs: list[tuple[str, str]], n_boot: int
) -> dict[str, Any]:
    methods = sorted({m for r in results for m in r.scores})
    per_generator: dict[str, Any] = {}
    for fold in folds:
        if fold.skipped:
            per_generator[fold.generator] = {"skipped": fold.skipped}
    for r in results:
        y = r.labels
        entry: dict[str, Any] = {
            "videos": len(y), "fake": int(y.sum()), "real": int(len(y) - y.sum()),
            "threshold": r.threshold, "calibration": r.calibration,
            "train_seconds": r.train_seconds, "reused_model": r.reused,
        }  # fmt: skip
        if r.note:
            entry["note"] = r.note
        for m, s in r.scores.items():
            ok = ~np.isnan(s)
            # AUC ranks the raw scores: a calibration map may be flat in places (isotonic)
            rank = r.raw if (m == "detector" and r.raw is not None) else s
            res = auc_interval(y[ok], rank[ok], n_boot)
            res["scored"] = int(ok.sum())
            if m == "detector" and ok.any():
                res["ece"] = expected_calibration_error(y[ok], s[ok])
                res["ece_floor"] = ece_floor(s[ok])
                res["accuracy"] = float(np.mean((s[ok] >= r.threshold) == (y[ok] == 1)))
            if r.same_dataset is not None:
                sel = ok & r.same_dataset
                same = auc_interval(y[sel], rank[sel], n_boot)
                res["same_dataset"] = {**same, "real": int(np.sum(sel & (y == 0)))}
            entry[m] = res
        per_generator[r.generator] = entry
    mean: dict[str, Any] = {}
    for m in methods:
        aucs = [
            per_generator[r.generator][m]["auc"]
            for r in results
            if per_generator[r.generator].get(m, {}).get("auc") is not None
        ]
        mean[m] = {"auc": float(np.mean(aucs)) if aucs else None, "folds": len(aucs)}
        same_aucs: list[float] = [
            per_generator[r.generator][m]["same_dataset"]["auc"]
            for r in results
            if (per_generator[r.generator].get(m, {}).get("same_dataset") or {}).get("auc")
            is not None
        ]
        mean[m]["same_dataset_auc"] = float(np.mean(same_aucs)) if same_aucs else None
        mean[m]["same_dataset_folds"] = len(same_aucs)
    _mean_ece(per_generator, mean)
    # paired: each fake against its source, both scored by the fold that held the fake's
    # generator out
    paired_rows = []
    for r in results:
        det = r.raw if r.raw is not None else r.scores.get("detector")
        if det is None:
            continue
        score = {v: float(p) for v, p in zip(r.video_ids, det) if not np.isnan(p)}
        for fake, real in pairs:
            if fake in score and real in score:
                paired_rows.append((fake, real, score[fake], score[real]))
    paired = paired_check(
        [(f, r) for f, r, _, _ in paired_rows],
        {**{f: a for f, _, a, _ in paired_rows}, **{r: b for _, r, _, b in paired_rows}},
    )
    if paired is not None:
        paired["rows"] = [
            {"fake": f, "source": r, "fake_score": a, "source_score": b}
            for f, r, a, b in paired_rows
        ]
    return {"per_generator": per_generator, "mean": mean, "paired": paired}


def _mean_ece(per_generator: dict[str, Any], mean: dict[str, Any]) -> None:
    """``mean["detector"]``'s ECE and ECE floor: the means over the folds that have them."""
    det = mean.setdefault("detector", {})
    for key in ("ece", "ece_floor"):
        values = [
            r["detector"][key]
            for r in per_generator.values()
            if r.get("detector", {}).get(key) is not None
        ]
        det[key] = float(np.mean(values)) if values else None


def backfill_ece_floor(result: dict[str, Any]) -> dict[str, Any]:
    """Add the ECE floor (``metrics.ece_floor``) to a LOGO result written before it was
    recorded, from the calibrated detector probabilities in its ``predictions``; in place."""
    if result.get("mean", {}).get("detector", {}).get("ece_floor") is not None:
        return result
    probs: dict[str, list[float]] = {}
    for row in result.get("predictions") or []:
        if row.get("detector") is not None:
            probs.setdefault(row["generator"], []).append(float(row["detector"]))
    for g, r in result.get("per_generator", {}).items():
        if r.get("detector", {}).get("ece") is not None and probs.get(g):
            r["detector"]["ece_floor"] = ece_floor(np.asarray(probs[g]))
    _mean_ece(result.get("per_generator", {}), result.setdefault("mean", {}))
    return result


def predictions(results: Sequence[FoldResult]) -> list[dict[str, Any]]:
    """One row per test video of every fold: generator, video, label and each method's score."""
    return [
        {
            "generator": r.generator,
            "video_id": v,
            "label": int(y),
            **{m: (None if np.isnan(s[k]) else float(s[k])) for m, s in r.scores.items()},
        }
        for r in results
        for k, (v, y) in enumerate(zip(r.video_ids, r.labels))
    ]


def _fmt_auc(r: dict[str, Any] | None) -> str:
    if not r or r.get("auc") is None:
        return "-"
    text = f"{r['auc']:.3f}"
    if r.get("low") is not None:
        text += f" [{r['low']:.2f}, {r['high']:.2f}]"
    return text


def ece_cell(detector: dict[str, Any] | None) -> str:
    """``ECE (floor)`` for a table: the ECE, and beside it the ECE that perfect calibration
    would read on the same test videos (``metrics.ece_floor``)."""
    d = detector or {}
    if d.get("ece") is None:
        return "-"
    floor = d.get("ece_floor")
    return f"{d['ece']:.3f}" + ("" if floor is None else f" ({floor:.3f})")


def logo_markdown(result: dict[str, Any], title: str | None = None) -> str:
    """One candidate's LOGO table: per generator, the recipe and both baselines."""
    lines = [f"## {title or result.get('name', 'candidate')}", ""]
    # baselines that exist for some data only (leading silence: videos with audio)
    extra = [
        (m, label)
        for m, label in (("leading_silence", "leading silence (videos with audio)"),)
        if any(m in r for r in result["per_generator"].values())
    ]
    if result.get("description"):
        lines += [str(result["description"]), ""]
    lines += [
        "AUC against every held-out real video, then (in the second row of a cell) against the",
        "real videos of the fakes' own dataset only, where file-level shortcuts cannot help.",
        "",
        "| held-out generator | test videos (real/fake) | detector AUC | ECE (floor) | metadata only | linear probe |"
        + "".join(f" {label} |" for _, label in extra),
        "|---|---|---|---|---|---|" + "---|" * len(extra),
    ]

    def cell(r: dict[str, Any] | None) -> str:
        text = _fmt_auc(r)
        same = (r or {}).get("same_dataset")
        if same and same.get("auc") is not None:
            text += f"<br>{_fmt_auc(same)} ({same['real']} reals)"
        return text

    for g, r in result["per_generator"].items():
        if "skipped" in r:
            lines.append(f"| {g} | skipped: {r['skipped']} | | | | |" + " |" * len(extra))
            continue
        lines.append(
            f"| {g} | {r['videos']} ({r['real']}/{r['fake']}) | {cell(r.get('detector'))} | "
            f"{ece_cell(r.get('detector'))} | {cell(r.get('metadata'))} | "
            f"{cell(r.get('linear_probe'))} |" + "".join(f" {cell(r.get(m))} |" for m, _ in extra)
        )
    m = result["mean"]

    def mean_of(k: str) -> str:
        v = m.get(k, {}).get("auc")
        text = "-" if v is None else f"**{v:.3f}**"
        same = m.get(k, {}).get("same_dataset_auc")
        return text + ("" if same is None else f"<br>**{same:.3f}**")

    lines.append(
        f"| **mean** | {m.get('detector', {}).get('folds', 0)} folds | {mean_of('detector')} | "
        f"{ece_cell(m.get('detector'))} | {mean_of('metadata')} | {mean_of('linear_probe')} |"
        + "".join(f" {mean_of(m)} |" for m, _ in extra)
    )
    p = result.get("paired")
    lines.append("")
    if p:
        lines.append(
            f"Paired check: the fake scores above its own pristine source in "
            f"**{p['fake_above_source']:.0%}** of {p['pairs']} pairs (mean margin "
            f"{p['mean_margin']:+.3f} in video logits)."
        )
    else:
        lines.append("Paired check: no test fake has its pristine source in the test split.")
    lines.append("")
    return "\n".join(lines)
