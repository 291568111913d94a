"""Celeb-DF v1 and v2.

Layout: ``Celeb-real/id<k>_<NNNN>.mp4`` (real), ``YouTube-real/<NNNNN>.mp4`` (real, no identity)
and ``Celeb-synthesis/id<A>_id<B>_<NNNN>.mp4`` (fake: target video of ``id<A>``, face of
``id<B>``), plus ``List_of_testing_videos.txt`` (``<digit> <folder>/<file>.mp4`` per line, where
**1 = real, 0 = fake**). The folder is the label; the list only gives the official test split.
Tolerated variants: the subset folders at any depth, a ``videos/`` folder inside each subset
(SBI's tree) and the spelling ``Youtube-real``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .base import IndexReport, VideoRecord, iter_files, register_dataset, rel

TEST_LIST = "List_of_testing_videos.txt"
SUBSETS = {s.lower(): s for s in ("Celeb-real", "YouTube-real", "Celeb-synthesis")}
FAKE_SUBSET = "Celeb-synthesis"
_REAL = re.compile(r"^(id\d+)_(\d+)$")
_FAKE = re.compile(r"^(id\d+)_(id\d+)_(\d+)$")
_LIST_LABELS = {"1": 0, "0": 1}  # the test list's digit -> our label (1 = real there)

_Key = tuple[str, str, str]  # (folder holding the subset folders, subset, file name)


@dataclass
class _Listed:
    """One line of a test list."""

    where: str  # "<list path>:<line>"
    path: str  # the path as written, relative to root
    digit: str
    found: bool = False


def _key(parts: tuple[str, ...]) -> _Key | None:
    """``<base>/<subset>[/videos]/<file>`` -> (base, canonical subset, file), else None."""
    if len(parts) < 2:
        return None
    i = len(parts) - 2
    if parts[i].lower() == "videos" and i >= 1 and parts[i - 1].lower() in SUBSETS:
        i -= 1
    subset = SUBSETS.get(parts[i].lower())
    if subset is None:
        return None
    return "/".join(parts[:i]), subset, parts[-1]


def _read_test_lists(root: Path, report: IndexReport) -> dict[_Key, _Listed]:
    """Every ``List_of_testing_videos.txt`` under ``root``; entries are relative to its folder."""
    listed: dict[_Key, _Listed] = {}
    for path in sorted(root.rglob(TEST_LIST)):
        where = rel(path, root)
        base = path.parent.relative_to(root).parts
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            report.skipped(where, f"cannot read the test list ({exc})")
            continue
        for n, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields:
                continue
            listed_path = fields[-1].replace("\\", "/")
            key = _key((*base, *listed_path.split("/"))) if len(fields) == 2 else None
            if key is None:
                report.skipped(f"{where}:{n}", f"not '<digit> <folder>/<file>.mp4': {line!r}")
                continue
            entry = _Listed(f"{where}:{n}", "/".join((*base, listed_path)), fields[0])
            listed.setdefault(key, entry)
    return listed


class CelebDFAdapter:
    """Celeb-DF: folder = label, test list = official test split, ``id<k>`` = identity."""

    name = "celebdf"

    def scan(self, root: Path, report: IndexReport) -> Iterator[VideoRecord]:
        listed = _read_test_lists(root, report)
        for path in iter_files(root):
            r = rel(path, root)
            key = _key(path.relative_to(root).parts)
            if key is None:
                report.skipped(r, "not in a Celeb-real/, YouTube-real/ or Celeb-synthesis/ folder")
                continue
            entry = listed.get(key)
            if entry is not None:
                entry.found = True
            record = self._record(r, key[1], path.stem, "test" if entry else None)
            if record is None:
                report.skipped(r, f"file name does not follow the {key[1]} naming")
                continue
            if entry is not None:
                self._check_list_label(entry, record, report)
            yield record
        for entry in listed.values():
            if not entry.found:
                report.missing(entry.path, listed_in=entry.where)

    def _record(self, r: str, subset: str, stem: str, split: str | None) -> VideoRecord | None:
        """The record a file's subset folder and name give, or None when the name does not parse."""
        vid = f"{self.name}/{r.rsplit('.', 1)[0]}"
        if subset == FAKE_SUBSET:
            if not (m := _FAKE.match(stem)):
                return None
            label, method, target, source = 1, FAKE_SUBSET, m[1], m[2]
            identities: tuple[str, ...] = (f"celebdf:{m[1]}", f"celebdf:{m[2]}")
            original: str | None = f"{m[1]}_{m[3]}.mp4"
        elif subset == "YouTube-real":
            label, method, target, source = 0, "original", None, None
            identities, original = (f"celebdf:yt:{stem}",), None
        elif m := _REAL.match(stem):
            label, method, target, source = 0, "original", m[1], None
            identities, original = (f"celebdf:{m[1]}",), None
        else:
            return None
        return VideoRecord(
            vid,
            r,
            label,
            self.name,
            method,
            compression=None,
            target_id=target,
            source_id=source,
            identities=identities,
            split=split,
            extra={"subset": subset, "original": original},
        )

    @staticmethod
    def _check_list_label(entry: _Listed, record: VideoRecord, report: IndexReport) -> None:
        """Report a test-list digit that is not 0/1 or that contradicts the folder."""
        label = _LIST_LABELS.get(entry.digit)
        if label is None:
            report.unknown_label(entry.path, entry.digit)
        elif label != record.label:
            report.add(
                "label_conflict",
                f"{entry.path}: {entry.where} says {entry.digit} (1 = real) but the folder says "
                f"{'fake' if record.label else 'real'}; the folder wins",
            )


@register_dataset("celebdf-v1")
class CelebDFv1Adapter(CelebDFAdapter):
    """Celeb-DF v1 (408 real, 795 fake)."""

    name = "celebdf-v1"


@register_dataset("celebdf-v2")
class CelebDFv2Adapter(CelebDFAdapter):
    """Celeb-DF v2 (890 real, 5639 fake; 518 test videos)."""

    name = "celebdf-v2"
