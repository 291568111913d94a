"""Learning-rate schedules and early stopping (pure, testable at given steps)."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["EarlyStopping", "warmup_cosine"]


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, min_ratio: float = 0.01) -> float:
    """LR multiplier: linear warmup from ~0 to 1 over ``warmup_steps``, then cosine to ``min_ratio``."""
    if total_steps <= 0:
        return 1.0
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass
class EarlyStopping:
    """Stop when the monitored value (higher is better) has not improved by ``min_delta`` for
    ``patience`` evaluations."""

    patience: int = 3
    min_delta: float = 0.002
    best: float = -math.inf
    bad: int = 0

    def step(self, value: float) -> bool:
        """Record a value; True when it is a new best."""
        if value > self.best + self.min_delta:
            self.best = value
            self.bad = 0
            return True
        self.bad += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.bad >= self.patience
