"""DFDC (the full Deepfake Detection Challenge release) and the DFDC preview (DFDCP).

DFDC: every folder holding a ``metadata.json`` in the competition's format (``{"x.mp4": {"label":
"REAL"|"FAKE", "split": "train", "original": "y.mp4"|null}}``), e.g. ``dfdc_train_part_<i>/`` at
any depth, and every ``labels.csv`` (``filename,label``, **1 = fake**) of the public test set, its
videos beside it or in ``videos/`` next to it. A fake's identity token is its original's stem, so
it joins its original's family.

DFDCP: ``dataset.json`` keyed by the path relative to its folder (``method_A/…``, ``method_B/…``,
``original_videos/…``) with ``label`` real/fake and ``set`` train/test. Actor ids come from the
path: ``original_videos/<actor>/…`` and ``method_X/<target>/<target>_<session>/<swapped>_<target>_…``;
a ``videos/`` folder right below the method folder (SBI's tree) is tolerated.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .base import SPLITS, IndexReport, VideoRecord, iter_files, parse_label, register_dataset, rel

_PART = re.compile(r"^dfdc_train_part_(\d+)$")
DFDCP_FOLDERS = {"method_a": "method_A", "method_b": "method_B", "original_videos": "original"}


@dataclass
class _Entry:
    """One video named by a metadata file."""

    listed_in: str  # the metadata file, relative to root
    path: str  # the video as listed, relative to root
    label: object  # the raw label value
    split: str | None
    original: str | None = None
    part: int | None = None
    ids: dict[str, str] = field(default_factory=dict)  # DFDCP target_id/swapped_id fields
    found: bool = False


def _read_json(path: Path, root: Path, report: IndexReport) -> dict[str, Any] | None:
    """A JSON object from ``path``, or None (reported) when unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        report.skipped(rel(path, root), f"cannot read ({exc})")
        return None
    if not isinstance(data, dict):
        report.skipped(rel(path, root), "not a JSON object keyed by video")
        return None
    return data


def _register(entries: dict[str, _Entry], key: str, entry: _Entry, report: IndexReport) -> None:
    """Add ``entry`` under ``key``; a video listed twice keeps its first entry (reported)."""
    first = entries.setdefault(key, entry)
    if first is not entry:
        report.add("duplicate", f"{entry.path}: in {first.listed_in} and {entry.listed_in}")


def _match(
    root: Path,
    entries: dict[str, _Entry],
    key: Callable[[tuple[str, ...]], str],
    report: IndexReport,
) -> Iterator[tuple[Path, str, _Entry | None]]:
    """(file, path relative to root, its entry or None) for each video on disk; then report the
    entries no file matched as missing."""
    for path in iter_files(root):
        entry = entries.get(key(path.relative_to(root).parts))
        if entry is not None:
            entry.found = True
        yield path, rel(path, root), entry
    unique = {id(e): e for e in entries.values()}
    for entry in unique.values():
        if not entry.found:
            report.missing(entry.path, listed_in=entry.listed_in)


def _record_id(dataset: str, r: str) -> str:
    return f"{dataset}/{r.rsplit('.', 1)[0]}"


@register_dataset("dfdc")
class DfdcAdapter:
    """DFDC training parts (``metadata.json``) and the labelled public test set (``labels.csv``)."""

    name = "dfdc"

    def scan(self, root: Path, report: IndexReport) -> Iterator[VideoRecord]:
        entries: dict[str, _Entry] = {}
        self._read_metadata(root, entries, report)
        self._read_test_labels(root, entries, report)
        for path, r, entry in _match(root, entries, "/".join, report):
            if entry is None:
                report.skipped(r, "not listed in any metadata.json or labels.csv")
                continue
            label = parse_label(entry.label)
            if label is None:
                report.unknown_label(r, entry.label)
                continue
            family = PurePosixPath(entry.original).stem if label and entry.original else path.stem
            yield VideoRecord(
                _record_id(self.name, r),
                r,
                label,
                self.name,
                "DFDC" if label else "original",
                compression=None,
                identities=(f"dfdc:{family}",),
                split=entry.split,
                extra={"original": entry.original, "part": entry.part},
            )

    @staticmethod
    def _read_metadata(root: Path, entries: dict[str, _Entry], report: IndexReport) -> None:
        """Entries of every DFDC-format ``metadata.json`` under ``root``."""
        for meta in sorted(root.rglob("metadata.json")):
            where = rel(meta, root)
            data = _read_json(meta, root, report)
            if data is None:
                continue
            if not any(
                isinstance(v, dict) and v.keys() & {"label", "is_fake"} for v in data.values()
            ):
                report.skipped(where, "not a DFDC metadata.json (no entry has a 'label')")
                continue
            m = _PART.match(meta.parent.name)
            part = int(m[1]) if m else None
            for name, info in data.items():
                path = rel(meta.parent / name, root)
                if not isinstance(info, dict):
                    report.skipped(path, f"its entry in {where} is not an object")
                    continue
                split = info.get("split")
                if split not in SPLITS:
                    split = "train" if part is not None else None
                original = info.get("original")
                entry = _Entry(
                    where,
                    path,
                    info.get("label", info.get("is_fake")),
                    split,
                    original=original if isinstance(original, str) and original else None,
                    part=part,
                )
                _register(entries, path, entry, report)

    @staticmethod
    def _read_test_labels(root: Path, entries: dict[str, _Entry], report: IndexReport) -> None:
        """Entries of every ``labels.csv`` (``filename,label``, 1 = fake) under ``root``."""
        for table in sorted(root.rglob("labels.csv")):
            where = rel(table, root)
            try:
                with table.open(newline="", encoding="utf-8-sig") as fh:
                    rows = list(csv.reader(fh))
            except (OSError, UnicodeDecodeError, csv.Error) as exc:
                report.skipped(where, f"cannot read ({exc})")
                continue
            header = [h.strip().lower() for h in rows[0]] if rows else []
            if "filename" not in header or "label" not in header:
                report.skipped(where, "not a DFDC labels.csv (no 'filename' and 'label' columns)")
                continue
            i_name, i_label = header.index("filename"), header.index("label")
            for row in rows[1:]:
                name = row[i_name].strip() if len(row) > i_name else ""
                if not name:
                    continue
                value = row[i_label].strip() if len(row) > i_label else ""
                entry = _Entry(where, rel(table.parent / name, root), value, "test")
                _register(entries, entry.path, entry, report)
                entries.setdefault(rel(table.parent / "videos" / name, root), entry)


def _dfdcp_parts(parts: tuple[str, ...]) -> tuple[str, ...]:
    """A DFDCP path with a ``videos/`` folder right below the method folder left out."""
    for i, p in enumerate(parts[:-2]):
        if p.lower() in DFDCP_FOLDERS:
            if parts[i + 1] == "videos":
                return parts[: i + 1] + parts[i + 2 :]
            break
    return parts


def _dfdcp_key(parts: tuple[str, ...]) -> str:
    return "/".join(_dfdcp_parts(parts))


@register_dataset("dfdcp")
class DfdcPreviewAdapter:
    """DFDC preview: ``dataset.json`` labels and train/test sets, actor ids from the paths.

    Videos under ``method_A/``, ``method_B/`` or ``original_videos/`` that ``dataset.json`` does
    not list are still indexed, labelled by their folder, with ``in_metadata`` False.
    """

    name = "dfdcp"

    def scan(self, root: Path, report: IndexReport) -> Iterator[VideoRecord]:
        entries: dict[str, _Entry] = {}
        for meta in sorted(root.rglob("dataset.json")):
            data = _read_json(meta, root, report)
            if data is None:
                continue
            base = meta.parent.relative_to(root).parts
            for key, info in data.items():
                parts = (*base, *PurePosixPath(key).parts)
                if not isinstance(info, dict):
                    report.skipped("/".join(parts), f"its {meta.name} entry is not an object")
                    continue
                split = info.get("set")
                ids = {k: str(info[k]) for k in ("target_id", "swapped_id") if info.get(k)}
                entry = _Entry(
                    rel(meta, root),
                    "/".join(parts),
                    info.get("label"),
                    split if split in SPLITS else None,
                    ids=ids,
                )
                _register(entries, _dfdcp_key(parts), entry, report)
        for path, r, listed in _match(root, entries, _dfdcp_key, report):
            record = self._record(path, r, listed, report)
            if record is not None:
                yield record

    def _record(
        self, path: Path, r: str, entry: _Entry | None, report: IndexReport
    ) -> VideoRecord | None:
        """The record of one file on disk, or None (reported) when it cannot be labelled."""
        parts = _dfdcp_parts(PurePosixPath(r).parts)
        at = next((i for i, p in enumerate(parts[:-1]) if p.lower() in DFDCP_FOLDERS), None)
        if at is None:
            report.skipped(r, "not under method_A/, method_B/ or original_videos/")
            return None
        method = DFDCP_FOLDERS[parts[at].lower()]
        label = (0 if method == "original" else 1) if entry is None else parse_label(entry.label)
        if label is None:
            report.unknown_label(r, entry.label if entry else None)
            return None
        ids = entry.ids if entry else {}
        below = parts[at + 1 :]
        target = below[0] if len(below) >= 2 else ids.get("target_id")
        if target is None:
            report.skipped(r, "no actor id in the path (expected <folder>/<actor>/…)")
            return None
        swapped = None
        if method != "original":
            first, _, rest = path.stem.partition("_")
            named = rest.split("_", 1)[0] == target
            swapped = first if named else ids.get("swapped_id")
        identities = tuple(f"dfdcp:{a}" for a in dict.fromkeys((target, swapped)) if a)
        return VideoRecord(
            _record_id(self.name, r),
            r,
            label,
            self.name,
            method,
            compression=None,
            target_id=target,
            source_id=swapped,
            identities=identities,
            split=entry.split if entry else None,
            extra={"in_metadata": entry is not None},
        )
