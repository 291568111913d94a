"""Build an ensemble checkpoint: score every member on a manifest split through one shared
extraction, fit the stacker on their calibrated video logits, choose the threshold, write the
folder (``fakescope ensemble build``; docs/ensemble.md).

The split should be one none of the members trained on (val: members use it for early
stopping and calibration only). The stacker's calibration and threshold are fitted on
*cross-fitted* decisions (each video scored by a stacker fitted on the other folds of the
split), so the threshold is not chosen on scores the stacker was fitted to; the saved stacker
is then fitted on every video.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_write_json, atomic_write_text
from ..errors import ConfigError, DatasetError

__all__ = ["build_ensemble", "cross_fitted_decisions", "make_member_job", "model_card_markdown"]

log = logging.getLogger(__name__)


def make_member_job(
    folders: Sequence[str], names: Sequence[str], settings: Any, cache_dir: str, device: str = "cpu"
) -> Callable[[str], dict[str, Any]]:
    """Per worker: load every member once; per video: extract once (cached) with the shared
    settings and collect each member's answer (``EnsembleMember.answer``)."""
    from ..engines import StagedJob
    from ..extraction import Extractor
    from ..models import load_detector
    from ..models.ensemble import EnsembleMember

    members = [EnsembleMember(n, load_detector(f, device)) for f, n in zip(folders, names)]
    extractor = Extractor(settings, cache_dir)

    def score(result: Any) -> dict[str, Any]:
        row: dict[str, Any] = {"path": result.path, "status": result.status, "error": result.error}
        if result.entry is not None and result.status == "ok":
            row["members"] = [m.answer(result.entry, result.entry.tracks) for m in members]
        return row

    job: Callable[[str], dict[str, Any]] = StagedJob(extractor, score)
    return job


def cross_fitted_decisions(
    names: Sequence[str], z: np.ndarray, y: np.ndarray, method: str, seed: int = 0, C: float = 1.0
) -> np.ndarray:
    """Each video's stacked logit from a stacker fitted without it (seeded stratified K =
    min(5, smaller class) folds; with fewer than 2 videos of a class, the in-sample decisions)."""
    from sklearn.model_selection import StratifiedKFold

    from ..models.stacking import Stacker

    full = Stacker(names, method, seed, C).fit(z, y)
    k = int(min(5, np.bincount(y, minlength=2).min()))
    if k < 2:
        return full.decision(z)
    out = np.empty(len(y))
    for train, held in StratifiedKFold(k, shuffle=True, random_state=seed).split(z, y):
        if len(np.unique(y[train])) < 2 or np.isnan(z[train]).all(axis=0).all():
            out[held] = full.decision(z[held])
            continue
        out[held] = Stacker(names, method, seed, C).fit(z[train], y[train]).decision(z[held])
    return out


def _safe_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "member"
    return name[:64]


def _member_names(cards: Sequence[Any], names: Sequence[str] | None) -> list[str]:
    if names is not None:
        if len(names) != len(cards):
            raise ConfigError(f"ensemble: {len(names)} names for {len(cards)} members")
        chosen = [_safe_name(n) for n in names]
        if len(set(chosen)) != len(chosen):
            raise ConfigError(f"ensemble: repeated member names {', '.join(chosen)}")
        return chosen
    out: list[str] = []
    for card in cards:
        base = _safe_name(card.name)
        name, k = base, 2
        while name in out:
            name, k = f"{base}-{k}", k + 1
        out.append(name)
    return out


def _copy_member(src: Path, dest: Path) -> None:
    from ..models.checkpoint import estimator_files

    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for path in [src / "card.json", *estimator_files(src), src / "MODEL_CARD.md"]:
        if path.is_file():
            shutil.copy2(path, dest / path.name)


def _auc(y: np.ndarray, s: np.ndarray) -> float | None:
    from .metrics import roc_auc

    ok = np.isfinite(s)
    if ok.sum() < 2 or len(np.unique(y[ok])) < 2:
        return None
    return float(roc_auc(y[ok], s[ok]))


def build_ensemble(
    members: Sequence[str | os.PathLike[str]],
    manifest: str | os.PathLike[str],
    split: str = "val",
    out: str | os.PathLike[str] = "ensemble",
    *,
    stacker: str = "logistic",
    name: str | None = None,
    names: Sequence[str] | None = None,
    seed: int = 0,
    C: float = 1.0,
    cache: str | os.PathLike[str] | None = None,
    engine: Any = None,
    device: str = "cpu",
    frames: int | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """Score ``members`` (checkpoint folders or shipped names) on ``split`` of ``manifest``,
    fit the stacker, write the ensemble checkpoint to ``out``; returns the build summary."""
    from ..datasets import read_manifest
    from ..engines import create_engine
    from ..inference.pipeline import extract_settings_for
    from ..inference.video_calibration import VideoCalibrator, choose_threshold
    from ..models.checkpoint import ModelCard, _resolve
    from ..models.ensemble import member_facts, merge_extract_settings, read_member_card
    from ..models.stacking import STACKERS, Stacker
    from .protocol import run_jobs, train_datasets

    if stacker not in STACKERS:
        raise ConfigError(f"ensemble stacker: '{stacker}' (choose {', '.join(STACKERS)})")
    if not members:
        raise ConfigError("ensemble: no member checkpoint given")
    out = Path(out)
    folders, cards = [], []
    for m in members:
        try:
            folder = _resolve(m)
        except Exception as exc:  # ModelError: not a checkpoint
            raise ConfigError(
                f"ensemble member {os.fspath(m)}: {' '.join(str(exc).split())}"
            ) from None
        card = read_member_card(folder)
        if (card.model or {}).get("kind") == "ensemble":
            raise ConfigError(f"ensemble member {folder}: is an ensemble itself (list its members)")
        if out.resolve() == folder.resolve():
            raise ConfigError(f"ensemble: --out {out} is a member's own folder")
        folders.append(folder)
        cards.append(card)
    member_names = _member_names(cards, names)
    settings = merge_extract_settings(
        [(n, extract_settings_for(c, frames)) for n, c in zip(member_names, cards)]
    )
    table_all = read_manifest(manifest)
    table = table_all.table
    table = table[table["split"] == split].reset_index(drop=True)
    if not len(table):
        raise DatasetError(f"{manifest}: no videos in split '{split}'")
    paths = table_all.absolute_paths_of(table)
    if progress is not None and hasattr(progress, "total"):
        progress.total = len(paths)
    # never inside the checkpoint folder: it is copied and shipped whole
    default_cache = Path(tempfile.gettempdir()) / "fakescope-cache"
    cache_dir = str(cache or os.environ.get("FAKESCOPE_CACHE") or default_cache)
    engine = engine or create_engine("local", 1)
    args = ([str(f) for f in folders], member_names, settings, cache_dir, device)
    rows = run_jobs(make_member_job, args, paths, engine, progress)

    z_rows, labels, used = [], [], []
    failed = 0
    for (_, rec), path in zip(table.iterrows(), paths):
        row = rows.get(path) or {}
        answers = row.get("members")
        if not answers:
            failed += row.get("status") == "failed"
            continue
        if not any(a["answered"] for a in answers):
            continue
        z_rows.append([np.nan if a["logit"] is None else a["logit"] for a in answers])
        labels.append(int(rec["label"]))
        used.append((path, rec, answers))
    y = np.asarray(labels, np.int64)
    if len(np.unique(y)) < 2:
        raise DatasetError(
            f"{manifest}: split '{split}' has {len(y)} video(s) a member scored, of one class "
            "only; the stacker needs scored real and fake videos"
        )
    z = np.asarray(z_rows, np.float64)
    st = Stacker(member_names, stacker, seed, C).fit(z, y)
    crossfit = cross_fitted_decisions(member_names, z, y, stacker, seed, C)
    cal = VideoCalibrator(seed=seed).fit(crossfit, y)
    probs = cal.predict_proba(crossfit)
    threshold = choose_threshold(probs, y)

    out.mkdir(parents=True, exist_ok=True)
    for folder, n in zip(folders, member_names):
        _copy_member(folder, out / "members" / n)
    answered = {n: int(np.isfinite(z[:, j]).sum()) for j, n in enumerate(member_names)}
    member_auc = {n: _auc(y, z[:, j]) for j, n in enumerate(member_names)}
    weights = st.weights()
    facts = []
    for n, c in zip(member_names, cards):
        f = member_facts(n, c)
        f.update(weight=weights[n], answered=answered[n], val_auc=member_auc[n])
        facts.append(f)
    ens_name = name or "ensemble"
    datasets = sorted({d for c in cards for d in (train_datasets(c) or [])})
    from .metrics import expected_calibration_error

    metrics = {
        "stacking": {
            "split": split,
            "videos": len(y),
            "fake": int(y.sum()),
            "real": int(len(y) - y.sum()),
            "unscored": int(len(table) - len(y)),
            "failed": int(failed),
            "answered": answered,
            "member_auc": member_auc,
            "auc_crossfit": _auc(y, crossfit),
            "auc_in_sample": _auc(y, st.decision(z)),
            "ece_crossfit": float(expected_calibration_error(y, probs)),
            "calibration": cal.method_,
            "threshold": threshold,
        }
    }
    card = ModelCard(
        name=ens_name,
        model={"name": ens_name, "kind": "ensemble", "backbone": stacker},
        crop={
            "detector": settings.detector,
            "margin": settings.crop.margin,
            "size": settings.crop.size,
        },
        frames_per_video=max(int(c.frames_per_video) for c in cards),
        aggregation="mean_of_max",
        temperature=1.0,
        threshold=float(threshold),
        calibration=cal.to_dict(),
        ensemble={
            "members": facts,
            "stacker": st.to_dict(),
            "extract": {
                "sampling": settings.sampling,
                "context": settings.context.to_dict() if settings.context else None,
            },
        },
        training={
            "data": {"datasets": datasets} if datasets else {},
            "stacker": {"manifest": os.fspath(manifest), "split": split, "seed": seed, "C": C},
        },
        metrics=metrics,
    )
    atomic_write_json(out / "card.json", card.to_dict(), indent=2)
    atomic_write_text(out / "MODEL_CARD.md", model_card_markdown(card))
    lines = ["video_id,label," + ",".join(member_names) + ",stacked_crossfit"]
    for (_, rec, _), zr, d in zip(used, z, crossfit):
        vals = ",".join("" if not np.isfinite(v) else f"{v:.6f}" for v in zr)
        lines.append(f"{_csv(rec['video_id'])},{int(rec['label'])},{vals},{d:.6f}")
    atomic_write_text(out / "stacking.csv", "\n".join(lines) + "\n")
    return {
        "checkpoint": str(out),
        "name": ens_name,
        "stacker": stacker,
        "members": [
            {k: f[k] for k in ("name", "family", "network", "weight", "answered", "val_auc")}
            for f in facts
        ],
        "dropped": list(st.dropped),
        "sampling": settings.sampling,
        **metrics["stacking"],
    }


def _csv(text: Any) -> str:
    s = str(text)
    return f'"{s.replace(chr(34), chr(34) * 2)}"' if any(c in s for c in ',"\n') else s


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return "nan" if not np.isfinite(v) else f"{v:.3f}"
    return str(v)


def model_card_markdown(card: Any) -> str:
    """MODEL_CARD.md of an ensemble: what it stacks, each member with its card's key facts,
    weight and validation figures, and how the stacker was fitted."""
    ens = card.ensemble or {}
    st = ens.get("stacker") or {}
    fit = (card.metrics or {}).get("stacking") or {}
    lines = [
        f"# {card.name}: an ensemble of {len(ens.get('members') or [])} detectors",
        "",
        f"Stacker: `{st.get('method')}` on each member's calibrated video logit (a member that "
        "cannot score a video is left out of it; the stacker was fitted expecting that). "
        f"Fitted on split `{fit.get('split')}` of `{(card.training or {}).get('stacker', {}).get('manifest')}` "
        f"({fit.get('videos')} videos: {fit.get('real')} real, {fit.get('fake')} fake). "
        f"Threshold {card.threshold:.3f} (Youden's J on cross-fitted, {fit.get('calibration')}-"
        "calibrated stacked scores).",
        "",
        f"Shared extraction: sampling `{(ens.get('extract') or {}).get('sampling')}`, crops "
        f"{card.crop}, context windows {(ens.get('extract') or {}).get('context')}.",
        "",
        f"Cross-fitted AUC on that split: {_fmt(fit.get('auc_crossfit'))} (in-sample "
        f"{_fmt(fit.get('auc_in_sample'))}; ECE {_fmt(fit.get('ece_crossfit'))}). These are "
        "figures on the stacker's own fitting split, not a held-out test.",
        "",
        "| member | family | network | weight (mean abs. contribution) | answered | AUC alone | "
        "threshold | calibration | trained on |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in ens.get("members") or []:
        c = m.get("card") or {}
        data = ((c.get("training") or {}).get("data") or {}).get("datasets")
        lines.append(
            f"| {m['name']} | {m.get('family')} | {m.get('network')} | {_fmt(m.get('weight'))} | "
            f"{m.get('answered')}/{fit.get('videos')} | {_fmt(m.get('val_auc'))} | "
            f"{_fmt(c.get('threshold'))} | {(c.get('calibration') or {}).get('method', 'temperature')} | "
            f"{', '.join(map(str, data)) if data else 'unknown'} |"
        )
    if st.get("dropped"):
        lines += ["", f"Dropped (scored no fitting video): {', '.join(st['dropped'])}."]
    if st.get("method") == "logistic":
        lines += ["", "Coefficients (logit, missing indicator) per member, intercept "
                  f"{_fmt(st.get('intercept'))}:", ""]  # fmt: skip
        for n, a, b in zip(st.get("members", []), st.get("coef_z", []), st.get("coef_missing", [])):
            lines.append(f"- {n}: {a:+.3f} × logit, {b:+.3f} when missing")
    lines += ["", "Each member's own card is in `members/<name>/card.json`.", ""]
    return "\n".join(lines)
