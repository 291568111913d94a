"""DeepFakeDetection (DFD) as seed 003 lays it out: ``DFD_REAL/`` and ``DFD_FAKE/``.

The folder (any case, at any depth; videos directly in it or below) is the label. Names are
DFD's own: a real ``<actor>__<scene>.mp4`` (``01__exit_phone_room.mp4``), a fake
``<target>_<source>__<scene>__<id>.mp4`` (``07_02__outside_talking_pan_laughing__1ZE4HC06.mp4``);
the actor numbers are the identities (``dfd:<actor>``, the tokens the ``ffpp`` adapter gives
the DFD part of FF++), and a fake joins its target and source actors. Seed 003 renamed its
copy to ``video_<n>.mp4`` (its "anonymised filenames"): such files index with their folder's
label but carry no actor id, so each is its own identity group and a ``no_identity`` problem
is reported (an identity-level split cannot keep their actors apart).

Both folders are needed, and every file in them must follow its folder's naming (or seed 003's
``video_<n>``): anything else is an error (``LayoutGaps``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from .base import IndexReport, LayoutGaps, VideoRecord, iter_files, register_dataset, rel
from .names import DFD_FAKE_NAMING, DFD_REAL_NAMING, dfd_ids

FOLDERS = {"dfd_real": 0, "dfd_fake": 1}
_RENAMED = re.compile(r"^video_\d+$")  # seed 003's anonymised names: no actor id left


@register_dataset("dfd")
class DfdAdapter:
    """Seed 003's ``DFD_REAL/`` + ``DFD_FAKE/`` folders, actor ids from DFD's file names."""

    name = "dfd"

    def scan(self, root: Path, report: IndexReport) -> Iterator[VideoRecord]:
        gaps = LayoutGaps("DFD (DFD_REAL/ + DFD_FAKE/)", root)
        found: dict[tuple[str, ...], set[int]] = {}  # folder holding DFD_REAL/DFD_FAKE -> labels
        for path in iter_files(root):
            r = rel(path, root)
            parts = path.relative_to(root).parts
            at = next(
                (i for i in range(len(parts) - 2, -1, -1) if parts[i].lower() in FOLDERS), None
            )
            if at is None:
                report.skipped(r, "not under a DFD_REAL/ or DFD_FAKE/ folder")
                continue
            label = FOLDERS[parts[at].lower()]
            found.setdefault(parts[:at], set()).add(label)
            record = self._record(r, label, path.stem)
            if record is None:
                naming = DFD_FAKE_NAMING if label else DFD_REAL_NAMING
                gaps.unparsed("/".join(parts[: at + 1]), r, f"{naming} or video_<n>.mp4")
                continue
            if record.target_id is None:
                report.add(
                    "no_identity",
                    f"{r}: no actor id in the name (seed 003's renamed files); its own group",
                )
            yield record
        for base, labels in found.items():
            where = "/".join(base) + "/" if base else ""
            for label, folder in ((0, "DFD_REAL"), (1, "DFD_FAKE")):
                if label not in labels:
                    gaps.missing(
                        f"{where}{folder}/", "the real videos" if label == 0 else "the fakes"
                    )
        gaps.check()

    def _record(self, r: str, label: int, stem: str) -> VideoRecord | None:
        """The record of a file in the folder of ``label``, or None when its name does not fit."""
        vid = f"{self.name}/{r.rsplit('.', 1)[0]}"
        method = "DeepFakeDetection" if label else "original"
        ids = dfd_ids(stem)
        if ids is not None and ids.fake == bool(label):
            return VideoRecord(
                vid, r, label, self.name, method, target_id=ids.target, source_id=ids.source,
                identities=ids.identities("dfd"), extra={"scene": ids.scene},
            )  # fmt: skip
        if _RENAMED.match(stem):
            return VideoRecord(
                vid, r, label, self.name, method, identities=(f"dfd:file:{r}",),
                extra={"scene": None},
            )  # fmt: skip
        return None
