"""``fakescope weights``: list the published detectors that can be imported, and import one."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .common import EXIT_OK, UsageError, add_common, print_json, setup_logging

EXAMPLES = """\
examples:
  fakescope weights list
  fakescope weights list --json
  fakescope weights import mesonet4 Meso4_DF.h5 --out models/meso4-df
  fakescope weights import mesoinception4 MesoInception_DF.h5 --out models/mesoinc-df
  fakescope weights import dfdc_winner_b7 final_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_36 --out models/b7
  fakescope weights import mesonet4 https://raw.githubusercontent.com/DariusAf/MesoNet/master/weights/Meso4_DF.h5 --out models/meso4-df

Then: fakescope scan video.mp4 --model models/meso4-df

An import converts the published file (a local path, or a URL when online; downloads are
kept in ~/.cache/fakescope/weights) into a checkpoint folder: model.safetensors + card.json.
The card carries the input size, mean/std, crop settings, the label sense (fakescope's logit
is always "fake"; where the published output meant "real" or was a two-way softmax, the last
layer is converted and the card says how) and the licence. A file whose SHA-256 is known is
verified; --sha256 checks any file. Research-only weights are marked in 'weights list'. See
docs/weights.md.
"""

IMPORT_EXAMPLES = EXAMPLES[: EXAMPLES.index("\nThen:")].replace(
    "  fakescope weights list\n  fakescope weights list --json\n", ""
)
LIST_EXAMPLES = "examples:\n  fakescope weights list\n  fakescope weights list --json\n"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "weights",
        help="published detector weights: list the importable ones, import one",
        description="Published detector weights people can run: list what fakescope can "
        "import, and convert a published checkpoint into a fakescope checkpoint folder.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ws = p.add_subparsers(dest="weights_command", metavar="ACTION")
    ls = ws.add_parser(
        "list",
        help="the published checkpoints that can be imported",
        description="The published checkpoints fakescope can import: name, fakescope "
        "architecture, source project, licence, research-only or not, checksum known or not.",
        epilog=LIST_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(ls)
    ls.set_defaults(run=run_list)
    im = ws.add_parser(
        "import",
        help="convert a published checkpoint into a fakescope checkpoint folder",
        description="Convert a published checkpoint (a local file or a URL) into a fakescope "
        "checkpoint folder (model.safetensors + card.json) that scan, evaluate and calibrate "
        "load with --model.",
        epilog=IMPORT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    im.add_argument("name", metavar="NAME", help="importer name (fakescope weights list)")
    im.add_argument("source", metavar="SOURCE", help="the published file, or its URL")
    im.add_argument("--out", required=True, metavar="DIR", help="checkpoint folder to write")
    im.add_argument("--sha256", metavar="HEX", help="expected SHA-256 of the file (verified)")
    im.add_argument("--card-name", metavar="NAME", help="name written in the card")
    im.add_argument("--onnx", action="store_true", help="also export model.onnx (faster CPU scans)")
    add_common(im)
    im.set_defaults(run=run_import)
    p.set_defaults(run=lambda args: _usage(p))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    raise UsageError("name an action: list or import")


def run_list(args: argparse.Namespace) -> int:
    from ..importers import list_importers

    rows = [spec.row() for spec in list_importers()]
    if args.json:
        print_json(rows)
        return EXIT_OK
    head = ("name", "architecture", "licence", "research-only", "checksum", "source")
    table = [
        (
            r["name"],
            r["architecture"],
            _short(r["licence"]),
            "yes" if r["research_only"] else "no",
            "known" if r["checksum_known"] else "-",
            r["source"],
        )
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *table)]
    for line in (head, *table):
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip())
    return EXIT_OK


def _short(licence: str) -> str:
    return licence.split(":", 1)[0].split(" (", 1)[0]


def run_import(args: argparse.Namespace) -> int:
    from ..importers import import_weights
    from ..models.checkpoint import read_card

    setup_logging(args.verbose - args.quiet)
    out = import_weights(
        args.name,
        args.source,
        args.out,
        sha256=args.sha256,
        card_name=args.card_name,
        onnx=args.onnx,
    )
    card = read_card(out)
    origin = card.origin or {}
    if args.json:
        print_json({"checkpoint": str(out), "card": card.to_dict()})
    elif not args.quiet:
        m = card.model_config
        verified = "verified" if origin.get("checksum_verified") else "not verified (unknown file)"
        print(f"wrote {out} ({m.name}, {m.input_size} px, mean {list(m.mean)}, std {list(m.std)})")
        print(f"sha256 {origin.get('sha256')}: {verified}")
        print(f"label sense: {card.label_sense}")
        print(
            f"licence: {card.licence}" + (" (research only)" if origin.get("research_only") else "")
        )
        print(f"run it: fakescope scan VIDEO --model {out}")
    return EXIT_OK
