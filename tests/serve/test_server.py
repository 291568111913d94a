"""Bad uploads against a real server (uvicorn in a subprocess): a client that goes away
mid-upload and one past the size limit leave nothing on disk."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from .conftest import ServerProcess, files_under

pytestmark = pytest.mark.slow


def _wait_empty(folder: Path, timeout: float = 10.0) -> list[Path]:
    deadline = time.monotonic() + timeout
    while (left := files_under(folder)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def test_a_client_gone_mid_upload_and_an_oversized_upload_leave_nothing(
    tmp_path: Path, clips: list[Path]
) -> None:
    import httpx

    data = tmp_path / "data"
    with ServerProcess(data, "--workers", "0", "--max-upload-mb", "0.05", "-q") as server:
        head = b'--bb\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\n'
        request = (
            b"POST /v1/scans HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=bb\r\nContent-Length: 40000\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(request + head + b"\0" * 20_000)  # half of it, then the client is gone
            deadline = time.monotonic() + 10
            while not files_under(data / "uploads") and time.monotonic() < deadline:
                time.sleep(0.02)
            assert files_under(data / "uploads" / ".partial")  # it was being received
        assert _wait_empty(data) == []

        big = b"\0" * 80_000  # over 0.05 MiB, under the early Content-Length check
        r = httpx.post(server.url + "/v1/scans", files={"file": ("big.mp4", big)}, timeout=30)
        assert r.status_code == 413 and "limit" in r.json()["error"]
        assert _wait_empty(data) == []
        with open(clips[0], "rb") as fh:  # the server is fine afterwards
            r = httpx.post(server.url + "/v1/scans", files={"file": ("ok.mp4", fh)}, timeout=30)
        assert r.status_code == 202 and len(files_under(data)) == 1
        log = server.log.read_text()
    assert "Traceback" not in log and "internal error" not in log
