"""FaceForensics++ (with DeepFakeDetection and FaceShifter), in its official tree or the Kaggle
copy seed 000 uses.

Official: ``original_sequences/{youtube,actors}/<comp>/videos/*.mp4`` and
``manipulated_sequences/<method>/<comp>/videos/*.mp4``, comp in raw/c0/c23/c40.
Kaggle (``xdxd003/ff-c23``): ``FaceForensics++_C23/{original,Deepfakes,Face2Face,FaceSwap,
NeuralTextures,FaceShifter,DeepFakeDetection}/*.mp4`` (folder names in any case), the
compression read from the folder's name (``_C23`` -> c23). Fakes are named
``<target>_<source>.mp4``; DFD reals ``<actor>__<scene>.mp4`` and DFD fakes
``<target>_<source>__<scene>__<id>.mp4``. The official split is ``splits/{train,val,test}.json``
(lists of id pairs) when present anywhere under the root.

A file in one of these folders whose name does not parse, and a Kaggle folder without its
``original/`` or without any method folder, are errors (``LayoutGaps``); files elsewhere are
reported and skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from .base import IndexReport, LayoutGaps, VideoRecord, iter_files, register_dataset, rel
from .names import (
    DFD_FAKE_NAMING,
    DFD_REAL_NAMING,
    FFPP_FAKE_NAMING,
    FFPP_REAL_NAMING,
    dfd_ids,
    ffpp_ids,
)

METHODS = (
    "Deepfakes",
    "Face2Face",
    "FaceSwap",
    "NeuralTextures",
    "FaceShifter",
    "DeepFakeDetection",
)
COMPRESSIONS = {"raw": "raw", "c0": "raw", "c23": "c23", "c40": "c40"}
KAGGLE_FOLDERS = {m.lower(): m for m in METHODS} | {"original": "original"}
_COMP_IN_NAME = re.compile(r"^.+[_\-. ](raw|c0|c23|c40)$", re.IGNORECASE)


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


def _named_compression(folder: Path) -> str | None:
    """c23 from ``FaceForensics++_C23`` (or from its parent, e.g. Kaggle's ``ff-c23``)."""
    for name in (folder.name, folder.parent.name):
        if m := _COMP_IN_NAME.match(name):
            return COMPRESSIONS[m[1].lower()]
    return None


@register_dataset("ffpp")
class FaceForensicsAdapter:
    """FF++ youtube + DFD actors originals and every manipulation method found."""

    name = "ffpp"

    def scan(self, root: Path, report: IndexReport) -> Iterator[VideoRecord]:
        splits = _official_splits(root)
        gaps = LayoutGaps("FaceForensics++", root)
        kaggle: dict[tuple[str, ...], set[str]] = {}  # Kaggle folder -> label folders found
        kaggle_comp: dict[tuple[str, ...], str | None] = {}
        for path in iter_files(root):
            r = rel(path, root)
            parts = path.relative_to(root).parts
            if "masks" in parts:  # manipulation masks, not videos of the benchmark
                continue
            if "original_sequences" in parts or "manipulated_sequences" in parts:
                record = self._official(r, parts, path.stem, splits, gaps, report)
            elif len(parts) >= 2 and parts[-2].lower() in KAGGLE_FOLDERS:
                base, folder = parts[:-2], KAGGLE_FOLDERS[parts[-2].lower()]
                kaggle.setdefault(base, set()).add(folder)
                if base not in kaggle_comp:
                    kaggle_comp[base] = _named_compression(root.absolute().joinpath(*base))
                record = self._record(r, folder, path.stem, kaggle_comp[base], splits)
                if record is None:
                    naming = _naming(folder)
                    gaps.unparsed("/".join(parts[:-1]), r, naming)
            else:
                report.skipped(
                    r,
                    "not in an FF++ folder (original_sequences/, manipulated_sequences/, or "
                    "the Kaggle copy's original/ and <method>/ folders)",
                )
                continue
            if record is not None:
                yield record
        for base, found in kaggle.items():
            where = "/".join(base) + "/" if base else ""
            if "original" not in found:
                gaps.missing(f"{where}original/", "the real videos")
            if not found - {"original"}:
                gaps.missing(f"{where}<method>/ folder", f"the fakes: {', '.join(METHODS[:4])}, …")
        gaps.check()

    def _official(
        self,
        r: str,
        parts: tuple[str, ...],
        stem: str,
        splits: dict[str, str],
        gaps: LayoutGaps,
        report: IndexReport,
    ) -> VideoRecord | None:
        """A file of the official tree; a name that does not parse in a known folder is a gap."""
        top = "original_sequences" if "original_sequences" in parts else "manipulated_sequences"
        at = parts.index(top) + 1
        kind = parts[at] if at < len(parts) - 1 else ""
        if top == "original_sequences":
            folder = {"youtube": "original", "actors": "original"}.get(kind)
        else:
            folder = kind if kind in METHODS else None
        if folder is None:
            report.skipped(r, f"{top}/{kind or '…'} is not an FF++ folder")
            return None
        record = self._record(r, folder, stem, _compression(parts), splits, kind)
        if record is None:
            gaps.unparsed("/".join(parts[:-1]), r, _naming(folder, kind))
        return record

    def _record(
        self,
        r: str,
        folder: str,
        stem: str,
        comp: str | None,
        splits: dict[str, str],
        subset: str | None = None,
    ) -> VideoRecord | None:
        """The record of a file in ``folder`` (``original`` or a method), or None when its name
        does not follow that folder's naming. ``subset`` (youtube/actors) narrows originals."""
        vid = f"ffpp/{r.rsplit('.', 1)[0]}"
        if folder == "original":
            if subset != "actors" and (ids := ffpp_ids(stem)) and not ids.fake:
                return VideoRecord(
                    vid, r, 0, "ffpp", "original", comp, target_id=ids.target,
                    identities=ids.identities("ffpp"), split=splits.get(ids.target),
                    extra={"subset": "youtube"},
                )  # fmt: skip
            if subset != "youtube" and (ids := dfd_ids(stem)) and not ids.fake:
                return VideoRecord(
                    vid, r, 0, "ffpp", "original_actors", comp, target_id=ids.target,
                    identities=ids.identities("dfd"), extra={"subset": "actors", "scene": ids.scene},
                )  # fmt: skip
            return None
        if folder == "DeepFakeDetection":
            if not ((ids := dfd_ids(stem)) and ids.fake):
                return None
            return VideoRecord(
                vid, r, 1, "ffpp", folder, comp, target_id=ids.target, source_id=ids.source,
                identities=ids.identities("dfd"), extra={"subset": "actors", "scene": ids.scene},
            )  # fmt: skip
        if not ((ids := ffpp_ids(stem)) and ids.fake):
            return None
        split = splits.get(ids.target)
        if split is not None and splits.get(ids.source or "", split) != split:
            split = None  # the pair straddles official splits: let the splitter decide
        return VideoRecord(
            vid, r, 1, "ffpp", folder, comp, target_id=ids.target, source_id=ids.source,
            identities=ids.identities("ffpp"), split=split,
            extra={"subset": "youtube"},
        )  # fmt: skip


def _naming(folder: str, subset: str | None = None) -> str:
    """How files in ``folder`` must be named, for error messages."""
    if folder == "original":
        return {
            "youtube": FFPP_REAL_NAMING,
            "actors": DFD_REAL_NAMING,
        }.get(subset or "", f"{FFPP_REAL_NAMING} or {DFD_REAL_NAMING}")
    return DFD_FAKE_NAMING if folder == "DeepFakeDetection" else FFPP_FAKE_NAMING
