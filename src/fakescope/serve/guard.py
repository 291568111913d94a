"""What guards the service: the bearer token, one server per data folder, JSON errors and
the API docs served without a CDN."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from ..errors import ConfigError
from .settings import ServeSettings

__all__ = ["BearerAuth", "error_response", "lock_data_folder", "offline_docs"]


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.split())}, status, headers=headers)


class BearerAuth:
    """Bearer token on every path but the public ones (pure ASGI: uploads keep streaming)."""

    def __init__(self, app: Any, token: str, public: tuple[str, ...]) -> None:
        self.app = app
        self.token = token.encode()
        self.public = public

    def _is_public(self, path: str) -> bool:
        """Exact paths, and prefixes written with a trailing slash (never ``/`` alone)."""
        return any(
            path == p or (len(p) > 1 and p[-1] == "/" and path.startswith(p)) for p in self.public
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not self._is_public(scope["path"]):
            headers = dict(scope["headers"])
            given = headers.get(b"authorization", b"")
            scheme, _, value = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(value.strip(), self.token):
                why = "missing bearer token" if not given else "wrong bearer token"
                response = error_response(
                    401,
                    f"{why}: send 'Authorization: Bearer TOKEN'",
                    {"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def lock_data_folder(settings: ServeSettings) -> Any:
    """One server per data folder: its start re-queues every job left running."""
    fh = open(settings.data / ".server.lock", "a+")  # noqa: SIM115 - held for the app's life
    try:
        import fcntl

        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # pragma: no cover - not Unix: one server per folder is up to you
        pass
    except OSError:
        fh.close()
        raise ConfigError(
            f"{settings.data}: another fakescope serve uses this data folder; stop it or "
            "pass another --data"
        ) from None
    return fh


def offline_docs(app: FastAPI) -> None:
    """``/docs`` with Swagger UI's files from the ``swagger-ui-bundle`` package when it is
    installed (offline), else from FastAPI's default CDN."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse

    assets: dict[str, Any] = {}
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        pass
    else:
        from fastapi.staticfiles import StaticFiles

        app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")
        assets = {
            "swagger_js_url": "/docs-assets/swagger-ui-bundle.js",
            "swagger_css_url": "/docs-assets/swagger-ui.css",
            "swagger_favicon_url": "/docs-assets/favicon-32x32.png",
        }

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title="fakescope API", **assets
        )
