"""Benchmark adapters -> one manifest table -> identity-level splits and statistics.

The adapters and the registry import at once (``fakescope datasets --help`` lists them); the
manifest, split and statistics tools, which need pandas, import on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .base import (
    DatasetAdapter,
    IndexReport,
    VideoRecord,
    create_adapter,
    list_datasets,
    register_dataset,
)

if TYPE_CHECKING:
    from .manifest import (
        COLUMNS,
        Manifest,
        build_manifest,
        identity_groups,
        index_dataset,
        read_manifest,
        write_manifest,
    )
    from .splits import assign_splits, check_leakage, parse_ratios
    from .stats import dataset_stats, stats_tables

_LAZY = {
    "COLUMNS": "manifest",
    "Manifest": "manifest",
    "build_manifest": "manifest",
    "identity_groups": "manifest",
    "index_dataset": "manifest",
    "read_manifest": "manifest",
    "write_manifest": "manifest",
    "assign_splits": "splits",
    "check_leakage": "splits",
    "parse_ratios": "splits",
    "dataset_stats": "stats",
    "stats_tables": "stats",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "COLUMNS",
    "DatasetAdapter",
    "IndexReport",
    "Manifest",
    "VideoRecord",
    "assign_splits",
    "build_manifest",
    "check_leakage",
    "create_adapter",
    "dataset_stats",
    "identity_groups",
    "index_dataset",
    "list_datasets",
    "parse_ratios",
    "read_manifest",
    "register_dataset",
    "stats_tables",
    "write_manifest",
]
