"""``fakescope scan``: videos in, calibrated verdicts, JSON and HTML reports out."""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import (
    EXIT_ITEM_FAILED,
    EXIT_OK,
    UsageError,
    add_common,
    add_engine_args,
    print_json,
    progress,
    setup_logging,
    video_inputs,
)

EXAMPLES = """\
examples:
  fakescope scan video.mp4                              # verdict + calibrated probability
  fakescope scan video.mp4 --report report.html         # self-contained HTML report
  fakescope scan video.mp4 --json > result.json         # the full ScanResult
  fakescope scan videos/ --out scans/ --workers 2       # a batch: scans/results.jsonl + .csv
  fakescope scan split.parquet --out scans/ --reports   # a manifest; one HTML report per video
  fakescope scan video.mp4 --model runs/mine/best       # your own checkpoint
  fakescope scan talk.mp4 --model avsync --report r.html # lips vs speech, per 1-s segment

The probability is calibrated (temperature from the model card) and aggregated over the
sampled frames: per frame the most suspicious face, then the mean over frames. A video with
no detectable face gets status no_face and no probability. Exit code: 0 when no input failed,
1 when one did (the others are still scanned), 2 on usage errors.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "scan",
        help="scan videos: calibrated fake probability, per face and per frame; JSON + HTML",
        description="Scan videos with a detector: a calibrated probability that each video is "
        "fake, per face track and per sampled frame, as JSON and a self-contained HTML report.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="PATH", help="video, folder, CSV list or manifest")
    p.add_argument(
        "--model",
        default="default",
        help="'default' or 'avsync' (shipped; avsync: audio-visual sync) or a checkpoint folder",
    )
    p.add_argument(
        "--frames", type=int, metavar="N", help="frames sampled per video (default: the card's, 32)"
    )
    p.add_argument("--device", default="auto", help="auto (GPU when there is one), cpu or cuda")
    p.add_argument(
        "--aggregation",
        choices=["mean_of_max", "topk", "max_track"],
        help="video score: mean over frames of the top face (default, from the card), mean of "
        "the top-k frames, or the most suspicious face track",
    )
    p.add_argument("--report", metavar="FILE.html", help="HTML report (one input)")
    p.add_argument("--reports", action="store_true", help="an HTML report per video in OUT/reports")
    p.add_argument(
        "--out", metavar="DIR", help="folder for batch results (results.jsonl, results.csv)"
    )
    p.add_argument(
        "--cache", metavar="DIR", help="crop cache (default $FAKESCOPE_CACHE or a temp folder)"
    )
    add_engine_args(p)
    add_common(p)
    p.set_defaults(run=run)


def make_scan_job(
    model: str,
    frames: int | None,
    device: str,
    cache: str | None,
    reports: str | None,
    aggregation: str | None = None,
) -> Callable[[str], dict[str, Any]]:
    """Per worker: load the model once; per video: the ScanResult as a dict (+ report path).

    A ``StagedJob``: in one process the next video's decoding and face detection overlap the
    network pass and the report of the current one."""
    from ..inference.scan import Scanner, ScanResult

    scanner = Scanner(model, frames=frames, device=device, cache=cache, aggregation=aggregation)

    def to_row(result: ScanResult) -> dict[str, Any]:
        row = result.to_dict()
        if reports:
            from ..reporting import write_report

            path = result.path
            digest = hashlib.sha1(path.encode()).hexdigest()[:8]
            out = Path(reports) / f"{Path(path).stem}-{digest}.html"
            try:
                row["report"] = str(write_report(result, out, scanner.detector))
            except (OSError, RuntimeError) as exc:
                row["warnings"].append(f"report not written: {exc}")
        return row

    job: Callable[[str], dict[str, Any]] = scanner.staged_job(to_row)
    return job


def frames_ignored(card: Any, frames: int | None) -> str | None:
    """The warning for ``--frames`` on a model that samples at its own rate (an av card:
    consecutive frames at the card's FPS, as ``inference.pipeline.extract_settings_for``), or
    None when ``--frames`` applies (or was not given)."""
    audio = card.audio or {}
    if frames is None or (card.model or {}).get("kind") != "av" or "sampling" not in audio:
        return None
    return (
        f"--frames {frames} ignored: {card.name} is an audio-visual model and samples frames "
        f"at its card's rate ({audio['sampling']})"
    )


def _line(row: dict[str, Any]) -> str:
    name = Path(row["path"]).name
    if row["status"] == "ok":
        return f"{name}: {row['verdict'].upper()} (probability of fake {row['probability']:.1%}, {len(row['tracks'])} face track(s))"
    if row["status"] == "no_face":
        return f"{name}: no face found ({row.get('reason')})"
    if row["status"] == "no_audio":
        return f"{name}: not scored ({row.get('reason')})"
    return f"{name}: failed: {row.get('error')}"


def run(args: argparse.Namespace) -> int:
    import csv
    import io

    from .._atomic import atomic_write_bytes
    from ..engines import ResultLog, create_engine
    from ..errors import ConfigError

    setup_logging(args.verbose - args.quiet)
    if args.frames is not None and args.frames < 1:
        raise UsageError("--frames must be >= 1")
    inputs = video_inputs(args.inputs)
    if args.report and len(inputs) > 1:
        raise UsageError("--report writes one file: use --reports --out DIR for several videos")
    out = Path(args.out) if args.out else None
    if args.reports and out is None:
        raise UsageError("--reports needs --out DIR")
    from ..models.checkpoint import read_card

    card = read_card(args.model)  # fail fast on a bad model, before the batch
    ignored = frames_ignored(card, args.frames)
    if ignored:
        logging.getLogger(__name__).warning(ignored)
    reports = str(out / "reports") if (args.reports and out) else None
    try:
        engine = create_engine(args.engine, min(args.workers, len(inputs)), args.ray_address)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    job_args = (str(args.model), args.frames, args.device, args.cache, reports, args.aggregation)
    rows: dict[str, dict[str, Any]] = {}
    log = ResultLog(out / "results.jsonl") if out else None
    if log is not None:
        log.path.unlink(missing_ok=True)
    single = len(inputs) == 1 and args.report
    with progress(
        len(inputs), "scan", enabled=not args.json and not args.quiet and len(inputs) > 1
    ) as bar:
        if single:
            from ..inference.scan import Scanner
            from ..reporting import write_report

            scanner = Scanner(
                args.model,
                frames=args.frames,
                device=args.device,
                cache=args.cache,
                aggregation=args.aggregation,
            )
            result = scanner(inputs[0])
            row = result.to_dict()
            row["report"] = str(write_report(result, args.report, scanner.detector))
            results: Any = [(inputs[0], row)]
        else:
            results = engine.map(make_scan_job, inputs, job_args)
        for path, row in results:
            if isinstance(row, BaseException):
                row = {
                    "path": path,
                    "status": "failed",
                    "error": f"{path}: {' '.join(str(row).split())}",
                    "probability": None,
                    "verdict": None,
                    "tracks": [],
                }
            if ignored and isinstance(row.get("warnings"), list):
                row["warnings"].append(ignored)
            rows[path] = row
            if log is not None:
                log.write(row)
            bar.update(1)
            if not args.json and not args.quiet and len(inputs) > 1:
                bar.write(_line(row), file=sys.stdout)
    if log is not None:
        log.close()
    ordered = [rows[p] for p in inputs]
    if out is not None:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["path", "status", "probability", "verdict", "tracks", "error", "report"])
        for r in ordered:
            w.writerow(
                [
                    r["path"],
                    r["status"],
                    r.get("probability"),
                    r.get("verdict"),
                    len(r.get("tracks", [])),
                    r.get("error"),
                    r.get("report"),
                ]
            )
        atomic_write_bytes(out / "results.csv", buf.getvalue().encode())
    failed = sum(r["status"] == "failed" for r in ordered)
    if args.json:
        print_json(ordered[0] if len(ordered) == 1 else ordered)
    elif not args.quiet:
        if len(ordered) == 1:
            print(_line(ordered[0]))
        else:
            ok = sum(r["status"] == "ok" for r in ordered)
            fake = sum(r.get("verdict") == "fake" for r in ordered)
            print(
                f"{len(ordered)} video(s): {ok} scanned ({fake} fake), {sum(r['status'] == 'no_face' for r in ordered)} no face, {failed} failed"
            )
        if args.report:
            print(f"report: {args.report}")
        if out is not None:
            print(f"results: {out / 'results.jsonl'}, {out / 'results.csv'}")
    return EXIT_ITEM_FAILED if failed else EXIT_OK
