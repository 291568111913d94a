"""Leave-one-generator-out (LOGO): does a training recipe detect generators it never saw?

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
does not beat both has learned a shortcut, not the manipulation.

The paired check takes every test fake whose pristine source video is in the manifest (FF++
``A_B`` against ``A``, DFDC fakes against their ``original``): same person, same encoding, so
only the manipulation separates the two; it reports the share of pairs where the fake scores
above its own source, each fake scored by the fold that held its generator out.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._atomic import atomic_write_json, atomic_write_text
from .metrics import MetricError, bootstrap_ci, expected_calibration_error, roc_auc

__all__ = [
    "Fold",
    "generator_names",
    "logo_folds",
    "logo_markdown",
    "paired_check",
    "run_logo",
    "source_pairs",
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


def _summarise(
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
            "train_seconds": r.train_seconds,
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
    eces = [
        per_generator[r.generator]["detector"].get("ece")
        for r in results
        if "detector" in per_generator[r.generator]
    ]
    eces = [e for e in eces if e is not None]
    mean.setdefault("detector", {})["ece"] = float(np.mean(eces)) if eces else None
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


def _fmt_auc(r: dict[str, Any] | None) -> str:
    if not r or r.get("auc") is None:
        return "-"
    text = f"{r['auc']:.3f}"
    if r.get("low") is not None:
        text += f" [{r['low']:.2f}, {r['high']:.2f}]"
    return text


def logo_markdown(result: dict[str, Any], title: str | None = None) -> str:
    """One candidate's LOGO table: per generator, the recipe and both baselines."""
    lines = [f"## {title or result.get('name', 'candidate')}", ""]
    if result.get("description"):
        lines += [str(result["description"]), ""]
    lines += [
        "AUC against every held-out real video, then (in the second row of a cell) against the",
        "real videos of the fakes' own dataset only, where file-level shortcuts cannot help.",
        "",
        "| held-out generator | test videos (real/fake) | detector AUC | ECE | metadata only | linear probe |",
        "|---|---|---|---|---|---|",
    ]

    def cell(r: dict[str, Any] | None) -> str:
        text = _fmt_auc(r)
        same = (r or {}).get("same_dataset")
        if same and same.get("auc") is not None:
            text += f"<br>{_fmt_auc(same)} ({same['real']} reals)"
        return text

    for g, r in result["per_generator"].items():
        if "skipped" in r:
            lines.append(f"| {g} | skipped: {r['skipped']} | | | | |")
            continue
        ece = r.get("detector", {}).get("ece")
        lines.append(
            f"| {g} | {r['videos']} ({r['real']}/{r['fake']}) | {cell(r.get('detector'))} | "
            f"{'-' if ece is None else f'{ece:.3f}'} | {cell(r.get('metadata'))} | "
            f"{cell(r.get('linear_probe'))} |"
        )
    m = result["mean"]

    def mean_of(k: str) -> str:
        v = m.get(k, {}).get("auc")
        text = "-" if v is None else f"**{v:.3f}**"
        same = m.get(k, {}).get("same_dataset_auc")
        return text + ("" if same is None else f"<br>**{same:.3f}**")

    ece = m.get("detector", {}).get("ece")
    lines.append(
        f"| **mean** | {m.get('detector', {}).get('folds', 0)} folds | {mean_of('detector')} | "
        f"{'-' if ece is None else f'{ece:.3f}'} | {mean_of('metadata')} | {mean_of('linear_probe')} |"
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


# -- running the protocol ---------------------------------------------------------------------


def _train_fold(
    config: Any, fold_manifest_path: Path, run_dir: Path, fold: Fold
) -> tuple[Path, float | None]:
    """Train the recipe on one fold (resumed when this fold's model already exists)."""
    import copy
    import time

    from ..training.trainer import train

    best = run_dir / fold.key / "best"
    if (best / "card.json").is_file():
        return best, None
    cfg = copy.deepcopy(config)
    cfg.data.manifest = str(fold_manifest_path)
    cfg.data.train_split, cfg.data.val_split = "train", "val"
    cfg.out, cfg.name = str(run_dir), fold.key
    started = time.perf_counter()
    best = train(cfg)
    return best, time.perf_counter() - started


def run_logo(
    config: Any,
    manifest_path: str,
    out: str | Path,
    *,
    column: str = "method",
    generators: Sequence[str] | None = None,
    baselines: bool = True,
    n_boot: int = 1000,
    engine: Any = None,
    cache_dir: str | None = None,
    name: str | None = None,
    description: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the protocol for a training recipe (a ``TrainConfig``); writes ``OUT/logo.json``
    and ``OUT/logo.md`` and returns the result. Folds whose trained model exists are reused,
    so an interrupted run resumes."""
    from ..datasets import read_manifest
    from ..engines import create_engine
    from ..inference.video_calibration import VideoCalibrator, choose_threshold
    from ..models.checkpoint import read_card
    from .protocol import extract_settings_for, score_videos, video_logit

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(manifest_path)
    table = manifest.table.reset_index(drop=True)
    table["video_id"] = table["video_id"].astype(str)
    folds = logo_folds(table, column=column, generators=generators)
    if not any(f.skipped is None for f in folds):
        from ..errors import ConfigError

        raise ConfigError(f"{manifest_path}: no generator has fakes in the test split")
    paths = dict(zip(table["video_id"], manifest.absolute_paths_of(table)))
    labels = dict(zip(table["video_id"], table["label"].astype(int)))
    datasets = dict(zip(table["video_id"], table["dataset"].astype(str)))
    engine = engine or create_engine("local", 1)
    cache = cache_dir or str(Path(config.data.crops) / "cache")
    say = progress or (lambda msg: log.info("%s", msg))
    results: list[FoldResult] = []
    shared_models: dict[str, Path] = {}
    memo: dict[str, dict[str, Any]] = {}
    for i, fold in enumerate(folds, 1):
        if fold.skipped:
            say(f"[{i}/{len(folds)}] {fold.generator}: skipped ({fold.skipped})")
            continue
        seen = training_view(fold, labels, config.data.sbi)
        say(f"[{i}/{len(folds)}] {fold.generator}: training on {len(seen.train)} videos")
        fm = fold_manifest(manifest, seen, out / "folds" / f"{_slug(fold.generator)}.parquet")
        if seen.key in shared_models:
            best, seconds = shared_models[seen.key], None
        else:
            best, seconds = _train_fold(config, fm, out / "models", seen)
            shared_models[seen.key] = best
        card = read_card(str(best))
        settings = extract_settings_for(card)
        # a model shared by several folds scores each video once
        known = memo.setdefault(str(best), {})
        todo = [paths[v] for v in (*fold.val, *fold.test) if paths[v] not in known]
        known.update(score_videos(todo, str(best), settings, cache, engine) if todo else {})
        scored = known
        z = {v: video_logit(scored[paths[v]], card.aggregation) if scored.get(paths[v], {}).get("scores") else float("nan") for v in (*fold.val, *fold.test)}  # fmt: skip
        val_z = np.array([z[v] for v in fold.val])
        val_y = np.array([labels[v] for v in fold.val])
        ok = ~np.isnan(val_z)
        calibrator = VideoCalibrator().fit(val_z[ok], val_y[ok])
        threshold = choose_threshold(calibrator.predict_proba(val_z[ok]), val_y[ok])
        test_z = np.array([z[v] for v in fold.test])
        probs = np.full(len(test_z), np.nan)
        good = ~np.isnan(test_z)
        probs[good] = calibrator.predict_proba(test_z[good])
        fake_sets = {datasets[v] for v in fold.test if labels[v] == 1}
        same = np.array([labels[v] == 1 or datasets[v] in fake_sets for v in fold.test])
        results.append(
            FoldResult(
                fold.generator, list(fold.test), np.array([labels[v] for v in fold.test]),
                {"detector": probs}, float(threshold), calibrator.to_dict(), seconds,
                None if good.all() else f"{int((~good).sum())} test video(s) without a face",
                same, test_z,
            )
        )  # fmt: skip
    if baselines:
        _add_baselines(results, folds, table, paths, labels, out, cache, engine, say)
    summary = _summarise(folds, results, source_pairs(table), n_boot)
    result = {
        "name": name or "recipe",
        "description": description,
        "manifest": str(manifest_path),
        "column": column,
        "config": config.to_dict(),
        **summary,
        "predictions": [
            {
                "generator": r.generator,
                "video_id": v,
                "label": int(y),
                **{m: (None if np.isnan(s[k]) else float(s[k])) for m, s in r.scores.items()},
            }
            for r in results
            for k, (v, y) in enumerate(zip(r.video_ids, r.labels))
        ],
    }
    atomic_write_json(out / "logo.json", result, indent=2)
    atomic_write_text(out / "logo.md", logo_markdown(result))
    return result


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


# -- shortcut baselines -----------------------------------------------------------------------


def metadata_features(meta: pd.DataFrame) -> np.ndarray:
    """File metadata only: log sizes, fps, log duration, log bitrate, H.264 or not, audio."""
    return np.column_stack(
        [np.log1p(meta["width"].astype(float)), np.log1p(meta["height"].astype(float)),
         meta["fps"].astype(float), np.log1p(meta["duration"].astype(float)),
         np.log1p(meta["bit_rate"].astype(float)), (meta["codec"] == "h264").astype(float),
         meta["has_audio"].astype(float)]
    )  # fmt: skip


def _metadata(paths: dict[str, str], out: Path) -> pd.DataFrame:
    """Probe every video once (kept in OUT/metadata.csv)."""
    from ..io import probe

    file = out / "metadata.csv"
    if file.is_file():
        meta = pd.read_csv(file, dtype={"video_id": str}).set_index("video_id")
        if set(paths) <= set(meta.index):
            return meta
    rows = []
    for vid, p in paths.items():
        try:
            i = probe(p)
            rows.append({"video_id": vid, "width": i.width, "height": i.height, "fps": i.fps,
                         "duration": i.duration or 0.0, "bit_rate": i.bit_rate or 0,
                         "codec": i.codec, "has_audio": int(bool(i.has_audio))})  # fmt: skip
        except Exception as exc:  # an unreadable file has no metadata: its baseline is NaN
            log.warning("%s: cannot probe (%s)", p, exc)
    meta = pd.DataFrame(rows).set_index("video_id")
    atomic_write_text(file, meta.reset_index().to_csv(index=False))
    return meta


def _probe_features(
    paths: dict[str, str], out: Path, cache: str, engine: Any, frames: int = 8
) -> dict[str, np.ndarray]:
    """Frozen ImageNet EfficientNet-Lite0 features (mean over up to ``frames`` face crops of
    the first track) per video; kept in OUT/probe_features.npz."""
    file = out / "probe_features.npz"
    if file.is_file():
        data = dict(np.load(file))
        if set(paths) <= set(data):
            return data
    import torch

    from ..extraction import Extractor, ExtractSettings
    from ..models import create_model
    from ..training.data import _read_crop

    backbone = create_model("efficientnet_lite0").eval()
    mean = np.array(backbone.config.mean, np.float32)
    std = np.array(backbone.config.std, np.float32)
    extractor = Extractor(ExtractSettings(), cache)
    feats: dict[str, np.ndarray] = {}
    for vid, p in paths.items():
        res = extractor(p)
        if res.entry is None or not res.entry.tracks:
            continue
        files = [str(f) for f in res.entry.crop_paths(res.entry.tracks[0]["track_id"])]
        pick = np.unique(np.linspace(0, len(files) - 1, min(frames, len(files))).round())
        imgs = np.stack([_read_crop(files[int(k)], 224) for k in pick])
        x = (imgs.astype(np.float32) / 255.0 - mean) / std
        with torch.no_grad():
            f = backbone.features(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))))
        feats[vid] = f.mean(0).numpy()
    np.savez(file, **feats)  # type: ignore[arg-type]
    return feats


def _add_baselines(
    results: list[FoldResult],
    folds: list[Fold],
    table: pd.DataFrame,
    paths: dict[str, str],
    labels: dict[str, int],
    out: Path,
    cache: str,
    engine: Any,
    say: Callable[[str], None],
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    say("shortcut baselines: probing metadata and computing frozen ImageNet features")
    meta = _metadata(paths, out)
    feats = _probe_features(paths, out, cache, engine)
    meta_x = {v: row for v, row in zip(meta.index, metadata_features(meta))}
    by_gen = {f.generator: f for f in folds}
    for r in results:
        fold = by_gen[r.generator]
        for name, xs, c in (("metadata", meta_x, 1.0), ("linear_probe", feats, 0.1)):
            train = [v for v in fold.train if v in xs]
            y = np.array([labels[v] for v in train])
            s = np.full(len(r.video_ids), np.nan)
            if len(np.unique(y)) == 2:
                clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=c))
                clf.fit(np.stack([xs[v] for v in train]), y)
                have = [i for i, v in enumerate(r.video_ids) if v in xs]
                if have:
                    x = np.stack([xs[r.video_ids[i]] for i in have])
                    s[have] = clf.predict_proba(x)[:, 1]
            r.scores[name] = s
