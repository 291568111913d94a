"""``fakescope study``: a whole ablation study (recipes × training data × seeds) as one
command: train and score every run on one protocol, then the table and the figures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import (
    EXIT_ITEM_FAILED,
    EXIT_OK,
    add_common,
    add_engine_args,
    add_mlflow_arg,
    print_json,
    setup_logging,
)

EXAMPLES = """\
examples:
  fakescope study configs/seed000/study.yaml --out runs/seed000
  fakescope study configs/seed000/study-cpu.yaml --out runs/seed000-cpu --workers 2
  fakescope study study.yaml --out runs/ablation --engine ray --workers 4   # one run per GPU
  fakescope study study.yaml --out runs/ablation --dry-run     # the grid and what is done
  fakescope study study.yaml --out runs/ablation --report-only # table + figures, no training
  fakescope study study.yaml --out runs/ablation --mlflow runs/mlruns   # also log to MLflow

STUDY.yaml (config paths resolve against the YAML's folder; manifest and crops paths against
the current directory, like a 'fakescope train' recipe):

  name: backbones
  seeds: [42, 43]                     # each run trains once per seed
  overrides: {train.epochs: 25}       # for every run, before its own
  runs:
    - {id: b0, config: b0.yaml, label: EfficientNet-B0 frame}
    - id: b0-gru
      config: b0_bigru.yaml
      label: B0 + BiGRU
      overrides: {model: {pretrained: imagenet}, train.batch_size: 16}
  manifests:                          # every run trains on each
    - {name: ffpp, manifest: data/ffpp.parquet, crops: data/ffpp-crops, where: {compression: c23}}
  evaluate:
    split: test                       # in-domain test split of the training manifest
    bootstrap: 1000
    cross:
      - {name: celebdf, manifest: data/celebdf.parquet, crops: data/celebdf-crops, split: test}
  references:                         # dashed lines in the figures, never table rows
    - {label: SBI (Shiohara 2022), value: 0.9382, metric: cross_auc, cross: celebdf}

Each run lives in OUT/runs/RUN__MANIFEST__sSEED/ (the training run, per-video scores,
result.json). A run is done when its result.json exists: a rerun after a crash skips finished
runs, resumes a killed training from its last epoch and only re-scores runs whose evaluation
section changed. OUT/ablation.md and OUT/ablation.json hold the table (backbone, temporal or
not, trainable parameters, in-domain and cross-dataset AUC with 95% bootstrap intervals, the
gap, accuracy, minutes; mean ± std over seeds) and OUT/figures/ the figures. Exit code: 0 when
every run finished, 1 when one failed (its error is in the table and its failed.json).
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "study",
        help="an ablation study as one command: grid of runs -> table and figures",
        description="Train and evaluate a grid of runs (recipes × training manifests × seeds) "
        "on one protocol (in-domain test split + cross-dataset sets); resumable; writes "
        "ablation.md, ablation.json and figures.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("study", metavar="STUDY.yaml", help="the study (schema below)")
    p.add_argument(
        "--out", required=True, metavar="DIR", help="study folder (runs, table, figures)"
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--dry-run",
        action="store_true",
        help="list the grid and the state of each run; run nothing",
    )
    mode.add_argument(
        "--report-only",
        action="store_true",
        help="write the table and figures from the finished runs; train nothing",
    )
    add_engine_args(p)
    add_mlflow_arg(p)
    add_common(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..study import load_study, run_study
    from ..study.runner import grid_status
    from ..tracking import mlflow_log

    setup_logging(args.verbose - args.quiet + (0 if (args.json or args.quiet) else 1))
    study = load_study(args.study)
    out = Path(args.out)
    if args.dry_run:
        states = grid_status(study, out)
        if args.json:
            print_json([{"key": g.key, "state": s} for g, s in states])
        else:
            for g, s in states:
                print(f"{s:7s} {g.key}  ({g.run.label})")
        return EXIT_OK
    report = run_study(
        study,
        out,
        engine=args.engine,
        workers=args.workers,
        address=args.ray_address,
        report_only=args.report_only,
        progress=None if (args.quiet or args.json) else _say,
    )
    report["mlflow"] = mlflow_log(args, "study", out)
    if args.json:
        print_json({k: v for k, v in report.items() if k != "runs"})
    elif not args.quiet:
        print((out / "ablation.md").read_text())
        print(f"results: {out}")
    incomplete = report["failed"] or (report["pending"] and not args.report_only)
    return EXIT_ITEM_FAILED if incomplete else EXIT_OK


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


RUNS_HELP = (
    "multi-run protocol: train the recipe --config N times (seeds train.seed, +1, ...) on "
    "--manifest and its crops (data.crops), score each run on --split; OUT/ablation.md gives "
    "every metric's mean ± std over the runs beside each run's 95%% bootstrap intervals "
    "(resumable, as 'fakescope study'). Seed 004 averages 3 runs"
)


def add_runs_args(p: argparse.ArgumentParser) -> None:
    """``--runs N`` of ``fakescope evaluate`` (with ``--config`` and ``--set`` of the LOGO
    protocol's group)."""
    p.add_argument("--runs", type=int, metavar="N", help=RUNS_HELP)


def run_runs_cli(args: argparse.Namespace) -> int:
    """``fakescope evaluate --runs N --config RECIPE``: N seeds of one recipe as a study."""
    from ..errors import ConfigError
    from ..study import run_study
    from ..study.spec import recipe_study
    from .common import UsageError

    setup_logging(args.verbose - args.quiet + (0 if (args.json or args.quiet) else 1))
    if args.protocol != "split":
        raise UsageError("--runs works with --protocol split")
    if not args.config:
        raise UsageError("--runs needs --config CONFIG.yaml (the recipe to train N times)")
    if args.dataset:
        raise UsageError("--runs needs --manifest (a manifest with identity splits), not --dataset")
    try:
        study = recipe_study(
            args.config, args.overrides, args.manifest, args.runs, split=args.split or "test",
            bootstrap=args.bootstrap, frames=args.frames, name=args.name,
        )  # fmt: skip
        report = run_study(
            study, args.out, engine=args.engine, workers=args.workers, address=args.ray_address,
            progress=None if (args.quiet or args.json) else _say,
        )  # fmt: skip
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    from ..tracking import mlflow_log

    report["mlflow"] = mlflow_log(args, "study", Path(args.out))  # with --mlflow: as a study
    if args.json:
        print_json({k: v for k, v in report.items() if k != "runs"})
    elif not args.quiet:
        print((Path(args.out) / "ablation.md").read_text())
        print(f"results: {args.out}")
    return EXIT_ITEM_FAILED if report["failed"] else EXIT_OK
