"""Hyper-parameter search over training recipes (``fakescope tune``): Optuna studies whose
trials are training runs with sampled overrides, pruned per epoch, resumable from a SQLite
file, parallel across processes. Optuna is imported lazily (extra ``tune``)."""

from __future__ import annotations

from .runner import TuneJob, run_tune
from .space import Param, TuneSpec, load_space

__all__ = ["Param", "TuneJob", "TuneSpec", "load_space", "run_tune"]
