"""Stacked ensembles under the leave-one-generator-out protocol, without retraining a member.

Every member's ``logo.json`` (``evaluation.logo_run``) keeps, per fold, the val and test
videos' video logits (``fold_logits``). An ensemble of members is then judged on the same
folds: for each held-out generator,

- ``z`` = the members' video logits after each member's own fold calibration (``inputs=
  "calibrated"``; or their raw video logits, ``inputs="raw"``), NaN where a member could not
  score a video (no face, no audio, a track too short);
- a :class:`~fakescope.models.stacking.Stacker` is fitted on the fold's **val** videos, which
  the members used for early stopping and calibration only, never for their weights, and which
  hold no fake of the held-out generator;
- the stacker's val decisions, cross-fitted (K folds of the val videos: each video scored by a
  stacker that did not see it), fit the ensemble's video calibration and threshold;
- the fold's test videos (held-out people's reals and the held-out generator's fakes) are
  scored and summarised exactly as a single detector (``summarise_folds``: AUC with intervals,
  ECE, the paired fake-above-source check), beside the shortcut baselines of a member's run.

:func:`paired_auc_difference` answers "does A beat B by more than the noise?": a paired
bootstrap over test videos of the difference in LOGO mean AUC (the reals shared by every fold
are resampled once per replicate, each fold's fakes within the fold).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .logo import Fold, FoldResult, predictions, source_pairs, summarise_folds

__all__ = ["INPUTS", "fold_scores", "logo_ensemble", "paired_auc_difference"]

log = logging.getLogger(__name__)

INPUTS = ("calibrated", "raw")


def _member_fold(result: Mapping[str, Any], name: str) -> dict[str, Any]:
    fl = result.get("fold_logits")
    if not fl:
        from ..errors import ConfigError

        raise ConfigError(
            f"member '{name}': its logo.json has no fold_logits (rerun the member's LOGO run)"
        )
    return dict(fl)


def _matrix(
    members: Mapping[str, Mapping[str, Any]], generator: str, part: str, inputs: str
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(video ids, labels, z of shape (videos, members)) of one fold's part; the ids are the
    union over members, in the first member's order, NaN where a member has no logit."""
    ids: list[str] = []
    labels: dict[str, int] = {}
    for res in members.values():
        for v, row in res[generator][part].items():
            if v not in labels:
                ids.append(v)
                labels[v] = int(row["label"])
    z = np.full((len(ids), len(members)), np.nan)
    for j, res in enumerate(members.values()):
        rows = res[generator][part]
        for i, v in enumerate(ids):
            x = (rows.get(v) or {}).get(inputs)
            if x is not None:
                z[i, j] = float(x)
    return ids, np.array([labels[v] for v in ids], dtype=np.int64), z


def _fit_fold(
    names: Sequence[str], z: np.ndarray, y: np.ndarray, method: str, seed: int, C: float
) -> tuple[Any, Any, float] | str:
    """(stacker fitted on the val videos, the video calibration fitted on its cross-fitted
    val decisions, the threshold chosen on them), or why no stacker can be fitted."""
    from threadpoolctl import threadpool_limits

    from ..errors import ConfigError
    from ..inference.video_calibration import VideoCalibrator, choose_threshold
    from ..models.stacking import Stacker
    from .ensemble_build import cross_fitted_decisions  # the same as `fakescope ensemble build`

    with threadpool_limits(1):  # a few dozen videos: threads would only contend
        try:
            stacker = Stacker(names, method, seed, C).fit(z, y)
            oof = cross_fitted_decisions(names, z, y, method, seed, C)
        except ConfigError as exc:
            return f"stacker cannot be fitted: {exc}"
        calibrator = VideoCalibrator(seed=seed).fit(oof, y)
        threshold = float(choose_threshold(calibrator.predict_proba(oof), y))
    return stacker, calibrator, threshold


def _stacker_summary(st: Any) -> dict[str, Any]:
    if st.method == "logistic":
        d = st.to_dict()
        return {k: d[k] for k in ("method", "coef_z", "coef_missing", "intercept", "dropped")}
    return {"method": st.method, "dropped": list(st.dropped)}


def logo_ensemble(
    member_results: Mapping[str, Mapping[str, Any]],
    *,
    method: str = "logistic",
    inputs: str = "calibrated",
    table: pd.DataFrame | None = None,
    baselines_from: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    C: float = 1.0,
    name: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """Judge a stacked ensemble of ``member_results`` (member name -> its ``logo.json``) on the
    members' LOGO folds; returns a result shaped like ``run_logo``'s (``per_generator``,
    ``mean``, ``paired``, ``predictions``, ``fold_logits``) plus ``ensemble`` (members, stacker,
    per fold: the stacker's weights and which members answered on the test videos).

    ``table``: the manifest table, for the paired check and the same-dataset AUC (without it
    both are left out). ``baselines_from``: the member whose run's shortcut-baseline scores
    are copied onto the ensemble's folds (default: the first member that has them)."""
    from ..errors import ConfigError
    from ..inference.calibration import logit
    from ..models.stacking import STACKERS

    if inputs not in INPUTS:
        raise ConfigError(f"ensemble inputs: '{inputs}' (choose {', '.join(INPUTS)})")
    if method not in STACKERS:
        raise ConfigError(f"ensemble stacker: '{method}' (choose {', '.join(STACKERS)})")
    if not member_results:
        raise ConfigError("ensemble: no member")
    names = list(member_results)
    folds_of = {m: _member_fold(r, m) for m, r in member_results.items()}
    generators = [g for g in folds_of[names[0]] if all(g in folds_of[m] for m in names)]
    first = member_results[names[0]]
    skipped = [
        Fold(g, (), (), (), r["skipped"])
        for g, r in first.get("per_generator", {}).items()
        if "skipped" in r
    ]
    base_rows = _baseline_rows(member_results, baselines_from)
    datasets = (
        dict(zip(table["video_id"].astype(str), table["dataset"].astype(str)))
        if table is not None
        else {}
    )
    results: list[FoldResult] = []
    fold_logits: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    per_fold: dict[str, Any] = {}
    for g in generators:
        val_ids, val_y, val_z = _matrix({m: folds_of[m] for m in names}, g, "val", inputs)
        test_ids, test_y, test_z = _matrix({m: folds_of[m] for m in names}, g, "test", inputs)
        fitted = _fit_fold(names, val_z, val_y, method, seed, C)
        if isinstance(fitted, str):
            skipped.append(Fold(g, (), (), (), fitted))
            continue
        stacker, calibrator, threshold = fitted
        d_test = stacker.decision(test_z)
        probs = calibrator.predict_proba(d_test)
        d_val = stacker.decision(val_z)
        fold_logits[g] = {
            part: {
                v: {"label": int(y), "raw": float(d), "calibrated": float(c)}
                for v, y, d, c in zip(ids, ys, ds, logit(calibrator.predict_proba(ds)))
            }
            for part, ids, ys, ds in (("val", val_ids, val_y, d_val), ("test", test_ids, test_y, d_test))
        }  # fmt: skip
        same = None
        if datasets:
            fake_sets = {datasets.get(v) for v, y in zip(test_ids, test_y) if y == 1}
            same = np.array(
                [y == 1 or datasets.get(v) in fake_sets for v, y in zip(test_ids, test_y)]
            )
        scores: dict[str, np.ndarray] = {"detector": probs}
        for b, rows in base_rows.items():
            scores[b] = np.array(
                [np.nan if rows.get((g, v)) is None else rows[(g, v)] for v in test_ids]
            )
        answered = {m: int((~np.isnan(test_z[:, j])).sum()) for j, m in enumerate(names)}
        per_fold[g] = {
            "stacker": _stacker_summary(stacker),
            "val_videos": len(val_ids),
            "val_fakes": int(val_y.sum()),
            "test_answered": answered,
            "test_videos": len(test_ids),
        }
        results.append(
            FoldResult(
                g, test_ids, test_y, scores, float(threshold), calibrator.to_dict(), None,
                None, same, d_test, True,
            )
        )  # fmt: skip
    pairs = source_pairs(table) if table is not None else []
    summary = summarise_folds(skipped, results, pairs, n_boot)
    return {
        "name": name or "ensemble",
        "description": description,
        "ensemble": {
            "members": names,
            "stacker": method,
            "inputs": inputs,
            "seed": seed,
            "C": C,
            "calibration": "video calibration fitted on cross-fitted val decisions",
            "folds": per_fold,
        },
        **summary,
        "predictions": predictions(results),
        "fold_logits": fold_logits,
    }


def _baseline_rows(
    member_results: Mapping[str, Mapping[str, Any]], source: str | None
) -> dict[str, dict[tuple[str, str], float | None]]:
    """baseline -> (generator, video id) -> score, from one member's per-video predictions."""
    order = [source] if source else list(member_results)
    for m in order:
        preds = member_results[m].get("predictions") or []
        methods = sorted(
            {k for p in preds for k in p} - {"generator", "video_id", "label", "detector"}
        )
        if methods:
            return {b: {(p["generator"], p["video_id"]): p.get(b) for p in preds} for b in methods}
    return {}


def fold_scores(result: Mapping[str, Any], part: str = "test") -> dict[str, dict[str, Any]]:
    """generator -> video id -> (label, raw video logit) from a result's ``fold_logits``
    (NaN where the detector could not score the video)."""
    return {
        g: {
            v: (int(row["label"]), np.nan if row.get("raw") is None else float(row["raw"]))
            for v, row in parts[part].items()
        }
        for g, parts in (result.get("fold_logits") or {}).items()
    }


def _weighted_auc(y: np.ndarray, s: np.ndarray, w: np.ndarray) -> float:
    pos, neg = y == 1, y == 0
    diff = s[pos][:, None] - s[neg][None, :]
    wins = (diff > 0) + 0.5 * (diff == 0)
    ww = w[pos][:, None] * w[neg][None, :]
    return float((wins * ww).sum() / ww.sum())


def paired_auc_difference(
    a: Mapping[str, Mapping[str, tuple[int, float]]],
    b: Mapping[str, Mapping[str, tuple[int, float]]],
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """LOGO mean AUC of ``a`` minus that of ``b`` (both from :func:`fold_scores`), over the
    folds both have and the test videos both scored, with a 95% paired bootstrap interval:
    each replicate draws the real test videos once (they are shared by every fold) and each
    fold's fakes within the fold, with replacement, and recomputes both means on the same
    draw. Also the across-fold spread of the per-fold differences (their standard deviation)."""
    folds = [g for g in a if g in b]
    data = []
    for g in folds:
        ids = [
            v for v in a[g] if v in b[g] and not np.isnan(a[g][v][1]) and not np.isnan(b[g][v][1])
        ]
        y = np.array([a[g][v][0] for v in ids])
        if len(np.unique(y)) < 2:
            continue
        data.append(
            (g, ids, y, np.array([a[g][v][1] for v in ids]), np.array([b[g][v][1] for v in ids]))
        )
    if not data:
        return {"folds": 0, "difference": None}
    ones = [np.ones(len(ids)) for _, ids, *_ in data]
    per_fold = np.array(
        [
            _weighted_auc(y, sa, w) - _weighted_auc(y, sb, w)
            for (_, _, y, sa, sb), w in zip(data, ones)
        ]
    )
    reals = sorted({v for _, ids, y, *_ in data for v, lab in zip(ids, y) if lab == 0})
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for k in range(n_boot):
        counts = dict(
            zip(reals, np.bincount(rng.integers(0, len(reals), len(reals)), minlength=len(reals)))
        )
        diffs = []
        for _, ids, y, sa, sb in data:
            w = np.array([counts.get(v, 0) if lab == 0 else 0 for v, lab in zip(ids, y)], float)
            fakes = np.flatnonzero(y == 1)
            np.add.at(w, fakes[rng.integers(0, len(fakes), len(fakes))], 1.0)
            if w[y == 0].sum() == 0:
                continue
            diffs.append(_weighted_auc(y, sa, w) - _weighted_auc(y, sb, w))
        boots[k] = np.mean(diffs) if diffs else np.nan
    boots = boots[~np.isnan(boots)]
    low, high = (float(q) for q in np.quantile(boots, [0.025, 0.975]))
    return {
        "folds": len(data),
        "difference": float(per_fold.mean()),
        "low": low,
        "high": high,
        "n_boot": len(boots),
        "per_fold": {g: float(d) for (g, *_), d in zip(data, per_fold)},
        "fold_sd": float(per_fold.std(ddof=1)) if len(per_fold) > 1 else None,
    }
