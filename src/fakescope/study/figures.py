"""Figures of a study (matplotlib, Agg, PNG), drawn from the report only: backbone comparison
with the generalisation gap, training curves of every run, trainable parameters against
cross-dataset AUC, frame against temporal models across training phases, one summary.
Published references are dashed, labelled lines, never bars or points."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

__all__ = ["phase_boundaries", "write_figures"]

_DPI = 120


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _color(i: int) -> Any:
    import matplotlib

    return matplotlib.colormaps["tab10"](i % 10)


def _integer_ticks() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _wrap(label: str) -> str:
    return "\n".join(textwrap.wrap(label, 18)) or label


def _metric(row: dict[str, Any], cross: str | None) -> dict[str, Any]:
    """The row's stats of the primary metric: a cross-dataset AUC, else the in-domain AUC."""
    if cross is not None and cross in row["cross"]:
        return dict(row["cross"][cross]["auc"])
    return dict(row["in_domain_auc"])


def _err(s: dict[str, Any]) -> tuple[float, float]:
    """Error bar below/above the mean: the std over seeds, or the bootstrap interval."""
    if s["mean"] is None:
        return 0.0, 0.0
    if s["n"] > 1 and s["std"] is not None:
        return s["std"], s["std"]
    ci = s.get("ci")
    if ci:
        return max(0.0, s["mean"] - ci[0]), max(0.0, ci[1] - s["mean"])
    return 0.0, 0.0


def _references(ax: Any, report: dict[str, Any], metric: str, horizontal: bool = True) -> None:
    """Dashed, labelled lines for the references that compare with ``metric``."""
    primary = report["primary_cross"]
    styles = {"published": "--", "target": "-."}
    for i, ref in enumerate(report["references"]):
        if ref["metric"] != metric:
            continue
        if metric == "cross_auc" and ref.get("cross") not in (None, primary):
            continue
        label = f"{ref['label']} ({ref['value']:.3f}, {ref['kind']})"
        line = ax.axhline if horizontal else ax.axvline
        line(
            ref["value"],
            color=_color(i + 5),
            linestyle=styles.get(ref["kind"], "--"),
            linewidth=1.5,
            alpha=0.85,
            label=label,
        )


def _metric_name(report: dict[str, Any]) -> tuple[str, str]:
    cross = report["primary_cross"]
    return (
        ("cross_auc", f"{cross} AUC (cross-dataset)")
        if cross
        else ("in_domain_auc", "in-domain AUC")
    )


def _bars(ax: Any, report: dict[str, Any]) -> None:
    """In-domain and cross-dataset AUC per row (error bars), references as lines."""
    import numpy as np

    rows, cross = report["rows"], report["primary_cross"]
    x = np.arange(len(rows))
    series = [("in-domain", [dict(r["in_domain_auc"]) for r in rows])]
    if cross:
        series.append((cross, [_metric(r, cross) for r in rows]))
    width = 0.8 / len(series)
    for k, (name, values) in enumerate(series):
        heights = [v["mean"] if v["mean"] is not None else 0.0 for v in values]
        errs = np.array([_err(v) for v in values]).T
        pos = x - 0.4 + width * (k + 0.5)
        bars = ax.bar(
            pos,
            heights,
            width,
            yerr=errs,
            capsize=3,
            color=_color(k),
            alpha=0.85,
            label=f"{name} AUC",
        )
        for bar, v, up in zip(bars, values, errs[1]):
            text = "n/a" if v["mean"] is None else f"{v['mean']:.3f}"
            top = bar.get_height() + float(up) + 0.01
            ax.text(
                bar.get_x() + bar.get_width() / 2, top, text, ha="center", va="bottom", fontsize=7
            )
    ax.axhline(0.5, color="gray", linestyle=":", linewidth=1, label="chance (0.5)")
    _references(ax, report, "cross_auc" if cross else "in_domain_auc")
    ax.set_xticks(x, [_wrap(r["label"]) for r in rows], fontsize=7)
    ax.set_ylim(0.0, 1.05)
    ax.set_ylabel("AUC")
    ax.set_title("AUC per configuration")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(True, axis="y", alpha=0.3)


def _gaps(ax: Any, report: dict[str, Any]) -> None:
    import numpy as np

    rows, cross = report["rows"], report["primary_cross"]
    gaps = [dict(r["cross"][cross]["gap"]) if cross in r["cross"] else None for r in rows]
    heights = [g["mean"] if g and g["mean"] is not None else 0.0 for g in gaps]
    errs = np.array([_err(g) if g else (0.0, 0.0) for g in gaps]).T
    x = np.arange(len(rows))
    ax.bar(
        x, heights, yerr=errs, capsize=3, color=[_color(i) for i in range(len(rows))], alpha=0.85
    )
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(x, [_wrap(r["label"]) for r in rows], fontsize=7)
    ax.set_ylabel(f"in-domain AUC − {cross} AUC")
    ax.set_title("Generalisation gap (lower: transfers better)")
    ax.grid(True, axis="y", alpha=0.3)


def _params(ax: Any, report: dict[str, Any]) -> None:
    metric, label = _metric_name(report)
    cross = report["primary_cross"]
    for i, r in enumerate(report["rows"]):
        s = _metric(r, cross)
        if s["mean"] is None or r["trainable_params"] is None:
            continue
        lo, hi = _err(s)
        xm = r["trainable_params"] / 1e6
        ax.errorbar(
            xm,
            s["mean"],
            yerr=[[lo], [hi]],
            fmt="s" if r["temporal"] else "o",
            color=_color(i),
            markersize=8,
            capsize=3,
            markeredgecolor="black",
        )
        ax.annotate(
            r["label"], (xm, s["mean"]), textcoords="offset points", xytext=(5, 4), fontsize=7
        )
    _references(ax, report, metric)
    ax.set_xlabel("trainable parameters (M); circle: frame model, square: temporal")
    ax.set_ylabel(label)
    ax.set_title("Capacity against generalisation")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)


def phase_boundaries(run: dict[str, Any]) -> list[float]:
    """Epoch positions (x = k + 0.5) where a run's training phase changes: from the log's
    ``phase`` column when it has one, else from the recipe's phase lengths."""
    hist = run.get("history") or []
    names = [h.get("phase") for h in hist]
    if any(n is not None for n in names):
        return [hist[k - 1]["epoch"] + 0.5 for k in range(1, len(hist)) if names[k] != names[k - 1]]
    out, edge = [], 0
    for p in (run.get("phases") or [])[:-1]:
        edge += int(p["epochs"])
        out.append(edge + 0.5)
    return out


def _label(run: dict[str, Any], report: dict[str, Any]) -> str:
    label = run.get("label", run["run"])
    if len(report["grid"]["seeds"]) > 1:
        label += f" s{run['seed']}"
    if len(report["grid"]["manifests"]) > 1:
        label += f" ({run['manifest']})"
    return label


def _series(run: dict[str, Any], key: str) -> tuple[list[int], list[float]]:
    pts = [(h["epoch"], h.get(key)) for h in run.get("history") or []]
    pts = [(e, v) for e, v in pts if isinstance(v, float)]
    return [e for e, _ in pts], [v for _, v in pts]


def _row_index(report: dict[str, Any]) -> dict[str, int]:
    return {r["run"]: i for i, r in enumerate(report["rows"])}


def _phases(ax: Any, report: dict[str, Any]) -> None:
    """Val AUC per epoch: temporal runs solid with their phase boundaries, frame runs dashed."""
    index = _row_index(report)
    drawn: set[float] = set()
    for run in report["runs"]:
        c = _color(index.get(run["run"], 0))
        temporal = (run.get("model") or {}).get("kind") == "clip"
        x, y = _series(run, "val_auc")
        if not x:
            continue
        ax.plot(
            x,
            y,
            "-" if temporal else "--",
            color=c,
            linewidth=2 if temporal else 1.2,
            marker="o" if len(x) < 15 else None,
            markersize=3,
            label=_label(run, report),
        )
        for b in phase_boundaries(run):
            ax.axvline(
                b, color=c, linestyle=":", alpha=0.7, label=None if b in drawn else "phase boundary"
            )
            drawn.add(b)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(_integer_ticks())
    ax.set_ylabel("val AUC")
    ax.set_title("Frame (dashed) and temporal (solid) models across phases")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6, ncol=2)


def _curves(fig: Any, report: dict[str, Any]) -> None:
    index = _row_index(report)
    axes = fig.subplots(1, 2)
    for run in report["runs"]:
        c = _color(index.get(run["run"], 0))
        for ax, key in zip(axes, ("val_auc", "train_loss")):
            x, y = _series(run, key)
            if x:
                ax.plot(
                    x,
                    y,
                    color=c,
                    marker="o" if len(x) < 15 else None,
                    markersize=3,
                    label=_label(run, report),
                )
        x, y = _series(run, "val_loss")
        if x:
            axes[1].plot(x, y, color=c, linestyle="--", alpha=0.6)
    axes[0].set_ylabel("val AUC")
    axes[1].set_ylabel("loss (solid: train, dashed: val)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(_integer_ticks())
        ax.grid(True, alpha=0.3)
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=6)
    fig.suptitle("Training curves of every run")


def _in_vs_cross(ax: Any, report: dict[str, Any]) -> None:
    cross = report["primary_cross"]
    for i, r in enumerate(report["rows"]):
        a, b = r["in_domain_auc"]["mean"], _metric(r, cross)["mean"]
        if a is None or b is None:
            continue
        ax.scatter(
            [a],
            [b],
            color=_color(i),
            s=60,
            marker="s" if r["temporal"] else "o",
            edgecolors="black",
        )
        ax.annotate(r["label"], (a, b), textcoords="offset points", xytext=(4, 3), fontsize=7)
    ax.plot([0, 1], [0, 1], color="gray", linestyle=":", linewidth=1)
    _references(ax, report, "cross_auc")
    _references(ax, report, "in_domain_auc", horizontal=False)
    ax.set_xlim(0.3, 1.02)
    ax.set_ylim(0.3, 1.02)
    ax.set_xlabel("in-domain AUC")
    ax.set_ylabel(f"{cross} AUC")
    ax.set_title("In-domain against cross-dataset (below the diagonal: a gap)")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6)


def write_figures(report: dict[str, Any], folder: Path) -> list[Path]:
    """Every figure the report has data for; returns the files written."""
    if not report["rows"]:
        return []
    plt = _plt()
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    cross = report["primary_cross"]
    width = max(8.0, 1.2 * len(report["rows"]) + 3)

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(folder / name, dpi=_DPI)
        plt.close(fig)
        written.append(folder / name)

    fig = plt.figure(figsize=(width * (2 if cross else 1), 5))
    axes = fig.subplots(1, 2 if cross else 1, squeeze=False)[0]
    _bars(axes[0], report)
    if cross:
        _gaps(axes[1], report)
    fig.suptitle(f"{report['name']}: configurations compared")
    save(fig, "backbones.png")

    fig = plt.figure(figsize=(14, 5))
    _curves(fig, report)
    save(fig, "curves.png")

    fig, ax = plt.subplots(figsize=(8, 6))
    _params(ax, report)
    save(fig, "params.png")

    fig, ax = plt.subplots(figsize=(10, 6))
    _phases(ax, report)
    save(fig, "phases.png")

    fig = plt.figure(figsize=(max(16.0, width + 8), 11))
    grid = fig.subplots(2, 2)
    _bars(grid[0][0], report)
    _params(grid[0][1], report)
    if cross:
        _in_vs_cross(grid[1][0], report)
    else:
        grid[1][0].axis("off")
    _phases(grid[1][1], report)
    fig.suptitle(f"{report['name']}: summary", fontsize=14, fontweight="bold")
    save(fig, "summary.png")
    return written
