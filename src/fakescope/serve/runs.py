"""The dashboard's data: the runs under ``fakescope serve --runs DIR``.

A run is a folder holding what ``evaluate`` (``metrics.json``), ``train`` (``log.csv``) or
``study`` (``ablation.json``) wrote. A client names a run by an opaque id and a file by a
name from the run's own listing: nothing a client sends becomes a path.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Run", "discover", "run_detail", "run_file"]

MARKERS = {"metrics.json": "evaluate", "log.csv": "train", "ablation.json": "study"}
MAX_DEPTH = 5
MAX_RUNS = 500
MAX_FIGURES = 24
MAX_METRICS = 120
MAX_CURVE_ROWS = 5000
SKIP_KEYS = ("bootstrap", "ci", "per_", "curve", "bins", "thresholds")


@dataclass(frozen=True)
class Run:
    id: str
    name: str  # the folder relative to the runs root
    path: Path
    kinds: tuple[str, ...]
    modified: float

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kinds": list(self.kinds),
            "modified": self.modified,
        }


def _run_id(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()[:16]


def discover(root: Path | None) -> list[Run]:
    """The runs under ``root`` (at most ``MAX_DEPTH`` levels down), newest first."""
    if root is None or not Path(root).is_dir():
        return []
    root = Path(root).resolve()
    found: list[Run] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        depth = len(here.relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and depth < MAX_DEPTH)
        kinds = tuple(MARKERS[f] for f in sorted(MARKERS) if f in files)
        if not kinds:
            continue
        name = here.relative_to(root).as_posix() if here != root else "."
        modified = max((here / f).stat().st_mtime for f in files if f in MARKERS)
        found.append(Run(_run_id(name), name, here, kinds, modified))
        if len(found) >= MAX_RUNS:
            break
    return sorted(found, key=lambda r: (-r.modified, r.name))


def _files(run: Run) -> dict[str, Path]:
    """The files a client may fetch from a run: its figures and its tables, by name."""
    out: dict[str, Path] = {}
    for folder, prefix in ((run.path, ""), (run.path / "figures", "figures/")):
        if not folder.is_dir():
            continue
        for f in sorted(folder.iterdir()):
            if f.is_file() and f.suffix.lower() in (".png", ".svg", ".md"):
                out[prefix + f.name] = f
    return out


def run_file(runs: list[Run], run_id: str, name: str) -> Path | None:
    """A file of a run by listed name (None: no such run or no such file)."""
    run = next((r for r in runs if r.id == run_id), None)
    return _files(run).get(name) if run is not None else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _flatten(data: Any, prefix: str = "", out: dict[str, float] | None = None) -> dict[str, float]:
    """The scalar metrics of a JSON document as ``a.b.c -> number`` (lists and bootstrap
    details left out)."""
    out = {} if out is None else out
    if isinstance(data, dict):
        for key, value in data.items():
            if any(str(key).startswith(s) for s in SKIP_KEYS) or len(out) >= MAX_METRICS:
                continue
            _flatten(value, f"{prefix}{key}.", out)
    else:
        number = _number(data)
        if number is not None and prefix:
            out[prefix[:-1]] = number
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _curves(path: Path) -> dict[str, list[float | None]]:
    """The numeric columns of a training ``log.csv``."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))[:MAX_CURVE_ROWS]
    except (OSError, csv.Error):
        return {}
    columns: dict[str, list[float | None]] = {}
    for key in rows[0] if rows else []:
        values: list[float | None] = []
        for row in rows:
            try:
                v = float(row.get(key) or "nan")
            except ValueError:
                break
            values.append(v if math.isfinite(v) else None)
        else:
            if any(v is not None for v in values):
                columns[key] = values
    return columns


def run_detail(run: Run) -> dict[str, Any]:
    """What the dashboard shows of one run: scalar metrics, tables, figures, curves."""
    detail = run.summary()
    metrics: dict[str, float] = {}
    if "evaluate" in run.kinds:
        metrics.update(_flatten(_read_json(run.path / "metrics.json")))
    if "study" in run.kinds:
        study = _read_json(run.path / "ablation.json")
        if isinstance(study, dict):
            metrics.update(_flatten(study.get("grid", {}), "grid."))
    files = _files(run)
    detail["metrics"] = metrics
    detail["figures"] = [n for n in files if not n.endswith(".md")][:MAX_FIGURES]
    detail["tables"] = [
        {"name": n, "text": files[n].read_text(errors="replace")[:100_000]}
        for n in files
        if n.endswith(".md")
    ]
    detail["curves"] = _curves(run.path / "log.csv") if "train" in run.kinds else {}
    return detail
