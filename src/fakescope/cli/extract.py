"""``fakescope extract``: faces of many videos into the crop cache."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import __version__
from .._atomic import atomic_write_json
from ..errors import ConfigError
from ..io import parse_sampling
from .common import (
    EXIT_ITEM_FAILED,
    EXIT_OK,
    UsageError,
    add_common,
    add_engine_args,
    parse_options,
    print_json,
    progress,
    setup_logging,
    video_inputs,
)

EXAMPLES = """\
examples:
  fakescope extract video.mp4 --out faces/ --preview
  fakescope extract data/FaceForensics++ --out ff_faces/ --frames 32 --workers 2
  fakescope extract list.csv --out faces/ --sampling fps:5 --detector dlib
  fakescope extract clips/ --out faces/ --detector-opt max_side=0   # small faces: full resolution
  fakescope extract manifest.parquet --out faces/ --engine ray --ray-address auto
  fakescope extract manifest.parquet --out faces/ --frames 16 --context   # for a signals model
  fakescope extract manifest.parquet --out faces/ --frames 38 --context-run 9   # a flow model
  fakescope extract manifest.parquet --out faces/ --sampling fps:5 --audio   # audio-visual

Inputs are video files, folders (searched recursively for video extensions, any case),
manifests written by 'fakescope datasets' (.parquet) or CSV files with a 'path' column. Crops go to a content-addressed cache (default OUT/cache, or
$FAKESCOPE_CACHE): a second run over the same inputs and settings is served from it, and a
killed run resumes where it stopped. Rows stream to OUT/results.jsonl as videos finish;
OUT/summary.json lists every input with its status
(ok, no_face, failed). Exit code: 0 when no input failed, 1 when one did, 2 on usage errors.

sampling: uniform:N (N evenly spaced frames), fps:F (F per second), segments:S[:N]
(consecutive S-second clips, optionally their first N frames), all (every frame).
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "extract",
        help="sample frames, detect and track faces, cache the crops",
        description="Sample frames, detect and track every face, write square face crops "
        "(lossless PNG) with their boxes, landmarks and track ids to a cache.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video file, folder or CSV list")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (summary, previews)")
    s = p.add_argument_group("sampling")
    m = s.add_mutually_exclusive_group()
    m.add_argument("--frames", type=int, metavar="N", help="N evenly spaced frames (default 32)")
    m.add_argument("--sampling", metavar="SPEC", help="uniform:N | fps:F | segments:S[:N] | all")
    f = p.add_argument_group("faces")
    f.add_argument(
        "--detector", default="yunet", help="face detector: yunet (default, fast) or dlib"
    )
    f.add_argument(
        "--detector-opt",
        action="append",
        metavar="KEY=VALUE",
        help="detector option, repeatable (yunet: score_threshold, max_side; dlib: upsample, model)",
    )
    f.add_argument("--margin", type=float, default=1.3, help="crop side = face box side x margin")
    f.add_argument("--size", type=int, default=256, help="crop size in pixels (default 256)")
    f.add_argument("--align", action="store_true", help="rotate crops so the eyes are level")
    f.add_argument(
        "--max-faces", type=int, default=0, metavar="K", help="largest K faces per frame"
    )
    f.add_argument(
        "--context",
        action="store_true",
        help="also keep a background window around each face and runs of consecutive frames "
        "(what the forensic signals and a signals model need; part of the cache key)",
    )
    f.add_argument(
        "--context-run",
        type=int,
        metavar="R",
        help="runs of R consecutive frames from each sampled frame (implies --context; default "
        "3; a flow model's frame pairs come from them, e.g. seed 003's preset: 9)",
    )
    r = p.add_argument_group("run")
    r.add_argument(
        "--cache", metavar="DIR", help="crop cache folder (default $FAKESCOPE_CACHE or OUT/cache)"
    )
    r.add_argument("--preview", action="store_true", help="write a contact sheet PNG per video")
    r.add_argument(
        "--audio",
        action="store_true",
        help="also store each video's sound track (16 kHz mono, lossless) beside its crops; "
        "without it audio-visual models decode it on first use. Cache keys do not change",
    )
    add_engine_args(p)
    add_common(p)
    p.set_defaults(run=run)


def settings_from_args(args: argparse.Namespace) -> Any:
    from ..extraction import ExtractSettings
    from ..faces import CropSettings

    if args.frames is not None and args.frames < 1:
        raise UsageError("--frames must be >= 1")
    sampling = f"uniform:{args.frames}" if args.frames else (args.sampling or "uniform:32")
    try:
        parse_sampling(sampling)
        crop = CropSettings(margin=args.margin, size=args.size, align=args.align)
        options = parse_options(args.detector_opt, "--detector-opt")
        return ExtractSettings(
            sampling=sampling,
            detector=args.detector,
            detector_options=tuple(sorted(options.items())),
            crop=crop,
            max_faces=args.max_faces,
            context=_context(args),
        )
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def _context(args: argparse.Namespace) -> Any:
    """``ContextSettings`` from ``--context`` / ``--context-run``, or None."""
    from ..extraction import ContextSettings

    run = getattr(args, "context_run", None)
    if run is not None:
        return ContextSettings(run=run)
    return ContextSettings() if getattr(args, "context", False) else None


def make_job(
    settings: Any, cache_dir: str, preview_dir: str | None, audio: bool = False
) -> Callable[[str], dict[str, Any]]:
    """Built once per worker process: extracts one video and returns its summary row."""
    from ..extraction import Extractor

    extractor = Extractor(settings, cache_dir)

    def job(path: str) -> dict[str, Any]:
        result = extractor(path)
        row = result.to_dict()
        if preview_dir and result.entry is not None:
            from ..reporting import contact_sheet

            name = f"{Path(path).stem}-{(result.cache_key or '')[:8]}.png"
            try:
                row["preview"] = str(contact_sheet(result.entry, Path(preview_dir) / name))
            except OSError as exc:
                row["warnings"].append(f"preview not written: {exc}")
        if audio and result.entry is not None:
            row["audio"] = _store_audio(result.entry, path, row)
        return row

    return job


def _store_audio(entry: Any, path: str, row: dict[str, Any]) -> str:
    """Decode and store the entry's sound track; ``ok``, ``none`` (no audio stream) or
    ``broken`` (its one-line error goes to the row's warnings: the faces stay usable)."""
    from ..errors import AudioError, FakescopeError

    try:
        return "none" if entry.load_audio(path) is None else "ok"
    except AudioError as exc:
        row["warnings"].append(str(exc))
        return "broken"
    except (FakescopeError, OSError) as exc:
        row["warnings"].append(f"audio not stored: {' '.join(str(exc).split())}")
        return "failed"


def run(args: argparse.Namespace) -> int:
    from ..engines import ResultLog, create_engine

    setup_logging(args.verbose - args.quiet)
    settings = settings_from_args(args)
    if args.workers < 1:
        raise UsageError("--workers must be >= 1")
    inputs = video_inputs(args.inputs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache_dir = args.cache or os.environ.get("FAKESCOPE_CACHE") or str(out / "cache")
    preview_dir = str(out / "previews") if args.preview else None
    # fail fast on a detector that cannot be built (missing extra, bad option), before the batch
    settings.make_detector()

    started = time.perf_counter()
    rows: dict[str, dict[str, Any]] = {}
    try:
        engine = create_engine(args.engine, min(args.workers, len(inputs)), args.ray_address)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    bar = progress(len(inputs), "extract", enabled=not args.json and args.quiet == 0)
    # rows stream to results.jsonl as they finish; summary.json is written once, at the end
    log = ResultLog(out / "results.jsonl")
    log.path.unlink(missing_ok=True)
    with bar, log:
        job_args = (settings, cache_dir, preview_dir, bool(getattr(args, "audio", False)))
        for path, result in engine.map(make_job, inputs, job_args):
            if isinstance(result, BaseException):
                msg = " ".join(str(result).split()) or type(result).__name__
                result = {
                    "path": path,
                    "status": "failed",
                    "error": f"{path}: {msg}",
                    "cached": False,
                }
            rows[path] = result
            log.write(result)
            bar.update(1)
            if result["status"] == "failed":
                bar.write(f"failed: {result['error']}", file=sys.stderr)
    videos = [rows[p] for p in inputs]
    counts = {k: sum(v["status"] == k for v in videos) for k in ("ok", "no_face", "failed")}
    summary = {
        "fakescope": __version__,
        "command": "extract",
        "settings": {
            "sampling": settings.sampling,
            "detector": settings.detector,
            "detector_options": dict(settings.detector_options),
            "crop": settings.crop.to_dict(),
            "max_faces": settings.max_faces,
            "context": settings.context.to_dict() if settings.context else None,
        },
        "cache": str(Path(cache_dir).resolve()),
        "seconds": round(time.perf_counter() - started, 3),
        "counts": counts,
        "videos": videos,
    }
    atomic_write_json(out / "summary.json", summary)
    if args.json:
        print_json(summary)
    elif args.quiet == 0:
        cached = sum(bool(v.get("cached")) for v in videos)
        print(
            f"{len(videos)} video(s): {counts['ok']} ok, {counts['no_face']} no face, "
            f"{counts['failed']} failed ({cached} from cache) in {summary['seconds']:.1f} s"
        )
        print(f"summary: {out / 'summary.json'}")
        if preview_dir:
            print(f"previews: {preview_dir}")
    return EXIT_ITEM_FAILED if counts["failed"] else EXIT_OK
