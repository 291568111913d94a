"""The staged pipeline: order, per-item failures, real overlap between stages, early stop."""

import threading

import pytest

from fakescope.engines import LocalEngine, StagedJob, run_staged
from fakescope.engines.local import run_chunk


def test_results_in_input_order_and_equal_to_the_plain_call():
    job = StagedJob(lambda x: x + 1, lambda x: x * 10, str)
    items = list(range(20))
    out = list(run_staged(job, items))
    assert [i for i, _ in out] == items
    assert [r for _, r in out] == [job(i) for i in items] == [str((i + 1) * 10) for i in items]


def test_a_failing_stage_fails_only_its_item_and_skips_later_stages():
    seen = []

    def first(x: int) -> int:
        if x == 2:
            raise ValueError(f"bad item {x}")
        return x

    def second(x: int) -> int:
        seen.append(x)
        return -x

    out = dict(run_staged(StagedJob(first, second), range(5)))
    assert isinstance(out[2], ValueError) and "bad item 2" in str(out[2])
    assert [out[i] for i in (0, 1, 3, 4)] == [0, -1, -3, -4]
    assert 2 not in seen


def test_stage_one_of_the_next_item_runs_while_stage_two_of_this_one_does():
    # stage 2 of item 0 waits until stage 1 has started item 1: without overlap it would wait
    # forever (bounded by the timeout, then the assertion fails)
    started = {i: threading.Event() for i in range(3)}
    overlapped = []

    def first(x: int) -> int:
        started[x].set()
        return x

    def second(x: int) -> int:
        if x + 1 in started:
            overlapped.append(started[x + 1].wait(timeout=10))
        return x

    assert [r for _, r in run_staged(StagedJob(first, second), range(3))] == [0, 1, 2]
    assert overlapped == [True, True]


def test_closing_the_generator_early_stops_the_threads():
    job = StagedJob(lambda x: x, lambda x: x)
    gen = run_staged(job, iter(range(10_000)))
    assert next(gen) == (0, 0)
    gen.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("fakescope-stage")]


def test_an_input_iterable_that_fails_ends_the_pipeline_with_its_error():
    def items():
        yield 1
        raise OSError("listing failed")

    gen = run_staged(StagedJob(lambda x: x, lambda x: x), items())
    assert next(gen) == (1, 1)
    with pytest.raises(OSError, match="listing failed"):
        next(gen)


def _factory(offset: int) -> StagedJob:
    def check(x: int) -> int:
        if x < 0:
            raise ValueError("negative")
        return x

    return StagedJob(check, lambda x: x + offset)


def test_engines_and_chunks_run_a_staged_job_like_any_job():
    items = [3, -1, 5]
    one = dict(LocalEngine(1).map(_factory, items, (100,)))
    assert one[3] == 103 and one[5] == 105 and isinstance(one[-1], ValueError)
    pool = dict(LocalEngine(2).map(_factory, items, (100,), chunk=2))
    assert pool[3] == 103 and pool[5] == 105 and isinstance(pool[-1], ValueError)
    chunk = run_chunk(_factory(1), items)
    assert [ok for ok, _ in chunk] == [True, False, True] and chunk[2][1] == 6


def test_a_job_needs_a_stage():
    with pytest.raises(ValueError):
        StagedJob()
