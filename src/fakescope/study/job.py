"""One run of a study, in a worker: train the recipe (or reuse its checkpoint), score the
in-domain split and every cross-dataset set, and write ``result.json`` (the run is done).

Folder of a run (``OUT/runs/RUN__MANIFEST__sSEED/``): ``spec.json`` (what it is, with the
fingerprints of its training inputs and of the evaluation), ``train/`` (the ``fakescope train``
run: log.csv, last.pt, best/), ``trained.json`` (training finished), ``eval/SET.csv`` (one row
per video) and ``result.json``; ``failed.json`` holds the last failure's traceback.
"""

from __future__ import annotations

import csv
import logging
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_json
from ..errors import ConfigError
from .spec import GridRun, Study, override_strings

__all__ = ["JobContext", "make_job", "read_json", "run_one", "train_config"]

log = logging.getLogger(__name__)

_HELD: list[Any] = []  # lock files that keep a worker's GPU claimed while it lives


@dataclass(frozen=True)
class JobContext:
    """What every worker needs: the study, the output folder and the prepared manifests."""

    study: Study
    out: str
    train_manifests: dict[str, str] = field(default_factory=dict)  # data name -> manifest file
    cross_manifests: dict[str, str] = field(default_factory=dict)  # cross name -> manifest file
    workers: int = 1


def run_dir(out: str | Path, g: GridRun) -> Path:
    return Path(out) / "runs" / g.key


def read_json(path: Path) -> dict[str, Any] | None:
    import json

    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def train_config(ctx: JobContext, g: GridRun) -> Any:
    """The run's ``TrainConfig``: recipe, study overrides, run overrides, then the study's data,
    seed and run folder."""
    from ..training.config import load_train_config

    cfg = load_train_config(g.run.config, override_strings(ctx.study, g.run))
    cfg.data.manifest = ctx.train_manifests.get(g.data.name, g.data.manifest)
    cfg.data.crops = g.data.crops
    cfg.data.train_split, cfg.data.val_split = g.data.train_split, g.data.val_split
    cfg.train.seed = g.seed
    cfg.out, cfg.name = str(run_dir(ctx.out, g)), "train"
    return cfg


def make_job(ctx: JobContext) -> Callable[[GridRun], dict[str, Any]]:
    """Per worker: claim a GPU when there are several (one run per GPU), share the CPU cores
    between workers otherwise; per run: ``run_one``."""
    device = _claim_device(Path(ctx.out), ctx.workers)

    def job(g: GridRun) -> dict[str, Any]:
        return run_one(g, ctx, device)

    return job


def _claim_device(out: Path, workers: int) -> str:
    """``auto`` for a single worker; with several, the first GPU no other worker holds (a lock
    file under OUT/.locks/ held for the worker's life), or ``cpu`` with cores / workers threads."""
    if workers <= 1:
        return "auto"
    import fcntl

    import torch

    if not torch.cuda.is_available():
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
        return "cpu"
    n = torch.cuda.device_count()
    locks = out / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        fh = open(locks / f"gpu{i}.lock", "w")  # noqa: SIM115 - held open on purpose
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            continue
        _HELD.append(fh)
        return f"cuda:{i}"
    return f"cuda:{os.getpid() % n}"  # more workers than GPUs: they share


def run_one(g: GridRun, ctx: JobContext, device: str = "auto") -> dict[str, Any]:
    """Train (unless ``trained.json`` says it is done) and score one grid run; writes and
    returns its result. A failure is written to ``failed.json`` and raised again."""
    rdir = run_dir(ctx.out, g)
    try:
        return _run(g, ctx, device, rdir)
    except Exception:
        atomic_write_json(
            rdir / "failed.json",
            {
                "key": g.key,
                "run": g.run.id,
                "manifest": g.data.name,
                "seed": g.seed,
                "error": _one_line(traceback.format_exc()),
                "traceback": traceback.format_exc(),
            },
        )
        raise


def _one_line(tb: str) -> str:
    last = [ln for ln in tb.strip().splitlines() if ln.strip()][-1:]
    return " ".join(" ".join(last).split())[:400]


def _run(g: GridRun, ctx: JobContext, device: str, rdir: Path) -> dict[str, Any]:
    from ..models import resolve_device
    from ..models.checkpoint import read_card
    from ..training.trainer import train

    study = ctx.study
    tfp, efp = study.train_fingerprint(g), study.eval_fingerprint()
    rdir.mkdir(parents=True, exist_ok=True)
    spec = {
        "key": g.key,
        "run": g.run.id,
        "label": g.run.label,
        "config": g.run.config,
        "manifest": g.data.name,
        "seed": g.seed,
        "train_fingerprint": tfp,
    }
    atomic_write_json(rdir / "spec.json", spec, indent=2)
    cfg = train_config(ctx, g)
    if device != "auto" and cfg.train.device == "auto":
        cfg.train.device = device
    trained = read_json(rdir / "trained.json")
    wall = None
    if (
        trained
        and trained.get("train_fingerprint") == tfp
        and (Path(trained["best"]) / "card.json").is_file()
    ):
        best = Path(trained["best"])
        wall = trained.get("seconds")
    else:
        if not (cfg.run_dir / "last.pt").is_file():  # a fresh start: no log rows of a dead try
            (cfg.run_dir / "log.csv").unlink(missing_ok=True)
        started = time.perf_counter()
        best = train(cfg, resume=True)
        wall = round(time.perf_counter() - started, 2)
        atomic_write_json(
            rdir / "trained.json", {"best": str(best), "train_fingerprint": tfp, "seconds": wall}
        )
    if not (best / "card.json").is_file():
        raise ConfigError(f"{cfg.run_dir}: training kept no checkpoint (no validation epoch?)")
    card = read_card(str(best))
    started = time.perf_counter()
    score_device = resolve_device(cfg.train.device if cfg.train.device != "auto" else device)
    in_domain, sets = _score_all(ctx, g, best, card, score_device, rdir)
    eval_seconds = time.perf_counter() - started
    history = read_log(cfg.run_dir / "log.csv")
    epoch_seconds = sum(float(r.get("seconds") or 0.0) for r in history)
    model = card.model
    trainable, total = _params(model, history)
    result = {
        "key": g.key,
        "status": "ok",
        "run": g.run.id,
        "label": g.run.label,
        "note": g.run.note,
        "config": g.run.config,
        "manifest": g.data.name,
        "seed": g.seed,
        "model": {
            k: model.get(k)
            for k in (
                "name",
                "kind",
                "backbone",
                "temporal",
                "frames_per_clip",
                "pretrained",
                "input_size",
            )
        },
        "params": {"trainable": trainable, "total": total},
        "phases": [
            {"name": p.name, "epochs": p.epochs, "freeze": list(p.freeze)} for p in cfg.phase_list()
        ],
        "history": history,
        "best_epoch": (card.training or {}).get("best_epoch"),
        "checkpoint": str(best),
        "in_domain": in_domain,
        "cross": sets,
        "minutes": {
            "train": round((epoch_seconds or wall or 0.0) / 60, 3),
            "train_wall": None if wall is None else round(wall / 60, 3),
            "eval": round(eval_seconds / 60, 3),
        },
        "fingerprints": {"train": tfp, "eval": efp},
    }
    atomic_write_json(rdir / "result.json", result, indent=2)
    (rdir / "failed.json").unlink(missing_ok=True)
    return result


def _score_all(
    ctx: JobContext, g: GridRun, best: Path, card: Any, device: str, rdir: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    study = ctx.study
    in_file = ctx.train_manifests.get(g.data.name, g.data.manifest)
    in_domain = _score_set(
        "in_domain", in_file, study.split, g.data.crops, best, card, device, study, rdir
    )
    sets: dict[str, Any] = {}
    for c in study.cross:
        m = _score_set(
            c.name,
            ctx.cross_manifests.get(c.name, c.manifest),
            c.split,
            c.crops,
            best,
            card,
            device,
            study,
            rdir,
        )
        a, b = in_domain.get("auc"), m.get("auc")
        m["gap"] = None if a is None or b is None else a - b
        sets[c.name] = m
    return in_domain, sets


def _score_set(
    name: str,
    manifest_file: str,
    split: str,
    crops: str,
    best: Path,
    card: Any,
    device: str,
    study: Study,
    rdir: Path,
) -> dict[str, Any]:
    """Score one set with the checkpoint through the crops' cache; its metrics."""
    from .._atomic import atomic_write_bytes
    from ..datasets import read_manifest
    from ..engines import create_engine
    from ..evaluation.protocol import extract_settings_for, score_videos, video_predictions

    manifest = read_manifest(manifest_file)
    table = manifest.table
    if split != "all":
        table = table[table["split"] == split]
    table = table.reset_index(drop=True)
    paths = manifest.absolute_paths_of(table)
    cache, frames = crops_cache(crops)
    settings = extract_settings_for(card, study.frames or frames)
    scored = score_videos(
        paths, str(best), settings, cache, create_engine("local", 1), None, device
    )
    pred, _frames = video_predictions(table, scored, paths, card)
    atomic_write_bytes(rdir / "eval" / f"{name}.csv", pred.to_csv(index=False).encode())
    out = set_metrics(pred, float(card.threshold), study.bootstrap)
    return {"name": name, "split": split, **out}


def set_metrics(pred: Any, threshold: float, n_boot: int, seed: int = 0) -> dict[str, Any]:
    """AUC, AP and EER with their bootstrap intervals, FPR at 95% TPR, and accuracy,
    precision, recall and F1 at ``threshold`` of video predictions (``video_predictions``);
    None where a class is missing."""
    from ..evaluation.metrics import MetricError, summary

    ok = pred[pred["probability"].notna()]
    counts = {
        "videos": len(pred),
        "scored": len(ok),
        "no_face": int((pred["status"] == "no_face").sum()),
        "failed": int((pred["status"] == "failed").sum()),
        "real": int((ok["label"] == 0).sum()),
        "fake": int((ok["label"] == 1).sum()),
    }
    empty: dict[str, Any] = {
        "auc": None, "auc_ci": None, "ap": None, "eer": None, "accuracy": None,
        **dict.fromkeys(_EXTRA_METRICS),
    }  # fmt: skip
    y, p = ok["label"].to_numpy(int), ok["probability"].to_numpy(float)
    note = None
    try:
        s = summary(y, p, threshold=threshold, n_boot=n_boot, seed=seed)
    except MetricError as exc:
        if "bootstrap" not in str(exc):
            return {**counts, **empty, "threshold": threshold, "note": str(exc)}
        s, note = summary(y, p, threshold=threshold, n_boot=0), str(exc)
    boot = s.get("bootstrap") or {}

    def interval(name: str) -> list[float] | None:
        ci = boot.get(name)
        return [ci["low"], ci["high"]] if ci else None

    at = s["at_threshold"]
    return {
        **counts,
        "auc": s["roc_auc"],
        "auc_ci": interval("roc_auc"),
        "ap": s["average_precision"],
        "eer": s["eer"],
        "accuracy": at.get("accuracy"),
        "precision": at.get("precision"),
        "recall": at.get("recall"),
        "f1": at.get("f1"),
        "fpr_at_95_tpr": s["fpr_at_95_tpr"],
        "ap_ci": interval("average_precision"),
        "eer_ci": interval("eer"),
        "threshold": threshold,
        "note": note,
    }


# what ``set_metrics`` answers beside AUC, AP, EER and accuracy (None where a class is missing)
_EXTRA_METRICS = ("precision", "recall", "f1", "fpr_at_95_tpr", "ap_ci", "eer_ci")


def crops_cache(crops: str) -> tuple[str, int | None]:
    """A ``fakescope extract`` folder's crop cache and its frames per video (uniform
    sampling), so scoring reads the crops the run trained on instead of decoding again."""
    summary = read_json(Path(crops) / "summary.json") or {}
    cache = summary.get("cache") or str(Path(crops) / "cache")
    sampling = str((summary.get("settings") or {}).get("sampling", ""))
    frames = int(sampling.split(":", 1)[1]) if sampling.startswith("uniform:") else None
    return str(cache), frames


def read_log(path: Path) -> list[dict[str, Any]]:
    """A training log.csv as rows of numbers (text kept where a value is not a number)."""
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="") as fh:
        for raw in csv.DictReader(fh):
            row: dict[str, Any] = {}
            for k, v in raw.items():
                if k is None:
                    continue
                try:
                    row[k] = float(v) if v not in ("", None) else None
                except ValueError:
                    row[k] = v
            if row.get("epoch") is not None:
                row["epoch"] = int(row["epoch"])
            rows.append(row)
    return rows


def _params(model: dict[str, Any], history: list[dict[str, Any]]) -> tuple[int | None, int]:
    """(trainable, total) parameters: trainable from the log (the most of any phase) when it
    records them, else counted on the model with its frozen blocks; total on the model."""
    from dataclasses import replace

    from ..models import create_model
    from ..models.registry import ModelConfig

    config = replace(ModelConfig.from_dict(dict(model)), pretrained="none")
    net = create_model(config)
    total = sum(p.numel() for p in net.parameters())
    logged = [r.get("trainable_params") for r in history]
    numbers = [int(v) for v in logged if isinstance(v, float)]
    if numbers:
        return max(numbers), int(total)
    return int(sum(p.numel() for p in net.parameters() if p.requires_grad)), int(total)
