"""``fakescope train``: train a detector from a YAML recipe on cached face crops."""

from __future__ import annotations

import argparse
from typing import Any

from .common import EXIT_OK, UsageError, add_common, add_mlflow_arg, print_json, setup_logging

EXAMPLES = """\
examples:
  fakescope train configs/default.yaml
  fakescope train configs/default.yaml train.epochs=2 optim.lr=3e-4 name=quick
  fakescope train recipe.yaml --resume                      # continue RUN/last.pt
  fakescope train recipe.yaml --mlflow runs/mlruns          # also log to MLflow (a file store)
  torchrun --nproc_per_node 4 -m fakescope train recipe.yaml   # multi-GPU (DDP)

The config names a manifest with splits (fakescope datasets split) and the output folder of
'fakescope extract' over it (data.crops). Every key can be overridden as KEY=VALUE (YAML
values). The run folder (out/name) gets config.yaml (resolved), log.csv, tensorboard/ when
installed, last.pt (to resume) and best/ (the checkpoint with the best validation AUC:
model.safetensors + card.json, loadable with fakescope.load_detector).

A signals model (model.name: signals_gbm) is fitted once on the forensic signals of the train
split; its crops must come from 'fakescope extract --context'. best/ then holds card.json and
the fitted classifier (model.skops, or model.joblib without skops: only load trusted ones).
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train a detector (recipes, SBI, early stopping, checkpoints)",
        description="Train a detector on cached face crops: AdamW + warmup-cosine, staged "
        "freezing, AMP, clipping, class balance, early stopping on val AUC, resume.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", metavar="CONFIG.yaml", help="training recipe")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--resume", action="store_true", help="continue from RUN/last.pt")
    add_mlflow_arg(p)
    add_common(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import csv

    from ..tracking import mlflow_log
    from ..training.config import load_train_config
    from ..training.trainer import train

    setup_logging(args.verbose - args.quiet + (0 if args.json else 1))
    bad = [o for o in args.overrides if "=" not in o]
    if bad:
        raise UsageError(f"overrides must be KEY=VALUE, got {bad[0]!r}")
    config = load_train_config(args.config, args.overrides)
    best = train(config, resume=args.resume, progress=not args.json and not args.quiet)
    log_rows = list(csv.DictReader(open(config.run_dir / "log.csv")))  # noqa: SIM115
    result: dict[str, Any] = {"run": str(config.run_dir), "best": str(best), "epochs": log_rows}
    result["mlflow"] = mlflow_log(args, "train", config.run_dir)
    if args.json:
        print_json(result)
    elif not args.quiet:
        print(f"best checkpoint: {best}  (log: {config.run_dir / 'log.csv'})")
    return EXIT_OK
