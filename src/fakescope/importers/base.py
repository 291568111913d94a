"""The importer registry, fetching sources, checksums and the checkpoint an import writes."""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._registry import register_into
from ..errors import ModelError

__all__ = [
    "Importer",
    "fetch",
    "get_importer",
    "import_weights",
    "list_importers",
    "register_importer",
    "sha256_of",
]

log = logging.getLogger(__name__)

# state dict in fakescope's names -> (state, notes recorded in the card's origin)
Converter = Callable[[Path], tuple[dict[str, Any], dict[str, Any]]]


@dataclass(frozen=True)
class Importer:
    """How one published checkpoint becomes a fakescope checkpoint.

    ``architecture`` is the fakescope model (registry name) the weights are mapped onto, with
    ``overrides`` of its config (the published preprocessing: input size, mean/std).
    ``label_sense`` says what the published output means and how fakescope's logit of "fake"
    was derived from it. ``checksums`` maps published file names to their SHA-256 where known.
    """

    name: str
    architecture: str
    title: str
    project: str
    licence: str
    research_only: bool
    file_format: str
    label_sense: str
    preprocessing: str
    convert: Converter
    overrides: dict[str, Any] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)
    urls: tuple[str, ...] = ()
    crop: dict[str, Any] | None = None
    notes: str = ""

    def row(self) -> dict[str, Any]:
        """One line of ``fakescope weights list``."""
        return {
            "name": self.name,
            "architecture": self.architecture,
            "title": self.title,
            "source": self.project,
            "format": self.file_format,
            "licence": self.licence,
            "research_only": self.research_only,
            "checksum_known": bool(self.checksums),
            "files": sorted(self.checksums) or None,
            "urls": list(self.urls),
        }


_REGISTRY: dict[str, Importer] = {}


def register_importer(spec: Importer) -> Importer:
    return register_into(_REGISTRY, spec.name, spec, "importer")


def _load_builtin() -> None:
    from . import catalog  # noqa: F401


def list_importers() -> list[Importer]:
    _load_builtin()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get_importer(name: str) -> Importer:
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ModelError(
            f"no importer named '{name}'; choose from {', '.join(sorted(_REGISTRY))} "
            "(fakescope weights list)"
        ) from None


def sha256_of(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _cache_dir() -> Path:
    root = os.environ.get("FAKESCOPE_WEIGHTS_CACHE")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fakescope" / "weights"


def fetch(source: str, timeout: float = 30.0) -> Path:
    """A local file as is; a URL (``http(s)://``, ``file://``) downloaded once into the
    weights cache (``$FAKESCOPE_WEIGHTS_CACHE``, default ``~/.cache/fakescope/weights``)."""
    if not source.startswith(("http://", "https://", "file://")):
        path = Path(source).expanduser()
        if not path.is_file():
            raise ModelError(f"{source}: no such file (give a published checkpoint file or a URL)")
        return path
    name = source.rstrip("/").rsplit("/", 1)[-1] or "download"
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    target = _cache_dir() / digest / name
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(source, timeout=timeout) as response, open(partial, "wb") as f:
            while chunk := response.read(1 << 20):
                f.write(chunk)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise ModelError(
            f"{source}: cannot download ({' '.join(str(reason).split())[:120]}); offline, "
            "download the file elsewhere and pass its local path"
        ) from None
    partial.replace(target)
    return target


def _verify(spec: Importer, path: Path, sha256: str | None) -> tuple[str, bool]:
    """(the file's SHA-256, whether it matched a known or given checksum)."""
    digest = sha256_of(path)
    if sha256:
        if digest != sha256.lower():
            raise ModelError(
                f"{path}: SHA-256 {digest} does not match the expected {sha256.lower()}; the "
                "file is damaged or not the one you meant"
            )
        return digest, True
    if digest in spec.checksums.values():
        return digest, True
    expected = spec.checksums.get(path.name)
    if expected is not None:
        raise ModelError(
            f"{path}: SHA-256 {digest} is not the published {path.name}'s ({expected}); the "
            "file is damaged or altered: download it again"
        )
    if spec.checksums:
        log.warning(
            "%s: not one of the published files this importer knows (%s); checksum not verified",
            path.name, ", ".join(sorted(spec.checksums)),
        )  # fmt: skip
    return digest, False


def import_weights(
    name: str,
    source: str,
    out: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    card_name: str | None = None,
    onnx: bool = False,
) -> Path:
    """Convert the published checkpoint ``source`` (a file or a URL) with importer ``name``
    into the fakescope checkpoint folder ``out`` (``model.safetensors`` + ``card.json``; with
    ``onnx``, also ``model.onnx`` for ONNX Runtime on CPUs)."""
    from ..models.checkpoint import ModelCard, save_checkpoint
    from ..models.registry import create_model, get_config

    spec = get_importer(name)
    path = fetch(source)
    digest, verified = _verify(spec, path, sha256)
    try:
        state, notes = spec.convert(path)
    except ModelError as exc:  # name the file once
        text = str(exc)
        raise ModelError(text if text.startswith(str(path)) else f"{path}: {text}") from None
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
        msg = " ".join(str(exc).split())[:200]
        raise ModelError(
            f"{path}: not a {spec.title} checkpoint ({type(exc).__name__}: {msg})"
        ) from None
    config = get_config(spec.architecture, **spec.overrides)
    model = create_model(config, pretrained="none", freeze_blocks=0)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        msg = " ".join(str(exc).split())[:200]
        raise ModelError(
            f"{path}: the converted weights do not fit {config.name} ({msg})"
        ) from None
    model.eval()
    origin = {
        "importer": spec.name,
        "title": spec.title,
        "project": spec.project,
        "file": path.name,
        "url": source if "://" in source else None,
        "format": spec.file_format,
        "sha256": digest,
        "checksum_verified": verified,
        "research_only": spec.research_only,
        "published_preprocessing": spec.preprocessing,
        **({"notes": spec.notes} if spec.notes else {}),
        **notes,
    }
    extra: dict[str, Any] = {"crop": dict(spec.crop)} if spec.crop else {}
    card = ModelCard(
        name=card_name or f"{spec.name} ({path.stem})",
        model=config.to_dict(),
        licence=spec.licence,
        label_sense=spec.label_sense,
        origin=origin,
        **extra,
    )
    try:
        return save_checkpoint(out, model, card, onnx=onnx)
    except (RuntimeError, ValueError) as exc:  # the exporter's complaints (e.g. FFT ops)
        msg = " ".join(str(exc).split())[:160]
        raise ModelError(
            f"{config.name}: cannot export to ONNX ({msg}); import without --onnx"
        ) from None
