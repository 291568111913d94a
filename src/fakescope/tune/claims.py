"""Who runs which trial, kept in the study's own database so that workers on several machines
can share one study through one URL.

- Every worker (a ``--workers`` process, a Ray task, the command itself while it recovers)
  registers in ``fakescope_tune_workers`` as ``HOST:PID:TOKEN`` and writes a heartbeat there
  (the database's clock, so machines' clocks never meet) every ``heartbeat`` seconds while it
  lives. ``HOST`` is ``$FAKESCOPE_HOST_ID`` or the host name.
- A trial is claimed under a lock row in ``fakescope_tune_lock`` (one per study): the budget
  check and Optuna's ``ask`` happen under it, so workers never start more than N trials between
  them. A lock whose holder is dead is taken over.
- A worker is dead when its row is gone, when its heartbeat is older than ``4 × heartbeat``,
  or (without waiting) when it ran on this host and its process no longer exists: no process
  with its PID, or (where ``/proc`` tells, the TOKEN then ends in ``-START``) a process that
  started at another time than the worker's, i.e. a later one reusing the PID. The RUNNING
  trials of dead workers are marked FAIL and their parameters queued again with Optuna's
  ``enqueue_trial`` (``retry_of``), under the lock, so each is retried exactly once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["HOST_ENV", "Registry", "counts", "host_id", "trial_state"]

log = logging.getLogger(__name__)

HOST_ENV = "FAKESCOPE_HOST_ID"
STALE_BEATS = 4  # missed heartbeats after which a worker is dead
LOCK_TIMEOUT = 600.0  # seconds: a claim lock held longer is taken over (a claim takes < 1 s)


def host_id() -> str:
    """This machine's id in worker names: ``$FAKESCOPE_HOST_ID``, else the host name (set the
    variable where several machines or containers share a host name)."""
    return os.environ.get(HOST_ENV) or socket.gethostname()


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks after boot: field 22 of ``/proc/PID/stat``),
    or None where there is no such file (no ``/proc``, or no such process)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 1 :].split()  # the name in (...) may hold spaces
    return fields[19].decode() if len(fields) > 19 and fields[19].isdigit() else None


def _process_runs(pid: int, token: str) -> bool:
    """Whether the process of a worker of this host still runs: ``pid`` exists and, when the
    worker's ``token`` recorded its start time (``HEX-START``), started then; a token without
    one (a claim written before start times were recorded, or where ``/proc`` is missing)
    is judged by the PID alone."""
    if not _pid_exists(pid):
        return False
    started = token.partition("-")[2]
    if not started.isdigit():
        return True
    now = _start_time(pid)
    return now is None or now == started


def _naive(value: Any) -> dt.datetime:
    """A database timestamp as a naive UTC datetime (SQLite gives naive, PostgreSQL aware)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


class Registry:
    """The workers and the claim lock of one study, in tables of the study's database."""

    def __init__(self, url: str, study: str, heartbeat: float = 15.0, host: str | None = None):
        import sqlalchemy as sa

        self.study = study
        self.heartbeat = float(heartbeat)
        self.host = host or host_id()
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs = {"connect_args": {"timeout": 300}}
        self._engine = sa.create_engine(url, **kwargs)
        meta = sa.MetaData()
        self._workers = sa.Table(
            "fakescope_tune_workers", meta,
            sa.Column("study", sa.String(512), primary_key=True),
            sa.Column("worker", sa.String(512), primary_key=True),
            sa.Column("beat", sa.DateTime, nullable=False),
            sa.Column("every", sa.Float, nullable=False),  # its heartbeat interval, seconds
        )  # fmt: skip
        self._lock = sa.Table(
            "fakescope_tune_lock", meta,
            sa.Column("study", sa.String(512), primary_key=True),
            sa.Column("holder", sa.String(512), nullable=False),
            sa.Column("since", sa.DateTime, nullable=False),
        )  # fmt: skip
        for attempt in range(5):  # several workers may create the tables at once
            try:
                meta.create_all(self._engine)
                break
            except sa.exc.OperationalError:
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def close(self) -> None:
        self._engine.dispose()

    # ── workers ──────────────────────────────────────────────────────────────

    def _now(self, conn: Any) -> dt.datetime:
        import sqlalchemy as sa

        return _naive(conn.execute(sa.select(sa.func.now(type_=sa.DateTime))).scalar_one())

    def beat(self, worker: str) -> None:
        """Write the worker's heartbeat (registering it again if a peer had given it up)."""
        import sqlalchemy as sa

        w = self._workers
        with self._engine.begin() as conn:
            mine = (w.c.study == self.study) & (w.c.worker == worker)
            done = conn.execute(sa.update(w).where(mine).values(beat=sa.func.now()))
            if not done.rowcount:
                conn.execute(
                    sa.insert(w).values(
                        study=self.study, worker=worker, beat=sa.func.now(), every=self.heartbeat
                    )
                )

    def _forget(self, worker: str) -> None:
        import sqlalchemy as sa

        w = self._workers
        with self._engine.begin() as conn:
            conn.execute(sa.delete(w).where((w.c.study == self.study) & (w.c.worker == worker)))

    @contextlib.contextmanager
    def worker(self) -> Iterator[str]:
        """Register a worker (``HOST:PID:TOKEN``) and keep its heartbeat going while it lives.
        TOKEN is random, with ``-START`` (the process's start time) appended where known."""
        started = _start_time(os.getpid())
        token = uuid.uuid4().hex[:12] + (f"-{started}" if started else "")
        name = f"{self.host}:{os.getpid()}:{token}"
        self.beat(name)
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(self.heartbeat):
                try:
                    self.beat(name)
                except Exception as exc:  # a busy database: the next beat tries again
                    log.debug("heartbeat of %s: %s", name, exc)

        thread = threading.Thread(target=loop, name="tune-heartbeat", daemon=True)
        thread.start()
        try:
            yield name
        finally:
            stop.set()
            thread.join()
            self._forget(name)

    def alive(self, worker: str | None) -> bool:
        """Whether a worker still runs: registered, heartbeat fresh (at most 4 of its own
        intervals old), and, on this host, its process still there (not a later process
        reusing its PID, where its name records its start time)."""
        import sqlalchemy as sa

        if not worker:
            return False
        parts = worker.rsplit(":", 2)
        here = len(parts) == 3 and parts[0] == self.host and parts[1].isdigit()
        if here and not _process_runs(int(parts[1]), parts[2]):
            return False
        w = self._workers
        with self._engine.connect() as conn:
            now = self._now(conn)
            row = conn.execute(
                sa.select(w.c.beat, w.c.every).where(
                    (w.c.study == self.study) & (w.c.worker == worker)
                )
            ).first()
        if row is None:
            return False
        # + 1 s: SQLite's clock has whole seconds
        return (now - _naive(row.beat)).total_seconds() <= STALE_BEATS * row.every + 1.0

    # ── the claim lock ───────────────────────────────────────────────────────

    @contextlib.contextmanager
    def locked(self, worker: str) -> Iterator[None]:
        """Hold the study's claim lock (a row in the database); a dead holder's lock is taken
        over, and so is one held for longer than ``LOCK_TIMEOUT``."""
        import sqlalchemy as sa

        lk = self._lock
        while True:
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        sa.insert(lk).values(study=self.study, holder=worker, since=sa.func.now())
                    )
                break
            except sa.exc.IntegrityError:
                pass
            with self._engine.connect() as conn:
                row = conn.execute(
                    sa.select(lk.c.holder, lk.c.since).where(lk.c.study == self.study)
                ).first()
                now = self._now(conn)
            if row is None:
                continue
            held = (now - _naive(row.since)).total_seconds()
            if not self.alive(row.holder) or held > LOCK_TIMEOUT:
                log.info("tune: taking over the claim lock of %s (gone)", row.holder)
                with self._engine.begin() as conn:
                    conn.execute(
                        sa.delete(lk).where(
                            (lk.c.study == self.study) & (lk.c.holder == row.holder)
                        )
                    )
                continue
            time.sleep(random.uniform(0.02, 0.2))
        try:
            yield
        finally:
            with self._engine.begin() as conn:
                conn.execute(
                    sa.delete(lk).where((lk.c.study == self.study) & (lk.c.holder == worker))
                )

    # ── recovery ─────────────────────────────────────────────────────────────

    def recover(self, study: Any, say: Callable[[str], None] | None = None) -> list[int]:
        """Fail the RUNNING trials of dead workers (any machine) and queue their parameters
        again; call it holding the claim lock. Returns the numbers of the trials requeued."""
        running = study.get_trials(deepcopy=False, states=(trial_state("RUNNING"),))
        requeued = []
        verdict: dict[str, bool] = {}
        for t in running:
            worker = t.user_attrs.get("worker")
            key = worker or ""
            if key not in verdict:
                verdict[key] = self.alive(worker)
            if verdict[key]:
                continue
            try:  # RUNNING -> FAIL only if still RUNNING: a trial that ended meanwhile stays
                study.tell(t.number, state=trial_state("FAIL"))
            except (ValueError, RuntimeError):  # finished already (UpdateFinishedTrialError)
                continue
            study.enqueue_trial(dict(t.params), user_attrs={"retry_of": t.number})
            requeued.append(t.number)
            if say:
                say(
                    f"trial {t.number}: its worker {worker or '?'} is gone; "
                    "queued again with the same parameters"
                )
        for worker, ok in verdict.items():
            if worker and not ok:
                self._forget(worker)
        return requeued


def trial_state(name: str) -> Any:
    from optuna.trial import TrialState

    return TrialState[name]


def counts(study: Any) -> dict[str, int]:
    """Trials by state; ``counted`` = the ones that use up the budget of N (a FAIL replaced by
    a retry does not)."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    out = {s: 0 for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING", "REQUEUED")}
    for t in trials:
        if t.state.name == "FAIL" and t.number in retried:
            out["REQUEUED"] += 1
        else:
            out[t.state.name] = out.get(t.state.name, 0) + 1
    out["counted"] = sum(out[s] for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"))
    out["finished"] = out["COMPLETE"] + out["PRUNED"] + out["FAIL"]
    return out
