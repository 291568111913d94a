"""Trial claims in the study's database: workers of several machines (host ids injected with
FAKESCOPE_HOST_ID) share one SQLite URL; a dead machine's claim lock and trials are taken over
through its heartbeat, without any local lock file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fakescope.tune.claims import Registry
from fakescope.tune.runner import TuneJob, open_study
from fakescope.tune.space import load_space
from tests.tune.conftest import SPACE as SPACE_TEMPLATE
from tests.tune.conftest import write_recipe, write_space

pytest.importorskip("optuna")

ROOT = Path(__file__).resolve().parents[2]

SPACE = SPACE_TEMPLATE.format(sampler="random", seed=3)

HOLDER = """\
import sys, time
from fakescope.tune.claims import Registry
reg = Registry(sys.argv[1], "s", heartbeat=float(sys.argv[2]))
with reg.worker() as me, reg.locked(me):
    print(me, flush=True)
    time.sleep(600)
"""


def _start_holder(url: str, host: str, heartbeat: float) -> tuple[subprocess.Popen[str], str]:
    """A process of machine ``host`` that registers, takes the claim lock and hangs."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, str(heartbeat)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "FAKESCOPE_HOST_ID": host},
    )  # fmt: skip
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def test_a_dead_machines_lock_is_taken_over_after_its_heartbeats_stop(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    proc, holder = _start_holder(url, "machine-a", heartbeat=0.2)
    assert holder.startswith("machine-a:")
    other = Registry(url, "s", heartbeat=60, host="machine-b")
    assert other.alive(holder)  # beating: another machine leaves it alone
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # a process of the same machine knows at once that the process is gone ...
    assert not Registry(url, "s", heartbeat=60, host="machine-a").alive(holder)
    # ... another machine only through the heartbeats, which stop (4 x 0.2 s: stale)
    while other.alive(holder):
        time.sleep(0.1)
    with other.worker() as me, other.locked(me):  # the dead holder's lock is taken over
        pass
    other.close()


def test_a_live_holder_keeps_the_lock_and_each_worker_name_is_unique(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    reg = Registry(url, "s", heartbeat=60, host="machine-b")
    with reg.worker() as a, reg.worker() as b:
        assert a != b and a.startswith("machine-b:") and b.startswith("machine-b:")
        assert reg.alive(a) and reg.alive(b) and not reg.alive("machine-b:1:gone")
        import threading

        got = threading.Event()
        with reg.locked(a):

            def take() -> None:
                with reg.locked(b):
                    got.set()

            t = threading.Thread(target=take)
            t.start()
            assert not got.wait(1.0)  # b waits while a, alive, holds the lock
        t.join(30)
        assert got.is_set()
    assert not reg.alive(a)  # a worker that ended is gone from the registry
    reg.close()


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="start times come from /proc")
def test_a_reused_pid_on_the_same_host_is_not_taken_for_the_dead_worker(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    reg = Registry(url, "s", heartbeat=60, host="machine-a")
    with reg.worker() as me:
        token = me.rsplit(":", 1)[1]
        started = token.partition("-")[2]
        assert started.isdigit()  # the worker's name records when its process started
        assert reg.alive(me)
    # a worker that died and whose PID a later process (here: this one) has taken, its
    # heartbeat still fresh: its recorded start time is not the running process's
    pid = os.getpid()
    dead = f"machine-a:{pid}:0123456789ab-{int(started) - 1}"
    reg.beat(dead)
    assert not reg.alive(dead)
    # ... while another host judges it by its heartbeat alone
    assert Registry(url, "s", heartbeat=60, host="machine-b").alive(dead)
    # a claim written before start times were recorded: the PID alone, as before
    old = f"machine-a:{pid}:0123456789ab"
    reg.beat(old)
    assert reg.alive(old)
    reg.close()


WORKER = """\
import pickle, sys, time
from pathlib import Path
from fakescope.tune.runner import work
job = pickle.loads(Path(sys.argv[1]).read_bytes())
Path(sys.argv[2]).touch()
while not Path(sys.argv[3]).exists():
    time.sleep(0.02)
import torch; torch.set_num_threads(1)
work(job, lambda m: print(m, file=sys.stderr, flush=True))
"""


def _machine(job: TuneJob, folder: Path, host: str, go: Path) -> tuple[subprocess.Popen, Path]:
    import pickle

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "job.pkl").write_bytes(pickle.dumps(job))
    ready = folder / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(folder / "job.pkl"), str(ready), str(go)],
        cwd=ROOT, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "FAKESCOPE_HOST_ID": host, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    return proc, ready


@pytest.mark.slow
def test_two_machines_share_one_sqlite_url_without_a_lost_or_extra_trial(tune_data, tmp_path):
    """Two worker processes, as two machines with their own --out folders, start claiming at
    the same moment from one SQLite URL: N trials in all, each run once."""
    recipe = write_recipe(tune_data, tmp_path, epochs=1)
    spec = load_space(write_space(tmp_path, SPACE))
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    jobs = {
        host: TuneJob(
            config=str(recipe),
            spec=spec,
            out=str(tmp_path / host),
            storage=url,
            trials=4,
            sampler="random",
            pruner="none",
            metric="val_loss",
            direction="minimize",
            heartbeat=1.0,
        )
        for host in ("machine-a", "machine-b")
    }
    open_study(jobs["machine-a"], create=True)
    go = tmp_path / "go"
    started = {h: _machine(j, tmp_path / f"{h}-ctl", h, go) for h, j in jobs.items()}
    deadline = time.monotonic() + 180
    while not all(r.is_file() for _, r in started.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    go.touch()  # both machines claim at once
    for proc, _ in started.values():
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    trials = open_study(jobs["machine-a"]).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4  # none extra, none failed
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 4
    hosts = {t.user_attrs["worker"].split(":")[0] for t in trials}
    assert hosts == {"machine-a", "machine-b"}  # both claimed trials of the one study
    for t in trials:  # each trial ran on the machine that claimed it, in its own --out
        assert Path(t.user_attrs["run"]).parent.parent.name == t.user_attrs["worker"][:9]


@pytest.mark.slow
def test_a_killed_machines_trial_is_run_again_by_another_machine(tune_data, tmp_path):
    """Machine A is killed during its trial; machine B (another host id: no process check,
    no shared lock file) gives A's trial up once A's heartbeats stop and runs its values again."""
    recipe = write_recipe(tune_data, tmp_path, epochs=3)
    spec = load_space(write_space(tmp_path, SPACE))
    url = f"sqlite:///{tmp_path / 'shared.db'}"

    def job(host: str) -> TuneJob:
        return TuneJob(config=str(recipe), spec=spec, out=str(tmp_path / host), storage=url,
                       trials=2, sampler="random", pruner="none", metric="val_loss",
                       direction="minimize", heartbeat=0.5)  # fmt: skip

    study = open_study(job("machine-a"), create=True)
    go = tmp_path / "go"
    go.touch()
    proc, _ = _machine(job("machine-a"), tmp_path / "a-ctl", "machine-a", go)
    marker = tmp_path / "machine-a" / "trials" / "trial-0000" / "log.csv"  # epoch 1 done
    deadline = time.monotonic() + 180
    while not marker.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.is_file(), "machine A never finished an epoch"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = study.get_trials()[0]
    assert killed.state.name == "RUNNING"

    proc_b, _ = _machine(job("machine-b"), tmp_path / "b-ctl", "machine-b", go)
    _, err = proc_b.communicate(timeout=600)
    assert proc_b.returncode == 0, err
    trials = study.get_trials()
    states = [(t.state.name, t.user_attrs.get("retry_of")) for t in trials]
    assert sorted(states, key=str) == sorted(
        [("FAIL", None), ("COMPLETE", 0), ("COMPLETE", None)], key=str
    )
    retry = next(t for t in trials if t.user_attrs.get("retry_of") == 0)
    assert retry.params == killed.params  # A's values, run again by B
    assert all(t.user_attrs["worker"].startswith("machine-b:") for t in trials[1:])
    assert "is gone; queued again" in err
