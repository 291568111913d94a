"""The FastAPI application: ``create_app(settings)``.

Endpoints (errors are JSON ``{"error": "one line"}``)::

    POST   /v1/scans               upload (multipart field ``file``) -> 202 {"id"}; 200 when the
                                   same bytes with the same options were sent before
    GET    /v1/scans               jobs, newest first, paged (limit, offset)
    GET    /v1/scans/{id}          status, progress and one ScanResult per detector
    GET    /v1/scans/{id}/report   the HTML report (``report=yes`` at upload)
    DELETE /v1/scans/{id}          the job and its files -> 204
    GET    /v1/models              detectors offered (with cards) and the model registry
    GET    /healthz, /readyz       liveness, readiness (no token needed)
    GET    /v1/runs[/{id}[/files/NAME]]  the dashboard's runs (``--runs DIR``)
    GET    /docs                   OpenAPI (Swagger UI)
    GET    /ui/                    the web page (upload, progress, verdict, report, history,
                                   dashboard); ``/`` redirects there
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from .. import __version__
from . import catalog, runs
from .guard import BearerAuth, error_response, lock_data_folder, offline_docs
from .settings import ServeSettings
from .store import JobStore
from .uploads import UploadRejected, receive_upload, sniff, store
from .views import UPLOAD_SCHEMA, job_view, parse_options
from .worker import WorkerPool, cleanup, remove_job

__all__ = ["PUBLIC_PATHS", "UI_MOUNT", "create_app"]

log = logging.getLogger("fakescope.serve")

PUBLIC_PATHS = ("/healthz", "/readyz")
UI_MOUNT = "/ui"  # reserved for the web page
NOSNIFF = {"X-Content-Type-Options": "nosniff"}
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


class _State:
    """What the routes share: settings, the store, the pool, uploads in flight per client."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.store: JobStore | None = None
        self.pool: WorkerPool | None = None
        self.inflight: Counter[str] = Counter()
        # storing an upload + adding its job vs removing a job + its upload (delete, retention)
        self.files = threading.Lock()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def db(self) -> JobStore:
        if self.store is None:
            raise HTTPException(503, "the service is starting")
        return self.store

    def maintain(self) -> None:
        """Background thread: restart dead workers every second, apply retention."""
        last_cleanup = time.monotonic()
        while not self.stop.wait(1.0):
            try:
                if self.pool is not None:
                    self.pool.supervise()
                if time.monotonic() - last_cleanup >= self.settings.cleanup_every_s:
                    last_cleanup = time.monotonic()
                    with self.files:
                        cleanup(self.db(), self.settings)
            except Exception:
                log.exception("maintenance")


def create_app(settings: ServeSettings) -> FastAPI:
    """The service for ``settings``; workers start and stop with the app's lifespan."""
    state = _State(settings)
    token = settings.token()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.make_dirs()
        lock = lock_data_folder(settings)
        try:
            db = JobStore(settings.database_url)
        except BaseException:
            lock.close()
            raise
        n = db.requeue_running(settings.max_attempts)
        if n:
            log.warning("%d job(s) left running by the last server re-queued", n)
        cleanup(db, settings, startup=True)
        state.store = db
        if settings.workers:
            state.pool = WorkerPool(settings, db)
            state.pool.start()
        state.stop.clear()
        state.thread = threading.Thread(
            target=state.maintain, name="fakescope-maintain", daemon=True
        )
        state.thread.start()
        try:
            yield
        finally:
            state.stop.set()
            state.thread.join(5)
            if state.pool is not None:
                await run_in_threadpool(state.pool.stop)
            state.store = None
            db.dispose()
            lock.close()

    app = FastAPI(
        title="fakescope",
        version=__version__,
        summary="Upload a video, get a calibrated probability that it is a deepfake.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.fakescope = state
    offline_docs(app)

    @app.exception_handler(HTTPException)
    async def httperror_response(request: Request, exc: HTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(UploadRejected)
    async def rejected(request: Request, exc: UploadRejected) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return error_response(422, "; ".join(parts) or "invalid request")

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s", request.method, request.url.path)
        return error_response(500, f"internal error ({type(exc).__name__}); see the server log")

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        """The job store answers and every worker is alive."""
        try:
            db = state.db()
            db.ping()
        except Exception as exc:
            return error_response(503, f"the job store is not reachable ({type(exc).__name__})")
        alive = state.pool.alive() if state.pool is not None else 0
        if alive < settings.workers:
            return error_response(503, f"{alive} of {settings.workers} workers are running")
        return JSONResponse({"status": "ready", "workers": alive, "queued": db.count("queued")})

    @app.post(
        "/v1/scans",
        status_code=202,
        tags=["scans"],
        openapi_extra=UPLOAD_SCHEMA,
        responses={200: {"description": "the same upload and options: the existing job"}},
    )
    async def submit(request: Request) -> JSONResponse:
        """Upload a video (multipart field ``file``) to scan with one or more detectors."""
        db = state.db()
        client = request.client.host if request.client else "unknown"
        retry = {"Retry-After": str(settings.retry_after_s)}
        queued = await run_in_threadpool(db.count, "queued")
        if queued + sum(state.inflight.values()) >= settings.max_queue:
            raise UploadRejected(
                503, f"the queue is full ({settings.max_queue} jobs); try again later", retry
            )
        active = await run_in_threadpool(db.count, "queued", "running", client=client)
        if active + state.inflight[client] >= settings.max_per_client:
            raise UploadRejected(
                429,
                f"too many scans in progress for this client ({settings.max_per_client}); try again later",
                retry,
            )
        state.inflight[client] += 1
        try:
            received = await receive_upload(request, settings.partial, settings.max_upload_bytes)
            try:
                options = parse_options(received.fields, settings)
                reason = await run_in_threadpool(sniff, received.partial)
                if reason:
                    raise UploadRejected(415, f"{received.filename}: {reason}")
                canon = json.dumps(options, sort_keys=True).encode()
                options_hash = hashlib.sha256(canon).hexdigest()

                def accept() -> tuple[dict[str, Any], str]:
                    with state.files:
                        store(received, settings.uploads)
                        return db.submit(
                            received.sha256, options, options_hash, received.filename, client
                        )

                job, how = await run_in_threadpool(accept)
            finally:
                received.discard()  # a no-op once stored
        finally:
            state.inflight[client] -= 1
            if state.inflight[client] <= 0:
                del state.inflight[client]
        body = {"id": job["id"], "status": job["status"], "deduplicated": how == "existing"}
        return JSONResponse(
            body, 200 if how == "existing" else 202, headers={"Location": f"/v1/scans/{job['id']}"}
        )

    def _job(job_id: str) -> dict[str, Any]:
        job = state.db().get(job_id) if _JOB_ID.match(job_id) else None
        if job is None:
            raise HTTPException(404, f"no scan with id '{job_id[:64]}'")
        return job

    @app.get("/v1/scans", tags=["scans"])
    def list_scans(
        limit: int = Query(20, ge=1, le=100), offset: int = Query(0, ge=0)
    ) -> dict[str, Any]:
        """Scans, newest first."""
        items, total = state.db().page(limit, offset)
        return {
            "items": [job_view(j, settings, False) for j in items],
            "total": total,
            "limit": limit,
            "offset": offset,
        }

    @app.get("/v1/scans/{job_id}", tags=["scans"])
    def get_scan(job_id: str) -> dict[str, Any]:
        """Status, progress and, when done, one ScanResult per detector."""
        return job_view(_job(job_id), settings, True)

    @app.get("/v1/scans/{job_id}/report", tags=["scans"], response_class=FileResponse)
    def get_report(job_id: str, detector: str | None = None) -> FileResponse:
        """The self-contained HTML report of one detector's result (default: the first)."""
        job = _job(job_id)
        if job["status"] != "done":
            raise HTTPException(
                409, f"the scan is {job['status']}; its report is ready when it is done"
            )
        if not job["options"].get("report"):
            raise HTTPException(404, "no report was asked for this scan (upload with report=yes)")
        entries = job_view(job, settings, True).get("results", [])
        chosen = [e for e in entries if detector in (None, e["detector"])]
        if not chosen or not chosen[0].get("report"):
            raise HTTPException(
                404, f"no report for detector '{(detector or '')[:100]}' in this scan"
            )
        index = entries.index(chosen[0])
        path = settings.results / job_id / f"report-{index}.html"
        if not path.is_file():
            raise HTTPException(404, "the report file is missing")
        # opened on its own, the report runs in an opaque origin: it cannot read the page's token
        return FileResponse(
            path,
            media_type="text/html",
            headers={"Content-Security-Policy": "sandbox allow-scripts", **NOSNIFF},
        )

    @app.delete("/v1/scans/{job_id}", status_code=204, tags=["scans"])
    def delete_scan(job_id: str) -> Response:
        """Remove the scan, its results and its upload (unless another scan shares it)."""
        _job(job_id)
        with state.files:
            removed = remove_job(state.db(), settings, job_id)
        if not removed:
            raise HTTPException(404, f"no scan with id '{job_id}'")
        return Response(status_code=204)

    @app.get("/v1/models", tags=["models"])
    async def models() -> dict[str, Any]:
        """Detectors this service offers (with their cards) and the model registry."""
        detectors, archs = await asyncio.gather(
            run_in_threadpool(catalog.detectors, settings),
            run_in_threadpool(catalog.architectures),
        )
        return {"detectors": detectors, "architectures": archs}

    @app.get("/v1/runs", tags=["dashboard"])
    def list_runs() -> dict[str, Any]:
        """Evaluation, study and training runs under ``--runs DIR``, newest first."""
        return {
            "root": settings.runs.name if settings.runs else None,
            "items": [r.summary() for r in runs.discover(settings.runs)],
        }

    def _run(run_id: str) -> runs.Run:
        found = next((r for r in runs.discover(settings.runs) if r.id == run_id), None)
        if found is None:
            raise HTTPException(404, f"no run with id '{run_id[:64]}'")
        return found

    @app.get("/v1/runs/{run_id}", tags=["dashboard"])
    def get_run(run_id: str) -> dict[str, Any]:
        """One run: scalar metrics, Markdown tables, figure names, training curves."""
        return runs.run_detail(_run(run_id))

    @app.get("/v1/runs/{run_id}/files/{name:path}", tags=["dashboard"])
    def get_run_file(run_id: str, name: str) -> FileResponse:
        """A figure or table of a run, by the name its listing gives."""
        path = runs.run_file([_run(run_id)], run_id, name)
        if path is None:
            raise HTTPException(404, f"no file '{name[:100]}' in this run")
        return FileResponse(path)

    static = settings.static_dir or Path(__file__).with_name("static")
    if static.is_dir():
        from fastapi.staticfiles import StaticFiles

        app.mount(UI_MOUNT, StaticFiles(directory=static, html=True), name="ui")

        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse(UI_MOUNT + "/")

    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    if token is not None:
        # the page's own files hold no data: it asks for the token and sends it with each call
        public = (*PUBLIC_PATHS, "/", UI_MOUNT + "/", *settings.extra_public_paths)
        app.add_middleware(BearerAuth, token=token, public=public)
    return app
