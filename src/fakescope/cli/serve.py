"""``fakescope serve``: the REST API, its job queue and worker pool, with uvicorn."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .common import EXIT_OK, UsageError, setup_logging

EXAMPLES = """\
examples:
  fakescope serve                                    # http://127.0.0.1:8000, data in ./fakescope-data
  fakescope serve --data /srv/fakescope --workers 2  # two scan processes
  fakescope serve --token-file token.txt             # every request but /healthz and /readyz
                                                     # needs 'Authorization: Bearer TOKEN'
  fakescope serve --db postgresql://user@db/fakescope --models runs/   # another job store;
                                                     # the checkpoints in runs/ as detectors
  fakescope serve --runs runs/                       # the dashboard of your evaluation runs
  curl -F file=@video.mp4 -F detectors=default -F report=yes http://127.0.0.1:8000/v1/scans

The web page is at / (upload, progress, verdict, report, history; /ui/dashboard.html for the
runs). The API is described at /docs. Jobs survive a restart: the ones that were running are run
again and complete once. Uploads are kept under DATA/uploads by content hash.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="the REST service: upload videos, queue scans, read results and reports",
        description="Run the REST API (FastAPI + uvicorn) with a persistent job queue and a "
        "pool of scan workers.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--data", default="fakescope-data", metavar="DIR", help="uploads, results, jobs")
    p.add_argument("--workers", type=int, default=1, metavar="K", help="scan processes (default 1)")
    p.add_argument(
        "--max-upload-mb", type=float, default=2048, metavar="N", help="upload limit (2048 MiB)"
    )
    p.add_argument("--token-file", metavar="F", help="file holding the bearer token")
    p.add_argument("--db", metavar="URL", help="SQLAlchemy URL (default: DIR/jobs.sqlite)")
    p.add_argument("--models", metavar="DIR", help="folder of checkpoints offered as detectors")
    p.add_argument(
        "--runs", metavar="DIR", help="folder of evaluate/study/train outputs for the dashboard"
    )
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("--max-queue", type=int, default=100, metavar="N", help="queued jobs (100)")
    p.add_argument(
        "--max-per-client", type=int, default=8, metavar="N", help="active jobs per client (8)"
    )
    p.add_argument(
        "--retention-hours", type=float, default=168, metavar="H", help="keep jobs H hours (168)"
    )
    p.add_argument(
        "--job-timeout-min", type=float, default=60, metavar="M", help="one job's limit (60 min)"
    )
    p.add_argument(
        "--cors-origin", action="append", default=[], metavar="URL", help="allow this origin"
    )
    p.add_argument("-q", "--quiet", action="count", default=0, help="only errors")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log lines")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError

    setup_logging(args.verbose - args.quiet + 1)
    try:
        import uvicorn

        from ..serve import ServeSettings, create_app
        from ..serve.guard import lock_data_folder
        from ..serve.store import JobStore
    except ImportError as exc:
        raise UsageError(
            f"the service needs the 'serve' extra: pip install 'fakescope[serve]' ({exc})"
        ) from None
    if args.token_file and not Path(args.token_file).is_file():
        raise UsageError(f"--token-file {args.token_file}: no such file")
    for flag, folder in (("--runs", args.runs), ("--models", args.models)):
        if folder and not Path(folder).is_dir():
            raise UsageError(f"{flag} {folder}: no such folder")
    try:
        settings = ServeSettings(
            data=Path(args.data),
            db_url=args.db,
            workers=args.workers,
            max_upload_bytes=int(args.max_upload_mb * (1 << 20)),
            max_queue=args.max_queue,
            max_per_client=args.max_per_client,
            retention_s=args.retention_hours * 3600,
            job_timeout_s=args.job_timeout_min * 60,
            token_file=Path(args.token_file) if args.token_file else None,
            cors_origins=tuple(args.cors_origin),
            models=Path(args.models) if args.models else None,
            runs=Path(args.runs) if args.runs else None,
            device=args.device,
        )
        app = create_app(settings)
        settings.make_dirs()
        lock_data_folder(settings).close()  # a second server on this folder: say so now
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    try:
        JobStore(settings.database_url).dispose()
    except Exception as exc:  # a bad URL, a missing driver, a database that does not answer
        detail = " ".join(str(exc).split())[:300]
        raise UsageError(
            f"--db: cannot open the job store ({type(exc).__name__}: {detail})"
        ) from None
    level = "warning" if args.quiet else "info"
    uvicorn.run(app, host=args.host, port=args.port, log_level=level, timeout_graceful_shutdown=10)
    return EXIT_OK
