"""Benchmark adapters -> one manifest table -> identity-level splits and statistics."""

from .base import (
    DatasetAdapter,
    IndexReport,
    VideoRecord,
    create_adapter,
    list_datasets,
    register_dataset,
)
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
