"""Experiment tracking: what every run folder records about the run (``environment.json``:
package versions, git commit, device, command line) and, optionally, the same runs in
MLflow (``--mlflow URI``; extra ``track``), so that runs can be browsed in the tool a team
already uses. Nothing here is imported by ``import fakescope``; MLflow is imported lazily."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from ._atomic import atomic_write_json
from .errors import MissingDependencyError

__all__ = ["environment", "mlflow_log_tune", "require_mlflow", "write_environment"]

PACKAGES = ("fakescope", "torch", "torchvision", "timm", "numpy", "pandas", "scikit-learn",
            "opencv-python-headless", "av", "optuna", "onnxruntime", "mlflow")  # fmt: skip


def _git(cwd: Path) -> dict[str, Any] | None:
    """The commit of the git work tree around ``cwd`` and whether it has uncommitted changes
    (read-only git commands; None outside a work tree or without git)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if commit.returncode:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, timeout=10,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def _device() -> dict[str, Any]:
    out: dict[str, Any] = {"cpus": os.cpu_count()}
    torch = sys.modules.get("torch")  # only when the run imported it: no import for this
    if torch is not None:
        out["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            out["cuda"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return out


def environment(packages: Iterable[str] = PACKAGES) -> dict[str, Any]:
    """Python, platform, installed versions of ``packages``, git commit of the source tree
    (or of the working directory), device, command line and time."""
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    source = Path(__file__).resolve().parent
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "git": _git(source) or _git(Path.cwd()),
        "device": _device(),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv else [],
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_environment(folder: str | os.PathLike[str]) -> Path:
    """``FOLDER/environment.json``; returns its path."""
    path = Path(folder) / "environment.json"
    atomic_write_json(path, environment(), indent=2)
    return path


def require_mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise MissingDependencyError("mlflow", "track", "--mlflow") from None
    return mlflow


def mlflow_log_tune(uri: str, report: dict[str, Any], rows: list[dict[str, Any]]) -> int:
    """Log a tune to MLflow at ``uri`` (a folder path is a local file store): one parent run
    for the tune (settings, best value and parameters, summary/best.yaml/trials.csv/figures)
    and one nested run per finished trial (parameters, the value, the per-epoch log). A run
    already logged (same study and trial) is not logged again; returns how many were new."""
    import csv

    mlflow = require_mlflow()
    from mlflow.tracking import MlflowClient

    if "://" not in uri and not uri.startswith("file:"):
        uri = Path(uri).resolve().as_uri()
    if uri.startswith("file:"):  # a folder, asked for by name: MLflow 3 wants the opt-in
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=uri)
    name = f"fakescope-tune-{report['study']}"
    exp = client.get_experiment_by_name(name)
    exp_id = exp.experiment_id if exp else client.create_experiment(name)
    key = f"{report['storage']}#{report['study']}"

    def existing(tag: str) -> set[str]:
        runs = client.search_runs(
            [exp_id], filter_string=f"tags.`fakescope.tune` = '{key}'", max_results=10000
        )
        return {r.data.tags.get(tag, "") for r in runs}

    parents = [
        r
        for r in client.search_runs([exp_id], filter_string=f"tags.`fakescope.tune` = '{key}'")
        if r.data.tags.get("fakescope.kind") == "tune"
    ]
    if parents:
        parent_id = parents[0].info.run_id
    else:
        parent = client.create_run(exp_id, run_name=Path(report["out"]).name,
                                   tags={"fakescope.tune": key, "fakescope.kind": "tune"})  # fmt: skip
        parent_id = parent.info.run_id
        for k in ("config", "space", "sampler", "pruner", "metric", "direction", "seed", "trials"):
            client.log_param(parent_id, k, str(report[k]))
    logged = existing("fakescope.trial")
    new = 0
    for row in rows:
        if row["state"] not in ("COMPLETE", "PRUNED") or str(row["number"]) in logged:
            continue
        run = client.create_run(
            exp_id,
            run_name=f"trial-{int(row['number']):04d}",
            tags={"fakescope.tune": key, "fakescope.kind": "trial",
                  "fakescope.trial": str(row["number"]), "fakescope.state": row["state"],
                  "mlflow.parentRunId": parent_id},
        )  # fmt: skip
        rid = run.info.run_id
        for k, v in row.items():
            if k.startswith("param:") and v != "":
                client.log_param(rid, k[6:], str(v))
        log_path = Path(row["run"]) / "log.csv" if row["run"] else None
        if log_path is not None and log_path.is_file():
            with open(log_path, newline="") as fh:
                for epoch in csv.DictReader(fh):
                    for k, v in epoch.items():
                        try:
                            value = float(v)
                        except (TypeError, ValueError):
                            continue
                        if k not in ("epoch", "step"):
                            client.log_metric(rid, k, value, step=int(epoch["epoch"]))
            client.log_artifact(rid, str(log_path))
            config = Path(row["run"]) / "config.yaml"
            if config.is_file():
                client.log_artifact(rid, str(config))
        if row["value"] != "":
            client.log_metric(rid, f"tune_{report['metric']}", float(row["value"]))
        client.set_terminated(rid, "FINISHED" if row["state"] == "COMPLETE" else "KILLED")
        new += 1
    best = report.get("best")
    if best:
        client.log_metric(parent_id, f"best_{report['metric']}", float(best["value"]))
        client.set_tag(parent_id, "fakescope.best_trial", str(best["trial"]))
    out = Path(report["out"])
    for f in ("summary.md", "best.yaml", "trials.csv", "tune.json", "environment.json"):
        if (out / f).is_file():
            client.log_artifact(parent_id, str(out / f))
    if (out / "figures").is_dir():
        client.log_artifacts(parent_id, str(out / "figures"), "figures")
    client.set_terminated(parent_id, "FINISHED")
    del mlflow
    return new
