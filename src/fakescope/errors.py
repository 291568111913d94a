"""Exceptions raised by fakescope.

Every error that comes from user input is one line that names the file, what is wrong and,
where it helps, what to do. "No face found" is a result (``status="no_face"``), never an error.
"""

from __future__ import annotations

import os


class FakescopeError(Exception):
    """Root of every fakescope error."""


class ConfigError(FakescopeError, ValueError):
    """A configuration value is invalid; the message names the key."""


class ModelError(FakescopeError):
    """A model or checkpoint cannot be built or loaded."""


class DatasetError(FakescopeError):
    """A dataset folder, manifest or split is invalid."""


class MissingDependencyError(FakescopeError, ImportError):
    """An optional dependency is not installed; the message says which extra to install."""

    def __init__(self, package: str, extra: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs the '{package}' package: pip install 'fakescope[{extra}]'"
        )
        self.package = package
        self.extra = extra


class InputError(FakescopeError):
    """A user-supplied file cannot be used. ``str(err)`` is one line: file, cause, hint."""

    cause = "cannot be read"

    def __init__(self, path: str | os.PathLike[str], detail: str | None = None) -> None:
        self.path = os.fspath(path)
        self.detail = " ".join(str(detail).split()) if detail else None
        message = f"{self.path}: {self.cause}"
        if self.detail:
            message += f" ({self.detail})"
        super().__init__(message)


class MissingFileError(InputError):
    cause = "no such file"


class EmptyFileError(InputError):
    cause = "the file is empty (0 bytes)"


class NotAVideoError(InputError):
    cause = "not a video file, or a format FFmpeg cannot recognise"


class NoVideoStreamError(InputError):
    cause = "the file has no video stream"


class UnsupportedCodecError(InputError):
    cause = "the video codec is not supported by the installed FFmpeg/PyAV"


class CorruptVideoError(InputError):
    cause = "no frame could be decoded; the file is corrupt or truncated"


class AudioError(InputError):
    """The audio stream exists but cannot be decoded. The video branch is unaffected."""

    cause = "the audio stream cannot be decoded"
