"""A job split into stages that overlap across items: a small pipeline of threads.

``StagedJob(extract, score, report)`` is a per-item function like any other (a process-pool or
Ray worker simply calls it), but ``run_staged`` runs each stage in its own thread with a short
queue between stages, so that stage 1 of video i+1 (decoding and face detection) runs while
stage 2 of video i (the network) does. The native libraries involved (FFmpeg, OpenCV, ONNX
Runtime, PyTorch) release the GIL, so one process keeps several cores busy without loading a
second copy of the model. Results come back in input order; an exception in a stage becomes
that item's result and the item skips the later stages.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

__all__ = ["StagedJob", "run_staged"]

_END = object()


class StagedJob:
    """``job(item) == stages[-1](...stages[1](stages[0](item)))``, overlappable by stage."""

    def __init__(self, *stages: Callable[[Any], Any]) -> None:
        if not stages:
            raise ValueError("a staged job needs at least one stage")
        self.stages = stages

    def __call__(self, item: Any) -> Any:
        value = item
        for stage in self.stages:
            value = stage(value)
        return value


class _Failed:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def run_staged(job: StagedJob, items: Iterable[Any], depth: int = 1) -> Iterator[tuple[Any, Any]]:
    """Yield ``(item, result or exception)`` in input order, every stage in its own thread
    (the last in the caller's); at most ``depth`` items wait between two stages."""
    stages = job.stages
    stop = threading.Event()
    queues: list[queue.Queue[Any]] = [queue.Queue(maxsize=max(1, depth)) for _ in stages[:-1]]

    def put(q: queue.Queue[Any], value: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def apply(stage: Callable[[Any], Any], value: Any) -> Any:
        if isinstance(value, _Failed):
            return value
        try:
            return stage(value)
        except Exception as exc:  # the item's result, not the pipeline's end
            return _Failed(exc)

    def worker(k: int, source: Iterator[tuple[Any, Any]]) -> None:
        try:
            for item, value in source:
                if stop.is_set() or not put(queues[k], (item, apply(stages[k], value))):
                    return
        except Exception as exc:  # the input iterable itself failed: end the pipeline
            put(queues[k], (_END, _Failed(exc)))
            return
        put(queues[k], (_END, None))

    def drain(q: queue.Queue[Any]) -> Iterator[tuple[Any, Any]]:
        while True:
            try:
                item, value = q.get(timeout=0.1)
            except queue.Empty:
                if stop.is_set():
                    return
                continue
            if item is _END:
                if isinstance(value, _Failed):
                    raise value.exc
                return
            yield item, value

    threads = []
    upstream: Iterator[tuple[Any, Any]] = ((item, item) for item in items)
    for k in range(len(stages) - 1):
        t = threading.Thread(
            target=worker, args=(k, upstream), name=f"fakescope-stage-{k}", daemon=True
        )
        threads.append(t)
        upstream = drain(queues[k])
    try:
        for t in threads:
            t.start()
        for item, value in upstream:
            out = apply(stages[-1], value)
            yield item, (out.exc if isinstance(out, _Failed) else out)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)
