import os

import pytest

from fakescope.engines import LocalEngine
from fakescope.engines.local import WorkerCrash


def make_square(offset: int):
    def fn(x: int) -> int:
        if x == 3:
            os._exit(1)  # a hard crash of the worker process, as a native library might cause
        if x == 5:
            raise ValueError("bad item 5")
        return x * x + offset

    return fn


def make_plain(offset: int):
    return lambda x: x * x + offset


@pytest.mark.parametrize("workers", [1, 2])
def test_results_for_every_item_any_order(workers):
    got = dict(LocalEngine(workers).map(make_plain, range(8), (1,)))
    assert got == {x: x * x + 1 for x in range(8)}


def test_exceptions_are_yielded_not_raised():
    got = dict(LocalEngine(1).map(make_plain_raising, [1, 2]))
    assert got[1] == 1 and isinstance(got[2], ZeroDivisionError)


def make_plain_raising():
    return lambda x: 1 // (2 - x)


def test_a_crashed_worker_breaks_only_its_item():
    got = dict(LocalEngine(2).map(make_square, range(8), (0,)))
    assert sorted(got) == list(range(8))
    assert isinstance(got[3], WorkerCrash)
    assert isinstance(got[5], ValueError)
    assert all(got[x] == x * x for x in range(8) if x not in (3, 5))
