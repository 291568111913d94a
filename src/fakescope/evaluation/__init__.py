"""Evaluation: detection and calibration metrics, frame-to-video pooling, bootstrap intervals."""

from .metrics import (
    AGGREGATIONS,
    MetricError,
    aggregate_by_video,
    average_precision,
    bootstrap_ci,
    brier_score,
    ece_floor,
    eer,
    expected_calibration_error,
    fpr_at_tpr,
    reliability_curve,
    roc_auc,
    summary,
    threshold_metrics,
)

__all__ = [
    "AGGREGATIONS",
    "MetricError",
    "aggregate_by_video",
    "average_precision",
    "bootstrap_ci",
    "brier_score",
    "ece_floor",
    "eer",
    "expected_calibration_error",
    "fpr_at_tpr",
    "reliability_curve",
    "roc_auc",
    "summary",
    "threshold_metrics",
]
