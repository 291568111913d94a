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

__all__ = [
    "cli_params",
    "environment",
    "flatten",
    "mlflow_log",
    "mlflow_log_tune",
    "require_mlflow",
    "write_environment",
]

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


# ── MLflow (--mlflow URI) ────────────────────────────────────────────────────

SKIP = frozenset({"last.pt", "cache", ".locks", "study.db", "study.db-wal", "study.db-shm"})
"""Not logged as artefacts: the resume state (optimizer + weights again), crop caches, locks
and the Optuna database."""


def _client(uri: str) -> Any:
    """An MlflowClient for ``uri`` (a folder path is a local file store)."""
    require_mlflow()
    from mlflow.tracking import MlflowClient

    if "://" not in uri and not uri.startswith("file:"):
        uri = Path(uri).resolve().as_uri()
    if uri.startswith("file:"):  # a folder, asked for by name: MLflow 3 wants the opt-in
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MlflowClient(tracking_uri=uri)


def _experiment(client: Any, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    return str(exp.experiment_id if exp else client.create_experiment(name))


def _find_run(client: Any, exp_id: str, tags: dict[str, str]) -> str | None:
    """The id of a run of the experiment with all of ``tags``, if one was logged before."""
    query = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
    runs = client.search_runs([exp_id], filter_string=query, max_results=1)
    return str(runs[0].info.run_id) if runs else None


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts/lists -> ``{"a.b.0": leaf}``."""
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for k, v in tree.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(tree, list | tuple) and tree and any(isinstance(v, dict) for v in tree):
        out = {}
        for i, v in enumerate(tree):
            out.update(flatten(v, f"{prefix}{i}."))
        return out
    return {prefix[:-1]: tree} if prefix else {}


def _numbers(tree: Any, limit: int = 2000) -> dict[str, float]:
    """The finite numbers of a nested result (short lists, e.g. intervals, by index; long
    ones, e.g. curves, left out)."""
    import math

    out: dict[str, float] = {}
    for k, v in flatten(tree).items():
        if isinstance(v, list | tuple) and 0 < len(v) <= 4:
            items = {f"{k}.{i}": x for i, x in enumerate(v)}
        else:
            items = {k: v}
        for key, x in items.items():
            if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
                continue
            out[key] = float(x)
            if len(out) >= limit:
                return out
    return out


def _log(client: Any, rid: str, params: dict[str, Any], metrics: dict[str, float]) -> None:
    """Parameters (values as text, cut to MLflow's 6000 characters) and metrics in batches."""
    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    ps = [Param(_key(k), str(v)[:6000]) for k, v in params.items()]
    ms = [Metric(_key(k), v, now, 0) for k, v in metrics.items()]
    for i in range(0, len(ps), 100):
        client.log_batch(rid, params=ps[i : i + 100])
    for i in range(0, len(ms), 1000):
        client.log_batch(rid, metrics=ms[i : i + 1000])


def _key(name: Any) -> str:
    """A parameter or metric name MLflow accepts (letters, digits, _ - . / space :)."""
    import re

    return re.sub(r"[^\w\-./ :]", "_", str(name))[:250]


def _log_epochs(client: Any, rid: str, log_csv: Path) -> None:
    """Every number of a training ``log.csv`` as a metric at its epoch, and the file itself."""
    import csv

    from mlflow.entities import Metric

    if not log_csv.is_file():
        return
    now = int(time.time() * 1000)
    metrics = []
    with open(log_csv, newline="") as fh:
        for row in csv.DictReader(fh):
            for k, v in row.items():
                try:
                    value = float(v)
                except (TypeError, ValueError):
                    continue
                if k not in ("epoch", "step"):
                    metrics.append(Metric(_key(k), value, now, int(row["epoch"])))
    for i in range(0, len(metrics), 1000):
        client.log_batch(rid, metrics=metrics[i : i + 1000])
    client.log_artifact(rid, str(log_csv))


def _log_folder(client: Any, rid: str, folder: Path, under: str | None = None) -> None:
    """A run folder's files as artefacts, less ``SKIP``."""
    for item in sorted(folder.iterdir()):
        if item.name in SKIP or item.name.endswith(".lock"):
            continue
        dest = f"{under}/{item.name}" if under else item.name
        if item.is_dir():
            _log_folder(client, rid, item, dest)
        elif item.is_file():
            client.log_artifact(rid, str(item), under)


def _train_params(run_dir: Path) -> dict[str, Any]:
    """A train run's resolved config (``config.yaml``), flattened to dotted keys."""
    import yaml

    path = run_dir / "config.yaml"
    return flatten(yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def _read_json(path: Path) -> Any:
    import json

    return json.loads(path.read_text()) if path.is_file() else None


def cli_params(args: Any) -> dict[str, Any]:
    """A command's options as parameters (the values it ran with, after its defaults)."""
    drop = {"run", "json", "quiet", "verbose", "mlflow", "command"}
    return {
        k: v
        for k, v in sorted(vars(args).items())
        if k not in drop and (v is None or isinstance(v, str | int | float | bool | list))
    }


def mlflow_log(args: Any, kind: str, folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Log a finished ``train`` / ``evaluate`` / ``study`` run to ``args.mlflow`` (nothing when
    it is not set): one MLflow run in experiment ``fakescope-KIND`` (a study: ``fakescope-study-
    NAME``, its runs nested) with the resolved config as parameters, the metrics (per epoch
    where there is a ``log.csv``) and the folder's files as artefacts. Returns where it went."""
    uri = getattr(args, "mlflow", None)
    if not uri or os.environ.get("RANK", "0") != "0":  # under torchrun: the first process only
        return None
    folder = Path(folder)
    client = _client(uri)
    tags = {"fakescope.kind": kind, "fakescope.folder": str(folder.resolve())}
    if kind == "study":
        return _log_study(client, uri, args, folder, tags)
    exp_id = _experiment(client, f"fakescope-{kind}")
    rid = client.create_run(exp_id, run_name=folder.name, tags=tags).info.run_id
    if kind == "train":
        card = _read_json(folder / "best" / "card.json") or {}
        _log(client, rid, _train_params(folder), _numbers({"best": card.get("metrics", {})}))
        _log_epochs(client, rid, folder / "log.csv")
    else:  # evaluate: options as resolved, metrics.json's (the LOGO protocol: logo.json's) numbers
        results = folder / ("logo.json" if kind == "logo" else "metrics.json")
        _log(client, rid, cli_params(args), _numbers(_read_json(results) or {}))
    _log_folder(client, rid, folder)
    client.set_terminated(rid, "FINISHED")
    return {"uri": uri, "experiment": f"fakescope-{kind}", "run_id": rid}


def _log_study(client: Any, uri: str, args: Any, out: Path, tags: dict[str, str]) -> dict[str, Any]:
    """A study: one parent run per study folder (its options, the table, the figures) and one
    nested run per finished grid run, logged once (a rerun adds the runs finished since)."""
    report = _read_json(out / "ablation.json") or {}
    name = f"fakescope-study-{report.get('name') or out.name}"
    exp_id = _experiment(client, name)
    parent = _find_run(client, exp_id, tags)
    if parent is None:
        parent = client.create_run(exp_id, run_name=out.name, tags=tags).info.run_id
        _log(client, parent, cli_params(args), {})
    new = 0
    for result_json in sorted((out / "runs").glob("*/result.json")):
        rdir = result_json.parent
        run_tags = {"fakescope.kind": "study-run", "fakescope.folder": str(rdir.resolve())}
        if _find_run(client, exp_id, run_tags):
            continue
        tags_all = {**run_tags, "mlflow.parentRunId": parent}
        rid = client.create_run(exp_id, run_name=rdir.name, tags=tags_all).info.run_id
        _log(client, rid, _train_params(rdir / "train"), _numbers(_read_json(result_json)))
        _log_epochs(client, rid, rdir / "train" / "log.csv")
        _log_folder(client, rid, rdir)
        client.set_terminated(rid, "FINISHED")
        new += 1
    for f in sorted(out.iterdir()):
        if f.is_file() and f.suffix in (".md", ".json"):
            client.log_artifact(parent, str(f))
    if (out / "figures").is_dir():
        client.log_artifacts(parent, str(out / "figures"), "figures")
    client.set_terminated(parent, "FINISHED")
    return {"uri": uri, "experiment": name, "run_id": parent, "new_runs": new}


def mlflow_log_tune(uri: str, report: dict[str, Any], rows: list[dict[str, Any]]) -> int:
    """Log a tune to MLflow at ``uri`` (a folder path is a local file store): one parent run
    for the tune (settings, best value and parameters, summary/best.yaml/trials.csv/figures)
    and one nested run per finished trial (parameters, the value, the per-epoch log). A run
    already logged (same study and trial) is not logged again; returns how many were new."""
    client = _client(uri)
    exp_id = _experiment(client, f"fakescope-tune-{report['study']}")
    key = f"{report['storage']}#{report['study']}"
    parent_id = _find_run(client, exp_id, {"fakescope.tune": key, "fakescope.kind": "tune"})
    if parent_id is None:
        parent = client.create_run(exp_id, run_name=Path(report["out"]).name,
                                   tags={"fakescope.tune": key, "fakescope.kind": "tune"})  # fmt: skip
        parent_id = parent.info.run_id
        keys = ("config", "space", "sampler", "pruner", "metric", "direction", "seed", "trials")
        _log(client, parent_id, {k: report[k] for k in keys}, {})
    new = 0
    for row in rows:
        if row["state"] not in ("COMPLETE", "PRUNED"):
            continue
        if _find_run(
            client, exp_id, {"fakescope.tune": key, "fakescope.trial": str(row["number"])}
        ):
            continue
        run = client.create_run(
            exp_id,
            run_name=f"trial-{int(row['number']):04d}",
            tags={"fakescope.tune": key, "fakescope.kind": "trial",
                  "fakescope.trial": str(row["number"]), "fakescope.state": row["state"],
                  "mlflow.parentRunId": parent_id},
        )  # fmt: skip
        rid = run.info.run_id
        params = {k[6:]: v for k, v in row.items() if k.startswith("param:") and v != ""}
        value = {f"tune_{report['metric']}": float(row["value"])} if row["value"] != "" else {}
        _log(client, rid, params, value)
        if row["run"]:
            _log_epochs(client, rid, Path(row["run"]) / "log.csv")
            config = Path(row["run"]) / "config.yaml"
            if config.is_file():
                client.log_artifact(rid, str(config))
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
    return new
