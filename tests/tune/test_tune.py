"""``fakescope tune`` end to end on tiny synthetic crops: a search whose winner retrains
bit-for-bit, pruning of a clearly worse trial, resume after SIGKILL, parallel workers."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fakescope.cli.main import main
from fakescope.study.job import read_log
from fakescope.training.config import load_train_config
from fakescope.tune.runner import TuneJob, open_study
from fakescope.tune.space import load_space
from tests.tune.conftest import SPACE as SPACE_TEMPLATE
from tests.tune.conftest import pruning_setup, write_recipe, write_space
from tests.tune.conftest import read_rows as _rows
from tests.tune.conftest import row_params as _params

ROOT = Path(__file__).resolve().parents[2]

SPACE = SPACE_TEMPLATE.replace("{seed}", "7")  # .format(sampler=...)


@pytest.mark.slow
def test_a_tiny_search_beats_the_median_and_its_best_yaml_retrains_the_winner(
    tune_data, tmp_path, capsys
):
    recipe = write_recipe(tune_data, tmp_path, epochs=2)
    space = write_space(tmp_path, SPACE.format(sampler="tpe"))
    out = tmp_path / "tune"
    argv = ["tune", str(recipe), "--space", str(space), "--out", str(out), "--trials", "3"]
    assert main([*argv, "--test", "test", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = _rows(out)
    values = [float(r["value"]) for r in rows if r["state"] == "COMPLETE"]
    assert len(values) == 3 and len({_params(r) for r in rows}) == 3
    assert report["best"]["value"] <= statistics.median(values)  # minimize val_loss
    assert report["best"]["value"] == pytest.approx(min(values))
    # no trial saw the test split: each trained on train and was judged on val
    for r in rows:
        trial_config = load_train_config(str(Path(r["run"]) / "config.yaml"))
        assert (trial_config.data.train_split, trial_config.data.val_split) == ("train", "val")
    # best.yaml is a complete recipe: retraining it reproduces the winner's metric
    best = load_train_config(str(out / "best.yaml"))
    assert best.optim.lr == pytest.approx(report["best"]["params"]["optim.lr"])
    assert best.train.batch_size == report["best"]["params"]["train.batch_size"]
    assert best.name == "tiny-best" and best.out == str(tmp_path / "runs")
    assert main(["train", str(out / "best.yaml"), "-q"]) == 0
    retrained = read_log(best.run_dir / "log.csv")
    assert min(r["val_loss"] for r in retrained) == pytest.approx(report["best"]["value"])
    # the test split was scored once, for the best trial only, and the summary says so
    assert report["test"]["trial"] == report["best"]["trial"]
    assert report["test"]["metrics"]["videos"] == 2 and report["test"]["selected_on"] == "val"
    summary = (out / "summary.md").read_text()
    assert f"evaluated once, for the best trial ({report['best']['trial']}) only" in summary
    for name in ("history", "parallel_coordinate"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000
    # a finished tune run again trains nothing and does not score the test split again
    stamp = (out / "test.json").stat().st_mtime_ns
    assert main([*argv, "--test", "test", "-q"]) == 0
    assert len(_rows(out)) == 3 and (out / "test.json").stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_the_median_pruner_stops_a_clearly_worse_trial(tune_data, tmp_path):
    recipe, space, out, study = pruning_setup(tune_data, tmp_path, trials=2)
    study.enqueue_trial({"optim.lr": 0.03})  # learns
    study.enqueue_trial({"optim.lr": 1.0e-8})  # cannot move: clearly worse after one epoch
    argv = ["tune", str(recipe), "--space", str(space), "--out", str(out), "--trials", "2"]
    assert main([*argv, "-q"]) == 0
    good, bad = _rows(out)
    assert (good["state"], bad["state"]) == ("COMPLETE", "PRUNED")
    assert bad["pruned_at_epoch"] == "1"
    assert len(read_log(Path(good["run"]) / "log.csv")) == 3
    assert len(read_log(Path(bad["run"]) / "log.csv")) == 1  # training really stopped there


@pytest.mark.slow
def test_a_tune_killed_during_trial_2_resumes_with_none_lost_or_repeated(tune_data, tmp_path):
    recipe = write_recipe(tune_data, tmp_path, epochs=3)
    space = write_space(tmp_path, SPACE.format(sampler="random"))
    out = tmp_path / "tune"
    argv = ["tune", str(recipe), "--space", str(space), "--out", str(out), "--trials", "3"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "fakescope", *argv, "-q"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    marker = out / "trials" / "trial-0001" / "log.csv"  # trial 2 has finished its first epoch
    deadline = time.monotonic() + 120
    while not marker.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.is_file(), proc.stderr.read().decode() if proc.poll() is not None else "timeout"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first = (out / "trials" / "trial-0000" / "log.csv").read_text()

    assert main([*argv, "-q"]) == 0
    rows = _rows(out)
    states = [r["state"] for r in rows]
    assert states == ["COMPLETE", "REQUEUED", "COMPLETE", "COMPLETE"]
    killed, retry = rows[1], rows[2]
    assert retry["retry_of"] == "1" and killed["retried_as"] == "2"
    assert _params(retry) == _params(killed)  # the killed trial's values, run again
    finished = [r for r in rows if r["state"] == "COMPLETE"]
    assert len({_params(r) for r in finished}) == 3  # three trials, no values twice
    assert (out / "trials" / "trial-0000" / "log.csv").read_text() == first  # not rerun
    summary = (out / "summary.md").read_text()
    assert "3 of 3 trials finished" in summary and "1 killed and run again" in summary


@pytest.mark.slow
def test_parallel_workers_share_the_sqlite_study_without_losing_a_trial(tune_data, tmp_path):
    from fakescope.tune.report import trial_rows
    from fakescope.tune.runner import run_tune

    recipe = write_recipe(tune_data, tmp_path, epochs=1)
    space = write_space(tmp_path, SPACE.format(sampler="random"))
    out = tmp_path / "tune"
    job = TuneJob(config=str(recipe), spec=load_space(space), out=str(out), trials=4,
                  sampler="random", pruner="none", workers=2, progress=False)  # fmt: skip
    rows = trial_rows(run_tune(job))  # two spawned processes, one SQLite file
    assert [r["number"] for r in rows] == [0, 1, 2, 3]
    assert all(r["state"] == "COMPLETE" and r["value"] != "" for r in rows)
    assert len({_params(r) for r in rows}) == 4
    assert len({r["worker"] for r in rows}) == 2  # both processes ran trials of one study
    assert sorted(p.name for p in (out / "trials").iterdir()) == [
        f"trial-{i:04d}" for i in range(4)
    ]


def test_bad_input_is_one_line(tune_data, tmp_path, capsys):
    recipe = write_recipe(tune_data, tmp_path)
    space = write_space(
        tmp_path, "space:\n  optim.lrr: {type: float, low: 1.0e-4, high: 0.1, log: true}\n"
    )
    out = tmp_path / "tune"
    assert main(["tune", str(recipe), "--space", str(space), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "space.optim.lrr" in err and "unknown key" in err and "\n" not in err
    space.write_text("space:\n  optim.lr: {type: float, low: 1.0e-4, high: 0.1, log: true}\n")
    argv = ["tune", str(recipe), "--space", str(space), "--out", str(out)]
    assert main([*argv, "--select-on", "test", "--test", "test"]) == 2
    assert "same split" in capsys.readouterr().err


@pytest.mark.slow
def test_runs_record_their_environment_and_log_to_an_mlflow_file_store(tune_data, tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from fakescope.tracking import mlflow_log_tune
    from fakescope.tune.report import trial_rows

    recipe = write_recipe(tune_data, tmp_path, epochs=2)
    space = write_space(tmp_path, SPACE.format(sampler="random"))
    out, store = tmp_path / "tune", tmp_path / "mlruns"
    argv = ["tune", str(recipe), "--space", str(space), "--out", str(out), "--trials", "2"]
    assert main([*argv, "--mlflow", str(store), "-q"]) == 0
    # every run folder records its environment: the tune's and each trial's (a train run)
    import torch

    for folder in (out, out / "trials" / "trial-0000"):
        env = json.loads((folder / "environment.json").read_text())
        assert env["packages"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
        assert env["device"]["cpus"] >= 1 and env["python"] == ".".join(
            map(str, sys.version_info[:3])
        )
        if (ROOT / ".git").exists():
            assert len(env["git"]["commit"]) == 40
    # MLflow: one tune run, one nested run per trial with its per-epoch metrics
    client = MlflowClient(tracking_uri=store.resolve().as_uri())
    exp = client.get_experiment_by_name("fakescope-tune-tune")
    runs = client.search_runs([exp.experiment_id])
    kinds = sorted(r.data.tags["fakescope.kind"] for r in runs)
    assert kinds == ["trial", "trial", "tune"]
    parent = next(r for r in runs if r.data.tags["fakescope.kind"] == "tune")
    rows = _rows(out)
    for r in runs:
        if r.data.tags["fakescope.kind"] != "trial":
            continue
        assert r.data.tags["mlflow.parentRunId"] == parent.info.run_id
        number = int(r.data.tags["fakescope.trial"])
        assert r.data.params["optim.lr"] == rows[number]["param:optim.lr"]
        history = client.get_metric_history(r.info.run_id, "val_loss")
        assert [m.step for m in history] == [1, 2]
        assert r.data.metrics["tune_val_loss"] == pytest.approx(float(rows[number]["value"]))
    assert parent.data.metrics["best_val_loss"] == pytest.approx(
        min(float(r["value"]) for r in rows)
    )
    # logging again adds nothing
    study = open_study(TuneJob(config=str(recipe), spec=load_space(space), out=str(out)))
    report = json.loads((out / "tune.json").read_text())
    assert mlflow_log_tune(str(store), report, trial_rows(study)) == 0


def test_without_the_tune_extra_the_command_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if Optuna were not installed
    space = write_space(tmp_path, "space:\n  optim.lr: {type: float, low: 1.0e-4, high: 0.1}\n")
    argv = ["tune", str(tmp_path / "r.yaml"), "--space", str(space), "--out", str(tmp_path / "t")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == "fakescope tune: error: fakescope tune needs the 'optuna' package: pip install 'fakescope[tune]'"
    )
    assert not (tmp_path / "t").exists()


def test_every_help_example_parses(capsys):
    from fakescope.cli.main import build_parser

    with pytest.raises(SystemExit):
        main(["tune", "--help"])
    text = capsys.readouterr().out.replace("\\\n", " ")
    lines = [ln.split() for ln in text.splitlines() if ln.strip().startswith("fakescope tune ")]
    assert len(lines) >= 6
    for words in lines:
        args = build_parser().parse_args(words[1 : words.index("#")] if "#" in words else words[1:])
        assert args.command == "tune" and args.space and args.out
