"""One rule for every registry of named things (datasets, face detectors, models, importers,
audio-visual networks, report sections)."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TypeVar

T = TypeVar("T")

__all__ = ["register_into"]


def register_into(
    table: MutableMapping[str, T], name: str, obj: T, kind: str, *, plural: bool = False
) -> T:
    """Put ``obj`` into ``table`` as ``name`` and return it.

    Registering the same object under its name again (a module imported twice) changes
    nothing; another object under a taken name is a ``ValueError`` naming the kind and name
    ("{kind} '{name}' is already registered"; "are" when ``plural``)."""
    if name in table:
        if table[name] is obj:
            return obj
        raise ValueError(f"{kind} '{name}' {'are' if plural else 'is'} already registered")
    table[name] = obj
    return obj
