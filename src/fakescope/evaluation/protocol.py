"""Evaluate a detector on a manifest split: score every video (through the crop cache), then
every metric the papers report, with bootstrap intervals, breakdowns, plots and failures."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from .metrics import MetricError, summary

__all__ = ["evaluate_table", "make_score_job", "score_videos"]

log = logging.getLogger(__name__)


def extract_settings_for(card: Any, frames: int | None = None) -> Any:
    """The extraction settings a checkpoint was made for (crop geometry, detector, frames)."""
    from ..extraction import ExtractSettings
    from ..faces import CropSettings

    crop = card.crop
    return ExtractSettings(
        sampling=f"uniform:{frames or card.frames_per_video}",
        detector=crop.get("detector", "yunet"),
        crop=CropSettings(margin=float(crop.get("margin", 1.3)), size=int(crop.get("size", 256))),
    )


def make_score_job(
    model: str, settings: Any, cache_dir: str, device: str = "cpu"
) -> Callable[[str], dict[str, Any]]:
    """Per worker: load the detector once; per video: extract (cached) and score every face."""
    from ..extraction import Extractor
    from ..inference import score_entry
    from ..models import load_detector

    detector = load_detector(model, device)
    extractor = Extractor(settings, cache_dir)

    def job(path: str) -> dict[str, Any]:
        result = extractor(path)
        row: dict[str, Any] = {"path": path, "status": result.status, "error": result.error}
        if result.entry is not None and result.status == "ok":
            s = score_entry(result.entry, detector)
            row["scores"] = {
                "track": s.track.tolist(), "frame": s.frame.tolist(), "index": s.index.tolist(),
                "timestamp": s.timestamp.tolist(), "logit": s.logit.tolist(), "files": s.files,
            }  # fmt: skip
        return row

    return job


def score_videos(
    paths: list[str], model: str, settings: Any, cache_dir: str, engine: Any, progress: Any = None
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path, result in engine.map(make_score_job, paths, (model, settings, cache_dir)):
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


def evaluate_table(
    table: pd.DataFrame,
    scored: dict[str, dict[str, Any]],
    paths: list[str],
    card: Any,
    out: Path,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Metrics for scored videos; writes predictions.csv, frames.csv, metrics.json, summary.md,
    plots and a failure gallery into ``out``. ``paths[i]`` is the file of ``table`` row i."""
    from ..inference import aggregate

    out.mkdir(parents=True, exist_ok=True)
    t = float(card.temperature)
    preds, frames_rows = [], []
    for (_, row), path in zip(table.iterrows(), paths):
        r = scored.get(path, {"status": "failed", "error": "not scored"})
        prob = None
        if r.get("scores"):
            agg = aggregate(
                _video_scores(r),
                t,
                card.aggregation
                if card.aggregation in ("mean_of_max", "topk", "max_track")
                else "mean_of_max",
            )
            prob = agg["probability"]
            for fr in agg["frames"]:
                frames_rows.append(
                    {
                        "video_id": row["video_id"],
                        "label": int(row["label"]),
                        "frame": fr["frame"],
                        "index": fr["index"],
                        "probability": fr["max"],
                    }
                )
        preds.append(
            {"video_id": row["video_id"], "path": row["path"], "label": int(row["label"]), "dataset": row["dataset"],
             "method": row["method"], "compression": row.get("compression"), "status": r["status"],
             "error": r.get("error"), "probability": prob}
        )  # fmt: skip
    pred = pd.DataFrame(preds)
    frames = pd.DataFrame(
        frames_rows, columns=["video_id", "label", "frame", "index", "probability"]
    )
    atomic_write_bytes(out / "predictions.csv", pred.to_csv(index=False).encode())
    atomic_write_bytes(out / "frames.csv", frames.to_csv(index=False).encode())
    ok = pred[pred["probability"].notna()]
    metrics: dict[str, Any] = {
        "model": {"name": card.name, "temperature": t, "aggregation": card.aggregation, "threshold": card.threshold},
        "videos": {"total": len(pred), "scored": len(ok), "no_face": int((pred["status"] == "no_face").sum()),
                   "failed": int((pred["status"] == "failed").sum())},
        "note": "videos without a face or that failed are left out of the metrics (counted above)",
    }  # fmt: skip
    y, p = ok["label"].to_numpy(), ok["probability"].to_numpy(dtype=float)
    metrics["video_level"] = _safe_summary(y, p, threshold=card.threshold, n_boot=n_boot, seed=seed)
    metrics["frame_level"] = _safe_summary(
        frames["label"].to_numpy(), frames["probability"].to_numpy(dtype=float), threshold=card.threshold,
        n_boot=n_boot, seed=seed, groups=frames["video_id"].to_numpy(),
    )  # fmt: skip
    metrics["breakdown"] = _breakdowns(ok, card.threshold)
    atomic_write_json(out / "metrics.json", metrics, indent=2)
    _plots(y, p, out)
    _failure_gallery(ok, scored, paths_by_id(table, paths), card, out)
    atomic_write_text(out / "summary.md", summary_markdown(metrics))
    return metrics


def paths_by_id(table: pd.DataFrame, paths: list[str]) -> dict[str, str]:
    return dict(zip(table["video_id"], paths))


def _breakdowns(ok: pd.DataFrame, threshold: float) -> dict[str, Any]:
    """AUC/AP/accuracy per dataset, per manipulation method (its fakes vs the same dataset's
    reals), per compression level."""
    from .metrics import average_precision, roc_auc, threshold_metrics

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
        return out

    result: dict[str, Any] = {"dataset": {}, "method": {}, "compression": {}}
    for ds, sub in ok.groupby("dataset"):
        result["dataset"][str(ds)] = row(sub)
        reals = sub[sub["label"] == 0]
        for m, fakes in sub[sub["label"] == 1].groupby("method"):
            result["method"][f"{ds}/{m}"] = row(pd.concat([reals, fakes]))
    for c, sub in ok.groupby(ok["compression"].fillna("unknown")):
        result["compression"][str(c)] = row(sub)
    return result


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


def summary_markdown(metrics: dict[str, Any]) -> str:
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
            f"| ECE / Brier | {_fmt(m.get('expected_calibration_error'))} / {_fmt(m.get('brier_score'))} |",
            "",
        ]
    lines += [
        "## Breakdown",
        "",
        "| group | videos | real | fake | AUC | AP | accuracy |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, groups in metrics["breakdown"].items():
        for name, r in groups.items():
            lines.append(
                f"| {kind}: {name} | {r['videos']} | {r['real']} | {r['fake']} | {_fmt(r.get('auc'))} | {_fmt(r.get('ap'))} | {_fmt(r['accuracy'])} |"
            )
    lines += ["", "Plots: roc.png, pr.png, reliability.png, hist.png; mistakes: failures.png.", ""]
    return "\n".join(lines)
