"""Entry point of the ``fakescope`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import FakescopeError
from .common import EXIT_USAGE, UsageError

DESCRIPTION = """\
fakescope: detect deepfake videos.

Verbs:
  scan      scan videos: calibrated probability of fake, per face and frame; JSON + HTML
  extract   sample frames, find and track faces, write face crops to a cache
  datasets  index benchmarks into one manifest; split by identity; stats; audit files
  train     train a detector from a YAML recipe on cached crops
  evaluate  every metric of a detector on a manifest split, with intervals and plots
  calibrate fit temperature scaling on a split, write a calibrated checkpoint
  compare   evaluation runs side by side: ablation table, cross-dataset matrix
  ensemble  stack detectors of several families into one checkpoint (ensemble build)
  study     an ablation study as one command: recipes x data x seeds -> table, figures
  forensics handcrafted forensic signals per video, tested real vs fake per method
  serve     the REST service: upload videos, queue scans, read results and reports
  tune      hyper-parameter search over a recipe (Optuna): pruning, resume, parallel trials
  weights   published detector weights: list the importable ones, import one to scan with

Run 'fakescope VERB --help' for the options and examples of each verb.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fakescope",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fakescope {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="VERB")
    from . import datasets, ensemble, evaluate, extract, forensics, scan, serve, study, train, tune
    from . import weights as weights_cli

    scan.register(sub)
    extract.register(sub)
    datasets.register(sub)
    train.register(sub)
    evaluate.register(sub)
    ensemble.register(sub)
    study.register(sub)
    forensics.register(sub)
    serve.register(sub)
    tune.register(sub)
    weights_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.run(args))
    except UsageError as exc:
        print(f"fakescope {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FakescopeError as exc:
        print(f"fakescope {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
