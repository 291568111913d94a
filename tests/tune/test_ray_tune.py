"""``fakescope tune --engine ray``: one trial per Ray task on a local Ray (2 CPUs), against the
shared study; pruning, recovery of a dead worker's trial and resume after a kill still hold."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fakescope.cli.main import main
from fakescope.tune.runner import TuneJob, open_study
from fakescope.tune.space import load_space
from tests.tune.conftest import SPACE as SPACE_TEMPLATE
from tests.tune.conftest import pruning_setup, read_rows, row_params, write_recipe, write_space

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

SPACE = SPACE_TEMPLATE.format(sampler="random", seed=5)


@pytest.fixture(scope="module")
def ray_tmp():
    """One local Ray (2 CPUs) for the module, in a short temp dir (socket paths)."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("optuna")
    import shutil
    import tempfile

    tmp = tempfile.mkdtemp(prefix="fsray", dir="/tmp")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=tmp)
    yield tmp
    ray.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)


def test_ray_trials_are_pruned_and_a_dead_workers_trial_is_run_again(ray_tmp, tune_data, tmp_path):
    recipe, space, out, study = pruning_setup(tune_data, tmp_path, trials=3)
    study.enqueue_trial({"optim.lr": 0.03})  # its retry runs last: as good as trial 1
    dead = study.ask()  # a trial whose worker (another machine, never heard of) is gone
    dead.suggest_float("optim.lr", 1.0e-8, 0.1, log=True)
    dead.set_user_attr("worker", "machine-x:12345:gone")
    study.enqueue_trial({"optim.lr": 0.03})  # learns
    study.enqueue_trial({"optim.lr": 1.0e-8})  # clearly worse after one epoch: pruned
    argv = ["tune", str(recipe), "--space", str(space), "--out", str(out), "--trials", "3"]
    assert main([*argv, "--engine", "ray", "--workers", "1", "-q"]) == 0
    rows = read_rows(out)
    assert [r["state"] for r in rows] == ["REQUEUED", "COMPLETE", "PRUNED", "COMPLETE"]
    assert rows[2]["pruned_at_epoch"] == "1"
    assert rows[3]["retry_of"] == "0" and row_params(rows[3]) == row_params(rows[0])


def test_a_ray_tune_killed_mid_search_resumes_with_none_lost_or_repeated(
    ray_tmp, tune_data, tmp_path
):
    recipe = write_recipe(tune_data, tmp_path, epochs=3)
    space = write_space(tmp_path, SPACE)
    out = tmp_path / "tune"
    argv = ["tune", str(recipe), "--space", str(space), "--out", str(out), "--trials", "3",
            "--engine", "ray", "--workers", "2", "-q"]  # fmt: skip
    import tempfile

    own_ray = tempfile.mkdtemp(prefix="fsrayk", dir="/tmp")
    proc = subprocess.Popen(  # its own local Ray, in its own session: killed as a whole
        [sys.executable, "-m", "fakescope", *argv],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "RAY_TMPDIR": own_ray},
    )  # fmt: skip
    marker = out / "trials" / "trial-0001" / "log.csv"  # a second trial is under way
    deadline = time.monotonic() + 240
    while not marker.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert marker.is_file(), (
            proc.stderr.read().decode() if proc.poll() is not None else "timeout"
        )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the command, its Ray and Ray's workers
        proc.wait()
    study = open_study(TuneJob(config=str(recipe), spec=load_space(space), out=str(out)))
    killed = {t.number: t.params for t in study.get_trials() if t.state.name == "RUNNING"}
    assert killed  # trials were cut off mid-training

    assert main(argv) == 0  # resume, on the test's Ray
    rows = read_rows(out)
    finished = [r for r in rows if r["state"] == "COMPLETE"]
    assert len(finished) == 3 and len({row_params(r) for r in finished}) == 3
    requeued = {int(r["number"]) for r in rows if r["state"] == "REQUEUED"}
    # each cut-off trial was queued again, or (a Ray worker that outlived the kill of the
    # command's process group) finished by its own still-beating worker: never lost
    done = {int(r["number"]) for r in rows if r["state"] == "COMPLETE"}
    assert requeued <= set(killed) and set(killed) <= requeued | done
    for r in rows:  # each killed trial's values ran again, once
        if r["retry_of"]:
            assert row_params(r) == row_params(rows[int(r["retry_of"])])
    assert len({r["worker"] for r in rows}) == len(rows)  # one Ray task (worker) per trial
    assert str(os.getpid()) not in {r["worker"].split(":")[1] for r in rows}  # Ray's processes
    assert main(argv) == 0 and len(read_rows(out)) == len(rows)  # the budget is spent: no more
