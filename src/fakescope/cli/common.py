"""Helpers shared by the CLI verbs: logging, progress bars, option parsing, exit codes."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

import yaml

EXIT_OK = 0
EXIT_ITEM_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad command-line usage: reported in one line, exit code 2."""


class _TqdmHandler(logging.Handler):
    """Log lines that do not break a progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # pragma: no cover
            self.handleError(record)


def setup_logging(verbosity: int) -> None:
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger("fakescope")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def add_common(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("output")
    g.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    g.add_argument("-q", "--quiet", action="count", default=0, help="only errors")
    g.add_argument("-v", "--verbose", action="count", default=0, help="more log lines")


def add_mlflow_arg(parser: argparse.ArgumentParser) -> None:
    """``--mlflow URI`` (docs/tracking.md); a missing ``track`` extra is a usage error before
    any work."""
    parser.add_argument(
        "--mlflow",
        metavar="URI",
        type=_mlflow_uri,
        help="also log this run to MLflow: a folder (a local file store) or a tracking URI "
        "(extra 'track')",
    )


def _mlflow_uri(value: str) -> str:
    import importlib.util

    try:
        missing = importlib.util.find_spec("mlflow") is None
    except ValueError:  # a module entry without a spec: as good as missing
        missing = True
    if missing:
        raise argparse.ArgumentTypeError(
            "needs the 'mlflow' package: pip install 'fakescope[track]'"
        )
    return value


def video_inputs(raw: list[str]) -> list[str]:
    """Files, folders, CSV lists and manifests -> video paths; bad lists are usage errors."""
    from ..errors import ConfigError
    from ..inputs import collect_inputs

    try:
        inputs = collect_inputs(raw)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if not inputs:
        raise UsageError(f"no video files found in {' '.join(raw)}")
    return inputs


def add_engine_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("engine")
    g.add_argument(
        "--workers", type=int, default=1, metavar="K", help="parallel workers (default 1)"
    )
    g.add_argument(
        "--engine",
        default="local",
        choices=["local", "ray"],
        help="local process pool (default) or Ray",
    )
    g.add_argument(
        "--ray-address", metavar="ADDR", help="Ray cluster address (default: start a local Ray)"
    )


def parse_options(pairs: list[str] | None, flag: str) -> dict[str, Any]:
    """``["max_side=640", "model=cnn"]`` -> ``{"max_side": 640, "model": "cnn"}`` (YAML values)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise UsageError(f"{flag} expects KEY=VALUE, got '{pair}'")
        key, value = pair.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="video",
        disable=not (enabled and sys.stderr.isatty()),
        dynamic_ncols=True,
        file=sys.stderr,
    )


def print_json(data: Any) -> None:
    from .._atomic import json_default

    json.dump(data, sys.stdout, indent=2, default=json_default)
    sys.stdout.write("\n")
