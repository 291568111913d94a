"""Run a search: an Optuna study in a SQLite file (or any database URL), trials that are
``fakescope train`` runs with sampled overrides, pruned per epoch, in one or several processes,
or one trial per Ray task on a Ray cluster.

Resume: every worker registers in the study's database and keeps a heartbeat there
(``claims.Registry``). A later start (or another worker, on any machine) finds RUNNING trials
whose worker is gone, marks them FAIL and queues their parameters again (``retry_of``), so a
killed tune ends with N finished trials, none lost and none run twice. Claiming a trial happens
under a lock row in the same database, so workers never start more than N between them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, MissingDependencyError
from .claims import Registry, counts, trial_state
from .space import TuneSpec, override_strings

__all__ = ["TuneJob", "import_optuna", "open_study", "ray_trial", "run_tune", "work"]

log = logging.getLogger(__name__)

Say = Callable[[str], None]


def import_optuna() -> Any:
    """Optuna, quiet; a one-line error naming the extra when it is missing."""
    try:
        import optuna
    except ImportError:
        raise MissingDependencyError("optuna", "tune", "fakescope tune") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


@dataclass(frozen=True)
class TuneJob:
    """Everything a worker process needs (picklable)."""

    config: str
    spec: TuneSpec
    out: str
    overrides: tuple[str, ...] = ()  # KEY=VALUE from the command line, after the space's
    storage: str | None = None  # default: sqlite in OUT
    study_name: str = "tune"
    trials: int = 20
    sampler: str = "tpe"
    pruner: str = "median"
    metric: str = "val_auc"
    direction: str = "maximize"
    seed: int = 0
    select_split: str | None = None  # data.val_split of every trial
    workers: int = 1
    progress: bool = True  # worker processes print one line per trial
    heartbeat: float = 15.0  # seconds between a worker's heartbeats; dead after 4 missed
    engine: str = "local"  # local processes, or "ray": one trial per Ray task
    ray_address: str | None = None

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(Path(self.out) / 'study.db').resolve()}"

    def fixed_overrides(self) -> list[str]:
        out = [*override_strings(self.spec.overrides), *self.overrides]
        if self.select_split:
            out.append(f"data.val_split={self.select_split}")
        return out

    def registry(self) -> Registry:
        """The study's workers and claim lock (tables of the study's database)."""
        import_optuna()
        _storage(self.storage_url)  # a bad URL is one line; SQLite is put in WAL mode
        return Registry(self.storage_url, self.study_name, self.heartbeat)

    def identity(self) -> dict[str, Any]:
        """What a resumed study must match."""
        return {
            "config": str(Path(self.config).resolve()),
            "space": self.spec.fingerprint(),
            "overrides": self.fixed_overrides(),
            "metric": self.metric,
            "direction": self.direction,
        }


def _storage(url: str) -> Any:
    optuna = import_optuna()
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs = {"connect_args": {"timeout": 300}}  # parallel workers wait for the write lock
        _wal(url)
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    except Exception as exc:  # a bad URL or an unreachable database: one line
        raise ConfigError(f"--storage {url}: {' '.join(str(exc).split())[:200]}") from None


def _wal(url: str) -> None:
    """Put a SQLite study file in write-ahead-log mode (kept in the file): readers no longer
    block the writer and a commit costs about half (0.27 -> 0.12 s per trial here). WAL needs
    a local disk; on a network file system give --storage a database server instead."""
    import sqlite3

    path = url.split(":///", 1)[1] if ":///" in url else ""
    if not path or path.startswith(":memory:"):
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=300)) as con:
            con.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as exc:
        log.info("%s: stays in rollback-journal mode (%s)", path, exc)


def open_study(job: TuneJob, *, create: bool = False) -> Any:
    """The job's study; with ``create``, made when missing and checked against the job."""
    optuna = import_optuna()
    storage = _storage(job.storage_url)
    if not create:
        return optuna.load_study(study_name=job.study_name, storage=storage)
    study = optuna.create_study(
        study_name=job.study_name, storage=storage, direction=job.direction, load_if_exists=True
    )
    stored = study.user_attrs.get("fakescope")
    mine = job.identity()
    if stored is None:
        study.set_user_attr("fakescope", mine)
    else:
        diff = sorted(k for k in mine if stored.get(k) != mine[k])
        if diff:
            raise ConfigError(
                f"{job.storage_url}: study '{job.study_name}' was started with another "
                f"{', '.join(diff)}; use another --out (or --study-name), or delete it to start over"
            )
    return study


def _sampler(job: TuneJob, n: int) -> Any:
    """The sampler for the n-th trial, seeded with seed + n: a resumed or parallel tune
    never draws the same random start twice."""
    optuna = import_optuna()
    seed = job.seed + n
    startup = job.spec.startup_trials
    if job.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if job.sampler == "gp":
        return optuna.samplers.GPSampler(
            seed=seed, n_startup_trials=startup, warn_independent_sampling=False
        )
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)


def _pruner(job: TuneJob, epochs: int) -> Any:
    optuna = import_optuna()
    if job.pruner == "none":
        return optuna.pruners.NopPruner()
    if job.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(1, epochs))
    return optuna.pruners.MedianPruner(
        n_startup_trials=job.spec.pruner_startup_trials,
        n_warmup_steps=job.spec.pruner_warmup_epochs,
    )


def _claim(study: Any, job: TuneJob, worker: str) -> Any:
    c = counts(study)
    if not c["WAITING"] and c["counted"] >= job.trials:
        return None
    study.sampler = _sampler(job, len(study.get_trials(deepcopy=False)))
    trial = study.ask()
    trial.set_user_attr("worker", worker)
    return trial


# ── one trial ────────────────────────────────────────────────────────────────


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:400]


def run_trial(study: Any, trial: Any, job: TuneJob, base: Any, device: str, say: Say) -> None:
    """Sample, train (reporting the metric per epoch to the pruner), tell the result."""
    from ..study.job import read_log
    from ..training.config import load_train_config
    from ..training.trainer import train

    n = trial.number
    out = Path(job.out)
    values = job.spec.sample(trial, base)
    try:
        config = load_train_config(
            job.config,
            [*job.fixed_overrides(), *override_strings(values),
             f"out={out / 'trials'}", f"name=trial-{n:04d}"],
        )  # fmt: skip
    except ConfigError as exc:
        trial.set_user_attr("error", str(exc))
        study.tell(trial, state=trial_state("FAIL"), skip_if_finished=True)
        say(f"trial {n}: FAILED ({exc})")
        return
    if device != "auto" and config.train.device == "auto":
        config.train.device = device
    trial.set_user_attr("run", str(config.run_dir))
    pruned_at: list[int] = []

    def on_epoch(epoch: int, row: dict[str, Any]) -> bool:
        if job.metric not in row:
            raise ConfigError(
                f"--metric {job.metric}: not a column of the training log "
                f"(columns: {', '.join(row)})"
            )
        value = _finite(row[job.metric])
        if value is None:
            return False
        trial.report(value, epoch)
        if trial.should_prune():
            pruned_at.append(epoch)
            return True
        return False

    started = time.perf_counter()
    try:
        train(config, on_epoch=on_epoch)
    except ConfigError as exc:
        trial.set_user_attr("error", str(exc))
        study.tell(trial, state=trial_state("FAIL"), skip_if_finished=True)
        if str(exc).startswith("--metric"):
            raise
        say(f"trial {n}: FAILED ({exc})")
        return
    except Exception as exc:  # a trial that crashes is recorded; the search goes on
        log.debug("trial %d failed", n, exc_info=True)
        trial.set_user_attr("error", _one_line(exc))
        study.tell(trial, state=trial_state("FAIL"), skip_if_finished=True)
        say(f"trial {n}: FAILED ({_one_line(exc)})")
        return
    seconds = time.perf_counter() - started
    rows = read_log(config.run_dir / "log.csv")
    raw = [(int(r["epoch"]), _finite(r.get(job.metric))) for r in rows]
    scores: list[tuple[int, float]] = [(e, v) for e, v in raw if v is not None]
    trial.set_user_attr("seconds", round(seconds, 2))
    trial.set_user_attr("epochs", len(rows))
    shown = ", ".join(f"{k}={_fmt(v)}" for k, v in values.items())
    if pruned_at:
        trial.set_user_attr("pruned_at_epoch", pruned_at[0])
        study.tell(trial, state=trial_state("PRUNED"), skip_if_finished=True)
        say(f"trial {n}: pruned after epoch {pruned_at[0]} ({shown}; {seconds:.0f} s)")
        return
    if not scores:
        trial.set_user_attr(
            "error", f"{job.metric} has no finite value in {config.run_dir}/log.csv"
        )
        study.tell(trial, state=trial_state("FAIL"), skip_if_finished=True)
        say(f"trial {n}: FAILED ({job.metric} is never finite, e.g. one class in the split)")
        return
    pick = max if job.direction == "maximize" else min
    epoch, value = pick(scores, key=lambda ev: ev[1])
    trial.set_user_attr("best_epoch", epoch)
    study.tell(trial, value, skip_if_finished=True)  # given up as dead meanwhile: dropped
    say(f"trial {n}: {job.metric} {value:.4f} at epoch {epoch} ({shown}; {seconds:.0f} s)")


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def work(
    job: TuneJob, say: Say, device: str = "auto", study: Any = None, limit: int | None = None
) -> int:
    """One worker: claim and run trials until N are claimed (or ``limit`` trials ran);
    returns how many it ran."""
    from ..training.config import load_train_config

    study = study if study is not None else open_study(job)
    base = load_train_config(job.config, job.fixed_overrides())
    study.pruner = _pruner(job, base.total_epochs)
    ran = 0
    registry = job.registry()
    try:
        with registry.worker() as worker:
            while limit is None or ran < limit:
                with registry.locked(worker):
                    registry.recover(study, say)
                    trial = _claim(study, job, worker)
                    others = trial is None and counts(study)["RUNNING"] > 0
                if trial is None and others:  # the budget is claimed: wait for the trials of
                    time.sleep(min(job.heartbeat, 2.0))  # other workers, which may die and
                    continue  # be queued again
                if trial is None:
                    break
                run_trial(study, trial, job, base, device, say)
                ran += 1
    finally:
        registry.close()
    return ran


def ray_trial(job: TuneJob) -> tuple[int, list[str]]:  # pragma: no cover - in a Ray worker
    """One Ray task: claim one trial of the shared study and run it; returns how many ran
    (0: the budget is claimed) and the progress lines."""
    lines: list[str] = []
    return work(job, lines.append, limit=1), lines


def _worker_main(job: TuneJob, index: int) -> None:  # pragma: no cover - in a child process
    from ..study.job import _claim_device

    device = _claim_device(Path(job.out), job.workers)

    def say(message: str) -> None:
        if job.progress:
            print(f"[worker {index}] {message}", file=sys.stderr, flush=True)

    work(job, say, device)


def run_tune(job: TuneJob, say: Say | None = None) -> Any:
    """Run the trials still to run (in this process, or ``job.workers`` processes sharing the
    study); returns the study."""
    say = say or (lambda msg: log.info("%s", msg))
    out = Path(job.out)
    out.mkdir(parents=True, exist_ok=True)
    from ..training.config import load_train_config

    base = load_train_config(job.config, job.fixed_overrides())  # a bad recipe fails here
    _check_keys(job, base)
    study = open_study(job, create=True)
    from ..tracking import write_environment

    write_environment(out)
    registry = job.registry()
    try:
        with registry.worker() as me, registry.locked(me):
            registry.recover(study, say)
    finally:
        registry.close()
    c = counts(study)
    say(
        f"tune: {c['finished']} of {job.trials} trials finished, {c['RUNNING']} running, "
        f"{c['WAITING']} queued; {job.sampler} sampler, {job.pruner} pruner, "
        f"{job.direction} {job.metric}; study in {job.storage_url}"
    )
    if job.engine == "ray":
        _run_on_ray(job, say)
        return study
    if job.workers <= 1:
        work(job, say, study=study)
        return study
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # no fork of a process that holds torch threads
    procs = [ctx.Process(target=_worker_main, args=(job, i)) for i in range(job.workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    bad = [p.exitcode for p in procs if p.exitcode]
    if bad:
        raise ConfigError(
            f"{len(bad)} tune worker(s) exited with an error (codes {bad}); see above"
        )
    return study


def _run_on_ray(job: TuneJob, say: Say) -> None:
    """One trial per Ray task, ``job.workers`` tasks at a time, each claiming its trial from
    the shared study (a GPU each when the cluster has GPUs). New tasks start until one finds
    the budget claimed; a task whose worker died is replaced, and its trial is queued again by
    the next claim (at once on the same host, after the heartbeat timeout on another)."""
    from ..engines.ray_engine import RayEngine
    from ..errors import FakescopeError

    ray = RayEngine(workers=job.workers, address=job.ray_address).start()
    gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(ray_trial)
    pending = {task.remote(job) for _ in range(job.workers)}
    crashes, more = 0, True
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        pending.discard(ready[0])
        try:
            ran, lines = ray.get(ready[0])
        except ray.exceptions.RayTaskError as exc:  # an error the trial code raised
            for ref in pending:
                ray.cancel(ref)
            cause = getattr(exc, "cause", None)
            if isinstance(cause, FakescopeError):
                raise cause from None
            raise
        except ray.exceptions.RayError as exc:  # the worker process or its node died
            crashes += 1
            ran, lines = 1, [f"a Ray trial task died ({_one_line(exc)[:200]}); starting another"]
            if crashes > job.trials:
                raise ConfigError(f"{crashes} Ray trial tasks died; see the Ray logs") from None
        for line in lines:
            say(line)
        more = more and ran > 0
        if more:
            pending.add(task.remote(job))


def _check_keys(job: TuneJob, base: Any) -> None:
    """Every searched key exists in the config and takes a value of its range."""
    from ..training.config import load_train_config

    for p in job.spec.params:
        try:
            load_train_config(
                job.config, [*job.fixed_overrides(), *override_strings({p.key: p.first()})]
            )
        except ConfigError as exc:
            raise ConfigError(f"{job.spec.path}: space.{p.key}: {exc}") from None
