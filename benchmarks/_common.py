"""Helpers shared by the benchmark scripts (not a test: speed is measured here, not in tests)."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FAKESCOPE_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    import av
    import cv2
    import numpy as np

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "pyav": av.__version__,
        "ffmpeg": ".".join(map(str, av.library_versions.get("libavcodec", ()))),
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def write_results(name: str, data: dict[str, Any], table: str) -> None:
    from fakescope._atomic import atomic_write_json, atomic_write_text

    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_json(RESULTS / f"{name}.json", data, indent=2)
    atomic_write_text(RESULTS / f"{name}.md", table)
    print(table)
    print(f"wrote {RESULTS / (name + '.json')} and .md", file=sys.stderr)


def require_samples() -> Path:
    samples = SHARED_DATA / "samples"
    if not (samples / "labels.csv").is_file():
        sys.exit(f"sample videos not found in {samples} (set FAKESCOPE_SHARED_DATA)")
    return samples


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=2)


def default_model_parser(doc: str | None) -> Any:
    """The arguments of the benchmarks that measure a model on the default-model splits."""
    import argparse

    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--run", default="runs/default", help="folder of the default model's data and crops"
    )
    parser.add_argument("--model", default="default")
    return parser


def default_manifest(run: Path) -> Path:
    """The identity-level split of ``scripts/default_data.py`` (built when absent)."""
    import subprocess

    manifest = run / "data" / "manifest.parquet"
    if not manifest.is_file():
        script = ROOT / "scripts" / "default_data.py"
        subprocess.run([sys.executable, str(script), "--out", str(manifest)], check=True)
    return manifest
