"""Numeric helpers importable from every layer (``types`` included)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["sigmoid"]


def sigmoid(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Logistic function, computed without overflow for any finite or infinite input."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(under="ignore"):  # exp(-|x|) never overflows; underflow is just 0
        e = np.exp(-np.abs(x))
    return np.asarray(np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)), dtype=np.float64)
