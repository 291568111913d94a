"""``fakescope ensemble build``: stack detectors of several families into one checkpoint."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .common import (
    EXIT_OK,
    UsageError,
    add_common,
    add_engine_args,
    print_json,
    progress,
    setup_logging,
)

EXAMPLES = """\
examples:
  fakescope ensemble build runs/frame/best runs/clip/best runs/signals/best --manifest split.parquet --out models/ens
  fakescope ensemble build default runs/clip/best --manifest split.parquet --split val --out models/ens --stacker gbm
  fakescope ensemble build runs/frame/best runs/clip/best --manifest split.parquet --out models/ens --name ens-v2 --json

Then: fakescope scan video.mp4 --model models/ens   (and evaluate --model models/ens)

Every member scores the split's videos from one shared extraction (crops, context windows and
frame runs cached once; crop geometry must agree across members). The stacker (logistic
regression on each member's calibrated video logit plus a missing flag, or a small
gradient-boosted model) is fitted on those videos: choose a split none of the members trained
on. A member that cannot score a video (no audio, a track too short) is left out for that
video, and the stacker learns to expect it. The threshold is Youden's J on cross-fitted,
calibrated stacked scores. The folder gets card.json, MODEL_CARD.md (members, weights, AUC of
each alone), stacking.csv (each video's member logits) and members/NAME/ (each member's own
checkpoint). See docs/ensemble.md.
"""

BUILD_EXAMPLES = EXAMPLES


def register(sub: Any) -> None:
    p = sub.add_parser(
        "ensemble",
        help="stack detectors of several families into one checkpoint",
        description="Ensembles: detectors of several families (frame, clip, signals, flow, "
        "audio-visual) stacked into one checkpoint that scan, evaluate and serve load like any "
        "detector.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    es = p.add_subparsers(dest="ensemble_command", metavar="ACTION")
    b = es.add_parser(
        "build",
        help="score members on a split, fit the stacker, write the ensemble checkpoint",
        description="Score every member checkpoint on a manifest split through one shared "
        "extraction, fit the stacker on their calibrated video logits, choose the threshold, "
        "and write the ensemble checkpoint folder.",
        epilog=BUILD_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    b.add_argument(
        "members", nargs="+", metavar="MEMBER", help="member checkpoint folders or shipped names"
    )
    b.add_argument("--manifest", required=True, metavar="FILE", help="manifest with a split column")
    b.add_argument("--split", default="val", help="split the stacker is fitted on (default val)")
    b.add_argument("--out", required=True, metavar="DIR", help="ensemble checkpoint folder")
    b.add_argument(
        "--stacker", default="logistic", choices=["logistic", "gbm"], help="default logistic"
    )
    b.add_argument("--name", metavar="NAME", help="the ensemble's name in its card")
    b.add_argument(
        "--member-names",
        metavar="A,B,...",
        help="comma list naming the members (default: their cards' names)",
    )
    b.add_argument("--seed", type=int, default=0, help="seed of the stacker and its folds")
    b.add_argument("--C", type=float, default=1.0, help="logistic: inverse L2 strength")
    b.add_argument("--frames", type=int, help="frames per video for uniform-sampling members")
    b.add_argument(
        "--cache",
        metavar="DIR",
        help="crop cache (default $FAKESCOPE_CACHE, else the system temp folder's fakescope-cache, as scan)",
    )
    b.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    add_engine_args(b)
    add_common(b)
    b.set_defaults(run=run_build)
    p.set_defaults(run=lambda args: _usage(p))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    raise UsageError("name an action: build")


def run_build(args: argparse.Namespace) -> int:
    from ..engines import create_engine
    from ..evaluation.ensemble_build import build_ensemble
    from ..models import resolve_device

    setup_logging(args.verbose - args.quiet)
    names = [n.strip() for n in args.member_names.split(",")] if args.member_names else None
    engine = create_engine(args.engine, args.workers, args.ray_address)
    with progress(0, "score", enabled=not (args.json or args.quiet)) as bar:
        summary = build_ensemble(
            args.members, args.manifest, args.split, args.out, stacker=args.stacker,
            name=args.name, names=names, seed=args.seed, C=args.C, cache=args.cache,
            engine=engine, device=resolve_device(args.device), frames=args.frames, progress=bar,
        )  # fmt: skip
    if args.json:
        print_json(summary)
    elif not args.quiet:
        print(
            f"ensemble '{summary['name']}' ({summary['stacker']}) fitted on {summary['videos']} "
            f"videos of split '{args.split}': cross-fitted AUC {_f(summary['auc_crossfit'])}, "
            f"threshold {summary['threshold']:.3f}"
        )
        for m in summary["members"]:
            print(
                f"  {m['name']:<20} {m['family']:<8} weight {_f(m['weight'])}  answered "
                f"{m['answered']}/{summary['videos']}  AUC alone {_f(m['val_auc'])}"
            )
        if summary["dropped"]:
            print(f"  dropped (answered no video): {', '.join(summary['dropped'])}")
        print(
            f"checkpoint: {summary['checkpoint']}  (fakescope scan VIDEO --model {summary['checkpoint']})"
        )
    return EXIT_OK


def _f(v: Any) -> str:
    return "–" if v is None else f"{v:.3f}"
