"""Fit a ``signals`` model (``models.signals``): no epochs, one fit of a gradient-boosted
classifier on the forensic signals of the manifest's train split, read from the crop cache.

The extraction (``data.crops``) must have kept the context windows and frame runs
(``fakescope extract --context``). The threshold maximises Youden's J on the val split, whose
AUC the card records; the training distribution of every feature (quantiles per class) goes
into the card for the report. ``RUN/best`` is the fitted model (there is nothing to select).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._atomic import atomic_write_json, atomic_write_text
from ..errors import ConfigError, DatasetError
from .config import TrainConfig

__all__ = ["feature_table", "train_signals"]

log = logging.getLogger(__name__)


def feature_table(
    config: TrainConfig, split: str, names: tuple[str, ...] | None = None
) -> tuple[np.ndarray, np.ndarray, list[str], dict[str, Any] | None]:
    """(features (n, F), labels, video ids, the extraction's context settings) of a split;
    ``names``: the columns (default every signal and statistic)."""
    from ..models.signals import feature_names, has_context, video_features
    from .data import _entries

    d = config.data
    names = names or feature_names()
    rows, labels, ids = [], [], []
    context: dict[str, Any] | None = None
    entries = list(_entries(d.manifest, d.crops, split, (0, 1), d.max_videos, config.train.seed))
    for vid, label, entry in entries:
        if not entry.tracks:
            continue  # no face: nothing to learn from
        if not has_context(entry):
            raise ConfigError(
                f"{d.crops}: extracted without context windows, which the signals need; "
                f"re-extract with 'fakescope extract MANIFEST --out {d.crops} --context'"
            )
        if context is None:
            ctx = next(t["context"] for t in entry.tracks if t.get("context"))
            context = {k: ctx[k] for k in ("margin", "size", "run")}
        feats = video_features(entry)
        if feats["track"] is None:
            continue
        rows.append([feats["values"][k] for k in names])
        labels.append(label)
        ids.append(vid)
    x = np.asarray(rows, np.float64).reshape(-1, len(names))
    return x, np.asarray(labels, np.int64), ids, context


def _distribution(x: np.ndarray, y: np.ndarray, names: tuple[str, ...]) -> dict[str, Any]:
    """Per feature and class (``real``, ``fake``): quantiles, mean and count of finite values."""
    from ..models.signals import QUANTILES

    out: dict[str, Any] = {}
    for j, name in enumerate(names):
        per: dict[str, Any] = {}
        for cls, label in (("real", 0), ("fake", 1)):
            v = x[y == label, j]
            v = v[np.isfinite(v)]
            per[cls] = {
                "n": len(v),
                "quantiles": [float(q) for q in np.quantile(v, QUANTILES)] if len(v) else None,
                "mean": float(v.mean()) if len(v) else None,
            }
        out[name] = per
    return {"quantiles": list(QUANTILES), "features": out}


def train_signals(config: TrainConfig, model_cfg: Any) -> Path:
    """Fit the classifier, pick the threshold on val, write ``RUN/best`` (card + estimator),
    ``RUN/log.csv`` (one row) and ``RUN/config.yaml``; returns ``RUN/best``."""
    import yaml
    from sklearn.metrics import roc_auc_score

    from ..forensics.signals import ForensicSettings
    from ..inference.video_calibration import choose_threshold
    from ..models.checkpoint import ModelCard
    from ..models.registry import create_model
    from ..models.signals import feature_names, save_estimator
    from .trainer import _crop_settings, _sampled_frames, _split_datasets

    d = config.data
    if not d.manifest or not d.crops:
        raise ConfigError("config: data.manifest and data.crops are required")
    run = config.run_dir
    run.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
    from ..tracking import write_environment

    write_environment(run)  # package versions, git commit, device (docs/tracking.md)
    started = time.perf_counter()
    estimator = create_model(model_cfg)  # bad hyper-parameters fail before any data is read
    names = feature_names(model_cfg)
    try:
        x_tr, y_tr, _ids, context = feature_table(config, d.train_split, names)
        x_va, y_va, _vids, _ = feature_table(config, d.val_split, names)
    except DatasetError as exc:
        raise ConfigError(str(exc)) from None
    if len(set(y_tr.tolist())) < 2:
        raise ConfigError(
            f"{d.manifest}: split '{d.train_split}' needs real and fake videos with a face "
            f"to fit a signals model (found {len(y_tr)} usable videos)"
        )
    estimator.fit(x_tr, y_tr)
    val_auc = None
    threshold = 0.5
    if len(set(y_va.tolist())) == 2:
        z = estimator.decision_function(x_va)
        p = 1.0 / (1.0 + np.exp(-z))
        val_auc = float(roc_auc_score(y_va, z))
        threshold = float(choose_threshold(p, y_va))
    else:
        log.warning("split '%s' lacks a class: no val AUC, threshold 0.5", d.val_split)
    best = run / "best"
    best.mkdir(parents=True, exist_ok=True)
    entry = save_estimator(best, estimator)
    missing = {k: int(np.isnan(x_tr[:, j]).sum()) for j, k in enumerate(names)}
    card = ModelCard(
        name=config.name,
        model=model_cfg.to_dict(),
        crop=_crop_settings(Path(d.crops)),
        frames_per_video=_sampled_frames(Path(d.crops)) or d.frames_per_video,
        threshold=threshold,
        signals={
            "features": list(names),
            "estimator": entry,
            "context": context,
            "forensic_settings": ForensicSettings().to_dict(),
            "distribution": _distribution(x_tr, y_tr, names),
        },
        training={
            "data": {
                "manifest": d.manifest,
                "crops": d.crops,
                "train_split": d.train_split,
                "val_split": d.val_split,
                "train_videos": len(y_tr),
                "train_fake": int(y_tr.sum()),
                "val_videos": len(y_va),
                "datasets": _split_datasets(d.manifest, d.train_split),
            },
            "features": list(names),
            "missing_in_train": missing,
            "hyper_parameters": {
                k: v for k, v in model_cfg.backbone_kwargs.items() if k != "features"
            },
            "estimator": type(estimator).__name__,
            "seed": config.train.seed,
            "fakescope": __version__,
        },
        metrics={"val_auc": val_auc, "threshold": threshold},
    )
    atomic_write_json(best / "card.json", card.to_dict(), indent=2)
    seconds = round(time.perf_counter() - started, 3)
    header = "epoch,phase,train_videos,val_videos,val_auc,threshold,seconds\n"
    auc = "" if val_auc is None else f"{val_auc:.6f}"
    atomic_write_text(
        run / "log.csv",
        header + f"1,fit,{len(y_tr)},{len(y_va)},{auc},{threshold:.6f},{seconds}\n",
    )
    log.info("signals model fitted on %d videos: val AUC %s", len(y_tr), auc or "-")
    return best
