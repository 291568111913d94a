"""Box plots of the signals: one panel per signal, one box per group and class/method."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .signals import SIGNALS

__all__ = ["signal_boxplots"]

# seed 000's colours, other methods grey
COLORS = {
    "real": "#2ecc71",
    "Deepfakes": "#e74c3c",
    "Face2Face": "#e67e22",
    "FaceSwap": "#9b59b6",
    "NeuralTextures": "#3498db",
}


def _boxes(table: Any) -> list[tuple[str, str, str, Any]]:
    """(label, colour key, rows) per group and class: the reals of a group first (one box per
    real method, e.g. FF++ originals and DFD actors), then each fake method."""
    keys = [c for c in ("dataset", "compression") if c in table.columns]
    keys = [k for k in keys if table[k].astype(str).nunique() > 1]  # name what differs only
    if keys:
        grouped = list(table.groupby([table[k].astype(str) for k in keys], sort=True))
    else:
        grouped = [((), table)]
    several = len(grouped) > 1
    out = []
    for values, sub in grouped:
        values = values if isinstance(values, tuple) else (values,)
        prefix = " ".join(v for v in values if v not in ("None", "nan")) if several else ""
        for label in (0, 1):
            part = sub[sub["label"] == label]
            for method in sorted(part["method"].astype(str).unique()):
                rows = part[part["method"].astype(str) == method]
                name = "real" if label == 0 and method == "original" else method
                key = "real" if label == 0 else method
                out.append(((f"{prefix} {name}" if prefix else name), key, prefix, rows))
    return out


def signal_boxplots(
    table: Any, out: str | os.PathLike[str], signals: Sequence[str] = SIGNALS
) -> Path:
    """Write ``out`` (PNG): one panel per signal, a box (and the points) per group x class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    boxes = _boxes(table)
    ncols = min(3, len(signals))
    nrows = -(-len(signals) // ncols)
    width = max(4.5, 0.42 * len(boxes) + 1.0)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, 4.6 * nrows), squeeze=False)
    for ax in axes.ravel()[len(signals) :]:
        ax.axis("off")
    rng = np.random.default_rng(0)  # jitter of the points only
    starts = [i for i in range(1, len(boxes)) if boxes[i][2] != boxes[i - 1][2]]
    for ax, sig in zip(axes.ravel(), signals):
        for i in starts:  # a line between groups (e.g. c23 | c40)
            ax.axvline(i + 0.5, color="grey", linewidth=0.8, linestyle="--")
        data = [rows[sig].astype(float).dropna().to_numpy() for *_, rows in boxes]
        positions = np.arange(1, len(boxes) + 1)
        shown = [(p, d) for p, d in zip(positions, data) if len(d)]
        if shown:
            bp = ax.boxplot(
                [d for _, d in shown],
                positions=[p for p, _ in shown],
                patch_artist=True,
                widths=0.6,
                showfliers=False,
                medianprops={"color": "black", "linewidth": 1.5},
            )
            for patch, (p, _) in zip(bp["boxes"], shown):
                patch.set_facecolor(COLORS.get(boxes[p - 1][1], "#95a5a6"))
                patch.set_alpha(0.7)
            for p, d in shown:
                ax.scatter(p + rng.uniform(-0.15, 0.15, len(d)), d, s=9, c="black", zorder=3)
        ax.set_xticks(positions)
        ax.set_xticklabels([b[0] for b in boxes], rotation=60, ha="right", fontsize=8)
        ax.set_xlim(0.4, len(boxes) + 0.6)
        ax.set_title(sig, fontsize=10, fontweight="bold")
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle("Forensic signals per class and manipulation method (seed 000, Exp1)")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
