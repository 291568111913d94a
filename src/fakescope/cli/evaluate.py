"""``fakescope evaluate`` and ``fakescope calibrate``: a detector on a manifest split."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .common import (
    EXIT_OK,
    UsageError,
    add_common,
    add_engine_args,
    add_mlflow_arg,
    print_json,
    progress,
    setup_logging,
)
from .logo import add_logo_args, run_logo_cli
from .study import add_runs_args, run_runs_cli

EXAMPLES = """\
examples:
  fakescope evaluate --model default --manifest split.parquet --split test --out eval/
  fakescope evaluate --model runs/mine/best --manifest split.parquet --split test --out eval/ --workers 2
  fakescope evaluate --model default --manifest split.parquet --out eval/ --robustness
  fakescope evaluate --model default --manifest split.parquet --out eval/ --robustness jpeg:50,h264:40
  fakescope evaluate --model default --manifest fakeavceleb.parquet --out eval/ --by av_category,race
  fakescope evaluate --runs 3 --config configs/seed000/cpu_lite0.yaml --manifest split.parquet --out eval3/
      # train the recipe with 3 seeds, score each: every metric's mean ± std over the runs

Videos are extracted through the crop cache with the checkpoint's own settings (detector,
crop margin and size, frames per video), so a second evaluation is fast. The run folder gets
metrics.json (video- and frame-level AUC, AP, EER, FPR at 95% TPR, accuracy/precision/recall/F1
at the card's threshold and at the EER threshold, ECE, Brier, 95% bootstrap intervals over
videos, breakdowns per dataset, method, compression and --by columns (FakeAVCeleb's
categories by default) with AUC intervals, a leading-silence shortcut baseline on the videos
with audio beside the detector on the same videos, ECE and Brier before and after the
card's temperature, a cross-dataset table with the gap to in-domain AUC when the card names its
training benchmarks), summary.md, predictions.csv, frames.csv, roc/pr/reliability/histogram
PNGs and failures.png (the most confident mistakes); a signals model adds shap_summary.png
(each feature's SHAP contributions over the videos). --robustness adds the same video-level
metrics after JPEG re-compression of the crops and H.264 re-encoding / downscaling of the
videos (re-encoded copies are kept in CACHE/perturbed/, so a rerun resumes).
"""

CALIBRATE_EXAMPLES = """\
examples:
  fakescope calibrate --model runs/mine/best --manifest split.parquet --split val --out runs/mine/calibrated
  fakescope calibrate --model default --dataset ffpp ~/FaceForensics++ --split val --out calibrated/
  fakescope calibrate --model runs/mine/best --manifest split.parquet --out calibrated/ --method isotonic
  fakescope calibrate --model runs/mine/best --manifest split.parquet --out calibrated/ --level frame --json

The split is scored through the crop cache with the checkpoint's own settings. The output
folder gets a copy of the checkpoint whose card carries the fitted calibration (by default a
video-level map chosen by cross-validated NLL, with the threshold that maximises Youden's J;
with --level frame, a temperature on frame logits) and the ECE before and after.
"""

COMPARE_EXAMPLES = """\
examples:
  fakescope compare eval-ffpp/ eval-celebdf/ eval-dfdc/
  fakescope compare eval-ffpp/ eval-celebdf/ eval-sbi/ --out comparison/
  fakescope compare runs/*/eval --out comparison/ --json
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
    p.add_argument("--device", default="auto", help="auto (GPU when there is one), cpu or cuda")
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
    ev.add_argument(
        "--robustness",
        nargs="?",
        const="default",
        metavar="LIST",
        help="also evaluate after re-compression: 'default' (jpeg:100,90,75,50,30 on the crops; "
        "h264:23,32,40 and resize:480 on the whole video) or a comma list of jpeg:Q, "
        "h264:CRF[:PRESET], resize:SHORT[:CRF]; writes robustness.{json,md,png}",
    )
    ev.add_argument(
        "--by",
        metavar="COLS",
        help="comma list of manifest columns to break metrics down by, besides dataset, method "
        "and compression (default: av_category when the manifest has it, i.e. FakeAVCeleb's "
        "RVRA/RVFA/FVRA/FVFA)",
    )
    ev.add_argument(
        "--no-silence-baseline",
        action="store_true",
        help="skip the leading-silence shortcut baseline (decodes the audio and runs VAD on "
        "the evaluated videos and up to 2000 train videos; values are cached)",
    )
    _shared(ev)
    add_logo_args(ev)
    add_runs_args(ev)
    add_mlflow_arg(ev)
    ev.set_defaults(run=run_evaluate)

    ca = sub.add_parser(
        "calibrate",
        help="fit temperature scaling on a split; write a calibrated copy of the checkpoint",
        description="Fit the temperature that makes the detector's frame probabilities "
        "calibrated on a (validation) split and write a copy of the checkpoint with it.",
        epilog=CALIBRATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ca.add_argument("--split", default="val", help="split to fit on (default val)")
    ca.add_argument(
        "--level",
        default="video",
        choices=["video", "frame"],
        help="video (default): a map of the video score chosen by cross-validation on the "
        "split's videos, and the threshold maximising Youden's J; frame: temperature scaling "
        "of frame logits (v1)",
    )
    ca.add_argument(
        "--method",
        default="auto",
        choices=["auto", "temperature", "platt", "beta", "isotonic"],
        help="video-level map (default auto: the lowest cross-validated NLL)",
    )
    ca.add_argument(
        "--out", required=True, metavar="DIR", help="folder for the calibrated checkpoint"
    )
    _shared(ca)
    ca.set_defaults(run=run_calibrate)

    co = sub.add_parser(
        "compare",
        help="put evaluation runs side by side: ablation table and cross-dataset matrix",
        description="Read the metrics.json of several 'fakescope evaluate' runs: one row per run "
        "(video AUC with its interval, AP, EER, ECE, frame AUC) and the cross-dataset matrix "
        "(model and training benchmarks -> test benchmarks, with the gap to in-domain AUC).",
        epilog=COMPARE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    co.add_argument("runs", nargs="+", metavar="RUN", help="evaluation folders (or metrics.json)")
    co.add_argument("--out", metavar="DIR", help="write comparison.json and comparison.md here")
    add_common(co)
    co.set_defaults(run=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    from .._atomic import atomic_write_json, atomic_write_text
    from ..evaluation.compare import compare_markdown, compare_runs

    setup_logging(args.verbose - args.quiet)
    try:
        result = compare_runs(args.runs)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    text = compare_markdown(result)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "comparison.json", result, indent=2)
        atomic_write_text(out / "comparison.md", text)
    if args.json:
        print_json(result)
    elif not args.quiet:
        print(text)
    return EXIT_OK


@dataclass
class _Scored:
    """A split scored with a detector, and what scoring it took (to score it again)."""

    table: Any
    card: Any
    paths: list[str]
    scored: dict[str, Any]
    cache: str
    engine: Any
    settings: Any
    manifest: Any = None


def _score(args: argparse.Namespace, out: Path) -> _Scored:
    import os

    from ..datasets import read_manifest
    from ..engines import create_engine
    from ..evaluation.protocol import extract_settings_for, score_videos
    from ..models import resolve_device
    from ..models.checkpoint import read_card

    setup_logging(args.verbose - args.quiet)
    args.device = resolve_device(args.device)
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
        scored = score_videos(paths, str(args.model), settings, cache, engine, bar, args.device)
    return _Scored(table, card, paths, scored, cache, engine, settings, manifest)


def run_evaluate(args: argparse.Namespace) -> int:
    from ..evaluation.protocol import breakdown_columns, evaluate_table
    from ..tracking import mlflow_log

    if args.runs is not None:
        return run_runs_cli(args)
    if args.protocol == "logo":
        return run_logo_cli(args)
    out = Path(args.out)
    specs = None
    if args.robustness:
        from ..evaluation.robustness import parse_perturbations

        try:  # a bad list is a usage error before any work
            specs = [p.name for p in parse_perturbations(args.robustness)]
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
    run = _score(args, out)
    by = [c.strip() for c in args.by.split(",") if c.strip()] if getattr(args, "by", None) else None
    try:  # a --by column the manifest lacks: before any more work
        breakdown_columns(run.table, by)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    robustness = _robustness(args, run, specs, out) if specs else None
    shortcuts = None
    if not getattr(args, "no_silence_baseline", True):
        from ..evaluation.silence import evaluate_silence

        with progress(len(run.paths), "silence", enabled=not (args.json or args.quiet)) as bar:
            shortcuts = evaluate_silence(
                run.manifest, run.table, run.paths, run.cache, run.engine, bar,
                n_boot=args.bootstrap,
            )  # fmt: skip
    metrics = evaluate_table(
        run.table, run.scored, run.paths, run.card, out, n_boot=args.bootstrap,
        robustness=robustness, by=by, shortcuts=shortcuts,
    )  # fmt: skip
    mlflow_log(args, "evaluate", out)
    if args.json:
        print_json(metrics)
    elif not args.quiet:
        print((out / "summary.md").read_text())
        print(f"results: {out}")
    return EXIT_OK


def _robustness(
    args: argparse.Namespace, run: _Scored, specs: list[str], out: Path
) -> dict[str, Any]:
    from .._atomic import atomic_write_json, atomic_write_text
    from ..evaluation.protocol import (
        robustness_markdown,
        robustness_plot,
        robustness_table,
        run_jobs,
    )
    from ..evaluation.robustness import make_robustness_job

    job_args = (str(args.model), run.settings, run.cache, specs, args.device)
    with progress(len(run.paths), "perturb", enabled=not (args.json or args.quiet)) as bar:
        perturbed = run_jobs(make_robustness_job, job_args, run.paths, run.engine, bar)
    rob = robustness_table(
        run.table, run.scored, perturbed, run.paths, run.card, specs, n_boot=args.bootstrap
    )
    card = run.card
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "robustness.json", rob, indent=2)
    atomic_write_text(
        out / "robustness.md",
        "\n".join([f"# Robustness of `{card.name}` (video level)", "", *robustness_markdown(rob)]),
    )
    robustness_plot(rob, out)
    return rob


def run_calibrate(args: argparse.Namespace) -> int:
    import shutil

    from .._atomic import atomic_write_json
    from ..models.checkpoint import _resolve, estimator_files

    out = Path(args.out)
    run = _score(args, out)
    card = run.card
    fit = _fit_video(args, run) if args.level == "video" else _fit_frame(run)
    src = _resolve(args.model)
    out.mkdir(parents=True, exist_ok=True)
    for path in estimator_files(src):  # weights, ONNX export or a signals estimator
        shutil.copy2(path, out / path.name)
    if (src / "members").is_dir() and (out / "members").resolve() != (src / "members").resolve():
        shutil.copytree(src / "members", out / "members", dirs_exist_ok=True)  # an ensemble's
    card.temperature = float(fit.get("temperature", 1.0))
    card.calibration = fit.get("calibration")
    if "threshold" in fit:
        card.threshold = fit["threshold"]
    fitted = {k: v for k, v in fit.items() if k != "calibration"}
    card.metrics = {**card.metrics, "calibration": {"split": args.split, **fitted}}
    atomic_write_json(out / "card.json", card.to_dict(), indent=2)
    result = {"checkpoint": str(out), "split": args.split, **fit}
    if args.json:
        print_json(result)
    elif not args.quiet:
        what = fit.get("method", "temperature")
        print(
            f"{what} calibration fitted on {fit['units']} {args.level}s of split '{args.split}': "
            f"ECE {fit['ece_before']:.3f} -> {fit['ece_after']:.3f}"
            + (f"; threshold {card.threshold:.3f}" if "threshold" in fit else "")
            + f"; checkpoint: {out}"
        )
    return EXIT_OK


def _fit_video(args: argparse.Namespace, run: _Scored) -> dict[str, Any]:
    """A video-level map chosen by cross-validation on the split's videos, and the threshold
    that maximises Youden's J on them."""
    import numpy as np

    from ..evaluation.metrics import expected_calibration_error
    from ..evaluation.protocol import video_logit
    from ..inference import sigmoid
    from ..inference.video_calibration import VideoCalibrator, choose_threshold

    z, y = [], []
    for (_, row), path in zip(run.table.iterrows(), run.paths):
        r = run.scored.get(path, {})
        if r.get("scores"):
            z.append(video_logit(r, run.card.aggregation))
            y.append(int(row["label"]))
    if len(set(y)) < 2:
        raise UsageError(f"split '{args.split}' needs scored real and fake videos to calibrate on")
    zz, yy = np.asarray(z), np.asarray(y)
    methods = None if args.method == "auto" else (args.method,)
    cal = (VideoCalibrator(methods=methods) if methods else VideoCalibrator()).fit(zz, yy)
    probs = cal.predict_proba(zz)
    return {
        "level": "video", "units": len(zz), "method": cal.method_,
        "cv_nll": getattr(cal, "cv_nll_", None), "calibration": cal.to_dict(),
        "ece_before": expected_calibration_error(yy, sigmoid(zz)),
        "ece_after": expected_calibration_error(yy, probs),
        "threshold": choose_threshold(probs, yy), "temperature": 1.0,
    }  # fmt: skip


def _fit_frame(run: _Scored) -> dict[str, Any]:
    """Frame-level temperature scaling (the v1 calibration)."""
    import numpy as np

    from ..evaluation.metrics import expected_calibration_error
    from ..evaluation.protocol import frame_logits
    from ..inference import TemperatureScaler, sigmoid

    logits, labels = [], []
    for (_, row), path in zip(run.table.iterrows(), run.paths):
        r = run.scored.get(path, {})
        if r.get("scores"):
            z, _frames = frame_logits(r)
            logits.append(z)
            labels.append(np.full(len(z), int(row["label"])))
    if not logits:
        raise UsageError("no scored frames to calibrate on")
    z, y = np.concatenate(logits), np.concatenate(labels)
    scaler = TemperatureScaler().fit(z, y)
    return {
        "level": "frame", "units": len(z), "frames": len(z),
        "temperature": float(scaler.temperature_),
        "ece_before": expected_calibration_error(y, sigmoid(z / float(run.card.temperature))),
        "ece_after": expected_calibration_error(y, scaler.predict_proba(z)),
    }  # fmt: skip
