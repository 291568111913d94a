"""FakeAVCeleb (v1.2).

Layout: ``<type>/<race>/<gender>/<source id>/<file>.mp4`` with type one of the four categories
below, plus ``meta_data.csv``. That file's header names 9 columns
(``source,target1,target2,method,category,type,race,gender,path,``) but its rows hold 10
values, the last two being the file name and its directory (``FakeAVCeleb/<type>/…/<id>``), so
it is read positionally. Rows are matched to files on the last five path parts (file names
repeat across folders); a row listed twice keeps its first occurrence. The type folder gives
the category (a CSV row that disagrees is reported); without the CSV, or for files it does not
list, the folders also give race, gender and identity.

``label`` is the video track's label (fake for C and D); ``extra`` keeps ``video_label``,
``audio_label`` and ``av_category`` (RVRA, RVFA, FVRA, FVFA for A-D). The VoxCeleb2 id in ``source`` (the folder) is the identity; it is the subject
of the manipulated video, so it is ``target_id`` in the FF++ sense, and ``target1`` (the other
person whose face or voice was used; the column's exact role is unverified) is ``source_id``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .base import IndexReport, VideoRecord, iter_files, register_dataset, rel

META = "meta_data.csv"
CATEGORIES = {
    "A": "RealVideo-RealAudio",
    "B": "RealVideo-FakeAudio",
    "C": "FakeVideo-RealAudio",
    "D": "FakeVideo-FakeAudio",
}
_TYPES = {t.lower(): c for c, t in CATEGORIES.items()}
# the acronyms of the FakeAVCeleb paper (video then audio; R real, F fake): the manifest's
# ``av_category`` column, what ``evaluate`` breaks its metrics down by
AV_CATEGORIES = {"A": "RVRA", "B": "RVFA", "C": "FVRA", "D": "FVFA"}
_COLUMNS = ("source", "target1", "target2", "method", "category", "type", "race", "gender")
_VOX_ID = re.compile(r"^id\d+$")
_Key = tuple[str, ...]  # the last five path parts: type, race, gender, id, file


@dataclass
class _Row:
    """One row of ``meta_data.csv``."""

    where: str  # "<csv path>:<line>"
    path: str  # directory/file as written
    cols: dict[str, str]
    found: bool = False


def _category(*names: str) -> str | None:
    """The first of ``names`` that is a category letter or a type folder name, as a letter."""
    for name in names:
        name = name.strip()
        if name.upper() in CATEGORIES:
            return name.upper()
        if name.lower() in _TYPES:
            return _TYPES[name.lower()]
    return None


def _value(text: str) -> str | None:
    """A cell's value; empty and ``-`` mean none."""
    text = text.strip()
    return text if text and text != "-" else None


def _read_meta(path: Path, root: Path, rows: dict[_Key, _Row], report: IndexReport) -> None:
    """Add the rows of one ``meta_data.csv`` to ``rows``, keyed by the last five path parts."""
    where = rel(path, root)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            lines = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        report.skipped(where, f"cannot read ({exc})")
        return
    if not lines:
        return
    header = [h.strip().lower() for h in lines[0]]
    at = {c: header.index(c) if c in header else i for i, c in enumerate(_COLUMNS)}
    for n, cells in enumerate(lines[1:], start=2):
        cells = [c.strip() for c in cells]
        while cells and not cells[-1]:
            cells.pop()
        if not cells:
            continue
        if len(cells) >= 10:  # ..., file name, directory
            directory, name = cells[9].replace("\\", "/"), cells[8]
            if PurePosixPath(directory).name == name:
                directory = str(PurePosixPath(directory).parent)
        elif len(cells) == 9:  # a single path column holding directory/file
            directory, _, name = cells[8].replace("\\", "/").rpartition("/")
        else:
            directory = name = ""
        parts = (*PurePosixPath(directory).parts, name)
        if len(parts) < 5 or not name or max(at.values()) >= len(cells):
            report.skipped(f"{where}:{n}", "row does not give <type>/<race>/<gender>/<id>/<file>")
            continue
        row = _Row(f"{where}:{n}", "/".join(parts), {c: cells[i] for c, i in at.items()})
        first = rows.setdefault(parts[-5:], row)
        if first is not row:
            report.add("duplicate", f"{row.path}: {row.where} repeats {first.where}; first kept")


@register_dataset("fakeavceleb")
class FakeAVCelebAdapter:
    """FakeAVCeleb: ``meta_data.csv`` when present, else (and for unlisted files) the folders.

    ``link_targets=True`` also adds ``target1`` (when it is a VoxCeleb2 id) to a video's
    identity tokens. Off by default: every fake naming another subject would chain most of the
    500 subjects into one identity group and leave no identity-disjoint split possible.
    """

    name = "fakeavceleb"

    def __init__(self, *, link_targets: bool = False) -> None:
        self.link_targets = link_targets

    def scan(self, root: Path, report: IndexReport) -> Iterator[VideoRecord]:
        rows: dict[_Key, _Row] = {}
        for meta in sorted(root.rglob(META)):
            _read_meta(meta, root, rows, report)
        for path in iter_files(root):
            r = rel(path, root)
            parts = path.relative_to(root).parts
            if len(parts) < 5:
                report.skipped(r, "not under <type>/<race>/<gender>/<id>/")
                continue
            row = rows.get(parts[-5:])
            if row is not None:
                row.found = True
            record = self._record(r, parts, row, report)
            if record is not None:
                yield record
        for row in rows.values():
            if not row.found:
                report.missing(row.path, listed_in=row.where)

    def _record(
        self, r: str, parts: tuple[str, ...], row: _Row | None, report: IndexReport
    ) -> VideoRecord | None:
        """The record of one file (its CSV row, else its folders), or None (reported)."""
        folder_type, race, gender, folder_id = parts[-5:-1]
        cols = row.cols if row is not None else {}
        listed = _category(cols.get("category", ""), cols.get("type", ""))
        category = _category(folder_type) or listed
        if category is None:
            if row is None:
                report.skipped(r, f"folder {folder_type!r} is not a FakeAVCeleb type folder")
            else:
                report.unknown_label(r, cols.get("category"))
            return None
        if row is not None and listed not in (None, category):
            report.add("label_conflict", f"{r}: {row.where} says {listed}; folder wins")
        source = _value(cols.get("source", "")) or folder_id
        target1 = _value(cols.get("target1", ""))
        donor = target1 if target1 and _VOX_ID.match(target1) else None
        identities = [f"fakeavceleb:{source}"]
        if self.link_targets and donor and donor != source:
            identities.append(f"fakeavceleb:{donor}")
        video_label = int(category in "CD")
        method = _value(cols.get("method", ""))
        if method is None:
            method = "real" if category == "A" else CATEGORIES[category]
        return VideoRecord(
            f"{self.name}/{r.rsplit('.', 1)[0]}",
            r,
            video_label,
            self.name,
            method,
            compression=None,
            target_id=source,
            source_id=donor,
            identities=tuple(identities),
            split=None,
            extra={
                "category": category,
                "av_category": AV_CATEGORIES[category],
                "video_label": video_label,
                "audio_label": int(category in "BD"),
                "race": _value(cols.get("race", "")) or race,
                "gender": _value(cols.get("gender", "")) or gender,
                "target1": target1,
                "target2": _value(cols.get("target2", "")),
                "in_metadata": row is not None,
            },
        )
