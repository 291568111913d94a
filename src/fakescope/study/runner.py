"""Run a study: check and prepare its data, train and score every grid run that is not done
yet (in this process, a local process pool or on Ray), then write the ablation table
(``ablation.json``, ``ablation.md``) and the figures from every finished run.

Resumable: a run is done when its ``result.json`` exists with the current fingerprints; a run
whose training finished but whose evaluation changed is scored again without training; a run
killed during training continues from its ``last.pt``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DatasetError
from .job import JobContext, make_job, read_json, run_dir
from .spec import GridRun, Study

__all__ = ["grid_status", "prepare", "run_study"]

log = logging.getLogger(__name__)


def _filtered(
    manifest_path: str, where: tuple[tuple[str, tuple[str, ...]], ...], out: Path, key: str
) -> tuple[str, Any]:
    """The manifest to use (a filtered copy under OUT/manifests/ when ``where`` is given) and
    its table."""
    from ..datasets import read_manifest, write_manifest

    try:
        manifest = read_manifest(manifest_path)
    except DatasetError as exc:
        raise ConfigError(f"{key}.manifest: {exc}") from None
    table = manifest.table
    if not where:
        return manifest_path, table
    keep = None
    for col, values in where:
        if col not in table.columns:
            raise ConfigError(
                f"{key}.where.{col}: {manifest_path} has no column '{col}' "
                f"(columns: {', '.join(map(str, table.columns))})"
            )
        hit = table[col].astype(str).isin(values)
        keep = hit if keep is None else keep & hit
    table = table[keep].reset_index(drop=True)
    if not len(table):
        raise ConfigError(f"{key}.where: no row of {manifest_path} matches {dict(where)}")
    path = write_manifest(
        table, out, manifest.root, {"study_filter": {c: list(v) for c, v in where}}
    )
    return str(path), table


def _check_crops(crops: str, manifest: str, key: str) -> None:
    folder = Path(crops)
    if not ((folder / "summary.json").is_file() or (folder / "results.jsonl").is_file()):
        raise ConfigError(
            f"{key}.crops: {crops} is not a 'fakescope extract' output folder; make it with "
            f"'fakescope extract {manifest} --out {crops}'"
        )


def _need(table: Any, split: str, key: str, what: str) -> None:
    rows = table if split == "all" else table[table["split"] == split]
    if not len(rows):
        raise ConfigError(f"{key}: no videos in split '{split}' ({what})")


def prepare(study: Study, out: Path, workers: int = 1) -> JobContext:
    """Check every manifest, split and crops folder; write the filtered manifests."""
    train_files: dict[str, str] = {}
    for i, m in enumerate(study.manifests):
        key = f"manifests[{i}]"
        path, table = _filtered(
            m.manifest, m.where, out / "manifests" / f"train-{m.name}.parquet", key
        )
        _check_crops(m.crops, m.manifest, key)
        _need(table, m.train_split, key, "train_split")
        _need(table, m.val_split, key, "val_split")
        _need(table, study.split, key, "evaluate.split, the in-domain test")
        train_files[m.name] = path
    cross_files: dict[str, str] = {}
    for i, c in enumerate(study.cross):
        key = f"evaluate.cross[{i}]"
        path, table = _filtered(
            c.manifest, c.where, out / "manifests" / f"cross-{c.name}.parquet", key
        )
        _check_crops(c.crops, c.manifest, key)
        _need(table, c.split, key, "split")
        cross_files[c.name] = path
    return JobContext(study, str(out), train_files, cross_files, workers)


def grid_status(study: Study, out: Path) -> list[tuple[GridRun, str]]:
    """Every grid run with its state: ``done``, ``score`` (trained; evaluation changed),
    ``resume`` (training started), ``failed`` (last try failed) or ``todo``. A run folder made
    from other training inputs (recipe, overrides, data, seed) is an error."""
    efp = study.eval_fingerprint()
    states = []
    for g in study.grid():
        rdir = run_dir(out, g)
        tfp = study.train_fingerprint(g)
        spec = read_json(rdir / "spec.json")
        if spec is not None and spec.get("train_fingerprint") != tfp:
            raise ConfigError(
                f"{rdir}: trained from another recipe, overrides, data or seed than run "
                f"'{g.run.id}' now has; delete that folder to train it again, or give the run "
                "a new id"
            )
        result = read_json(rdir / "result.json")
        trained = read_json(rdir / "trained.json")
        if result and result.get("fingerprints", {}).get("eval") == efp:
            state = "done"
        elif trained and trained.get("train_fingerprint") == tfp:
            state = "score"
        elif (rdir / "failed.json").is_file():
            state = "failed"
        elif (rdir / "train" / "last.pt").is_file():
            state = "resume"
        else:
            state = "todo"
        states.append((g, state))
    return states


def run_study(
    study: Study,
    out: str | Path,
    *,
    engine: str = "local",
    workers: int = 1,
    address: str | None = None,
    report_only: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run what is not done, then write ``OUT/ablation.{json,md}`` and ``OUT/figures/``;
    returns the report (``report['failed']``: the runs that failed; ``report['pending']``: not
    run yet, with ``report_only``)."""
    from ..engines import create_engine
    from .report import build_report, write_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if not report_only:
        from ..tracking import write_environment

        write_environment(out)  # versions, git commit, device of the last run (docs/tracking.md)
    say = progress or (lambda msg: log.info("%s", msg))
    states = grid_status(study, out)
    if not report_only:
        ctx = prepare(study, out, workers)
        todo = [g for g, state in states if state != "done"]
        done = len(states) - len(todo)
        say(f"{study.name}: {len(states)} runs ({done} done, {len(todo)} to run)")
        if todo:
            eng = create_engine(engine, workers, address)
            for k, (g, res) in enumerate(eng.map(make_job, todo, (ctx,)), 1):
                say(f"[{k}/{len(todo)}] {g.key}: {_outcome(res)}")
                if isinstance(res, BaseException):
                    _record_failure(out, g, res)
    results, failed, pending = [], [], []
    for g in study.grid():
        rdir = run_dir(out, g)
        result = read_json(rdir / "result.json")
        failure = read_json(rdir / "failed.json")
        if result is not None:
            results.append(result)
        elif failure is not None:
            failed.append({"key": g.key, "run": g.run.id, "error": failure.get("error", "?")})
        else:
            pending.append(g.key)
    report = build_report(study, results, failed, pending)
    write_report(report, out)
    return report


def _outcome(res: Any) -> str:
    if isinstance(res, BaseException):
        return f"FAILED ({' '.join(str(res).split())[:300]})"
    parts = [f"in-domain AUC {_f(res['in_domain'].get('auc'))}"]
    parts += [f"{n} AUC {_f(m.get('auc'))}" for n, m in res.get("cross", {}).items()]
    return ", ".join(parts) + f"; {res['minutes']['train']:.1f} min training"


def _f(v: Any) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _record_failure(out: Path, g: GridRun, exc: BaseException) -> None:
    """A failure the job could not write itself (a worker that died)."""
    from .._atomic import atomic_write_json

    path = run_dir(out, g) / "failed.json"
    if not path.is_file():
        atomic_write_json(
            path, {"key": g.key, "run": g.run.id, "error": " ".join(str(exc).split())[:400]}
        )
