"""Handcrafted forensic signals of a face clip and their statistical tests (seed 000, Exp1).

``video_signals(entry)`` computes the five signals of one extracted video (a crop-cache entry,
best extracted with ``ExtractSettings(context=ContextSettings())`` so that the background and
the consecutive frames two of them need are there); ``signal_stats(table)`` tests them per
manipulation method; ``fakescope forensics`` does both over a manifest. Everything imports
lazily: importing this package loads neither SciPy nor PyWavelets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .plots import signal_boxplots
    from .signals import (
        HYPOTHESIS,
        SIGNALS,
        ForensicSettings,
        color_wasserstein,
        flicker_hll,
        flow_boundary,
        noise_autocorr,
        srm_sharpness,
    )
    from .stats import cliffs_delta, holm, mann_whitney, min_p_value, signal_stats, stats_markdown
    from .video import SignalJob, load_evidence, main_track, make_signals_job, video_signals

_LAZY = {
    "HYPOTHESIS": "signals",
    "SIGNALS": "signals",
    "ForensicSettings": "signals",
    "color_wasserstein": "signals",
    "flicker_hll": "signals",
    "flow_boundary": "signals",
    "noise_autocorr": "signals",
    "srm_sharpness": "signals",
    "cliffs_delta": "stats",
    "holm": "stats",
    "mann_whitney": "stats",
    "min_p_value": "stats",
    "signal_stats": "stats",
    "stats_markdown": "stats",
    "SignalJob": "video",
    "load_evidence": "video",
    "main_track": "video",
    "make_signals_job": "video",
    "video_signals": "video",
    "signal_boxplots": "plots",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "HYPOTHESIS",
    "SIGNALS",
    "ForensicSettings",
    "SignalJob",
    "cliffs_delta",
    "color_wasserstein",
    "flicker_hll",
    "flow_boundary",
    "holm",
    "load_evidence",
    "main_track",
    "make_signals_job",
    "mann_whitney",
    "min_p_value",
    "noise_autocorr",
    "signal_boxplots",
    "signal_stats",
    "srm_sharpness",
    "stats_markdown",
    "video_signals",
]
