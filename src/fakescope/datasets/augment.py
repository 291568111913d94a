"""Compression augmentation: H.264 copies of a manifest's videos as extra rows of the manifest.

In FF++ the compression level correlates with the label, so a detector learns "heavily
compressed = fake". ``augment_manifest`` re-encodes every training video at several CRFs, so
that each identity and label appears at several compression levels. A copy is a row like its
source (same label, dataset, method, identities, split) with ``video_id`` ``ID#h264-CRF``,
``compression`` ``h264-CRF``, ``derived_from`` the source's ``video_id`` and ``perturbation``
the encoding (``h264:CRF:PRESET``); source rows get ``None`` in the two new columns.

Copies live in a store by content, ``STORE/h264-CRF[-PRESET]/FINGERPRINT.mp4`` (the layout of
the robustness evaluation's ``CACHE/perturbed/``), written atomically: a rerun re-encodes only
what is missing. A copy inside the manifest's root is stored relative to it, any other copy
by its absolute path; ``Manifest.absolute_paths_of`` resolves both.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ConfigError, DatasetError, InputError, MissingFileError
from ..io.reencode import PRESETS, h264_slug, reencode_video
from .base import SPLITS
from .manifest import Manifest, read_manifest, write_manifest
from .splits import check_leakage

__all__ = [
    "DEFAULT_CRFS",
    "AugmentSummary",
    "augment_manifest",
    "copy_path",
    "make_reencode_job",
    "parse_crfs",
    "parse_splits",
]

log = logging.getLogger(__name__)

DEFAULT_CRFS = (23, 32, 40)
DERIVED_COLUMNS = ("derived_from", "perturbation")


@dataclass
class AugmentSummary:
    """What ``augment_manifest`` did: rows written, copies made or found, videos that failed."""

    manifest: str
    store: str
    crfs: tuple[int, ...]
    preset: str
    splits: tuple[str, ...]
    sources: int = 0  # rows re-encoded (source videos)
    rows: int = 0  # rows of the new manifest
    copies: int = 0  # copy rows in the new manifest
    encoded: int = 0  # copies encoded by this run
    reused: int = 0  # copies already in the store
    failed: list[dict[str, Any]] = field(default_factory=list)  # video_id, path, crfs, error

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_crfs(spec: str | Iterable[int]) -> tuple[int, ...]:
    """``"23,32,40"`` (or integers) -> sorted distinct CRFs in 0..51."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: set[int] = set()
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        try:
            crf = int(text)
        except ValueError:
            crf = -1
        if not 0 <= crf <= 51:
            raise ConfigError(
                f"augment: h264: '{text}' is not a CRF; give integers in 0..51, e.g. 23,32,40"
            )
        out.add(crf)
    if not out:
        raise ConfigError("augment: h264: no CRF given; e.g. 23,32,40")
    return tuple(sorted(out))


def parse_splits(spec: str | Iterable[str]) -> tuple[str, ...]:
    """``"train,val"`` (or names) -> split names, each one of train/val/test."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out = tuple(dict.fromkeys(s.strip() for s in items if s.strip()))
    bad = [s for s in out if s not in SPLITS]
    if bad or not out:
        raise ConfigError(
            f"augment: splits: '{','.join(bad)}' is not a split; choose from {', '.join(SPLITS)}"
        )
    return out


def copy_path(store: str | os.PathLike[str], fingerprint: str, crf: int, preset: str) -> Path:
    """Where the copy of the video with content ``fingerprint`` at ``crf``/``preset`` lives."""
    return Path(store) / h264_slug(crf, preset) / f"{fingerprint}.mp4"


def make_reencode_job(
    store: str, crfs: tuple[int, ...], preset: str
) -> Callable[[str], dict[str, Any]]:
    """A job for an engine: video path -> ``{"copies": {crf: path}, "encoded": n, "error",
    "failed_crfs"}``. A copy already in the store is reused; after a failure the video's other
    CRFs are not tried (the source is at fault)."""

    def job(src: str) -> dict[str, Any]:
        from ..cache import file_fingerprint

        out: dict[str, Any] = {"copies": {}, "encoded": 0, "error": None, "failed_crfs": []}
        try:
            fingerprint = file_fingerprint(src)
        except FileNotFoundError:
            out.update(error=str(MissingFileError(src)), failed_crfs=list(crfs))
            return out
        except OSError as exc:
            out.update(error=f"{src}: {exc.strerror or exc}", failed_crfs=list(crfs))
            return out
        for i, crf in enumerate(crfs):
            dst = copy_path(store, fingerprint, crf, preset)
            if not dst.is_file():
                try:
                    reencode_video(src, dst, crf, preset=preset)
                except (InputError, OSError) as exc:
                    error = str(exc) if isinstance(exc, InputError) else f"{src}: {exc}"
                    out.update(error=" ".join(error.split()), failed_crfs=list(crfs[i:]))
                    return out
                out["encoded"] += 1
            out["copies"][crf] = str(dst)
        return out

    return job


def _stored_path(copy: str, root: Path) -> str:
    """Relative POSIX path when ``copy`` lies inside ``root``, else the absolute path."""
    absolute = Path(copy).resolve()
    try:
        return absolute.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(absolute)


def _even(x: Any) -> Any:
    return None if x is None or pd.isna(x) else max(2, round(float(x) / 2) * 2)


def _copy_rows(
    sources: pd.DataFrame, made: list[tuple[Any, int, str]], preset: str
) -> pd.DataFrame:
    """One row per ``(source index, crf, stored path)``, the source's row with its copy's fields."""
    rows = sources.loc[[index for index, _, _ in made]].reset_index(drop=True)
    crfs = [crf for _, crf, _ in made]
    rows["derived_from"] = rows["video_id"].astype(str)
    rows["video_id"] = [f"{v}#h264-{c}" for v, c in zip(rows["derived_from"], crfs)]
    rows["path"] = [path for _, _, path in made]
    rows["compression"] = [f"h264-{c}" for c in crfs]
    rows["perturbation"] = [f"h264:{c}:{preset}" for c in crfs]
    # media facts of a probed manifest: same frames and rate, even size, H.264, no audio
    known = {"codec": "h264", "has_audio": False, "readable": True, "error": None}
    for col, value in known.items():
        if col in rows.columns:
            rows[col] = value
    for col in ("width", "height"):
        if col in rows.columns:
            rows[col] = [_even(x) for x in rows[col]]
    return rows


def augment_manifest(
    manifest_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    crfs: Iterable[int] = DEFAULT_CRFS,
    splits: Iterable[str] = ("train",),
    store: str | os.PathLike[str] | None = None,
    preset: str = "veryfast",
    labels: Iterable[int] = (0, 1),
    engine: Any = None,
    progress: Any = None,
    root: str | os.PathLike[str] | None = None,
) -> AugmentSummary:
    """Write ``out_path``: the manifest's rows plus an H.264 copy of every row of ``splits`` with
    a label in ``labels`` at each CRF, re-encoded into ``store`` (default: ``reencoded/`` beside
    ``out_path``). Videos that fail are listed in the summary and left without copies.

    ``engine``: an engine from ``fakescope.engines`` (default: this process); ``progress``: a
    tqdm-like bar, its ``total`` set to the number of videos and advanced once per video;
    ``root``: the dataset root, if the manifest moved.
    """
    crf_list = parse_crfs(crfs)
    split_list = parse_splits(splits)
    label_set = {int(x) for x in labels}
    if not label_set or not label_set <= {0, 1}:
        raise ConfigError(f"augment: labels must be 0 and/or 1, got {sorted(label_set)}")
    if preset not in PRESETS:
        raise ConfigError(
            f"augment: unknown x264 preset '{preset}'; choose from {', '.join(PRESETS)}"
        )
    out_path = Path(out_path)
    store_dir = Path(store) if store is not None else out_path.parent / "reencoded"
    manifest = read_manifest(manifest_path, root=root)
    table = manifest.table.copy()
    for col in DERIVED_COLUMNS:
        if col not in table.columns:
            table[col] = None
    original = table["derived_from"].isna()  # copies of an augmented manifest are not re-copied
    chosen = original & table["split"].isin(split_list) & table["label"].isin(label_set)
    if not chosen.any():
        raise DatasetError(
            f"{manifest_path}: no video in split(s) {','.join(split_list)} with label(s) "
            f"{','.join(map(str, sorted(label_set)))}; run 'fakescope datasets split' first?"
        )
    sources = table[chosen]
    paths = Manifest(sources, manifest.root).absolute_paths()
    summary = AugmentSummary(
        manifest=str(out_path),
        store=str(store_dir.resolve()),
        crfs=crf_list,
        preset=preset,
        splits=split_list,
        sources=len(sources),
    )

    results: dict[str, dict[str, Any]] = {}
    engine = engine if engine is not None else _local_engine()
    todo = list(dict.fromkeys(paths))  # two rows of one file: encoded once
    if progress is not None:
        progress.total = len(todo)
        getattr(progress, "refresh", lambda: None)()
    for item, result in engine.map(
        make_reencode_job, todo, (str(store_dir), crf_list, preset), chunk=1
    ):
        if isinstance(result, BaseException):  # the worker died
            message = " ".join(str(result).split())
            result = {"copies": {}, "encoded": 0, "error": message, "failed_crfs": list(crf_list)}
        results[item] = result
        summary.encoded += result["encoded"]
        if progress is not None:
            progress.update(1)

    made: list[tuple[Any, int, str]] = []
    root_dir = Path(manifest.root)
    for index, video_id, path in zip(sources.index, sources["video_id"], paths):
        result = results[path]
        for crf, copy in sorted(result["copies"].items()):
            made.append((index, crf, _stored_path(copy, root_dir)))
        if result["error"]:
            summary.failed.append(
                {
                    "video_id": video_id,
                    "path": path,
                    "crfs": result["failed_crfs"],
                    "error": result["error"],
                }
            )
            log.info("not augmented: %s", result["error"])
    summary.reused = sum(len(r["copies"]) for r in results.values()) - summary.encoded

    copies = _copy_rows(sources, made, preset)
    kept = table[~table["video_id"].isin(set(copies["video_id"]))]  # a rerun replaces its copies
    new = pd.concat([kept, copies], ignore_index=True) if len(copies) else kept
    dup = new["video_id"][new["video_id"].duplicated()]
    if len(dup):
        raise DatasetError(f"{manifest_path}: duplicate video_id after augmenting: {dup.iloc[0]!r}")
    check_leakage(new)
    info = {k: v for k, v in manifest.info.items() if k not in ("root", "root_relative")}
    info["augment"] = {
        "store": summary.store,
        "crfs": list(crf_list),
        "preset": preset,
        "splits": list(split_list),
        "labels": sorted(label_set),
        "failed": len(summary.failed),
    }
    write_manifest(new, out_path, manifest.root, info)
    summary.rows = len(new)
    summary.copies = int(new["derived_from"].notna().sum())
    return summary


def _local_engine() -> Any:
    from ..engines import LocalEngine

    return LocalEngine(1)
