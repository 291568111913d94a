"""The persistent job store (SQLAlchemy Core): SQLite by default, any SQLAlchemy URL works.

A job moves ``queued -> running -> done | failed``. Workers claim a job with one atomic
``UPDATE ... WHERE status = 'queued'`` that also writes a fresh claim token; progress and
completion are conditioned on that token, so a job re-queued after a crash (or deleted) can
never be completed by the worker that held it before: every job completes exactly once.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import sqlalchemy as sa

__all__ = ["STATUSES", "JobStore"]

STATUSES = ("queued", "running", "done", "failed")

metadata = sa.MetaData()
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("options_hash", sa.String(64), nullable=False),
    sa.Column("options", sa.Text, nullable=False),
    sa.Column("filename", sa.String(255), nullable=False, default=""),
    sa.Column("client", sa.String(128), nullable=False, default=""),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("progress", sa.Float, nullable=False, default=0.0),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("completions", sa.Integer, nullable=False, default=0),
    sa.Column("claim", sa.String(32)),
    sa.Column("worker", sa.Integer),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("started", sa.Float),
    sa.Column("finished", sa.Float),
    sa.Column("error", sa.Text),
    sa.Column("result_path", sa.Text),
    sa.UniqueConstraint("sha256", "options_hash", name="uq_upload_options"),
)


def _row(row: Any) -> dict[str, Any]:
    job = dict(row._mapping)
    job["options"] = json.loads(job["options"])
    return job


class JobStore:
    """Jobs in a database; safe to share between threads and between processes."""

    def __init__(self, url: str) -> None:
        self.url = url
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine = sa.create_engine(url, **kwargs)
        if url.startswith("sqlite"):

            @sa.event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()

        metadata.create_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    # -- the API side ------------------------------------------------------------------------
    def submit(
        self, sha256: str, options: dict[str, Any], options_hash: str, filename: str, client: str
    ) -> tuple[dict[str, Any], str]:
        """(job, how): ``new``, ``existing`` (same bytes and options: the job already there)
        or ``retried`` (the earlier identical job had failed: queued again)."""
        now = time.time()
        job_id = uuid.uuid4().hex
        values = {
            "id": job_id,
            "sha256": sha256,
            "options_hash": options_hash,
            "options": json.dumps(options, sort_keys=True),
            "filename": filename,
            "client": client,
            "status": "queued",
            "progress": 0.0,
            "attempts": 0,
            "completions": 0,
            "created": now,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(jobs.insert().values(**values))
            return self.get(job_id) or values, "new"
        except sa.exc.IntegrityError:
            pass
        where = (jobs.c.sha256 == sha256) & (jobs.c.options_hash == options_hash)
        with self.engine.begin() as conn:
            retried = conn.execute(
                jobs.update()
                .where(where & (jobs.c.status == "failed"))
                .values(
                    status="queued",
                    progress=0.0,
                    error=None,
                    claim=None,
                    worker=None,
                    attempts=0,
                    client=client,
                    created=now,
                    started=None,
                    finished=None,
                )
            ).rowcount
            row = conn.execute(sa.select(jobs).where(where)).first()
        if row is None:  # deleted between the two statements: try once more as new
            return self.submit(sha256, options, options_hash, filename, client)
        return _row(row), "retried" if retried else "existing"

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
        return _row(row) if row is not None else None

    def page(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        """Jobs newest first, and how many there are in all."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(jobs)
                .order_by(jobs.c.created.desc(), jobs.c.id)
                .limit(limit)
                .offset(offset)
            ).all()
            total = conn.execute(sa.select(sa.func.count()).select_from(jobs)).scalar_one()
        return [_row(r) for r in rows], int(total)

    def delete(self, job_id: str) -> dict[str, Any] | None:
        """Remove a job's row; returns it (None when there was none)."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
            if row is None:
                return None
            conn.execute(jobs.delete().where(jobs.c.id == job_id))
        return _row(row)

    def count(self, *statuses: str, client: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(jobs).where(jobs.c.status.in_(statuses))
        if client is not None:
            query = query.where(jobs.c.client == client)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def references(self, sha256: str) -> int:
        """How many jobs use the upload ``sha256``."""
        query = sa.select(sa.func.count()).select_from(jobs).where(jobs.c.sha256 == sha256)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def finished_before(self, when: float) -> list[dict[str, Any]]:
        query = sa.select(jobs).where(
            jobs.c.status.in_(("done", "failed")) & (jobs.c.finished < when)
        )
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(query).all()]

    def shas(self) -> set[str]:
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(sa.select(jobs.c.sha256).distinct()).all()}

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.select(1))

    # -- the worker side ---------------------------------------------------------------------
    def requeue_running(self, max_attempts: int, worker: int | None = None) -> int:
        """Put back in the queue the jobs left ``running`` (all of them at startup, or those of
        one dead worker); a job that has used up ``max_attempts`` fails instead."""
        where = jobs.c.status == "running"
        if worker is not None:
            where = where & (jobs.c.worker == worker)
        with self.engine.begin() as conn:
            conn.execute(
                jobs.update()
                .where(where & (jobs.c.attempts >= max_attempts))
                .values(
                    status="failed",
                    claim=None,
                    finished=time.time(),
                    error=f"gave up after {max_attempts} attempts (the worker died or ran out of "
                    "time each time)",
                )
            )
            return int(
                conn.execute(
                    jobs.update().where(where).values(status="queued", claim=None, worker=None)
                ).rowcount
            )

    def running_since(self, before: float) -> list[int]:
        """The workers holding a job they started before ``before``."""
        query = sa.select(jobs.c.worker).where(
            (jobs.c.status == "running") & (jobs.c.started < before) & jobs.c.worker.is_not(None)
        )
        with self.engine.connect() as conn:
            return [int(r[0]) for r in conn.execute(query).all()]

    def claim(self, worker: int) -> dict[str, Any] | None:
        """Atomically take the oldest queued job (None when the queue is empty)."""
        token = uuid.uuid4().hex
        oldest = (
            sa.select(jobs.c.id)
            .where(jobs.c.status == "queued")
            .order_by(jobs.c.created, jobs.c.id)
            .limit(1)
            .scalar_subquery()
        )
        with self.engine.begin() as conn:
            claimed = conn.execute(
                jobs.update()
                .where((jobs.c.id == oldest) & (jobs.c.status == "queued"))
                .values(
                    status="running",
                    claim=token,
                    worker=worker,
                    progress=0.0,
                    attempts=jobs.c.attempts + 1,
                    started=time.time(),
                )
            ).rowcount
            if not claimed:
                return None
            row = conn.execute(sa.select(jobs).where(jobs.c.claim == token)).first()
        return _row(row) if row is not None else None

    def _mine(self, job_id: str, claim: str) -> Any:
        return (jobs.c.id == job_id) & (jobs.c.claim == claim) & (jobs.c.status == "running")

    def set_progress(self, job_id: str, claim: str, progress: float) -> bool:
        """False when the job is no longer this claim's (deleted or re-queued)."""
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    jobs.update().where(self._mine(job_id, claim)).values(progress=progress)
                ).rowcount
            )

    def complete(self, job_id: str, claim: str, result_path: str) -> bool:
        """Mark done, in one transaction; False when the claim was lost (nothing changes)."""
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    jobs.update()
                    .where(self._mine(job_id, claim))
                    .values(
                        status="done",
                        progress=1.0,
                        result_path=result_path,
                        finished=time.time(),
                        completions=jobs.c.completions + 1,
                    )
                ).rowcount
            )

    def fail(self, job_id: str, claim: str, error: str) -> bool:
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    jobs.update()
                    .where(self._mine(job_id, claim))
                    .values(status="failed", error=error, finished=time.time())
                ).rowcount
            )
