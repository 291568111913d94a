"""Run a function over many items in this process or a local process pool.

Results come back as they finish. A worker process that dies (a crash inside a native
library) fails only the item that killed it: the pool is rebuilt, the items that were running
beside it are re-run one at a time, and the rest go on.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from .staged import StagedJob, run_staged

__all__ = ["LocalEngine", "WorkerCrash", "map_items"]

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

_state: dict[str, Any] = {}


class WorkerCrash(RuntimeError):
    """The worker process running an item died."""


def _init_worker(factory: Callable[..., Callable[[Any], Any]], args: tuple[Any, ...]) -> None:
    _state["fn"] = factory(*args)


def _call(item: Any) -> Any:
    return _state["fn"](item)


def run_chunk(fn: Callable[[Any], Any], items: list[Any]) -> list[tuple[bool, Any]]:
    """``fn`` over a chunk of items; per item (ok, result or exception): one failure does not
    sink the rest of the chunk."""
    out: list[tuple[bool, Any]] = []
    if isinstance(fn, StagedJob) and len(items) > 1:  # overlap the stages across the chunk
        return [(not isinstance(v, BaseException), v) for _item, v in run_staged(fn, items)]
    for item in items:
        try:
            out.append((True, fn(item)))
        except Exception as exc:
            out.append((False, exc))
    return out


class _ChunkFactory:
    """Builds the per-worker function for chunks of items (picklable for spawned workers)."""

    def __init__(self, factory: Callable[..., Callable[[Any], Any]]) -> None:
        self.factory = factory

    def __call__(self, *args: Any) -> Callable[[list[Any]], list[tuple[bool, Any]]]:
        fn = self.factory(*args)

        return lambda items: run_chunk(fn, items)


class LocalEngine:
    """``workers=1`` runs in this process; more uses a process pool (spawned workers).

    The function is built in each worker by ``factory(*args)`` (so that heavy objects such as
    models are created once per process and never pickled).
    """

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers = workers

    def map(
        self,
        factory: Callable[..., Callable[[T], R]],
        items: Iterable[T],
        args: tuple[Any, ...] = (),
        chunk: int = 1,
    ) -> Iterator[tuple[T, R | BaseException]]:
        """Yield ``(item, result)`` in completion order; an exception is yielded, not raised.

        ``chunk`` items travel to a worker together (use more than 1 for short jobs).
        """
        todo = list(items)
        if self.workers == 1 or len(todo) <= 1:
            fn = factory(*args)
            if isinstance(fn, StagedJob) and len(todo) > 1:
                yield from run_staged(fn, todo)  # stages overlap across items, one process
                return
            for item in todo:
                try:
                    yield item, fn(item)
                except Exception as exc:  # the function should catch its own; last resort
                    yield item, exc
            return
        if chunk > 1:
            yield from self._chunked(factory, todo, args, chunk)
            return
        yield from self._pool_map(factory, todo, args)

    def _chunked(
        self,
        factory: Callable[..., Callable[[T], R]],
        todo: list[T],
        args: tuple[Any, ...],
        chunk: int,
    ) -> Iterator[tuple[T, R | BaseException]]:
        chunks = [todo[i : i + chunk] for i in range(0, len(todo), chunk)]
        for items, result in self._pool_map(_ChunkFactory(factory), chunks, args):
            if isinstance(result, BaseException):  # the worker died inside this chunk
                for item in items:  # run them one at a time to find the culprit
                    yield from self._pool_map(factory, [item], args)
                continue
            for item, (_ok, value) in zip(items, result):
                yield item, value

    def _pool_map(
        self, factory: Callable[..., Callable[[T], R]], todo: list[T], args: tuple[Any, ...]
    ) -> Iterator[tuple[T, R | BaseException]]:
        queue = list(todo)
        # items that were running when a worker died: re-run one at a time, so that a crash
        # is blamed on the item that caused it and not on its neighbours
        suspects: list[T] = []
        ctx = mp.get_context("spawn")
        while queue or suspects:
            with ProcessPoolExecutor(
                self.workers, mp_context=ctx, initializer=_init_worker, initargs=(factory, args)
            ) as pool:
                running: dict[Future[Any], tuple[T, bool]] = {}
                broken = False
                while (queue or suspects or running) and not broken:
                    if suspects:
                        if not running:
                            item = suspects.pop(0)
                            running[pool.submit(_call, item)] = (item, True)
                    else:
                        while queue and len(running) < self.workers * 2:
                            item = queue.pop(0)
                            running[pool.submit(_call, item)] = (item, False)
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in done:
                        item, alone = running.pop(fut)
                        try:
                            yield item, fut.result()
                        except BrokenProcessPool:
                            broken = True
                            if alone:
                                yield item, WorkerCrash(f"{item}: the worker process crashed")
                            else:
                                suspects.append(item)
                        except Exception as exc:
                            yield item, exc
                if broken:
                    suspects.extend(item for item, _ in running.values())
                    log.warning("a worker process crashed; re-running its items one at a time")


def map_items(
    factory: Callable[..., Callable[[T], R]],
    items: Iterable[T],
    args: tuple[Any, ...] = (),
    workers: int = 1,
    chunk: int = 1,
) -> Iterator[tuple[T, R | BaseException]]:
    return LocalEngine(workers).map(factory, items, args, chunk)
