"""Who runs which trial: worker lock files, the claim lock, and the recovery of trials whose
worker died (marked FAIL, their parameters queued again with Optuna's ``enqueue_trial``)."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["counts", "identity", "locked", "recover", "trial_state"]


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def identity(out: Path) -> Iterator[str]:
    """This worker's id (host:token), with its lock file held while it lives."""
    import fcntl

    token = f"{os.getpid()}-{time.time_ns()}"
    path = out / "workers" / f"{token}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "w")  # noqa: SIM115 - held open on purpose
    fcntl.flock(fh, fcntl.LOCK_EX)
    try:
        yield f"{socket.gethostname()}:{token}"
    finally:
        fh.close()
        path.unlink(missing_ok=True)


def _alive(out: Path, worker: str) -> bool:
    """Whether the worker that started a trial still runs (always True for another machine's
    worker: its trials are left alone)."""
    import fcntl

    host, _, token = worker.partition(":")
    if host != socket.gethostname():
        return True
    path = out / "workers" / f"{token}.lock"
    if not path.is_file():
        return False
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    path.unlink(missing_ok=True)
    return False


def trial_state(name: str) -> Any:
    from optuna.trial import TrialState

    return TrialState[name]


def recover(study: Any, out: Path, say: Callable[[str], None] | None = None) -> list[int]:
    """Fail the RUNNING trials of dead local workers and queue their parameters again;
    returns the numbers of the trials requeued."""
    running = study.get_trials(deepcopy=False, states=(trial_state("RUNNING"),))
    requeued = []
    for t in running:
        worker = t.user_attrs.get("worker")
        if not worker or _alive(out, worker):
            continue
        study.tell(t.number, state=trial_state("FAIL"), skip_if_finished=True)
        study.enqueue_trial(dict(t.params), user_attrs={"retry_of": t.number})
        requeued.append(t.number)
        if say:
            say(f"trial {t.number}: its worker died; queued again with the same parameters")
    return requeued


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
