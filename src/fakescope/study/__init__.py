"""Ablation studies as one command: a grid of training runs (recipes × training manifests ×
seeds), each trained and scored on one protocol (in-domain split + cross-dataset sets),
resumable and parallel, summarised in ``ablation.{json,md}`` and figures. The STUDY.yaml
schema is in ``fakescope.study.spec``."""

from __future__ import annotations

from .runner import run_study
from .spec import GridRun, Study, load_study

__all__ = ["GridRun", "Study", "load_study", "run_study"]
