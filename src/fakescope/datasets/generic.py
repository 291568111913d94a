"""Any labelled collection: a folder with real/fake sub-folders, or a CSV list.

Folder: videos (and still images: PNG, JPEG, BMP, WebP, TIFF, each a one-frame video) under a
folder named ``real``/``original``/``pristine`` (label 0) or ``fake``/``manipulated``/
``synthetic`` (label 1), any case, at any depth; the innermost such folder is the label
folder, except that a ``deepfake(s)`` folder directly inside a fake one is a method named like a
label word (FF++'s ``fake/Deepfakes/x.mp4``). The first folder level below the label folder,
when there is one, is taken as the method. CSV: columns
``path,label[,group][,split][,method]``; labels 0/1 or real/fake; relative paths are relative to
the CSV's folder; ``group`` ties videos (or images) of one identity together.

Identity: ``group`` when given; else the ids an FF++-style file name carries (``123.mp4`` ->
123, ``123_456.mp4`` -> 123 and 456, DFD's ``01__scene.mp4`` / ``01_02__scene__ID.mp4`` -> the
actors), so FF++ material in real/fake folders keeps its identity groups; else the file alone.

Images in folders: the folder that holds an image, when it lies below the label folder (and
below the method folder when there are two levels or more), is its *sequence* (the frames of
one video, as pre-extracted face datasets store them: ``fake/Deepfakes/000_003/0012.png``).
A sequence's images share one identity: the ids its folder name carries (``000_003`` -> 000
and 003), else the folder itself; so frames of one video never straddle two splits.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path, PurePath

from ..io import IMAGE_EXTENSIONS, MEDIA_EXTENSIONS
from .base import SPLITS, IndexReport, VideoRecord, iter_files, parse_label, register_dataset, rel
from .names import ffpp_style_ids

REAL_NAMES = {"real", "original", "originals", "pristine", "genuine", "authentic"}
FAKE_NAMES = {"fake", "fakes", "manipulated", "synthetic", "deepfake", "deepfakes", "forged"}
# fake label words that also name a method: directly inside a fake folder, the method
METHOD_NAMES = {"deepfake", "deepfakes"}


@register_dataset("generic")
class GenericAdapter:
    """``root`` is a folder with real/fake sub-folders, or a CSV file (or a folder holding one
    ``labels.csv``/``manifest.csv`` with a ``path`` and a ``label`` column)."""

    name = "generic"

    def __init__(self, dataset: str | None = None) -> None:
        self.dataset = dataset

    def scan(self, root: Path, report: IndexReport) -> Iterator[VideoRecord]:
        if root.is_file() and root.suffix.lower() == ".csv":
            yield from self._from_csv(root, root.parent, report)
            return
        yield from self._from_folders(root, report)

    def _from_folders(self, root: Path, report: IndexReport) -> Iterator[VideoRecord]:
        dataset = self.dataset or root.name or "generic"
        found = False
        for path in iter_files(root, tuple(MEDIA_EXTENSIONS)):
            r = rel(path, root)
            parts = [p.lower() for p in path.relative_to(root).parts[:-1]]
            label, at = _label_folder(parts)
            if label is None:
                report.skipped(r, "not under a real/ or fake/ folder")
                continue
            found = True
            below = path.relative_to(root).parts[at + 1 : -1]
            image = path.suffix.lower() in IMAGE_EXTENSIONS
            sequence = image and len(below) >= 1
            method_levels = below[:-1] if sequence else below
            method = (
                method_levels[0] if method_levels else ("original" if label == 0 else "unknown")
            )
            if sequence:  # the frames of one video: one identity for the folder
                folder = PurePath(r).parent.as_posix()
                target, source, identities = _name_identities(dataset, folder, stem=below[-1])
            else:
                target, source, identities = _name_identities(dataset, r)
            yield VideoRecord(
                f"{dataset}/{r.rsplit('.', 1)[0]}", r, label, dataset, method,
                target_id=target, source_id=source, identities=identities,
            )  # fmt: skip
        if not found and not report:
            report.skipped(str(root), "no real/ or fake/ folder with videos or images")

    def _from_csv(self, csv_path: Path, root: Path, report: IndexReport) -> Iterator[VideoRecord]:
        dataset = self.dataset or csv_path.stem
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = {f.strip().lower(): f for f in reader.fieldnames or []}
            if "path" not in fields or "label" not in fields:
                report.skipped(str(csv_path), "a CSV list needs 'path' and 'label' columns")
                return
            for row in reader:

                def get(key: str, row: dict[str, str | None] = row) -> str:
                    return (row.get(fields[key]) or "").strip() if key in fields else ""

                raw = get("path")
                if not raw:
                    continue
                p = Path(raw)
                full = p if p.is_absolute() else root / p
                r = rel(full, root) if full.is_relative_to(root) else full.as_posix()
                label = parse_label(get("label"))
                if label is None:
                    report.unknown_label(r, get("label"))
                    continue
                if not full.is_file():
                    report.missing(r, csv_path.name)
                    continue
                split = get("split").lower() or None
                if split is not None and split not in SPLITS:
                    report.skipped(r, f"unknown split {split!r}")
                    split = None
                group = get("group")
                target, source, identities = _name_identities(dataset, r)
                yield VideoRecord(
                    f"{dataset}/{r.rsplit('.', 1)[0]}", r, label, dataset,
                    get("method") or ("original" if label == 0 else "unknown"),
                    target_id=target, source_id=source,
                    identities=(f"{dataset}:{group}",) if group else identities,
                    split=split,
                    extra={"group": group} if group else {},
                )  # fmt: skip


def _label_folder(parts: list[str]) -> tuple[int | None, int]:
    """(label, position) of the label folder among the lower-cased folder names ``parts``
    ((None, -1) without one): the innermost, but not a method folder named like a label word."""
    label, at = None, -1
    for i, p in enumerate(parts):
        if p in METHOD_NAMES and label == 1 and at == i - 1:
            continue  # fake/Deepfakes/: the method of the fake folder above
        if p in REAL_NAMES or p in FAKE_NAMES:
            label, at = (0 if p in REAL_NAMES else 1), i
    return label, at


def _name_identities(
    dataset: str, r: str, stem: str | None = None
) -> tuple[str | None, str | None, tuple[str, ...]]:
    """(target id, source id, identity tokens) from an FF++-style name (``stem``, by default
    the file's), else the token of ``r`` (a file, or a sequence folder) alone."""
    ids = ffpp_style_ids(PurePath(r).stem if stem is None else stem)
    if ids is None:
        return None, None, (f"{dataset}:{r}",)
    return ids.target, ids.source, ids.identities(dataset)
