"""``--mlflow URI`` on train, evaluate and study, against a file store in a temp folder: the
resolved config as parameters, the metrics (per epoch where there is a log.csv) and the run
folder's files as artefacts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from fakescope.cli.main import main
from tests.tune.conftest import write_recipe


def _client(store: Path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=store.resolve().as_uri())


def _artefacts(client, run_id: str, path: str | None = None) -> set[str]:
    out: set[str] = set()
    for f in client.list_artifacts(run_id, path):
        out |= _artefacts(client, run_id, f.path) if f.is_dir else {f.path}
    return out


def _runs(client, experiment: str) -> list:
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment}"
    return client.search_runs([exp.experiment_id])


@pytest.mark.slow
def test_train_evaluate_and_study_log_their_runs_to_a_file_store(
    tune_data, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # for this test's own reader
    client = _client(tmp_path / "mlruns")
    store = str(tmp_path / "mlruns")
    recipe = write_recipe(tune_data, tmp_path, epochs=2)

    # train: resolved config, per-epoch metrics, the run folder (without the resume state)
    assert main(["train", str(recipe), "optim.lr=0.02", "--mlflow", store, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    (run,) = _runs(client, "fakescope-train")
    assert result["mlflow"]["run_id"] == run.info.run_id and run.info.status == "FINISHED"
    assert run.data.params["optim.lr"] == "0.02" and run.data.params["model.name"] == "simple_cnn"
    assert run.data.params["train.epochs"] == "2"
    history = client.get_metric_history(run.info.run_id, "val_loss")
    assert [m.step for m in history] == [1, 2]
    run_dir = Path(result["run"])
    log = (run_dir / "log.csv").read_text().splitlines()
    assert [m.value for m in history] == pytest.approx(
        [float(row.split(",")[log[0].split(",").index("val_loss")]) for row in log[1:]]
    )
    files = _artefacts(client, run.info.run_id)
    assert {"config.yaml", "log.csv", "environment.json", "best/card.json"} <= files
    assert "last.pt" not in files and (run_dir / "last.pt").is_file()

    # evaluate: its resolved options, metrics.json's numbers, the folder without the cache
    out = tmp_path / "eval"
    argv = ["evaluate", "--model", str(run_dir / "best"), "--manifest", str(tune_data / "m.parquet"),
            "--split", "val", "--bootstrap", "0", "--out", str(out), "--mlflow", store, "-q"]  # fmt: skip
    assert main(argv) == 0
    (ev,) = _runs(client, "fakescope-evaluate")
    assert ev.data.params["split"] == "val" and ev.data.params["model"] == str(run_dir / "best")
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("roc_auc", "brier_score"):
        got = ev.data.metrics[f"video_level.{key}"]
        assert got == pytest.approx(metrics["video_level"][key])
    assert ev.data.metrics["videos.scored"] == 4
    files = _artefacts(client, ev.info.run_id)
    assert {"metrics.json", "summary.md", "environment.json", "predictions.csv"} <= files
    assert not any(f.startswith("cache/") for f in files)

    # study: one parent run per study folder, one nested run per grid run, logged once
    study = tmp_path / "study.yaml"
    study.write_text(
        f"name: tiny\nseeds: [0]\nruns:\n  - {{id: cnn, config: {recipe}}}\n"
        f"manifests:\n  - {{name: syn, manifest: {tune_data / 'm.parquet'}, "
        f"crops: {tune_data / 'crops'}}}\nevaluate: {{bootstrap: 0}}\n"
    )
    argv = ["study", str(study), "--out", str(tmp_path / "st"), "--mlflow", store, "-q"]
    assert main(argv) == 0
    runs = _runs(client, "fakescope-study-tiny")
    parent = next(r for r in runs if r.data.tags["fakescope.kind"] == "study")
    child = next(r for r in runs if r.data.tags["fakescope.kind"] == "study-run")
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert child.data.params["train.seed"] == "0"
    assert "in_domain.auc" in child.data.metrics or any(
        k.startswith("in_domain.") for k in child.data.metrics
    )
    assert [m.step for m in client.get_metric_history(child.info.run_id, "val_loss")] == [1, 2]
    assert {"ablation.md", "ablation.json"} <= _artefacts(client, parent.info.run_id)
    assert "result.json" in _artefacts(client, child.info.run_id)
    assert main(argv) == 0  # a rerun: nothing trained, nothing logged twice
    assert len(_runs(client, "fakescope-study-tiny")) == 2


def test_without_the_track_extra_mlflow_is_a_usage_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if MLflow were not installed
    for argv in (
        ["train", str(tmp_path / "r.yaml")],
        ["study", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "o")],
        ["evaluate", "--manifest", "m.parquet", "--out", str(tmp_path / "e")],
    ):
        with pytest.raises(SystemExit) as exc:
            main([*argv, "--mlflow", str(tmp_path / "mlruns")])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.endswith("--mlflow: needs the 'mlflow' package: pip install 'fakescope[track]'")
    assert not (tmp_path / "o").exists() and not (tmp_path / "mlruns").exists()


def test_a_logo_protocol_folder_logs_logo_json_numbers(tmp_path, monkeypatch):
    """``evaluate --protocol logo --mlflow``: one run with logo.json's numbers (the protocol
    itself is tested in tests/evaluation; here its finished folder is logged)."""
    from argparse import Namespace

    from fakescope.tracking import mlflow_log

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # for this test's own reader
    store = tmp_path / "mlruns"
    client = _client(store)
    out = tmp_path / "logo"
    out.mkdir()
    logo = {"mean_auc": 0.71, "generators": {"Deepfakes": {"auc": 0.8, "videos": 12}}}
    (out / "logo.json").write_text(json.dumps(logo))
    (out / "logo.md").write_text("# LOGO\n")
    args = Namespace(mlflow=str(store), protocol="logo", config="recipe.yaml", bootstrap=200)
    where = mlflow_log(args, "logo", out)
    assert where is not None and where["experiment"] == "fakescope-logo"
    (run,) = _runs(client, "fakescope-logo")
    assert run.data.metrics["mean_auc"] == pytest.approx(0.71)
    assert run.data.metrics["generators.Deepfakes.auc"] == pytest.approx(0.8)
    assert run.data.params["protocol"] == "logo"
    assert {"logo.json", "logo.md"} <= _artefacts(client, run.info.run_id)
