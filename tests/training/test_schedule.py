import itertools
import math

import pytest

from fakescope.training.schedule import EarlyStopping, warmup_cosine


def test_warmup_then_cosine_values():
    total, warm = 100, 10
    assert warmup_cosine(0, total, warm) == pytest.approx(0.1)
    assert warmup_cosine(9, total, warm) == pytest.approx(1.0)
    assert warmup_cosine(10, total, warm) == pytest.approx(1.0)
    mid = warmup_cosine(55, total, warm, min_ratio=0.0)
    assert mid == pytest.approx(0.5, abs=1e-9)
    assert warmup_cosine(100, total, warm, min_ratio=0.01) == pytest.approx(0.01)
    values = [warmup_cosine(s, total, warm) for s in range(warm, total)]
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_early_stopping_patience_and_min_delta():
    es = EarlyStopping(patience=3, min_delta=0.002)
    assert es.step(0.80)
    assert not es.step(0.801)  # below min_delta: not an improvement
    assert not es.step(0.79)
    assert not es.should_stop
    assert not es.step(0.80)
    assert es.should_stop
    assert es.best == 0.80 and math.isfinite(es.best)
