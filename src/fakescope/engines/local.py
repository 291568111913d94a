"""Run a function over many items in this process or a local process pool.

Results come back as they finish. A worker process that dies (a crash inside a native
library) breaks only the items it was running: the pool is rebuilt and the rest go on.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

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


class LocalEngine:
    """``workers=1`` runs in this process; more uses a process pool (spawned workers).

    The function is built in each worker by ``factory(*args)`` (so that heavy objects such as
    models are created once per process and never pickled).
    """

    name = "local"

    def __init__(self, workers: int = 1, max_retries: int = 1) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers = workers
        self.max_retries = max_retries

    def map(
        self,
        factory: Callable[..., Callable[[T], R]],
        items: Iterable[T],
        args: tuple[Any, ...] = (),
    ) -> Iterator[tuple[T, R | BaseException]]:
        """Yield ``(item, result)`` in completion order; an exception is yielded, not raised."""
        todo = list(items)
        if self.workers == 1 or len(todo) <= 1:
            fn = factory(*args)
            for item in todo:
                try:
                    yield item, fn(item)
                except Exception as exc:  # the function should catch its own; last resort
                    yield item, exc
            return
        yield from self._pool_map(factory, todo, args)

    def _pool_map(
        self, factory: Callable[..., Callable[[T], R]], todo: list[T], args: tuple[Any, ...]
    ) -> Iterator[tuple[T, R | BaseException]]:
        crashes: dict[int, int] = {}
        queue = list(enumerate(todo))
        ctx = mp.get_context("spawn")
        while queue:
            with ProcessPoolExecutor(
                self.workers, mp_context=ctx, initializer=_init_worker, initargs=(factory, args)
            ) as pool:
                running: dict[Future[Any], tuple[int, T]] = {}
                broken = False
                while (queue or running) and not broken:
                    while queue and len(running) < self.workers * 2:
                        i, item = queue.pop(0)
                        running[pool.submit(_call, item)] = (i, item)
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in done:
                        i, item = running.pop(fut)
                        try:
                            yield item, fut.result()
                        except BrokenProcessPool:
                            broken = True
                            crashes[i] = crashes.get(i, 0) + 1
                            if crashes[i] > self.max_retries:
                                yield item, WorkerCrash(f"{item}: the worker process crashed")
                            else:
                                queue.insert(0, (i, item))
                        except Exception as exc:
                            yield item, exc
                if broken:
                    # every item still running shared the broken pool: run them again
                    for i, item in running.values():
                        crashes[i] = crashes.get(i, 0) + 1
                        if crashes[i] > self.max_retries:
                            yield item, WorkerCrash(f"{item}: the worker process crashed")
                        else:
                            queue.insert(0, (i, item))
                    log.warning("a worker process crashed; restarting the pool")


def map_items(
    factory: Callable[..., Callable[[T], R]],
    items: Iterable[T],
    args: tuple[Any, ...] = (),
    workers: int = 1,
) -> Iterator[tuple[T, R | BaseException]]:
    return LocalEngine(workers).map(factory, items, args)
