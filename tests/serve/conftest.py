"""Fixtures of the service tests: tiny clips, settings in a temp folder, a client on the app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from fastapi.testclient import TestClient

from fakescope.serve import ServeSettings, create_app
from tests.conftest import write_video


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three short face clips with different bytes."""
    folder = tmp_path_factory.mktemp("serve-clips")
    return [write_video(folder / f"clip{v}.mp4", n_frames=16, variant=v) for v in range(3)]


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., ServeSettings]:
    def make(**kw: Any) -> ServeSettings:
        kw.setdefault("data", tmp_path / "data")
        kw.setdefault("workers", 0)  # tests run jobs in-process with run_once
        return ServeSettings(**kw)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., ServeSettings]) -> ServeSettings:
    return make_settings()


@pytest.fixture
def client(settings: ServeSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def files_under(folder: Path) -> list[Path]:
    """Every file under ``folder`` (the job database and the server's lock file aside)."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(("jobs.sqlite", ".server.lock"))
    )


def post_video(client: TestClient, path: Path, name: str | None = None, **fields: str) -> Any:
    with open(path, "rb") as fh:
        return client.post(
            "/v1/scans", files={"file": (name or path.name, fh, "video/mp4")}, data=fields
        )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``fakescope serve`` in a subprocess (its own process group, killed at exit)."""

    def __init__(self, data: Path, *args: str, log: Path | None = None) -> None:
        self.data = data
        self.args = args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log or data.parent / f"server-{self.port}.log"
        self.proc: Any = None

    def start(self, timeout: float = 60.0) -> ServerProcess:
        import subprocess
        import sys
        import time

        import httpx

        cmd = [sys.executable, "-m", "fakescope", "serve", "--data", str(self.data)]
        cmd += ["--port", str(self.port), *self.args]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"the server is not ready after {timeout} s: {self.log}")

    def kill_group(self) -> None:
        import contextlib
        import os
        import signal

        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill_group()
