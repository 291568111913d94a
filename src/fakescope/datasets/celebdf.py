"""Celeb-DF v1 and v2.

Layout: ``Celeb-real/id<k>_<NNNN>.mp4`` (real), ``YouTube-real/<NNNNN>.mp4`` (real, no identity)
and ``Celeb-synthesis/id<A>_id<B>_<NNNN>.mp4`` (fake: target video of ``id<A>``, face of
``id<B>``), plus ``List_of_testing_videos.txt`` (``<digit> <folder>/<file>.mp4`` per line, where
**1 = real, 0 = fake**). The folder is the label; the list only gives the official test split.
Tolerated variants: the subset folders at any depth and in any case, a ``videos/`` folder inside
each subset (SBI's tree), the spelling ``Youtube-real`` and seed 002's copy (``Celeb-Real/``,
``Celeb-Fake/`` for ``Celeb-synthesis/``; its unlabelled ``Testing/`` is reported, not indexed).

Identity: ``id<k>``; a fake carries its target ``id<A>`` and donor ``id<B>``; a YouTube-real
video has no identity information and is its own group. A file in a subset folder whose name
does not parse, and a copy without its fake folder or without any real folder, are errors
(``LayoutGaps``); test-list lines naming absent files are reported (subset copies are common).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .base import IndexReport, LayoutGaps, VideoRecord, iter_files, register_dataset, rel
from .names import CELEBDF_FAKE, CELEBDF_FAKE_NAMING, CELEBDF_REAL, CELEBDF_REAL_NAMING

TEST_LIST = "List_of_testing_videos.txt"
FAKE_SUBSET = "Celeb-synthesis"
REAL_SUBSETS = ("Celeb-real", "YouTube-real")
# folder name (any case) -> canonical subset; Celeb-Fake is seed 002's name for Celeb-synthesis
SUBSETS = {s.lower(): s for s in (*REAL_SUBSETS, FAKE_SUBSET)} | {"celeb-fake": FAKE_SUBSET}
UNLABELLED = "testing"  # seed 002's folder of 15 test videos without labels
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
        gaps = LayoutGaps("Celeb-DF", root)
        found: dict[str, set[str]] = {}  # folder holding the subset folders -> subsets found
        for path in iter_files(root):
            r = rel(path, root)
            parts = path.relative_to(root).parts
            key = _key(parts)
            if key is None:
                if any(p.lower() == UNLABELLED for p in parts[:-1]):
                    report.skipped(r, "in an unlabelled Testing/ folder (seed 002): not indexed")
                else:
                    report.skipped(
                        r, "not in a Celeb-real/, YouTube-real/ or Celeb-synthesis/ folder"
                    )
                continue
            found.setdefault(key[0], set()).add(key[1])
            entry = listed.get(key)
            if entry is not None:
                entry.found = True
            record = self._record(r, key[1], path.stem, "test" if entry else None)
            if record is None:
                naming = CELEBDF_FAKE_NAMING if key[1] == FAKE_SUBSET else CELEBDF_REAL_NAMING
                gaps.unparsed("/".join(parts[:-1]), r, naming)
                continue
            if entry is not None:
                self._check_list_label(entry, record, report)
            yield record
        for entry in listed.values():
            if not entry.found:
                report.missing(entry.path, listed_in=entry.where)
        for base, subsets in found.items():
            where = f"{base}/" if base else ""
            if FAKE_SUBSET not in subsets:
                gaps.missing(f"{where}Celeb-synthesis/ (or Celeb-Fake/)", "the fake videos")
            if not subsets & set(REAL_SUBSETS):
                gaps.missing(f"{where}Celeb-real/ (or YouTube-real/)", "the real videos")
        gaps.check()

    def _record(self, r: str, subset: str, stem: str, split: str | None) -> VideoRecord | None:
        """The record a file's subset folder and name give, or None when the name does not parse."""
        vid = f"{self.name}/{r.rsplit('.', 1)[0]}"
        if subset == FAKE_SUBSET:
            if not (m := CELEBDF_FAKE.match(stem)):
                return None
            label, method, target, source = 1, FAKE_SUBSET, m[1], m[2]
            identities: tuple[str, ...] = (f"celebdf:{m[1]}", f"celebdf:{m[2]}")
            original: str | None = f"{m[1]}_{m[3]}.mp4"
        elif subset == "YouTube-real":
            label, method, target, source = 0, "original", None, None
            identities, original = (f"celebdf:yt:{stem}",), None
        elif m := CELEBDF_REAL.match(stem):
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
