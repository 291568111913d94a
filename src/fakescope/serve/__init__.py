"""The service: a REST API over the scan pipeline, a persistent job queue, a worker pool.

``create_app(ServeSettings(...))`` builds the FastAPI app; ``fakescope serve`` runs it with
uvicorn. Importing this package imports no web framework: ``create_app`` does, lazily, with
an error that names the ``serve`` extra when FastAPI is missing.
"""

from __future__ import annotations

from typing import Any

from .settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]


def create_app(settings: ServeSettings | None = None) -> Any:
    """The FastAPI application for ``settings`` (defaults: ``./fakescope-data``, 1 worker)."""
    try:
        from .app import create_app as _create
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            f"the service needs the 'serve' extra: pip install 'fakescope[serve]' ({exc})"
        ) from None
    return _create(settings or ServeSettings())
