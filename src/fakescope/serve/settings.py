"""The service's settings: one typed object, built by ``fakescope serve`` or by a caller."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

__all__ = ["ServeSettings"]

GIB = 1 << 30


@dataclass(frozen=True)
class ServeSettings:
    """Where the service keeps its data and how much it accepts.

    ``data``: uploads (content-addressed), results, the crop cache and the SQLite job store
    (unless ``db_url`` names another database, e.g. ``postgresql://...``). ``workers``:
    scan processes (0 = accept and queue jobs but run none, for tests and for a front end
    whose workers run elsewhere). ``models``: a folder of checkpoint folders offered as
    detectors beside the shipped ones. ``token_file``: a file holding the bearer token every
    request but the health checks must carry. ``cors_origins``: none = no CORS headers.
    ``retention_s``: finished jobs and their files older than this are removed (0 = never).
    ``job_timeout_s``: a worker still on one job after this is stopped and the job re-queued;
    a job that kills or outlasts its worker ``max_attempts`` times fails (0 = no limit).
    ``runs``: a folder of ``evaluate``/``study``/``train`` outputs shown on the dashboard.
    ``static_dir``: the web page's files (default: the ones shipped in the package).
    """

    data: Path = Path("fakescope-data")
    db_url: str | None = None
    workers: int = 1
    max_upload_bytes: int = 2 * GIB
    max_queue: int = 100
    max_per_client: int = 8
    retention_s: float = 7 * 24 * 3600.0
    cleanup_every_s: float = 600.0
    token_file: Path | None = None
    cors_origins: tuple[str, ...] = ()
    models: Path | None = None
    device: str = "cpu"
    max_attempts: int = 3
    job_timeout_s: float = 3600.0
    poll_s: float = 0.25
    retry_after_s: int = 10
    runs: Path | None = None
    static_dir: Path | None = None
    extra_public_paths: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", Path(self.data))
        checks = {
            "workers": self.workers >= 0,
            "max_upload_bytes": self.max_upload_bytes > 0,
            "max_queue": self.max_queue > 0,
            "max_per_client": self.max_per_client > 0,
            "retention_s": self.retention_s >= 0,
            "max_attempts": self.max_attempts > 0,
            "job_timeout_s": self.job_timeout_s >= 0,
        }
        for key, ok in checks.items():
            if not ok:
                raise ConfigError(f"serve setting {key}={getattr(self, key)!r} is out of range")

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{(self.data / 'jobs.sqlite').resolve()}"

    @property
    def uploads(self) -> Path:
        return self.data / "uploads"

    @property
    def partial(self) -> Path:
        """Uploads being received; a file here was never accepted."""
        return self.data / "uploads" / ".partial"

    @property
    def results(self) -> Path:
        return self.data / "results"

    @property
    def cache(self) -> Path:
        return self.data / "cache"

    def token(self) -> str | None:
        """The bearer token, read from ``token_file`` (None: no authentication)."""
        if self.token_file is None:
            return None
        try:
            token = Path(self.token_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{self.token_file}: cannot read the token file ({exc})") from None
        if not token:
            raise ConfigError(f"{self.token_file}: the token file is empty")
        return token

    def make_dirs(self) -> None:
        for path in (self.uploads, self.partial, self.results, self.cache):
            os.makedirs(path, exist_ok=True)
