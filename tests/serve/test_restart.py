"""Issue 15 §2, automated: ``kill -9`` of a real server mid-job, a restart, and every queued or
running job completes exactly once, with no upload lost and the same results as a scan."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from fakescope.serve.store import JobStore

from .conftest import ServerProcess

pytestmark = pytest.mark.slow


def _group_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _comparable(result: dict[str, Any]) -> dict[str, Any]:
    """A result less what differs between two scans of one file: its name, the timing."""
    out = {k: v for k, v in result.items() if k not in ("path", "timing")}
    out["video"] = {k: v for k, v in result["video"].items() if k != "path"}
    return out


def test_kill_9_mid_job_then_restart_completes_every_job_once(
    tmp_path: Path, clips: list[Path]
) -> None:
    import httpx

    data = tmp_path / "data"
    server = ServerProcess(data, "--workers", "1", "-q").start()
    try:
        ids = {}
        for clip in clips:
            with open(clip, "rb") as fh:
                r = httpx.post(
                    server.url + "/v1/scans",
                    files={"file": (clip.name, fh, "video/mp4")},
                    data={"frames": "4"},
                    timeout=30,
                )
            assert r.status_code == 202, r.text
            ids[r.json()["id"]] = clip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the first job runs while its worker loads models
            states = [httpx.get(f"{server.url}/v1/scans/{i}").json()["status"] for i in ids]
            if "running" in states:
                break
            time.sleep(0.02)
        os.kill(server.proc.pid, signal.SIGKILL)  # the server alone: its workers must follow
        server.proc.wait(10)
        assert _group_gone(server.proc.pid, 15), "a worker outlived the server"
    finally:
        server.kill_group()

    store = JobStore(f"sqlite:///{data / 'jobs.sqlite'}")
    at_kill = {i: store.get(i) for i in ids}
    running = {i for i, job in at_kill.items() if job and job["status"] == "running"}
    queued = {i for i, job in at_kill.items() if job and job["status"] == "queued"}
    assert running, (
        f"no job was running at the kill: {[j and j['status'] for j in at_kill.values()]}"
    )
    assert running | queued == set(ids)  # all three were still to do

    with ServerProcess(data, "--workers", "1", "-q") as again:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            jobs = {i: httpx.get(f"{again.url}/v1/scans/{i}").json() for i in ids}
            if all(j["status"] in ("done", "failed") for j in jobs.values()):
                break
            time.sleep(0.2)
    for job_id, clip in ids.items():
        row = store.get(job_id)
        assert row is not None and row["status"] == "done", row
        assert row["completions"] == 1  # exactly once
        assert row["attempts"] == (2 if job_id in running else 1)
        sha = hashlib.sha256(clip.read_bytes()).hexdigest()
        assert (data / "uploads" / sha).read_bytes() == clip.read_bytes()  # no upload lost
    store.dispose()

    from fakescope.inference.scan import Scanner

    scanner = Scanner("default", frames=4, device="cpu", cache=tmp_path / "cache")
    for job_id, clip in ids.items():
        (entry,) = jobs[job_id]["results"]
        assert entry["result"]["path"] == entry["result"]["video"]["path"] == clip.name
        assert _comparable(entry["result"]) == _comparable(scanner(clip).to_dict())


def test_a_worker_stuck_past_the_job_timeout_is_replaced_and_its_job_requeued(
    make_settings: Any, clips: list[Path]
) -> None:
    from fastapi.testclient import TestClient

    from fakescope.serve import create_app

    from .conftest import post_video

    # the worker polls once, finds nothing and sleeps for a minute: the test then hands it a
    # job it will never run, as a worker stuck on a bad file would hold one
    settings = make_settings(workers=1, poll_s=60.0, job_timeout_s=0.5)
    app = create_app(settings)
    with TestClient(app) as c:
        pool = app.state.fakescope.pool
        deadline = time.monotonic() + 30
        while c.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        stuck = pool.procs[0].pid
        job_id = post_video(c, clips[0]).json()["id"]
        store = JobStore(settings.database_url)
        claimed = store.claim(worker=stuck)
        assert claimed is not None and claimed["id"] == job_id
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            job = store.get(job_id)
            if job is not None and job["worker"] != stuck and pool.procs[0].pid != stuck:
                break
            time.sleep(0.1)
        assert pool.procs[0].pid != stuck and pool.procs[0].is_alive()  # replaced
        job = store.get(job_id)
        assert job is not None and job["worker"] != stuck and job["attempts"] >= 1
        assert job["status"] in ("queued", "running", "done")  # back in the queue, not lost
        assert c.get("/readyz").status_code == 200
        store.dispose()
