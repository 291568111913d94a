"""Run a function over many items on a Ray cluster (or a local Ray instance).

Same contract as ``LocalEngine.map``: the function is built once per worker by
``factory(*args)``, results come back as ``(item, result)`` in completion order, and an
exception inside the function is yielded for its item, not raised. Workers are Ray actors,
one per CPU (or ``workers``), so models and detectors are created once per worker.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from ..errors import MissingDependencyError
from .local import WorkerCrash, run_chunk

__all__ = ["RayEngine"]

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("ray", "ray", "--engine ray") from None
    return ray


class RayEngine:
    """``address``: a Ray cluster (``ray://host:10001`` or ``auto``); None starts a local one."""

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        self.workers = workers
        self.address = address
        self._ray = _import_ray()

    def start(self) -> Any:
        """Connect to the cluster (or start a local Ray with ``workers`` CPUs); returns ``ray``
        for callers that submit their own tasks."""
        self._init()
        return self._ray

    def _init(self) -> None:
        ray = self._ray
        if ray.is_initialized():
            return
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if self.address:
            kwargs["address"] = self.address
        else:
            kwargs["num_cpus"] = self.workers or os.cpu_count() or 1
        ray.init(**kwargs)

    def map(
        self,
        factory: Callable[..., Callable[[T], R]],
        items: Iterable[T],
        args: tuple[Any, ...] = (),
        chunk: int = 1,
    ) -> Iterator[tuple[T, R | BaseException]]:
        """Same contract as ``LocalEngine.map``; ``chunk`` items go to an actor per call."""
        ray = self._ray
        todo = list(items)
        if not todo:
            return
        self._init()

        @ray.remote(num_cpus=1, max_restarts=1)
        class Worker:
            def __init__(self) -> None:
                self.fn = factory(*args)

            def run(self, index: int, items: list[Any]) -> tuple[int, list[Any]]:
                return index, [value for _ok, value in run_chunk(self.fn, items)]

        chunks = [todo[i : i + max(1, chunk)] for i in range(0, len(todo), max(1, chunk))]
        n = self.workers or int(ray.cluster_resources().get("CPU", 1))
        n = max(1, min(n, len(chunks)))
        actors = [Worker.remote() for _ in range(n)]  # type: ignore[attr-defined]
        pending: dict[Any, tuple[int, Any]] = {}
        queue = list(enumerate(chunks))
        idle = list(actors)
        try:
            while queue or pending:
                while queue and idle:
                    actor = idle.pop()
                    i, item = queue.pop(0)
                    pending[actor.run.remote(i, item)] = (i, actor)
                ready, _ = ray.wait(list(pending), num_returns=1)
                ref = ready[0]
                i, actor = pending.pop(ref)
                results: list[Any]
                try:
                    _, results = ray.get(ref)
                except ray.exceptions.RayActorError:
                    results = [
                        WorkerCrash(f"{item}: the worker process crashed") for item in chunks[i]
                    ]
                    actor = Worker.remote()  # type: ignore[attr-defined]
                    actors.append(actor)
                except ray.exceptions.RayError as exc:
                    results = [exc] * len(chunks[i])
                idle.append(actor)
                yield from zip(chunks[i], results)
        finally:
            for actor in actors:
                ray.kill(actor)
