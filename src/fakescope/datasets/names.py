"""File-name conventions that carry identity ids, shared by the adapters.

FaceForensics++: a real youtube sequence is ``<NNN>.mp4``, a fake ``<target>_<source>.mp4``.
DeepFakeDetection (DFD, shipped with FF++): a real ``<actor>__<scene>.mp4``, a fake
``<target actor>_<source actor>__<scene>__<8-char id>.mp4``. Celeb-DF: a real
``id<k>_<NNNN>.mp4``, a fake ``id<A>_id<B>_<NNNN>.mp4`` (A = target video, B = face donor).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["NameIds", "dfd_ids", "ffpp_ids", "ffpp_style_ids"]

# FF++ has 3 digits; longer ids are accepted for larger trees built the same way
FFPP_REAL = re.compile(r"^(\d{3,})$")
FFPP_FAKE = re.compile(r"^(\d{3,})_(\d{3,})$")
DFD_REAL = re.compile(r"^(\d{2})__(.+)$")
DFD_FAKE = re.compile(r"^(\d{2})_(\d{2})__(.+?)__([A-Za-z0-9]+)$")
CELEBDF_REAL = re.compile(r"^(id\d+)_(\d+)$")
CELEBDF_FAKE = re.compile(r"^(id\d+)_(id\d+)_(\d+)$")

# how each naming reads in an error message
FFPP_REAL_NAMING = "<NNN>.mp4 (e.g. 000.mp4)"
FFPP_FAKE_NAMING = "<target>_<source>.mp4 (e.g. 000_003.mp4)"
DFD_REAL_NAMING = "<actor>__<scene>.mp4 (e.g. 01__exit_phone_room.mp4)"
DFD_FAKE_NAMING = "<target>_<source>__<scene>__<id>.mp4 (e.g. 01_02__exit_phone_room__YVGY8LOK.mp4)"
CELEBDF_REAL_NAMING = "id<k>_<NNNN>.mp4 (e.g. id0_0000.mp4)"
CELEBDF_FAKE_NAMING = "id<A>_id<B>_<NNNN>.mp4 (e.g. id0_id16_0000.mp4)"


@dataclass(frozen=True)
class NameIds:
    """The ids one file name carries: ``target`` (a real video's subject, a fake's target
    video) and, for a fake, ``source`` (the face donor). ``scheme`` is ``ffpp`` or ``dfd``."""

    scheme: str
    target: str
    source: str | None = None
    scene: str | None = None

    @property
    def fake(self) -> bool:
        """Whether the name is a fake's (two ids)."""
        return self.source is not None

    def identities(self, namespace: str) -> tuple[str, ...]:
        """Identity tokens ``<namespace>:<id>``, target first, without repeats."""
        ids = dict.fromkeys(i for i in (self.target, self.source) if i)
        return tuple(f"{namespace}:{i}" for i in ids)


def ffpp_ids(stem: str) -> NameIds | None:
    """``000`` -> target 000; ``000_003`` -> target 000, source 003; else None."""
    if m := FFPP_REAL.match(stem):
        return NameIds("ffpp", m[1])
    if m := FFPP_FAKE.match(stem):
        return NameIds("ffpp", m[1], m[2])
    return None


def dfd_ids(stem: str) -> NameIds | None:
    """``01__scene`` -> actor 01; ``01_02__scene__ID`` -> target 01, source 02; else None."""
    if m := DFD_FAKE.match(stem):
        return NameIds("dfd", m[1], m[2], m[3])
    if m := DFD_REAL.match(stem):
        return NameIds("dfd", m[1], None, m[2])
    return None


def ffpp_style_ids(stem: str) -> NameIds | None:
    """The ids of an FF++ or DFD file name, or None when the name carries none."""
    return ffpp_ids(stem) or dfd_ids(stem)
