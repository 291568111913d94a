"""``fakescope tune``: hyper-parameter search over a training recipe (Optuna)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import (
    EXIT_ITEM_FAILED,
    EXIT_OK,
    UsageError,
    add_common,
    add_engine_args,
    add_mlflow_arg,
    print_json,
    setup_logging,
)

EXAMPLES = """\
examples:
  fakescope tune configs/seed002/effnet_b0_bilstm.yaml --space configs/seed002/tune.yaml --out runs/tune002
  fakescope tune configs/seed003/flow_cnn_lstm.yaml --space configs/seed003/tune.yaml --out runs/tune003
  fakescope tune recipe.yaml --space space.yaml --trials 40 --workers 2 --out runs/tune
  fakescope tune recipe.yaml --space space.yaml --out /shared/tune --engine ray \
      --ray-address auto --workers 8                               # one trial per Ray task
  fakescope tune recipe.yaml --space space.yaml --out runs/tune --sampler random --pruner none
  fakescope tune recipe.yaml --space space.yaml --out runs/tune --metric val_loss --direction minimize
  fakescope tune recipe.yaml --space space.yaml --out runs/tune --test test   # best trial, once
  fakescope tune recipe.yaml --space space.yaml --out runs/tune \\
      --storage postgresql://user@db/tunes --study-name b0-lr      # several machines, one study
  fakescope tune recipe.yaml --space space.yaml --out runs/tune --mlflow runs/mlruns

A trial is a 'fakescope train' run of CONFIG.yaml with sampled KEY=VALUE overrides (the space's
'overrides', then the ones given here, then the sampled values), in OUT/trials/trial-NNNN/. It
is judged by the validation metric of its best epoch (--metric: any column of log.csv); the
pruner stops weak trials after an epoch. The study lives in OUT/study.db (SQLite) unless
--storage names a database: run the same command again to resume a killed or finished tune
(N trials in total; a trial whose process died is run again with the same values), or with a
larger --trials to extend it. Workers on any machine share a study through --storage: each
keeps a heartbeat in the database, trials are claimed under a lock there, and a trial whose
worker stopped beating (4 x --heartbeat) is run again by the next worker. Outputs: OUT/best.yaml ('fakescope train OUT/best.yaml' retrains
the winner), OUT/trials.csv, OUT/figures/ (history, importances, parallel coordinates; PNG, and
HTML with plotly), OUT/tune.json, OUT/summary.md.

Selection uses the validation split only (--select-on, default the recipe's data.val_split);
no trial reads the test split. --test SPLIT scores the best trial once on SPLIT after the
search, and summary.md says so. SPACE.yaml: see docs/tune.md and configs/seed00*/tune.yaml.
Exit code: 0 when every trial finished without error, 1 when one failed.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "tune",
        help="hyper-parameter search over a recipe (Optuna): pruning, resume, parallel trials",
        description="Search a training recipe's hyper-parameters: TPE, Gaussian-process or "
        "random sampling over a YAML space, per-epoch pruning, a resumable SQLite study, "
        "parallel workers; writes best.yaml, trials.csv, figures and summary.md.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", metavar="CONFIG.yaml", help="the training recipe to tune")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="fixed for every trial")
    p.add_argument("--space", required=True, metavar="SPACE.yaml", help="the search space")
    p.add_argument("--out", required=True, metavar="DIR", help="tune folder (study, trials)")
    p.add_argument("--trials", type=int, metavar="N", help="trials in total (default: the space's)")
    p.add_argument("--storage", metavar="URL", help="database URL (default: sqlite in DIR)")
    p.add_argument("--study-name", default="tune", help="study name in the storage")
    p.add_argument(
        "--heartbeat",
        type=float,
        default=15.0,
        metavar="S",
        help="seconds between a worker's heartbeats in the study's database; a worker silent "
        "for 4 is given up and its trial run again (default 15)",
    )
    p.add_argument("--sampler", choices=("tpe", "gp", "random"), help="default: the space's")
    p.add_argument("--pruner", choices=("median", "hyperband", "none"), help="default: the space's")
    p.add_argument("--metric", help="log.csv column to optimise (default: the space's, val_auc)")
    p.add_argument("--direction", choices=("maximize", "minimize"), help="default: the space's")
    p.add_argument("--seed", type=int, help="sampler seed (default: the space's)")
    p.add_argument(
        "--select-on",
        metavar="SPLIT",
        help="the split trials are judged on (default: the recipe's data.val_split)",
    )
    p.add_argument(
        "--test", metavar="SPLIT", help="after the search, score the best trial once on SPLIT"
    )
    add_mlflow_arg(p)
    add_engine_args(p)
    add_common(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..tune.claims import counts
    from ..tune.report import evaluate_best, write_report
    from ..tune.runner import TuneJob, import_optuna, run_tune
    from ..tune.space import load_space

    setup_logging(
        max(-1, args.verbose - args.quiet)
    )  # trial progress comes from _say, not epoch logs
    bad = [o for o in args.overrides if "=" not in o]
    if bad:
        raise UsageError(f"overrides must be KEY=VALUE, got {bad[0]!r}")
    if args.trials is not None and args.trials < 1:
        raise UsageError("--trials must be >= 1")
    if args.workers < 1:
        raise UsageError("--workers must be >= 1")
    if args.heartbeat <= 0:
        raise UsageError("--heartbeat must be > 0")
    if args.ray_address and args.engine != "ray":
        raise UsageError("--ray-address needs --engine ray")
    if args.test and args.select_on and args.test == args.select_on:
        raise UsageError(
            "--test and --select-on name the same split: selection would see test data"
        )
    import_optuna()
    spec = load_space(args.space)

    def pick(cli: Any, default: Any) -> Any:
        return default if cli is None else cli

    job = TuneJob(
        config=args.config,
        spec=spec,
        out=args.out,
        overrides=tuple(args.overrides),
        storage=args.storage,
        study_name=args.study_name,
        trials=pick(args.trials, spec.trials),
        sampler=pick(args.sampler, spec.sampler),
        pruner=pick(args.pruner, spec.pruner),
        metric=pick(args.metric, spec.metric),
        direction=pick(args.direction, spec.direction),
        seed=pick(args.seed, spec.seed),
        select_split=args.select_on,
        workers=args.workers,
        progress=not (args.quiet or args.json),
        heartbeat=args.heartbeat,
        engine=args.engine,
        ray_address=args.ray_address,
    )
    quiet = args.quiet or args.json
    study = run_tune(job, say=None if quiet else _say)
    test = evaluate_best(job, study, args.test, None if quiet else _say) if args.test else None
    report = write_report(job, study, test)
    if args.mlflow:
        from ..tracking import mlflow_log_tune
        from ..tune.report import trial_rows

        report["mlflow"] = {
            "uri": args.mlflow,
            "new_runs": mlflow_log_tune(args.mlflow, report, trial_rows(study)),
        }
    if args.json:
        print_json(report)
    elif not args.quiet:
        print((Path(report["out"]) / "summary.md").read_text())
    c = counts(study)
    return EXIT_ITEM_FAILED if c["FAIL"] or c["COMPLETE"] == 0 else EXIT_OK


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
