"""Scan jobs in K worker processes; each keeps one loaded ``Scanner`` per detector.

Workers poll the job store and claim jobs atomically (``JobStore.claim``), so the pool needs
no queue of its own and a restart loses nothing: the store is the queue. Results are written
atomically before the job is marked done in one transaction; a crash in between only makes
the job run again, and it still completes once.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any

from .settings import ServeSettings
from .store import JobStore

__all__ = [
    "Runner",
    "WorkerPool",
    "cleanup",
    "remove_job",
    "run_once",
    "upload_cache",
    "worker_main",
]

log = logging.getLogger("fakescope.serve")
STALE_PARTIAL_S = 3600.0


def upload_cache(settings: ServeSettings, sha256: str) -> Path:
    """The crop cache of one upload: the faces found in it, removed with it."""
    return settings.cache / sha256


# loaded scanners of this process, by (detector, frames, device): a worker keeps its detectors,
# the most recently used few of them (each option a client may send must not cost memory)
_SCANNERS: OrderedDict[tuple[str, int | None, str], Any] = OrderedDict()
MAX_SCANNERS = 4


class Runner:
    """Runs jobs in one process, keeping the scanners it has loaded."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings

    def scanner(self, detector_id: str, frames: int | None) -> Any:
        from ..inference.scan import Scanner
        from .catalog import resolve

        model = resolve(self.settings, detector_id)
        key = (model, frames, self.settings.device)
        if key in _SCANNERS:
            _SCANNERS.move_to_end(key)
        else:
            _SCANNERS[key] = Scanner(
                model, frames=frames, device=self.settings.device, cache=self.settings.cache
            )
            while len(_SCANNERS) > MAX_SCANNERS:
                _SCANNERS.popitem(last=False)
        return _SCANNERS[key]

    def run(self, store: JobStore, job: dict[str, Any]) -> bool:
        """Scan ``job`` (claimed) and mark it done or failed; False when the claim was lost."""
        from .._atomic import atomic_write_json
        from ..cache import CropCache

        job_id, claim, options = job["id"], job["claim"], job["options"]
        upload = self.settings.uploads / job["sha256"]
        out = self.settings.results / job_id
        if not upload.is_file():
            return store.fail(job_id, claim, "the uploaded file is missing from the data folder")
        detectors: list[str] = options["detectors"]
        entries = []
        try:
            for i, detector_id in enumerate(detectors):
                scanner = self.scanner(detector_id, options.get("frames"))
                # crops of an upload live beside nothing else's: removing the upload removes them
                scanner.extractor.cache = CropCache(upload_cache(self.settings, job["sha256"]))
                extracted = scanner.extract(upload)
                if not store.set_progress(job_id, claim, (i + 0.5) / len(detectors)):
                    return self._lost(store, job)
                result = _as_uploaded(scanner.finish(extracted), upload, job["filename"])
                row = result.to_dict()
                entry: dict[str, Any] = {"detector": detector_id, "result": row}
                if options.get("report"):
                    from ..reporting import write_report

                    name = f"report-{i}.html"
                    write_report(result, out / name, scanner.detector)
                    entry["report"] = name
                entries.append(entry)
                if not store.set_progress(job_id, claim, (i + 1) / len(detectors)):
                    return self._lost(store, job)
            path = out / "results.json"
            atomic_write_json(path, {"id": job_id, "results": entries})
        except Exception as exc:
            log.exception("job %s failed", job_id)
            error = " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
            return store.fail(job_id, claim, error)
        if store.complete(job_id, claim, str(path.relative_to(self.settings.data))):
            return True
        return self._lost(store, job)

    def _lost(self, store: JobStore, job: dict[str, Any]) -> bool:
        """The claim is gone (the job was deleted or re-queued): a deleted job leaves nothing
        behind, neither its results nor the crops this run wrote. Returns False."""
        if store.get(job["id"]) is None:
            shutil.rmtree(self.settings.results / job["id"], ignore_errors=True)
            if store.references(job["sha256"]) == 0:
                shutil.rmtree(upload_cache(self.settings, job["sha256"]), ignore_errors=True)
        return False


def _as_uploaded(result: Any, upload: Path, filename: str) -> Any:
    """The result as the client sees it: its file's name, never a path on the server."""
    error = result.error.replace(str(upload), filename) if result.error else result.error
    video = {**result.video, "path": filename} if "path" in result.video else result.video
    return replace(result, path=filename, video=video, error=error)


def run_once(store: JobStore, runner: Runner, worker: int | None = None) -> bool:
    """Claim and run one queued job; False when the queue was empty."""
    job = store.claim(os.getpid() if worker is None else worker)
    if job is None:
        return False
    runner.run(store, job)
    return True


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (a ``kill -9`` of the server)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the parent check in the loop remains
        pass


def worker_main(settings: ServeSettings, stop: Any, parent: int) -> None:
    """A worker process: claim, scan, repeat, until ``stop.value`` is set or the server is
    gone. ``stop`` is a lock-free shared flag: a worker killed while it waits (a timeout, the
    OOM killer) cannot leave a lock or a condition behind that would hang the server's stop."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when workers stop
    if os.getppid() != parent:
        return
    store = JobStore(settings.database_url)
    runner = Runner(settings)
    while not stop.value and os.getppid() == parent:
        try:
            busy = run_once(store, runner)
        except Exception:  # the database went away for a moment: try again
            log.exception("worker %d", os.getpid())
            busy = False
        idle_until = time.monotonic() + (0 if busy else settings.poll_s)
        while not stop.value and time.monotonic() < idle_until:
            time.sleep(min(0.1, settings.poll_s))
    store.dispose()


class WorkerPool:
    """K worker processes (spawned), restarted when one dies; its job goes back in the queue."""

    def __init__(self, settings: ServeSettings, store: JobStore) -> None:
        import multiprocessing as mp

        self.settings = settings
        self.store = store
        self.ctx = mp.get_context("spawn")
        self.stop_flag = self.ctx.RawValue("b", 0)
        self.procs: list[Any] = []
        self.lock = threading.Lock()

    def _spawn(self) -> Any:
        proc = self.ctx.Process(
            target=worker_main,
            args=(self.settings, self.stop_flag, os.getpid()),
            name="fakescope-worker",
            daemon=True,
        )
        proc.start()
        return proc

    def start(self) -> None:
        with self.lock:
            self.procs = [self._spawn() for _ in range(self.settings.workers)]

    def alive(self) -> int:
        return sum(p.is_alive() for p in self.procs)

    def supervise(self) -> None:
        """Stop workers stuck on a job past ``job_timeout_s``; replace dead workers and
        re-queue the job a dead worker held (it fails after ``max_attempts``)."""
        with self.lock:
            if self.stop_flag.value:
                return
            if self.settings.job_timeout_s > 0:
                stuck = set(self.store.running_since(time.time() - self.settings.job_timeout_s))
                for proc in self.procs:
                    if proc.pid in stuck and proc.is_alive():
                        log.warning(
                            "worker %s: job past %g s, stopped",
                            proc.pid,
                            self.settings.job_timeout_s,
                        )
                        proc.kill()
                        proc.join(5)
            for i, proc in enumerate(self.procs):
                if not proc.is_alive():
                    n = self.store.requeue_running(self.settings.max_attempts, worker=proc.pid)
                    log.warning(
                        "worker %s exited (%s); %d job(s) re-queued", proc.pid, proc.exitcode, n
                    )
                    self.procs[i] = self._spawn()

    def stop(self, timeout: float = 10.0) -> None:
        with self.lock:
            self.stop_flag.value = 1
            deadline = time.monotonic() + timeout
            for proc in self.procs:
                proc.join(max(0.0, deadline - time.monotonic()))
            for proc in self.procs:
                if proc.is_alive():
                    proc.kill()
                    proc.join(5)
            # a job cut short goes back in the queue now rather than at the next start
            self.store.requeue_running(self.settings.max_attempts + 1)


def remove_job(store: JobStore, settings: ServeSettings, job_id: str) -> bool:
    """Remove a job, its results and its upload (unless another job uses the same file)."""
    job = store.delete(job_id)
    if job is None:
        return False
    shutil.rmtree(settings.results / job_id, ignore_errors=True)
    if store.references(job["sha256"]) == 0:
        _remove_upload(settings, job["sha256"])
    return True


def _remove_upload(settings: ServeSettings, sha256: str) -> None:
    (settings.uploads / sha256).unlink(missing_ok=True)
    shutil.rmtree(upload_cache(settings, sha256), ignore_errors=True)


def cleanup(
    store: JobStore, settings: ServeSettings, now: float | None = None, startup: bool = False
) -> dict[str, int]:
    """Retention: remove finished jobs older than ``retention_s`` with their files, results of
    jobs that no longer exist, uploads no job uses and stale partial uploads (all of them at
    ``startup``: no request is in flight then)."""
    now = time.time() if now is None else now
    counts = {"jobs": 0, "results": 0, "uploads": 0, "partial": 0}
    if settings.retention_s > 0:
        for job in store.finished_before(now - settings.retention_s):
            counts["jobs"] += remove_job(store, settings, job["id"])
    grace = 0.0 if startup else STALE_PARTIAL_S
    if settings.results.is_dir():
        for sub in settings.results.iterdir():
            if store.get(sub.name) is None and _age(sub, now) > grace:
                shutil.rmtree(sub, ignore_errors=True)
                counts["results"] += 1
    if settings.partial.is_dir():
        for part in settings.partial.iterdir():
            if _age(part, now) > grace:
                part.unlink(missing_ok=True)
                counts["partial"] += 1
    used = store.shas()
    if settings.uploads.is_dir():
        for upload in settings.uploads.iterdir():
            if upload.is_file() and upload.name not in used and _age(upload, now) > grace:
                _remove_upload(settings, upload.name)
                counts["uploads"] += 1
    if settings.cache.is_dir():
        for sub in settings.cache.iterdir():
            orphan = sub.name not in used and not (settings.uploads / sub.name).exists()
            if orphan and _age(sub, now) > grace:
                shutil.rmtree(sub, ignore_errors=True)
    return counts


def _age(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except OSError:
        return 0.0
