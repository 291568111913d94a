"""Running the leave-one-generator-out protocol (``fakescope evaluate --protocol logo``):
train a recipe per fold, calibrate on the fold's val videos, score its test videos, and fit
the two shortcut baselines on the same folds. The folds, the summary and the tables are in
``evaluation.logo``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._atomic import atomic_write_json, atomic_write_text
from .logo import (
    Fold,
    FoldResult,
    fold_manifest,
    logo_folds,
    logo_markdown,
    predictions,
    source_pairs,
    summarise_folds,
    training_view,
)

__all__ = ["metadata_features", "run_logo"]

log = logging.getLogger(__name__)


def _train_fold(
    config: Any, fold_manifest_path: Path, run_dir: Path, fold: Fold
) -> tuple[Path, bool]:
    """Train the recipe on one fold; (best checkpoint, whether an existing one was reused).

    A fold's model is reused only when its training finished (``RUN/logo-done``): ``best/``
    exists from the first good epoch on, so an interrupted training resumes from its last
    state instead of passing for a finished one."""
    import copy

    from ..training.trainer import train

    run = run_dir / fold.key
    best, done = run / "best", run / "logo-done"
    if done.is_file() and (best / "card.json").is_file():
        return best, True
    cfg = copy.deepcopy(config)
    cfg.data.manifest = str(fold_manifest_path)
    cfg.data.train_split, cfg.data.val_split = "train", "val"
    cfg.out, cfg.name = str(run_dir), fold.key
    best = train(cfg, resume=(run / "last.pt").is_file())
    atomic_write_text(done, "trained\n")
    return best, False


def _training_seconds(best: Path) -> float | None:
    """Seconds the training epochs took, from the run's log.csv (also for a reused model)."""
    log_csv = best.parent / "log.csv"
    if not log_csv.is_file():
        return None
    table = pd.read_csv(log_csv)
    return float(table["seconds"].sum()) if "seconds" in table else None


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
    baseline_cache: str | None = None,
    name: str | None = None,
    description: str | None = None,
    progress: Callable[[str], None] | None = None,
    fixed_model: str | Path | None = None,
) -> dict[str, Any]:
    """Run the protocol for a training recipe (a ``TrainConfig``); writes ``OUT/logo.json``
    and ``OUT/logo.md`` and returns the result. Folds whose trained model exists are reused,
    so an interrupted run resumes. ``baseline_cache``: the crop cache the shortcut baselines
    extract into (default ``cache_dir``; candidates whose extraction differs, e.g. with context
    windows, share the baselines' plain crops this way). ``fixed_model``: a checkpoint (e.g.
    published weights from ``fakescope weights import``) that is not retrained per fold: it
    scores every fold's val and test videos as it is; calibration and the threshold are still
    fitted per fold on the val videos without the held-out generator.

    ``fold_logits`` in the result (and ``logo.json``): per generator, every val and test
    video's label, raw video logit and calibrated logit (the fold's calibration), so that
    ensembles can be stacked on the folds without retraining their members
    (``evaluation.logo_ensemble``)."""
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
    fold_logits: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    shared_models: dict[str, Path] = {}
    memo: dict[str, dict[str, Any]] = {}
    for i, fold in enumerate(folds, 1):
        if fold.skipped:
            say(f"[{i}/{len(folds)}] {fold.generator}: skipped ({fold.skipped})")
            continue
        seen = training_view(fold, labels, config.data.sbi)
        if fixed_model is not None:  # a published detector: scored as it is, never trained
            say(f"[{i}/{len(folds)}] {fold.generator}: scoring with {fixed_model} (not retrained)")
            best, reused, seconds = Path(fixed_model), True, None
        else:
            say(f"[{i}/{len(folds)}] {fold.generator}: training on {len(seen.train)} videos")
            fm = fold_manifest(manifest, seen, out / "folds" / f"{_slug(fold.generator)}.parquet")
            if seen.key in shared_models:  # trained (and timed) for an earlier fold
                best, reused, seconds = shared_models[seen.key], True, None
            else:
                best, reused = _train_fold(config, fm, out / "models", seen)
                seconds = _training_seconds(best)
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
        fold_logits[fold.generator] = {
            part: _logit_rows(ids, z, labels, calibrator)
            for part, ids in (("val", fold.val), ("test", fold.test))
        }
        fake_sets = {datasets[v] for v in fold.test if labels[v] == 1}
        same = np.array([labels[v] == 1 or datasets[v] in fake_sets for v in fold.test])
        results.append(
            FoldResult(
                fold.generator, list(fold.test), np.array([labels[v] for v in fold.test]),
                {"detector": probs}, float(threshold), calibrator.to_dict(), seconds,
                None if good.all() else f"{int((~good).sum())} test video(s) without a face",
                same, test_z, reused,
            )
        )  # fmt: skip
    if baselines:
        _add_baselines(results, folds, table, paths, labels, out, baseline_cache or cache, say)
    summary = summarise_folds(folds, results, source_pairs(table), n_boot)
    result = {
        "name": name or "recipe",
        "description": description,
        "manifest": str(manifest_path),
        "column": column,
        "config": config.to_dict(),
        **summary,
        "predictions": predictions(results),
        "fold_logits": fold_logits,
    }
    atomic_write_json(out / "logo.json", result, indent=2)
    from ..tracking import write_environment

    write_environment(out)
    atomic_write_text(out / "logo.md", logo_markdown(result))
    return result


def _logit_rows(
    ids: Sequence[str], z: dict[str, float], labels: dict[str, int], calibrator: Any
) -> dict[str, dict[str, Any]]:
    """video id -> its label, raw video logit and the fold's calibrated logit (None where the
    detector could not score the video): what an ensemble stacks without retraining members."""
    from ..inference.calibration import logit

    rows: dict[str, dict[str, Any]] = {}
    for v in ids:
        raw = z[v]
        ok = not np.isnan(raw)
        cal = float(logit(calibrator.predict_proba(np.array([raw])))[0]) if ok else None
        rows[v] = {"label": int(labels[v]), "raw": float(raw) if ok else None, "calibrated": cal}
    return rows


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
    paths: dict[str, str], out: Path, cache: str, frames: int = 8
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


def _silence_features(paths: dict[str, str], cache: str) -> dict[str, np.ndarray]:
    """Leading silence (seconds to the first speech, silero VAD) of the videos that have
    audio; values cached under ``cache/silence/`` (``evaluation.silence``)."""
    from .silence import video_silence

    out = {}
    for vid, path in paths.items():
        x = video_silence(path, cache).get("leading_silence")
        if x is not None and np.isfinite(x):
            out[vid] = np.array([float(x)])
    return out


def _add_baselines(
    results: list[FoldResult],
    folds: list[Fold],
    table: pd.DataFrame,
    paths: dict[str, str],
    labels: dict[str, int],
    out: Path,
    cache: str,
    say: Callable[[str], None],
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    say("shortcut baselines: probing metadata and computing frozen ImageNet features")
    meta = _metadata(paths, out)
    feats = _probe_features(paths, out, cache)
    meta_x = {v: row for v, row in zip(meta.index, metadata_features(meta))}
    baselines = [("metadata", meta_x, 1.0), ("linear_probe", feats, 0.1)]
    silence = _silence_features(paths, cache)
    if silence:  # only where some videos have audio (issue 13: fakes that start silent)
        baselines.append(("leading_silence", silence, 1.0))
    by_gen = {f.generator: f for f in folds}
    for r in results:
        fold = by_gen[r.generator]
        for name, xs, c in baselines:
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
