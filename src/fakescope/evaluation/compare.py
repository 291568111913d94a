"""Compare evaluation runs: one ablation row per run, and the cross-dataset matrix (training
benchmarks -> test benchmarks, with each cell's gap to the model's in-domain AUC).

Reads only the ``metrics.json`` that ``fakescope evaluate`` writes, so runs made on different
machines or days can be put side by side.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["compare_markdown", "compare_runs"]


def _load(run: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(run)
    path = path / "metrics.json" if path.is_dir() else path
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no metrics.json; run 'fakescope evaluate --out DIR' first"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a fakescope metrics file ({exc})") from None
    if not isinstance(data, dict) or "video_level" not in data or "model" not in data:
        raise ConfigError(f"{path}: not a fakescope metrics file (no video_level/model)")
    return data


def _get(m: Any, key: str) -> Any:
    return m.get(key) if isinstance(m, dict) else None


def compare_runs(runs: list[str | os.PathLike[str]]) -> dict[str, Any]:
    """``{"runs": [...one row per run...], "cross_dataset": {"test_datasets", "rows"}}``."""
    if not runs:
        raise ConfigError("compare: give at least one evaluation run folder")
    rows: list[dict[str, Any]] = []
    models: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
    for run in runs:
        m = _load(run)
        v, f = m["video_level"], m.get("frame_level")
        boot = _get(v, "bootstrap") or {}
        trained = m["model"].get("train_datasets") or (m.get("cross_dataset") or {}).get(
            "train_datasets"
        )
        rows.append({
            "run": str(run), "model": m["model"]["name"], "train_datasets": trained,
            "videos": m["videos"]["scored"], "video_auc": _get(v, "roc_auc"),
            "video_auc_ci": [boot["roc_auc"]["low"], boot["roc_auc"]["high"]] if boot.get("roc_auc") else None,
            "video_ap": _get(v, "average_precision"), "video_eer": _get(v, "eer"),
            "video_ece": _get(v, "expected_calibration_error"), "frame_auc": _get(f, "roc_auc"),
            "note": v if isinstance(v, str) else None,
        })  # fmt: skip
        key = (str(m["model"]["name"]), tuple(trained or ()))
        entry = models.setdefault(key, {"cells": {}, "in_domain_auc": None, "in_domain_videos": 0})
        cross = m.get("cross_dataset") or {}
        per = cross.get("test_datasets") or {
            name: {"videos": r["videos"], "auc": r.get("auc"), "in_domain": None}
            for name, r in (m.get("breakdown") or {}).get("dataset", {}).items()
        }
        for name, r in per.items():
            old = entry["cells"].get(name)
            if old is None or r["videos"] > old["videos"]:  # the larger test set of a benchmark
                seen = r.get("in_domain")
                if seen is None and trained:
                    seen = name in trained
                entry["cells"][name] = {
                    "videos": r["videos"],
                    "auc": r.get("auc"),
                    "in_domain": seen,
                }
        in_videos = sum(r["videos"] for n, r in per.items() if trained and n in trained)
        if cross.get("in_domain_auc") is not None and in_videos > entry["in_domain_videos"]:
            entry["in_domain_auc"], entry["in_domain_videos"] = cross["in_domain_auc"], in_videos
    tests = sorted({name for e in models.values() for name in e["cells"]})
    matrix = []
    for (name, trained), e in models.items():
        cells = {}
        for t in tests:
            c = e["cells"].get(t)
            if c is None:
                continue
            gap = None
            if c["auc"] is not None and e["in_domain_auc"] is not None and c["in_domain"] is False:
                gap = c["auc"] - e["in_domain_auc"]
            cells[t] = {**c, "gap_to_in_domain": gap}
        matrix.append({"model": name, "train_datasets": list(trained) or None,
                       "in_domain_auc": e["in_domain_auc"], "cells": cells})  # fmt: skip
    return {"runs": rows, "cross_dataset": {"test_datasets": tests, "rows": matrix}}


def _f(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}"


def compare_markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Comparison of evaluation runs",
        "",
        "| run | model | trained on | videos | video AUC (95% interval) | AP | EER | ECE | frame AUC |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        ci = (
            f" [{r['video_auc_ci'][0]:.3f}, {r['video_auc_ci'][1]:.3f}]"
            if r["video_auc_ci"]
            else ""
        )
        trained = ", ".join(r["train_datasets"]) if r["train_datasets"] else "?"
        lines.append(
            f"| {Path(r['run']).name or r['run']} | {r['model']} | {trained} | {r['videos']} | {_f(r['video_auc'])}{ci} "
            f"| {_f(r['video_ap'])} | {_f(r['video_eer'])} | {_f(r['video_ece'])} | {_f(r['frame_auc'])} |"
        )
    cross = result["cross_dataset"]
    tests = cross["test_datasets"]
    lines += [
        "",
        "## Cross-dataset video AUC",
        "",
        "Rows: a model and the benchmarks it was trained on; columns: test benchmarks. A cell in "
        "*italics* is in-domain; in brackets, the gap to the model's in-domain AUC.",
        "",
        "| model (trained on) | in-domain AUC | " + " | ".join(tests) + " |",
        "|---|---|" + "---|" * len(tests),
    ]
    for row in cross["rows"]:
        cells = []
        for t in tests:
            c = row["cells"].get(t)
            if c is None or c["auc"] is None:
                cells.append("-")
            elif c["in_domain"]:
                cells.append(f"*{c['auc']:.3f}*")
            elif c["gap_to_in_domain"] is not None:
                cells.append(f"{c['auc']:.3f} ({c['gap_to_in_domain']:+.3f})")
            else:
                cells.append(f"{c['auc']:.3f}")
        trained = ", ".join(row["train_datasets"]) if row["train_datasets"] else "?"
        lines.append(
            f"| {row['model']} ({trained}) | {_f(row['in_domain_auc'])} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join([*lines, ""])
