"""Engines map one function over many items (videos): in this process, a local process pool,
or a Ray cluster, with the same outputs and per-item failure records."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .local import LocalEngine, WorkerCrash, map_items
from .results import ResultLog
from .staged import StagedJob, run_staged

__all__ = [
    "ENGINES",
    "LocalEngine",
    "ResultLog",
    "StagedJob",
    "WorkerCrash",
    "create_engine",
    "map_items",
    "run_staged",
]

ENGINES = ("local", "ray")


def create_engine(name: str = "local", workers: int = 1, address: str | None = None) -> Any:
    """``local`` (process pool, the default) or ``ray`` (needs ``pip install 'fakescope[ray]'``)."""
    if name == "local":
        if address:
            raise ConfigError("engine: --ray-address needs --engine ray")
        return LocalEngine(workers)
    if name == "ray":
        from .ray_engine import RayEngine

        return RayEngine(workers=workers if workers > 1 else None, address=address)
    raise ConfigError(f"engine: unknown engine '{name}'; choose from {', '.join(ENGINES)}")
