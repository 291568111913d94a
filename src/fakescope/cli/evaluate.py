"""``fakescope evaluate`` and ``fakescope calibrate``: a detector on a manifest split."""

from __future__ import annotations

import argparse
from pathlib import Path
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
  fakescope evaluate --model default --manifest split.parquet --split test --out eval/
  fakescope evaluate --model runs/mine/best --manifest split.parquet --split test --out eval/ --workers 2
  fakescope calibrate --model runs/mine/best --manifest split.parquet --split val --out runs/mine/calibrated

Videos are extracted through the crop cache with the checkpoint's own settings (detector,
crop margin and size, frames per video), so a second evaluation is fast. The run folder gets
metrics.json (video- and frame-level AUC, AP, EER, FPR at 95% TPR, accuracy/precision/recall/F1
at the card's threshold and at the EER threshold, ECE, Brier, 95% bootstrap intervals over
videos, breakdowns per dataset, method and compression), summary.md, predictions.csv,
frames.csv, roc/pr/reliability/histogram PNGs and failures.png (the most confident mistakes).
"""


def _shared(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="default", help="'default' or a checkpoint folder")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--manifest", metavar="FILE", help="manifest with a split column")
    src.add_argument(
        "--dataset",
        nargs=2,
        metavar=("NAME", "ROOT"),
        help="index a benchmark folder on the fly (e.g. --dataset celebdf-v2 ~/Celeb-DF-v2)",
    )
    p.add_argument(
        "--cache", metavar="DIR", help="crop cache (default $FAKESCOPE_CACHE or OUT/cache)"
    )
    p.add_argument("--frames", type=int, metavar="N", help="frames per video (default: the card's)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    add_engine_args(p)
    add_common(p)


def register(sub: Any) -> None:
    ev = sub.add_parser(
        "evaluate",
        help="every metric of a detector on a manifest split, with intervals",
        description="Evaluate a detector on a manifest split: metrics with bootstrap intervals, "
        "breakdowns, plots and the most confident mistakes.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ev.add_argument(
        "--split",
        help="split to evaluate: default 'test' (with --dataset: the official test videos, or "
        "every video when the benchmark has no official split); 'all' for every row",
    )
    ev.add_argument("--out", required=True, metavar="DIR", help="run folder for the results")
    ev.add_argument(
        "--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (0 = none)"
    )
    _shared(ev)
    ev.set_defaults(run=run_evaluate)

    ca = sub.add_parser(
        "calibrate",
        help="fit temperature scaling on a split; write a calibrated copy of the checkpoint",
        description="Fit the temperature that makes the detector's frame probabilities "
        "calibrated on a (validation) split and write a copy of the checkpoint with it.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ca.add_argument("--split", default="val", help="split to fit on (default val)")
    ca.add_argument(
        "--out", required=True, metavar="DIR", help="folder for the calibrated checkpoint"
    )
    _shared(ca)
    ca.set_defaults(run=run_calibrate)


def _score(args: argparse.Namespace, out: Path) -> tuple[Any, Any, list[str], dict[str, Any], Any]:
    import os

    from ..datasets import read_manifest
    from ..engines import create_engine
    from ..evaluation.protocol import extract_settings_for, score_videos
    from ..models.checkpoint import read_card

    setup_logging(args.verbose - args.quiet)
    card = read_card(args.model)
    if args.dataset:
        from ..datasets import Manifest, index_dataset

        name, root = args.dataset
        indexed, _report, data_root = index_dataset(root, name)
        manifest = Manifest(indexed, data_root)
    else:
        manifest = read_manifest(args.manifest)
    table = manifest.table
    if args.split is None:
        has_test = bool((table["split"] == "test").any())
        args.split = "test" if (has_test or not args.dataset) else "all"
    if args.split != "all":
        table = table[table["split"] == args.split].reset_index(drop=True)
    if not len(table):
        where = args.manifest or " ".join(args.dataset)
        raise UsageError(f"{where}: no videos in split '{args.split}' (official splits only)")
    paths = manifest.absolute_paths_of(table)
    settings = extract_settings_for(card, args.frames)
    cache = args.cache or os.environ.get("FAKESCOPE_CACHE") or str(out / "cache")
    engine = create_engine(args.engine, args.workers, args.ray_address)
    with progress(len(paths), "score", enabled=not (args.json or args.quiet)) as bar:
        scored = score_videos(paths, str(args.model), settings, cache, engine, bar)
    return table, card, paths, scored, manifest


def run_evaluate(args: argparse.Namespace) -> int:
    from ..evaluation.protocol import evaluate_table

    out = Path(args.out)
    table, card, paths, scored, _ = _score(args, out)
    metrics = evaluate_table(table, scored, paths, card, out, n_boot=args.bootstrap)
    if args.json:
        print_json(metrics)
    elif not args.quiet:
        print((out / "summary.md").read_text())
        print(f"results: {out}")
    return EXIT_OK


def run_calibrate(args: argparse.Namespace) -> int:
    import shutil

    import numpy as np

    from .._atomic import atomic_write_json
    from ..evaluation.metrics import expected_calibration_error
    from ..evaluation.protocol import frame_logits
    from ..inference import TemperatureScaler, sigmoid
    from ..models.checkpoint import _resolve

    out = Path(args.out)
    table, card, paths, scored, _ = _score(args, out)
    logits, labels = [], []
    for (_, row), path in zip(table.iterrows(), paths):
        r = scored.get(path, {})
        if r.get("scores"):
            z, _frames = frame_logits(r)
            logits.append(z)
            labels.append(np.full(len(z), int(row["label"])))
    if not logits:
        raise UsageError("no scored frames to calibrate on")
    z, y = np.concatenate(logits), np.concatenate(labels)
    scaler = TemperatureScaler().fit(z, y)
    before = expected_calibration_error(y, sigmoid(z / float(card.temperature)))
    after = expected_calibration_error(y, scaler.predict_proba(z))
    src = _resolve(args.model)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / "model.safetensors", out / "model.safetensors")
    if (src / "model.onnx").is_file():
        shutil.copy2(src / "model.onnx", out / "model.onnx")
    card.temperature = float(scaler.temperature_)
    card.metrics = {**card.metrics, "calibration": {
        "split": args.split, "frames": len(z), "temperature": card.temperature,
        "ece_before": before, "ece_after": after}}  # fmt: skip
    atomic_write_json(out / "card.json", card.to_dict(), indent=2)
    result = {
        "checkpoint": str(out),
        "temperature": card.temperature,
        "frames": len(z),
        "ece_before": before,
        "ece_after": after,
    }
    if args.json:
        print_json(result)
    elif not args.quiet:
        print(
            f"temperature {card.temperature:.3f} fitted on {len(z)} frames: ECE {before:.3f} -> {after:.3f}; checkpoint: {out}"
        )
    return EXIT_OK
