"""``fakescope forensics``: seed 000's handcrafted signals over a manifest, tested per method."""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ConfigError
from .common import (
    EXIT_ITEM_FAILED,
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
  fakescope forensics ffpp.parquet --out forensics/
  fakescope forensics --dataset ffpp ~/data/FaceForensics++ --out forensics/ --workers 2
  fakescope forensics split.parquet --split test --out forensics/ --frames 16 --json
  fakescope forensics --dataset generic clips/ --out forensics/ --engine ray

Five signals per video (seed 000, Experiment 1): flicker_hll (3D wavelet flicker energy),
srm_sharpness (SRM noise gradient p90/median), noise_autocorr (frame-to-frame noise
correlation), color_wasserstein (face vs background colour histograms), flow_boundary
(Farneback flow discontinuity at the face edge, between truly consecutive frames). Videos are
extracted through the crop cache (default OUT/cache, or $FAKESCOPE_CACHE) with background
windows and short runs of consecutive frames; the signals are cached beside the crops, so a
rerun is fast and a killed run resumes.

OUT gets signals.csv and signals.parquet (one row per video: path, label, method, the five
signals, status and error), stats.json and stats.md (per dataset and compression, per
manipulation method: two-sided Mann-Whitney U, rank-biserial r, Cliff's delta, Holm
correction over the signals, SEPARATES/FAILS by the seed's p < 0.05 rule) and boxplots.png.
A video that fails is a row with its error; the exit code is 1 when one did, 2 on usage
errors.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "forensics",
        help="handcrafted forensic signals per video, tested real vs fake per method",
        description="Compute seed 000's five handcrafted forensic signals for every video of "
        "a manifest and test whether each separates real from fake videos, per manipulation "
        "method (Mann-Whitney U, effect sizes, Holm correction), with box plots.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("manifest", nargs="?", metavar="MANIFEST", help="manifest (.parquet or .csv)")
    p.add_argument(
        "--dataset",
        nargs=2,
        metavar=("NAME", "ROOT"),
        help="index a benchmark folder on the fly instead (e.g. --dataset ffpp ~/FaceForensics++)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--split", default="all", help="only this split of the manifest (default all)")
    s = p.add_argument_group("signals")
    s.add_argument(
        "--frames", type=int, default=32, metavar="N", help="sampled frames per video (seed: 32)"
    )
    s.add_argument(
        "--run",
        dest="run_length",  # args.run is the verb's function
        type=int,
        default=3,
        metavar="R",
        help="consecutive frames kept at each sampled time for the flow signal (default 3)",
    )
    s.add_argument("--detector", default="yunet", help="face detector: yunet (default) or dlib")
    s.add_argument("--alpha", type=float, default=0.05, help="significance level (seed: 0.05)")
    p.add_argument(
        "--cache", metavar="DIR", help="crop cache folder (default $FAKESCOPE_CACHE or OUT/cache)"
    )
    add_engine_args(p)
    add_common(p)
    p.set_defaults(run=run)


def _manifest(args: argparse.Namespace) -> Any:
    from ..datasets import Manifest, index_dataset, read_manifest

    if bool(args.manifest) == bool(args.dataset):
        raise UsageError("give a MANIFEST or --dataset NAME ROOT (one of them)")
    if args.dataset:
        name, root = args.dataset
        table, _report, data_root = index_dataset(root, name)
        if not len(table):
            raise UsageError(f"{root}: no videos found for dataset '{name}'")
        return Manifest(table, data_root)
    return read_manifest(args.manifest)


def _settings(args: argparse.Namespace) -> tuple[Any, Any]:
    from ..extraction import ContextSettings, ExtractSettings
    from ..forensics.signals import ForensicSettings

    if args.frames < 2:
        raise UsageError("--frames must be >= 2 (the signals compare frames)")
    if not 0.0 < args.alpha < 1.0:
        raise UsageError("--alpha must lie between 0 and 1")
    try:
        extract = ExtractSettings(
            sampling=f"uniform:{args.frames}",
            detector=args.detector,
            context=ContextSettings(run=args.run_length),
        )
    except ConfigError as exc:
        raise UsageError(str(exc).replace("context.run", "--run")) from None
    return extract, ForensicSettings()


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from .._atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
    from ..engines import create_engine
    from ..forensics.plots import signal_boxplots
    from ..forensics.signals import SIGNALS
    from ..forensics.stats import signal_stats, stats_markdown
    from ..forensics.video import make_signals_job

    setup_logging(args.verbose - args.quiet)
    if args.workers < 1:
        raise UsageError("--workers must be >= 1")
    extract, settings = _settings(args)
    manifest = _manifest(args)
    table = manifest.table
    if args.split != "all":
        if "split" not in table.columns or not (table["split"] == args.split).any():
            raise UsageError(f"no videos in split '{args.split}' (use --split all)")
        table = table[table["split"] == args.split]
    table = table.reset_index(drop=True)
    if not len(table):
        raise UsageError(f"{args.manifest or args.dataset[1]}: the manifest lists no videos")
    paths = manifest.absolute_paths_of(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache_dir = args.cache or os.environ.get("FAKESCOPE_CACHE") or str(out / "cache")
    extract.make_detector()  # a detector that cannot be built fails once, before the batch
    try:
        engine = create_engine(args.engine, min(args.workers, len(paths)), args.ray_address)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None

    started = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    with progress(len(paths), "forensics", enabled=not args.json and args.quiet == 0) as bar:
        job_args = (extract, settings, cache_dir)
        for path, result in engine.map(make_signals_job, paths, job_args):
            if isinstance(result, BaseException):
                msg = " ".join(str(result).split()) or type(result).__name__
                result = {"status": "failed", "error": f"{path}: {msg}"}
            results[path] = result
            bar.update(1)
            if result["status"] == "failed":
                bar.write(f"failed: {result['error']}", file=sys.stderr)

    rows = []
    for (_, rec), path in zip(table.iterrows(), paths):
        r = results[path]
        error = r.get("error")
        if error:  # the manifest's relative path, not this machine's absolute one
            error = str(error).replace(path, str(rec["path"]))
        row = {
            "path": rec["path"],
            "label": int(rec["label"]),
            "method": rec["method"],
            **{c: rec[c] for c in ("dataset", "compression", "subset") if c in table.columns},
            **{s: r.get(s) for s in SIGNALS},
            "status": r.get("status"),
            "error": error,
            "track": r.get("track"),
            "frames": r.get("frames", 0),
            "flow_pairs": r.get("pairs", 0),
        }
        rows.append(row)
    signals = pd.DataFrame(rows)
    for s in SIGNALS:
        signals[s] = pd.to_numeric(signals[s], errors="coerce").astype("float64")
    signals["track"] = pd.to_numeric(signals["track"], errors="coerce").astype("Int64")
    atomic_write_bytes(out / "signals.csv", signals.to_csv(index=False).encode())
    buf = io.BytesIO()
    signals.to_parquet(buf, index=False)
    atomic_write_bytes(out / "signals.parquet", buf.getvalue())

    stats = signal_stats(signals[signals["status"] == "ok"], SIGNALS, args.alpha)
    counts = {k: int((signals["status"] == k).sum()) for k in ("ok", "no_face", "failed")}
    source = (
        {"dataset": args.dataset[0], "root": Path(args.dataset[1]).name}
        if args.dataset
        else {"manifest": Path(args.manifest).name}
    )
    stats = {
        "fakescope": __version__,
        "command": "forensics",
        "source": source,
        "split": args.split,
        "extraction": {
            "sampling": extract.sampling,
            "detector": extract.detector,
            "crop": extract.crop.to_dict(),
            "context": extract.context.to_dict() if extract.context else None,
        },
        "signal_settings": settings.to_dict(),
        "counts": counts,
        **stats,
    }
    atomic_write_json(out / "stats.json", _no_nan(stats), indent=2)
    atomic_write_text(out / "stats.md", stats_markdown(stats))
    signal_boxplots(signals[signals["status"] == "ok"], out / "boxplots.png", SIGNALS)
    seconds = round(time.perf_counter() - started, 1)
    cached = sum(bool(r.get("cached")) for r in results.values())
    if args.json:
        print_json(_no_nan({**stats, "from_cache": cached, "seconds": seconds, "out": str(out)}))
    elif args.quiet == 0:
        print(
            f"{len(rows)} video(s): {counts['ok']} ok, {counts['no_face']} no face, "
            f"{counts['failed']} failed ({cached} from cache) in {seconds:.1f} s"
        )
        for g in stats["groups"]:
            verdicts = ", ".join(f"{s} {v['verdict']}" for s, v in g["summary"].items())
            print(f"  {g['group']}: {verdicts}")
        print(f"results: {out}")
    return EXIT_ITEM_FAILED if counts["failed"] else EXIT_OK


def _no_nan(value: Any) -> Any:
    """JSON has no NaN: missing numbers become null."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_no_nan(v) for v in value]
    return value
