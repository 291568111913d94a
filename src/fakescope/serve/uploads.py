"""Receive an upload: stream the multipart body to a temporary file under the data folder,
counting and hashing as it comes, and stop at the size limit; then sniff the content.

A client's filename is kept only as a display name; the file on disk is named by its SHA-256.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Received", "UploadRejected", "display_name", "receive_upload", "sniff", "store"]

MAX_FIELDS_BYTES = 64 * 1024  # all form fields but the file together
MULTIPART_SLACK = 1 << 20  # headers and boundaries around the file, for the early length check

_IMAGES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
)


class UploadRejected(Exception):
    """A request the service refuses: HTTP status and one line for the client."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Received:
    """An upload on disk, not yet accepted: ``partial`` is removed unless ``store`` moves it."""

    partial: Path
    sha256: str
    size: int
    filename: str
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        self.partial.unlink(missing_ok=True)


def display_name(raw: str | None) -> str:
    """A client's filename for display: its last path component, printable, at most 200
    characters. It never becomes a path."""
    name = re.split(r"[\\/]", raw or "")[-1]
    name = "".join(c for c in name if c.isprintable()).strip()
    if name in ("", ".", ".."):
        return "upload"
    return name[:200]


def _disposition(value: str) -> dict[str, str]:
    from python_multipart.multipart import parse_options_header

    _, params = parse_options_header(value)
    return {k.decode("latin-1").lower(): v.decode("utf-8", "replace") for k, v in params.items()}


class _Sink:
    """The callbacks of python-multipart's streaming parser."""

    def __init__(self, partial_dir: Path, limit: int) -> None:
        self.partial_dir = partial_dir
        self.limit = limit
        self.fields: dict[str, str] = {}
        self.fields_bytes = 0
        self.headers: dict[str, str] = {}
        self.header_field = b""
        self.header_value = b""
        self.part: str | None = None
        self.buf = bytearray()
        self.fh: Any = None
        self.path: Path | None = None
        self.filename = ""
        self.size = 0
        self.digest = hashlib.sha256()
        self.ended = False

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": self.header_field_cb,
            "on_header_value": self.header_value_cb,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
            "on_end": self.end,
        }

    def part_begin(self) -> None:
        self.headers, self.part, self.buf = {}, None, bytearray()

    def header_field_cb(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def header_value_cb(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def header_end(self) -> None:
        key = self.header_field.decode("latin-1").lower()
        self.headers[key] = self.header_value.decode("latin-1")
        self.header_field, self.header_value = b"", b""

    def headers_finished(self) -> None:
        params = _disposition(self.headers.get("content-disposition", ""))
        self.part = params.get("name", "")
        if self.part == "file":
            if self.path is not None:
                raise UploadRejected(400, "send one file per request (field 'file')")
            fd, tmp = tempfile.mkstemp(prefix="upload-", dir=self.partial_dir)
            self.fh = os.fdopen(fd, "wb")
            self.path = Path(tmp)
            self.filename = display_name(params.get("filename"))

    def part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.part == "file":
            self.size += len(chunk)
            if self.size > self.limit:
                raise UploadRejected(
                    413, f"the upload is larger than the limit of {_mib(self.limit)}"
                )
            self.fh.write(chunk)
            self.digest.update(chunk)
        else:
            self.fields_bytes += len(chunk)
            if self.fields_bytes > MAX_FIELDS_BYTES:
                raise UploadRejected(413, "the form fields are larger than 64 KiB")
            self.buf += chunk

    def part_end(self) -> None:
        if self.part == "file":
            self.fh.close()
            self.fh = None
        elif self.part:
            self.fields[self.part] = self.buf.decode("utf-8", "replace")
        self.part = None

    def end(self) -> None:
        self.ended = True

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


async def receive_upload(request: Any, partial_dir: Path, limit: int) -> Received:
    """Stream a ``multipart/form-data`` request to a temporary file in ``partial_dir``.

    Raises ``UploadRejected``: 413 past ``limit`` bytes, 415 for another body type, 400 for a
    truncated body or no field ``file``. On any failure the partial file is removed."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UploadRejected(415, "send the video as multipart/form-data in the field 'file'")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit + MULTIPART_SLACK:
        raise UploadRejected(413, f"the upload is larger than the limit of {_mib(limit)}")
    sink = _Sink(partial_dir, limit)
    parser = MultipartParser(boundary, sink.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            if chunk:
                parser.write(chunk)
        parser.finalize()
        sink.close()
        if not sink.ended:
            raise UploadRejected(400, "the multipart body is truncated (no closing boundary)")
        if sink.path is None:
            raise UploadRejected(400, "no file: send the video in the multipart field 'file'")
    except BaseException as exc:
        sink.close()
        if sink.path is not None:
            sink.path.unlink(missing_ok=True)
        if isinstance(exc, UploadRejected):
            raise
        if type(exc).__name__ == "MultipartParseError":
            raise UploadRejected(400, f"malformed multipart body ({exc})") from None
        if type(exc).__name__ == "ClientDisconnect":
            raise UploadRejected(400, "the client went away before the upload ended") from None
        raise
    return Received(sink.path, sink.digest.hexdigest(), sink.size, sink.filename, sink.fields)


def sniff(path: Path) -> str | None:
    """None when ``path`` holds a video FFmpeg can decode, else why not (one line)."""
    from ..errors import InputError
    from ..io.video import probe

    with open(path, "rb") as fh:
        head = fh.read(16)
    if not head:
        return "the file is empty"
    for magic, kind in _IMAGES:
        if head.startswith(magic):
            return f"the file is an image ({kind}); only videos are supported for now"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "the file is an image (WebP); only videos are supported for now"
    try:
        probe(path)
    except InputError as exc:
        return f"{exc.cause} ({exc.detail})" if exc.detail else exc.cause
    except Exception as exc:  # anything FFmpeg chokes on is not a video we can scan
        return f"not a readable video ({' '.join(str(exc).split())[:200]})"
    return None


def store(received: Received, uploads: Path) -> Path:
    """Move an accepted upload to ``uploads/<sha256>`` (atomic; an identical file already
    there is kept and the new copy dropped)."""
    final = uploads / received.sha256
    if final.exists():
        received.discard()
    else:
        os.chmod(received.partial, 0o644)
        os.replace(received.partial, final)
    return final
