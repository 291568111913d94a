"""``fakescope evaluate --protocol logo``: leave one generator out, for a training recipe."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .common import EXIT_OK, UsageError, print_json, setup_logging

LOGO_HELP = (
    "split (default): score --model on one split. logo: leave one generator out: for every "
    "generator (manipulation method or source) of the manifest, train --config on the train "
    "split without it, calibrate on val without it, test on the test split's reals and its "
    "fakes; beside two shortcut baselines (file metadata only; linear probe on frozen ImageNet "
    "features) and a paired fake-vs-own-source check. Writes logo.json and logo.md"
)


def add_logo_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("leave-one-generator-out (--protocol logo)")
    g.add_argument("--protocol", default="split", choices=["split", "logo"], help=LOGO_HELP)
    g.add_argument(
        "--config",
        metavar="CONFIG.yaml",
        help="training recipe to judge (with --protocol logo or --runs N)",
    )
    g.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the recipe (repeatable; --protocol logo, --runs), e.g. "
        "--set train.epochs=3",
    )
    g.add_argument(
        "--generators", metavar="LIST", help="comma list of generators to hold out (default all)"
    )
    g.add_argument(
        "--generator-column",
        default="method",
        metavar="COL",
        help="manifest column naming the generator of a fake (default method)",
    )
    g.add_argument("--no-baselines", action="store_true", help="skip the two shortcut baselines")
    g.add_argument("--name", metavar="NAME", help="name of the candidate in the report")


def run_logo_cli(args: argparse.Namespace) -> int:
    from ..engines import create_engine
    from ..errors import ConfigError
    from ..evaluation.logo_run import run_logo
    from ..training.config import load_train_config

    setup_logging(args.verbose - args.quiet + (0 if (args.json or args.quiet) else 1))
    if not args.config:
        raise UsageError("--protocol logo needs --config CONFIG.yaml (the recipe to judge)")
    if not args.manifest:
        raise UsageError("--protocol logo needs --manifest (a manifest with identity splits)")
    bad = [o for o in args.overrides if "=" not in o]
    if bad:
        raise UsageError(f"--set expects KEY=VALUE, got {bad[0]!r}")
    config = load_train_config(args.config, args.overrides)
    if args.frames:
        config.data.frames_per_video = args.frames
    generators = [g.strip() for g in args.generators.split(",")] if args.generators else None
    engine = create_engine(args.engine, args.workers, args.ray_address)
    try:
        result = run_logo(
            config, args.manifest, args.out, column=args.generator_column,
            generators=generators, baselines=not args.no_baselines, n_boot=args.bootstrap,
            engine=engine, cache_dir=args.cache, name=args.name or Path(args.config).stem,
            progress=None if args.quiet or args.json else _say,
        )  # fmt: skip
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    from ..tracking import mlflow_log

    mlflow_log(args, "logo", Path(args.out))  # with --mlflow: one run, logo.json's numbers
    if args.json:
        print_json({k: v for k, v in result.items() if k != "predictions"})
    elif not args.quiet:
        print((Path(args.out) / "logo.md").read_text())
        print(f"results: {args.out}")
    return EXIT_OK


def _say(message: Any) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)
