"""FaceForensics++ (with DeepFakeDetection and FaceShifter).

Layout: ``original_sequences/{youtube,actors}/<comp>/videos/*.mp4`` and
``manipulated_sequences/<method>/<comp>/videos/*.mp4``, comp in raw/c0/c23/c40. Fakes are named
``<target>_<source>.mp4``; DFD reals ``<actor>__<scene>.mp4`` and DFD fakes
``<target>_<source>__<scene>__<id>.mp4``. The official split is ``splits/{train,val,test}.json``
(lists of id pairs) when present anywhere under the root.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from .base import IndexReport, VideoRecord, iter_files, register_dataset, rel

METHODS = (
    "Deepfakes",
    "Face2Face",
    "FaceSwap",
    "NeuralTextures",
    "FaceShifter",
    "DeepFakeDetection",
)
COMPRESSIONS = {"raw": "raw", "c0": "raw", "c23": "c23", "c40": "c40"}
_YT = re.compile(r"^(\d{3,})$")  # FF++ has 3 digits; longer ids for larger trees
_YT_FAKE = re.compile(r"^(\d{3,})_(\d{3,})$")
_DFD_REAL = re.compile(r"^(\d{2})__(.+)$")
_DFD_FAKE = re.compile(r"^(\d{2})_(\d{2})__(.+?)__([A-Za-z0-9]+)$")


def _official_splits(root: Path) -> dict[str, str]:
    """id -> split from ``splits/{train,val,test}.json`` (pairs of 3-digit ids)."""
    out: dict[str, str] = {}
    for split in ("train", "val", "test"):
        for f in sorted(root.rglob(f"splits/{split}.json")):
            try:
                pairs = json.loads(f.read_text())
            except (OSError, ValueError):
                continue
            for pair in pairs:
                for ident in pair:
                    out[str(ident)] = split
    return out


def _compression(parts: tuple[str, ...]) -> str | None:
    for p in parts:
        if p in COMPRESSIONS:
            return COMPRESSIONS[p]
    return None


@register_dataset("ffpp")
class FaceForensicsAdapter:
    """FF++ youtube + DFD actors originals and every manipulation method found."""

    name = "ffpp"

    def scan(self, root: Path, report: IndexReport) -> Iterator[VideoRecord]:
        splits = _official_splits(root)
        for path in iter_files(root):
            r = rel(path, root)
            parts = path.relative_to(root).parts
            if "masks" in parts:  # manipulation masks, not videos of the benchmark
                continue
            record = self._record(r, parts, path.stem, splits)
            if record is None:
                report.skipped(r, "not an FF++ file name in an FF++ folder")
                continue
            yield record

    def _record(
        self, r: str, parts: tuple[str, ...], stem: str, splits: dict[str, str]
    ) -> VideoRecord | None:
        comp = _compression(parts)
        vid = f"ffpp/{r.rsplit('.', 1)[0]}"
        if "original_sequences" in parts:
            kind = parts[parts.index("original_sequences") + 1]
            if kind == "youtube" and (m := _YT.match(stem)):
                return VideoRecord(
                    vid, r, 0, "ffpp", "original", comp, target_id=m[1],
                    identities=(f"ffpp:{m[1]}",), split=splits.get(m[1]),
                    extra={"subset": "youtube"},
                )  # fmt: skip
            if kind == "actors" and (m := _DFD_REAL.match(stem)):
                return VideoRecord(
                    vid, r, 0, "ffpp", "original_actors", comp, target_id=m[1],
                    identities=(f"dfd:{m[1]}",), extra={"subset": "actors", "scene": m[2]},
                )  # fmt: skip
            return None
        if "manipulated_sequences" in parts:
            method = parts[parts.index("manipulated_sequences") + 1]
            if method not in METHODS:
                return None
            if method == "DeepFakeDetection":
                if not (m := _DFD_FAKE.match(stem)):
                    return None
                return VideoRecord(
                    vid, r, 1, "ffpp", method, comp, target_id=m[1], source_id=m[2],
                    identities=(f"dfd:{m[1]}", f"dfd:{m[2]}"),
                    extra={"subset": "actors", "scene": m[3]},
                )  # fmt: skip
            if not (m := _YT_FAKE.match(stem)):
                return None
            split = splits.get(m[1])
            if split is not None and splits.get(m[2], split) != split:
                split = None  # the pair straddles official splits: let the splitter decide
            return VideoRecord(
                vid, r, 1, "ffpp", method, comp, target_id=m[1], source_id=m[2],
                identities=(f"ffpp:{m[1]}", f"ffpp:{m[2]}"), split=split,
                extra={"subset": "youtube"},
            )  # fmt: skip
        return None
