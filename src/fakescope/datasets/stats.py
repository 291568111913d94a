"""Dataset statistics: the counts and summaries that seed notebooks print by hand."""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["dataset_stats", "stats_tables"]


def stats_tables(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Named tables: counts by dataset/method/label/split, balance per split, media summaries."""
    t = table.copy()
    t["split"] = t["split"].fillna("unassigned")
    t["compression"] = t["compression"].fillna("-")
    t["kind"] = t["label"].map({0: "real", 1: "fake"})
    out: dict[str, pd.DataFrame] = {}
    out["counts"] = (
        t.groupby(["dataset", "method", "compression", "split", "kind"])
        .size()
        .rename("videos")
        .reset_index()
    )
    balance = t.groupby(["split", "kind"]).size().unstack(fill_value=0)
    for k in ("real", "fake"):
        if k not in balance.columns:
            balance[k] = 0
    balance["total"] = balance["real"] + balance["fake"]
    balance["fake_fraction"] = (balance["fake"] / balance["total"]).round(4)
    balance["identity_groups"] = t.groupby("split")["identity_group"].nunique()
    out["balance"] = balance.reset_index()
    media = [c for c in ("duration", "fps", "width", "height") if c in t.columns]
    if media:
        numeric = t[["dataset", *media]].apply(
            lambda c: pd.to_numeric(c, errors="coerce") if c.name in media else c
        )
        desc = numeric.groupby("dataset")[media].describe(percentiles=[0.5]).round(3)
        desc.columns = [f"{a}_{b}" for a, b in desc.columns]
        out["media"] = desc.reset_index()
        res = (
            t.dropna(subset=["width", "height"])
            if {"width", "height"} <= set(t.columns)
            else t.iloc[0:0]
        )
        if len(res):
            res = res.assign(
                resolution=res["width"].astype(int).astype(str)
                + "x"
                + res["height"].astype(int).astype(str)
            )
            out["resolutions"] = (
                res.groupby(["dataset", "resolution"]).size().rename("videos").reset_index()
            )
    return out


def dataset_stats(table: pd.DataFrame) -> dict[str, Any]:
    """The same as ``stats_tables``, as plain JSON-ready data, plus headline totals."""
    tables = stats_tables(table)
    data: dict[str, Any] = {
        "videos": len(table),
        "real": int((table["label"] == 0).sum()),
        "fake": int((table["label"] == 1).sum()),
        "datasets": sorted(table["dataset"].unique().tolist()),
        "identity_groups": int(table["identity_group"].nunique()),
    }
    if "readable" in table.columns:
        data["unreadable"] = int((table["readable"] == False).sum())  # noqa: E712
    for name, df in tables.items():
        data[name] = df.to_dict(orient="records")
    return data
