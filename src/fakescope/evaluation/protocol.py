"""Evaluate a detector on a manifest split: score every video (through the crop cache), then
every metric the papers report, with bootstrap intervals, breakdowns, plots and failures."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from ..inference.pipeline import extract_settings_for
from .metrics import MetricError, summary

__all__ = [
    "cross_dataset",
    "evaluate_table",
    "extract_settings_for",
    "make_score_job",
    "robustness_markdown",
    "robustness_table",
    "score_videos",
    "video_logit",
    "video_predictions",
]

log = logging.getLogger(__name__)


def make_score_job(
    model: str, settings: Any, cache_dir: str, device: str = "cpu"
) -> Callable[[str], dict[str, Any]]:
    """Per worker: load the detector once; per video: extract (cached) and score every face.

    A ``StagedJob``: in one process the next video's extraction overlaps this one's scoring."""
    from ..engines import StagedJob
    from ..extraction import Extractor
    from ..models import load_detector

    detector = load_detector(model, device)
    extractor = Extractor(settings, cache_dir)

    def score(result: Any) -> dict[str, Any]:
        return {"path": result.path, **score_row(result, detector)}

    job: Callable[[str], dict[str, Any]] = StagedJob(extractor, score)
    return job


def score_row(
    result: Any, detector: Any, transform: Callable[[Any], Any] | None = None
) -> dict[str, Any]:
    """One extracted video -> ``{"status", "error"[, "reason"][, "scores"]}``: the scored
    faces, or ``no_face`` with the reason when a clip model finds no track long enough."""
    from ..inference import score_entry

    row: dict[str, Any] = {"status": result.status, "error": result.error}
    if result.entry is not None and result.status == "ok":
        scores = score_entry(result.entry, detector, transform=transform)
        if not len(scores):
            row.update(status="no_face", error=None, reason=scores.reason)
        else:
            row["scores"] = scores_to_dict(scores)
    return row


def scores_to_dict(s: Any) -> dict[str, Any]:
    """``VideoScores`` -> plain lists (what workers send back and predictions keep); signals
    models add the video's feature values and SHAP contributions."""
    out = {
        "track": s.track.tolist(), "frame": s.frame.tolist(), "index": s.index.tolist(),
        "timestamp": s.timestamp.tolist(), "logit": s.logit.tolist(), "files": s.files,
    }  # fmt: skip
    if getattr(s, "signals", None) is not None:
        out["signals"] = {k: v for k, v in s.signals.items() if k != "training"}
    return out


def score_videos(
    paths: list[str],
    model: str,
    settings: Any,
    cache_dir: str,
    engine: Any,
    progress: Any = None,
    device: str = "cpu",
) -> dict[str, dict[str, Any]]:
    """path -> ``make_score_job`` row, for every path (a failure is a row with its error)."""
    return run_jobs(make_score_job, (model, settings, cache_dir, device), paths, engine, progress)


def run_jobs(
    factory: Callable[..., Callable[[str], dict[str, Any]]],
    args: tuple[Any, ...],
    paths: list[str],
    engine: Any,
    progress: Any = None,
) -> dict[str, dict[str, Any]]:
    """``engine.map`` of a per-video job; an exception becomes a ``failed`` row with one line."""
    out: dict[str, dict[str, Any]] = {}
    for path, result in engine.map(factory, paths, args):
        if isinstance(result, BaseException):
            result = {
                "path": path,
                "status": "failed",
                "error": f"{path}: {' '.join(str(result).split())}",
            }
        out[path] = result
        if progress is not None:
            progress.update(1)
    return out


def _video_scores(row: dict[str, Any]) -> Any:
    from ..inference import VideoScores

    s = row["scores"]
    return VideoScores(
        np.asarray(s["track"]), np.asarray(s["frame"]), np.asarray(s["index"]),
        np.asarray(s["timestamp"], np.float64), np.asarray(s["logit"], np.float64), list(s["files"]),
    )  # fmt: skip


def video_logit(row: dict[str, Any], aggregation: str = "mean_of_max") -> float:
    """A scored video's score before calibration: the logit of its aggregated probability at
    T = 1 (what a video-level calibration map is fitted on); NaN without a face."""
    from ..inference import AGGREGATIONS, aggregate
    from ..inference.calibration import logit

    how = aggregation if aggregation in AGGREGATIONS else "mean_of_max"
    p = aggregate(_video_scores(row), 1.0, how)["probability"]
    return float("nan") if p is None else float(logit(p))


def frame_logits(row: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(per-frame max logit over faces, frame positions) of a scored video."""
    s = _video_scores(row)
    frames = np.unique(s.frame)
    return np.array([s.logit[s.frame == f].max() for f in frames]), frames


def _safe_summary(y: np.ndarray, p: np.ndarray, **kw: Any) -> dict[str, Any] | str:
    """``summary``, or why it could not be computed; a bootstrap that cannot run (too few
    videos of a class) leaves the point estimates with a note instead of intervals."""
    try:
        return summary(y, p, **kw)
    except MetricError as exc:
        if "bootstrap" not in str(exc):
            return str(exc)
        out = summary(y, p, **{**kw, "n_boot": 0})
        out["bootstrap_note"] = str(exc)
        return out


def video_predictions(
    table: pd.DataFrame,
    scored: dict[str, dict[str, Any]],
    paths: list[str],
    card: Any,
    temperature: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per video, one row per scored frame): calibrated with ``temperature`` (default:
    the card's) and aggregated with the card's rule; unscored videos have no probability."""
    from ..inference import AGGREGATIONS, aggregate
    from ..inference.pipeline import video_calibrator

    t = float(card.temperature if temperature is None else temperature)
    calibration = video_calibrator(card) if temperature is None else None
    how = card.aggregation if card.aggregation in AGGREGATIONS else "mean_of_max"
    preds, frames_rows = [], []
    for (_, row), path in zip(table.iterrows(), paths):
        r = scored.get(path, {"status": "failed", "error": "not scored"})
        prob = None
        if r.get("scores"):
            agg = aggregate(_video_scores(r), t, how, calibration=calibration)
            prob = agg["probability"]
            for fr in agg["frames"]:
                frames_rows.append(
                    {"video_id": row["video_id"], "label": int(row["label"]), "frame": fr["frame"],
                     "index": fr["index"], "probability": fr["max"]}
                )  # fmt: skip
        preds.append(
            {"video_id": row["video_id"], "path": row["path"], "label": int(row["label"]), "dataset": row["dataset"],
             "method": row["method"], "compression": row.get("compression"), "status": r["status"],
             "error": r.get("error"), "probability": prob}
        )  # fmt: skip
    frames = pd.DataFrame(
        frames_rows, columns=["video_id", "label", "frame", "index", "probability"]
    )
    return pd.DataFrame(preds), frames


def _level_metrics(
    pred: pd.DataFrame, frames: pd.DataFrame, card: Any, n_boot: int, seed: int
) -> tuple[Any, Any]:
    ok = pred[pred["probability"].notna()]
    y, p = ok["label"].to_numpy(), ok["probability"].to_numpy(dtype=float)
    video = _safe_summary(y, p, threshold=card.threshold, n_boot=n_boot, seed=seed)
    frame = _safe_summary(
        frames["label"].to_numpy(), frames["probability"].to_numpy(dtype=float), threshold=card.threshold,
        n_boot=n_boot, seed=seed, groups=frames["video_id"].to_numpy(),
    )  # fmt: skip
    return video, frame


def evaluate_table(
    table: pd.DataFrame,
    scored: dict[str, dict[str, Any]],
    paths: list[str],
    card: Any,
    out: Path,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    robustness: dict[str, Any] | None = None,
    by: Sequence[str] | None = None,
    shortcuts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Metrics for scored videos; writes predictions.csv, frames.csv, metrics.json, summary.md,
    plots and a failure gallery into ``out``. ``paths[i]`` is the file of ``table`` row i.
    ``robustness`` (from ``robustness_table``) is added to the metrics and the summary.
    ``by``: manifest columns to break the metrics down by besides dataset, method and
    compression (default: those of ``BREAKDOWN_COLUMNS`` the table has, e.g. FakeAVCeleb's
    ``av_category``). ``shortcuts`` (e.g. ``evaluation.silence.silence_baseline``) are added
    to the metrics and the summary beside the model's."""
    out.mkdir(parents=True, exist_ok=True)
    t = float(card.temperature)
    pred, frames = video_predictions(table, scored, paths, card)
    by = breakdown_columns(table, by)
    for col in by:  # the rows of pred are those of table, in order
        pred[col] = table[col].to_numpy()
    shortcuts = {k: dict(v) for k, v in (shortcuts or {}).items()}
    for name, r in shortcuts.items():  # per-video values of a cue: a column of predictions.csv
        values = r.pop("_values", None)
        if values is not None:
            pred[name] = [values.get(v) for v in pred["video_id"]]
    atomic_write_bytes(out / "predictions.csv", pred.to_csv(index=False).encode())
    atomic_write_bytes(out / "frames.csv", frames.to_csv(index=False).encode())
    ok = pred[pred["probability"].notna()]
    metrics: dict[str, Any] = {
        "model": {"name": card.name, "family": (card.model or {}).get("kind", "frame"), "temperature": t,
                  "aggregation": card.aggregation, "threshold": card.threshold,
                  "train_datasets": train_datasets(card)},
        "videos": {"total": len(pred), "scored": len(ok), "no_face": int((pred["status"] == "no_face").sum()),
                   "failed": int((pred["status"] == "failed").sum())},
        "note": "videos without a face or that failed are left out of the metrics (counted above)",
    }  # fmt: skip
    y, p = ok["label"].to_numpy(), ok["probability"].to_numpy(dtype=float)
    metrics["video_level"], metrics["frame_level"] = _level_metrics(
        pred, frames, card, n_boot, seed
    )
    metrics["calibration"] = _calibration(table, scored, paths, card, pred, frames)
    metrics["breakdown"] = _breakdowns(ok, card.threshold, by, n_boot=n_boot, seed=seed)
    if shortcuts:
        from .silence import model_on_same_videos

        for name, r in shortcuts.items():
            if name in ok.columns:  # the detector on the videos where the cue exists
                same = ok[pd.to_numeric(ok[name], errors="coerce").notna()]
                model_on_same_videos(
                    r, same["label"].to_numpy(), same["probability"].to_numpy(dtype=float),
                    n_boot=n_boot, seed=seed,
                )  # fmt: skip
        metrics["shortcuts"] = shortcuts
    metrics["cross_dataset"] = cross_dataset(
        metrics["breakdown"]["dataset"], ok, train_datasets(card)
    )
    if robustness is not None:
        metrics["robustness"] = robustness
    atomic_write_json(out / "metrics.json", metrics, indent=2)
    from ..tracking import write_environment

    write_environment(out)  # package versions, git commit, device (docs/tracking.md)
    _plots(y, p, out)
    # scores that carry their explanation (a signals model's SHAP values) get its summary plot
    shap_png = shap_summary_plot(ok, scored, paths_by_id(table, paths), out)
    _failure_gallery(ok, scored, paths_by_id(table, paths), card, out)
    extra = [shap_png.name] if shap_png is not None else []
    atomic_write_text(out / "summary.md", summary_markdown(metrics, extra))
    return metrics


def train_datasets(card: Any) -> list[str] | None:
    """The benchmarks a checkpoint was trained on, as its card records them (None: unknown)."""
    data = (card.training or {}).get("data") or {}
    found = data.get("datasets")
    return sorted(map(str, found)) if found else None


def _calibration(
    table: pd.DataFrame,
    scored: dict[str, dict[str, Any]],
    paths: list[str],
    card: Any,
    pred: pd.DataFrame,
    frames: pd.DataFrame,
) -> dict[str, Any]:
    """ECE and Brier score with the card's temperature and without it (T = 1): what the
    calibration fitted by ``fakescope calibrate`` changes on this split."""
    from .metrics import brier_score, expected_calibration_error

    raw_pred, raw_frames = video_predictions(table, scored, paths, card, temperature=1.0)
    method = (card.calibration or {}).get("method")
    out: dict[str, Any] = {
        "temperature": float(card.temperature),
        "method": f"video-level {method}" if method else f"temperature {card.temperature:.3f}",
    }
    for level, calibrated, raw in (
        ("video_level", pred, raw_pred),
        ("frame_level", frames, raw_frames),
    ):
        row: dict[str, Any] = {}
        for name, df in (("uncalibrated", raw), ("calibrated", calibrated)):
            ok = df[df["probability"].notna()]
            y, p = ok["label"].to_numpy(), ok["probability"].to_numpy(dtype=float)
            if len(y):
                row[f"ece_{name}"] = expected_calibration_error(y, p)
                row[f"brier_{name}"] = brier_score(y, p)
        out[level] = row
    fitted = (card.metrics or {}).get("calibration")
    if fitted:
        out["fitted_on"] = {
            k: fitted.get(k)
            for k in ("split", "level", "units", "frames", "method", "ece_before", "ece_after")
        }
    return out


def cross_dataset(
    per_dataset: dict[str, Any], ok: pd.DataFrame, trained_on: list[str] | None
) -> dict[str, Any]:
    """Per test dataset: AUC, whether the model saw that benchmark in training, and the gap to
    the in-domain AUC (all test videos of the training benchmarks pooled)."""
    from .metrics import roc_auc

    in_domain_auc = None
    if trained_on:
        sub = ok[ok["dataset"].astype(str).isin(trained_on)]
        y = sub["label"].to_numpy()
        if 0 < y.sum() < len(y):
            in_domain_auc = roc_auc(y, sub["probability"].to_numpy(dtype=float))
    rows = {}
    for name, r in per_dataset.items():
        auc = r.get("auc")
        seen = None if trained_on is None else name in trained_on
        gap = (
            auc - in_domain_auc
            if (auc is not None and in_domain_auc is not None and seen is False)
            else None
        )
        rows[name] = {"videos": r["videos"], "auc": auc, "in_domain": seen, "gap_to_in_domain": gap}
    return {"train_datasets": trained_on, "in_domain_auc": in_domain_auc, "test_datasets": rows}


def robustness_table(
    table: pd.DataFrame,
    clean: dict[str, dict[str, Any]],
    perturbed: dict[str, dict[str, Any]],
    paths: list[str],
    card: Any,
    specs: list[str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Video-level metrics of the clean videos and of every perturbation (``perturbed`` maps a
    path to a ``make_robustness_job`` result), with the change of AUC against the clean run."""
    from .robustness import parse_perturbation

    rows: list[dict[str, Any]] = []
    clean_auc = None
    for spec in ["none", *specs]:
        if spec == "none":
            scored, label = clean, "none (as given)"
        else:
            pert = parse_perturbation(spec)
            label = pert.label
            scored = {
                path: (perturbed.get(path) or {})
                .get("perturbed", {})
                .get(spec, {"status": "failed", "error": "not scored"})
                for path in paths
            }
        pred, _frames = video_predictions(table, scored, paths, card)
        ok = pred[pred["probability"].notna()]
        y, p = ok["label"].to_numpy(), ok["probability"].to_numpy(dtype=float)
        m = _safe_summary(y, p, threshold=card.threshold, n_boot=n_boot, seed=seed)
        row: dict[str, Any] = {"perturbation": spec, "label": label, "videos": len(pred), "scored": len(ok),
                               "no_face": int((pred["status"] == "no_face").sum()),
                               "failed": int((pred["status"] == "failed").sum())}  # fmt: skip
        if isinstance(m, str):
            row["error"] = m
        else:
            boot = m.get("bootstrap") or {}
            row.update(
                auc=m["roc_auc"], auc_ci=_interval(boot, "roc_auc"), ap=m["average_precision"],
                eer=m["eer"], accuracy=m["at_threshold"]["accuracy"],
                recall=m["at_threshold"]["recall"], ece=m.get("expected_calibration_error"),
            )  # fmt: skip
        if spec == "none":
            clean_auc = row.get("auc")
        row["auc_change"] = (
            row["auc"] - clean_auc if clean_auc is not None and row.get("auc") is not None else None
        )
        rows.append(row)
    return {"metric_level": "video", "rows": rows}


def _interval(boot: dict[str, Any], key: str) -> list[float] | None:
    return [boot[key]["low"], boot[key]["high"]] if boot.get(key) else None


def paths_by_id(table: pd.DataFrame, paths: list[str]) -> dict[str, str]:
    return dict(zip(table["video_id"], paths))


# manifest columns evaluate breaks its metrics down by when the table has them
BREAKDOWN_COLUMNS = ("av_category",)
_BUILTIN_BREAKDOWNS = ("dataset", "method", "compression")


def breakdown_columns(table: pd.DataFrame, by: Sequence[str] | None = None) -> list[str]:
    """The extra breakdown columns: ``by`` (each must be a column of ``table``), or those of
    ``BREAKDOWN_COLUMNS`` it has with a value somewhere."""
    from ..errors import ConfigError

    if by is None:
        return [c for c in BREAKDOWN_COLUMNS if c in table.columns and table[c].notna().any()]
    missing = [c for c in by if c not in table.columns]
    if missing:
        raise ConfigError(
            f"breakdown column(s) {', '.join(missing)} not in the manifest "
            f"(columns: {', '.join(map(str, table.columns))})"
        )
    return [c for c in dict.fromkeys(by) if c not in _BUILTIN_BREAKDOWNS]


def _breakdowns(
    ok: pd.DataFrame,
    threshold: float,
    by: Sequence[str] = (),
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """AUC/AP/accuracy per dataset, per manipulation method (its fakes vs the same dataset's
    reals), per compression level, and per value of each column in ``by`` (see
    ``_column_breakdown``); AUC with a 95% bootstrap interval over videos."""
    from .metrics import average_precision, bootstrap_ci, roc_auc, threshold_metrics

    def row(sub: pd.DataFrame) -> dict[str, Any]:
        y, p = sub["label"].to_numpy(), sub["probability"].to_numpy(dtype=float)
        out: dict[str, Any] = {
            "videos": len(sub),
            "fake": int(y.sum()),
            "real": int(len(y) - y.sum()),
        }
        out["accuracy"] = threshold_metrics(y, p, threshold)["accuracy"]
        if 0 < y.sum() < len(y):
            out["auc"], out["ap"] = roc_auc(y, p), average_precision(y, p)
            out["auc_interval"] = None
            if n_boot:
                try:
                    _, low, high = bootstrap_ci("roc_auc", y, p, n_boot=n_boot, seed=seed)
                    out["auc_interval"] = [low, high]
                except MetricError:  # too few of a class for an interval
                    pass
        return out

    result: dict[str, Any] = {"dataset": {}, "method": {}, "compression": {}}
    for ds, sub in ok.groupby("dataset"):
        result["dataset"][str(ds)] = row(sub)
        reals = sub[sub["label"] == 0]
        for m, fakes in sub[sub["label"] == 1].groupby("method"):
            result["method"][f"{ds}/{m}"] = row(pd.concat([reals, fakes]))
    for c, sub in ok.groupby(ok["compression"].fillna("unknown")):
        result["compression"][str(c)] = row(sub)
    for col in by:
        result[col] = {name: row(sub) for name, sub in _column_groups(ok, col)}
    return result


def _column_groups(ok: pd.DataFrame, col: str) -> list[tuple[str, pd.DataFrame]]:
    """Per dataset and value of ``col``: the videos to measure. A value holding both classes
    is measured on its own videos; one holding only fakes (FakeAVCeleb's FVRA) against every
    real of its dataset, and one holding only reals (RVFA, for a video-label detector) against
    every fake of its dataset, as per-method rows are."""
    groups = []
    for ds, sub in ok.groupby("dataset"):
        for value, part in sub.groupby(sub[col].astype("string").fillna("unknown")):
            labels = set(part["label"].tolist())
            if labels == {1}:
                part = pd.concat([sub[sub["label"] == 0], part])
            elif labels == {0}:
                part = pd.concat([part, sub[sub["label"] == 1]])
            groups.append((f"{ds}/{value}", part))
    return groups


def _plots(y: np.ndarray, p: np.ndarray, out: Path) -> None:
    if len(y) == 0:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    from .metrics import reliability_curve

    def save(fig: Any, name: str) -> None:
        import io

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        atomic_write_bytes(out / name, buf.getvalue())

    both = 0 < y.sum() < len(y)
    if both:
        fpr, tpr, _ = roc_curve(y, p)
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.plot(fpr, tpr, lw=2)
        ax.plot([0, 1], [0, 1], "k--", lw=1)
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (video level)")
        save(fig, "roc.png")
        prec, rec, _ = precision_recall_curve(y, p)
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.plot(rec, prec, lw=2)
        ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (video level)")
        save(fig, "pr.png")
    rc = reliability_curve(y, p, n_bins=10)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.plot(rc["mean_predicted"], rc["observed_frequency"], "o-")
    ax.set(
        xlabel="predicted probability of fake",
        ylabel="observed fraction fake",
        title="Reliability (video level)",
    )
    save(fig, "reliability.png")
    fig, ax = plt.subplots(figsize=(5, 3))
    bins = np.linspace(0, 1, 21).tolist()
    ax.hist(p[y == 0], bins=bins, alpha=0.6, label="real")
    ax.hist(p[y == 1], bins=bins, alpha=0.6, label="fake")
    ax.set(xlabel="probability of fake", ylabel="videos", title="Score histogram")
    ax.legend()
    save(fig, "hist.png")


def shap_summary_plot(
    ok: pd.DataFrame, scored: dict[str, Any], path_of: dict[str, str], out: Path
) -> Path | None:
    """Signals models: SHAP's summary (beeswarm) of the scored videos' contributions to the
    logit, as ``shap_summary.png``; None when no video carries them."""
    rows = [scored.get(path_of[v], {}).get("scores", {}).get("signals") for v in ok["video_id"]]
    rows = [r for r in rows if r]
    if not rows:
        return None
    try:
        import shap
    except ImportError:
        from ..errors import MissingDependencyError

        raise MissingDependencyError("shap", "forensics", "the SHAP summary plot") from None
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows[0]["shap"])
    values = np.array([[r["shap"][k] for k in names] for r in rows], np.float64)
    x = np.array(
        [[np.nan if r["values"][k] is None else r["values"][k] for k in names] for r in rows],
        np.float64,
    )
    shap.summary_plot(values, x, feature_names=names, show=False, plot_size=(7, 4))
    fig = plt.gcf()
    fig.axes[0].set_title(f"SHAP contributions to the logit ({len(rows)} videos; > 0: fake)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(out / "shap_summary.png", buf.getvalue())
    return out / "shap_summary.png"


def _failure_gallery(
    ok: pd.DataFrame,
    scored: dict[str, Any],
    path_of: dict[str, str],
    card: Any,
    out: Path,
    n: int = 10,
) -> None:
    """The most confident mistakes of each kind, with each video's most suspicious face."""
    import cv2

    fp = ok[ok["label"] == 0].sort_values("probability", ascending=False).head(n)
    fn = ok[ok["label"] == 1].sort_values("probability", ascending=True).head(n)
    thumb, pad = 112, 4
    rows = []
    for title, part in (("real videos scored most fake", fp), ("fake videos scored most real", fn)):
        tiles = []
        for _, r in part.iterrows():
            s = scored.get(path_of[r["video_id"]], {}).get("scores")
            tile = np.full((thumb + 18, thumb, 3), 255, np.uint8)
            if s:
                k = int(np.argmax(s["logit"]))
                img = cv2.imread(s["files"][k])
                if img is not None:
                    tile[:thumb] = cv2.resize(img, (thumb, thumb), interpolation=cv2.INTER_AREA)
            cv2.putText(
                tile,
                f"{r['probability']:.2f}",
                (4, thumb + 14),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.45,
                (0, 0, 0),
                1,
                cv2.LINE_AA,
            )
            tiles.append(tile)
        strip = np.full((thumb + 18 + 22, n * (thumb + pad) + pad, 3), 255, np.uint8)
        cv2.putText(
            strip, title, (pad, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA
        )
        for i, tile in enumerate(tiles):
            strip[22:, pad + i * (thumb + pad) : pad + i * (thumb + pad) + thumb] = tile
        rows.append(strip)
    ok_png, buf = cv2.imencode(".png", np.concatenate(rows))
    if ok_png:
        atomic_write_bytes(out / "failures.png", buf.tobytes())


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def _ci(boot: dict[str, Any], key: str) -> str:
    return f" [{boot[key]['low']:.3f}, {boot[key]['high']:.3f}]" if boot.get(key) else ""


def summary_markdown(metrics: dict[str, Any], extra_plots: Sequence[str] = ()) -> str:
    lines = [f"# Evaluation of `{metrics['model']['name']}`", ""]
    v = metrics["videos"]
    lines.append(
        f"{v['scored']} of {v['total']} videos scored ({v['no_face']} without a face, {v['failed']} failed)."
    )
    lines.append("")
    for level in ("video_level", "frame_level"):
        m = metrics[level]
        lines.append(f"## {level.replace('_', ' ').capitalize()}")
        if isinstance(m, str):
            lines += ["", f"Not computed: {m}", ""]
            continue
        b = m.get("bootstrap") or {}
        lines += [
            "",
            "| metric | value (95% bootstrap interval) |",
            "|---|---|",
            f"| AUC | {m['roc_auc']:.3f}{_ci(b, 'roc_auc')} |",
            f"| AP | {m['average_precision']:.3f}{_ci(b, 'average_precision')} |",
            f"| EER | {m['eer']:.3f}{_ci(b, 'eer')} |",
            f"| FPR at 95% TPR | {m['fpr_at_95_tpr']:.3f} |",
            f"| accuracy / precision / recall / F1 at {metrics['model']['threshold']:.2f} | "
            f"{m['at_threshold']['accuracy']:.3f} / {m['at_threshold']['precision']:.3f} / "
            f"{m['at_threshold']['recall']:.3f} / {m['at_threshold']['f1']:.3f} |",
            f"| ECE (its floor at this size) / Brier | {_fmt(m.get('expected_calibration_error'))} "
            f"({_fmt(m.get('ece_floor'))}) / {_fmt(m.get('brier_score'))} |",
            "",
        ]
    lines += [
        "## Breakdown",
        "",
        "| group | videos | real | fake | AUC (95% interval) | AP | accuracy |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, groups in metrics["breakdown"].items():
        for name, r in groups.items():
            iv = r.get("auc_interval")
            auc = _fmt(r.get("auc")) + (f" [{iv[0]:.3f}, {iv[1]:.3f}]" if iv else "")
            lines.append(
                f"| {kind}: {name} | {r['videos']} | {r['real']} | {r['fake']} | {auc} | {_fmt(r.get('ap'))} | {_fmt(r['accuracy'])} |"
            )
    if metrics.get("shortcuts"):
        from .silence import shortcuts_markdown

        lines += shortcuts_markdown(metrics["shortcuts"], metrics.get("video_level"))
    lines += _calibration_markdown(metrics.get("calibration"))
    lines += _cross_dataset_markdown(metrics.get("cross_dataset"))
    if metrics.get("robustness"):
        lines += ["## Robustness", "", *robustness_markdown(metrics["robustness"])]
    extra = "".join(f", {name}" for name in extra_plots)
    lines += [
        "",
        f"Plots: roc.png, pr.png, reliability.png, hist.png{extra}; mistakes: failures.png.",
        "",
    ]
    return "\n".join(lines)


def _calibration_markdown(cal: dict[str, Any] | None) -> list[str]:
    if not cal:
        return []
    lines = [
        "",
        "## Calibration (" + (cal.get("method") or f"temperature {cal['temperature']:.3f}") + ")",
        "",
        "| level | ECE uncalibrated (T = 1) | ECE calibrated | Brier uncalibrated | Brier calibrated |",
        "|---|---|---|---|---|",
    ]
    for level in ("video_level", "frame_level"):
        r = cal.get(level) or {}
        lines.append(
            f"| {level.split('_')[0]} | {_fmt(r.get('ece_uncalibrated'))} | {_fmt(r.get('ece_calibrated'))} "
            f"| {_fmt(r.get('brier_uncalibrated'))} | {_fmt(r.get('brier_calibrated'))} |"
        )
    fitted = cal.get("fitted_on")
    if fitted:
        level = fitted.get("level") or "frame"
        units = fitted.get("units") or fitted.get("frames")
        lines += ["", f"The calibration was fitted on split '{fitted.get('split')}' ({units} {level}s): "
                      f"{level} ECE there {_fmt(fitted.get('ece_before'))} -> {_fmt(fitted.get('ece_after'))}."]  # fmt: skip
    return [*lines, ""]


def _cross_dataset_markdown(cross: dict[str, Any] | None) -> list[str]:
    if not cross or not cross.get("test_datasets"):
        return []
    trained = cross.get("train_datasets")
    lines = [
        "## Cross-dataset",
        "",
        f"Trained on: {', '.join(trained) if trained else 'unknown (the card does not say)'}; "
        f"in-domain AUC (those benchmarks' test videos pooled): {_fmt(cross.get('in_domain_auc'))}.",
        "",
        "| test dataset | videos | AUC | seen in training | gap to in-domain |",
        "|---|---|---|---|---|",
    ]
    for name, r in cross["test_datasets"].items():
        seen = "-" if r["in_domain"] is None else ("yes" if r["in_domain"] else "no")
        gap = r.get("gap_to_in_domain")
        lines.append(
            f"| {name} | {r['videos']} | {_fmt(r.get('auc'))} | {seen} | {'-' if gap is None else f'{gap:+.3f}'} |"
        )
    return [*lines, ""]


def robustness_markdown(rob: dict[str, Any]) -> list[str]:
    """The robustness table: one row per perturbation, video-level metrics."""
    lines = [
        "| perturbation | scored / videos | AUC (95% interval) | change of AUC | AP | EER | accuracy | recall of fakes | ECE |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rob["rows"]:
        if "auc" not in r:
            lines.append(
                f"| {r['label']} | {r['scored']} / {r['videos']} | not computed: {r.get('error')} | | | | | | |"
            )
            continue
        ci = f" [{r['auc_ci'][0]:.3f}, {r['auc_ci'][1]:.3f}]" if r.get("auc_ci") else ""
        change = (
            "-"
            if r.get("auc_change") is None or r["perturbation"] == "none"
            else f"{r['auc_change']:+.3f}"
        )
        lines.append(
            f"| {r['label']} | {r['scored']} / {r['videos']} | {r['auc']:.3f}{ci} | {change} | {r['ap']:.3f} "
            f"| {r['eer']:.3f} | {r['accuracy']:.3f} | {r['recall']:.3f} | {_fmt(r.get('ece'))} |"
        )
    return [*lines, ""]


def robustness_plot(rob: dict[str, Any], out: Path) -> None:
    """AUC (with its interval) against perturbation, as ``robustness.png``."""
    rows = [r for r in rob["rows"] if "auc" in r]
    if not rows:
        return
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(rows)), 3.5))
    x = np.arange(len(rows))
    auc = np.array([r["auc"] for r in rows])
    ci = np.array([r["auc_ci"] or [r["auc"], r["auc"]] for r in rows])
    ax.errorbar(x, auc, yerr=[auc - ci[:, 0], ci[:, 1] - auc], fmt="o-", capsize=3)
    ax.axhline(0.5, color="k", ls="--", lw=1)
    ax.set_xticks(x, [r["perturbation"] for r in rows], rotation=45, ha="right")
    ax.set(ylabel="video AUC", ylim=(0, 1.02), title="Robustness to re-compression")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(out / "robustness.png", buf.getvalue())
