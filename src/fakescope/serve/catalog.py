"""The detectors the service offers: the shipped ones and the checkpoints of ``--models``,
by id. A client names an id; it never names a path."""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .settings import ServeSettings

__all__ = ["architectures", "detector_ids", "detectors", "resolve"]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _shipped() -> tuple[str, ...]:
    from ..models.checkpoint import SHIPPED

    return tuple(SHIPPED)


def _checkpoints(folder: Path | None) -> dict[str, Path]:
    if folder is None or not Path(folder).is_dir():
        return {}
    found = {}
    for sub in sorted(Path(folder).iterdir()):
        if sub.is_dir() and _ID.match(sub.name) and (sub / "card.json").is_file():
            found[sub.name] = sub
    return found


def detector_ids(settings: ServeSettings) -> list[str]:
    shipped = list(_shipped())
    return shipped + [k for k in _checkpoints(settings.models) if k not in shipped]


def resolve(settings: ServeSettings, detector_id: str) -> str:
    """What ``Scanner`` loads for ``detector_id``; ``KeyError`` for an id not offered."""
    if detector_id in _shipped():
        return detector_id
    found = _checkpoints(settings.models)
    if detector_id in found:
        return str(found[detector_id])
    raise KeyError(detector_id)


def detectors(settings: ServeSettings) -> list[dict[str, Any]]:
    """Every detector offered, with its card (or the reason its card cannot be read)."""
    from ..errors import FakescopeError
    from ..models.checkpoint import read_card

    out = []
    for detector_id in detector_ids(settings):
        entry: dict[str, Any] = {"id": detector_id, "shipped": detector_id in _shipped()}
        try:
            card = read_card(resolve(settings, detector_id)).to_dict()
            entry["card"] = card
        except FakescopeError as exc:
            entry["error"] = " ".join(str(exc).split())
        out.append(entry)
    return out


def architectures() -> list[dict[str, Any]]:
    """The model registry: architectures that can be trained (they need weights to scan)."""
    from ..models import get_config, list_models

    return [asdict(get_config(name)) for name in list_models()]
