"""Identity-level, label-stratified, seeded splits, and the leakage check that guards them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DatasetError
from .base import SPLITS

__all__ = ["assign_splits", "check_leakage", "parse_ratios"]


def parse_ratios(text: str | tuple[float, ...]) -> tuple[float, float, float]:
    """``"0.7,0.15,0.15"`` -> (0.7, 0.15, 0.15); must be three non-negative numbers summing to 1."""
    try:
        values = tuple(float(v) for v in (text.split(",") if isinstance(text, str) else text))
    except ValueError:
        raise DatasetError(
            f"ratios: expected three numbers like 0.7,0.15,0.15, got {text!r}"
        ) from None
    if len(values) != 3 or min(values) < 0 or abs(sum(values) - 1.0) > 1e-6:
        raise DatasetError(f"ratios: need train,val,test >= 0 summing to 1, got {text!r}")
    return values[0], values[1], values[2]


def check_leakage(table: pd.DataFrame) -> None:
    """Raise ``DatasetError`` when one identity group has videos in two splits."""
    assigned = table[table["split"].notna()]
    spread = assigned.groupby("identity_group")["split"].nunique()
    leaking = spread[spread > 1]
    if len(leaking):
        examples = []
        for group in leaking.index[:3]:
            splits = sorted(assigned.loc[assigned["identity_group"] == group, "split"].unique())
            examples.append(f"{group} in {'/'.join(splits)}")
        raise DatasetError(
            f"identity leakage: {len(leaking)} identity group(s) span two splits, e.g. "
            + "; ".join(examples)
        )


def assign_splits(
    table: pd.DataFrame,
    ratios: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    use_official: bool = True,
) -> pd.DataFrame:
    """Return a copy of ``table`` with every row's ``split`` set.

    With ``use_official``, official splits are kept and extended to the rest of their identity
    group (a group with two official splits is an error: pass ``use_official=False`` to
    re-split). Groups without an official split are dealt to train/val/test whole, largest
    first, each to the split that most needs its mix of real and fake videos, so that both
    the sizes and the class balance follow ``ratios``. The same seed gives the same split.
    """
    out = table.copy()
    if not use_official:
        out["split"] = None
    official = out[out["split"].notna()]
    if len(official):
        per_group = official.groupby("identity_group")["split"].unique()
        clash = per_group[per_group.map(len) > 1]
        if len(clash):
            g = clash.index[0]
            raise DatasetError(
                f"the official splits put identity group {g} in {'/'.join(sorted(clash.iloc[0]))} "
                f"({len(clash)} group(s) in all); re-split by identity without the official "
                "splits (--ignore-official) or fix the split files"
            )
        group_split = per_group.map(lambda s: s[0])
        fill = out["split"].isna() & out["identity_group"].isin(group_split.index)
        out.loc[fill, "split"] = out.loc[fill, "identity_group"].map(group_split)

    rest = out[out["split"].isna()]
    if len(rest):
        counts = rest.groupby(["identity_group", "label"]).size().unstack(fill_value=0)
        for label in (0, 1):
            if label not in counts.columns:
                counts[label] = 0
        counts = counts[[0, 1]]
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(counts))
        groups = counts.iloc[order]
        groups = groups.iloc[np.argsort(-groups.sum(axis=1).to_numpy(), kind="stable")]
        totals = groups.sum(axis=0).to_numpy(dtype=float)
        target = np.outer(np.asarray(ratios), totals)  # split x label
        current = np.zeros_like(target)
        choice: dict[str, str] = {}
        for name, row in groups.iterrows():
            n = row.to_numpy(dtype=float)
            need = ((target - current) * n).sum(axis=1)
            need[np.asarray(ratios) == 0] = -np.inf
            k = int(np.argmax(need))
            current[k] += n
            choice[str(name)] = SPLITS[k]
        fill = out["split"].isna()
        out.loc[fill, "split"] = out.loc[fill, "identity_group"].map(choice)
    check_leakage(out)
    return out
