"""One table for every benchmark: build it from adapter records, write it, read it back.

A manifest is a parquet file (or CSV) with one row per video. Paths are relative to the
dataset root, so a manifest moves with its data; the root is stored in the file's metadata
both as given and relative to the manifest's own folder, and ``read_manifest`` resolves it
(an explicit ``root=`` wins).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._atomic import atomic_write_bytes, atomic_write_json
from ..errors import DatasetError
from .base import IndexReport, VideoRecord

if TYPE_CHECKING:
    from .anonymise import Anonymiser

__all__ = [
    "COLUMNS",
    "Manifest",
    "build_manifest",
    "identity_groups",
    "index_dataset",
    "read_manifest",
    "write_manifest",
]

COLUMNS = [
    "video_id",
    "path",
    "label",
    "dataset",
    "method",
    "compression",
    "target_id",
    "source_id",
    "identity_group",
    "split",
]
PROBE_COLUMNS = [
    "duration",
    "fps",
    "width",
    "height",
    "frame_count",
    "codec",
    "has_audio",
    "readable",
    "error",
]
_META_KEY = b"fakescope"


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def identity_groups(identities: Iterable[tuple[str, ...]]) -> list[str]:
    """For each video's identity tokens, the name of its group: every video sharing a token,
    transitively, gets the same name (the sorted tokens of the group joined by '+', shortened
    when long)."""
    rows = [tuple(t) for t in identities]
    uf = _UnionFind()
    for i, tokens in enumerate(rows):
        anchor = tokens[0] if tokens else f"_row{i}"
        uf.find(anchor)
        for t in tokens[1:]:
            uf.union(anchor, t)
    members: dict[str, set[str]] = {}
    for i, tokens in enumerate(rows):
        root = uf.find(tokens[0] if tokens else f"_row{i}")
        members.setdefault(root, set()).update(tokens or (f"_row{i}",))
    names = {}
    for root, toks in members.items():
        ordered = sorted(toks)
        name = "+".join(ordered)
        names[root] = (
            name if len(ordered) <= 6 else f"{'+'.join(ordered[:5])}+{len(ordered) - 5}more"
        )
    return [names[uf.find(t[0] if t else f"_row{i}")] for i, t in enumerate(rows)]


def build_manifest(records: Iterable[VideoRecord]) -> pd.DataFrame:
    """Records -> a manifest table with identity groups; extra fields become columns."""
    recs = list(records)
    if not recs:
        return pd.DataFrame(columns=COLUMNS)
    ids = [r.video_id for r in recs]
    if len(set(ids)) != len(ids):
        dup = pd.Series(ids).value_counts()
        raise DatasetError(f"duplicate video_id in manifest, e.g. {dup.index[0]!r} x{dup.iloc[0]}")
    groups = identity_groups(r.identities for r in recs)
    rows: list[dict[str, Any]] = []
    for r, g in zip(recs, groups):
        row = {
            "video_id": r.video_id,
            "path": r.path,
            "label": r.label,
            "dataset": r.dataset,
            "method": r.method,
            "compression": r.compression,
            "target_id": r.target_id,
            "source_id": r.source_id,
            "identity_group": g,
            "split": r.split,
        }
        for k, v in r.extra.items():
            if k in row:
                raise DatasetError(f"{r.path}: extra column {k!r} clashes with a manifest column")
            row[k] = v
        rows.append(row)
    df = pd.DataFrame(rows)
    df["label"] = df["label"].astype("int8")
    for col in df.columns[len(COLUMNS) :]:
        # integer extras with gaps stay integers (pandas would make them floats)
        values = df[col].dropna()
        if df[col].dtype.kind == "f" and len(values) and bool((values == values.round()).all()):
            df[col] = df[col].astype("Int64")
    return df


class Manifest:
    """A manifest table and the dataset root its paths are relative to."""

    def __init__(
        self, table: pd.DataFrame, root: str | os.PathLike[str], info: dict[str, Any] | None = None
    ):
        missing = [c for c in COLUMNS if c not in table.columns]
        if missing:
            raise DatasetError(f"manifest lacks column(s) {', '.join(missing)}")
        self.table = table
        self.root = Path(root)
        self.info = info or {}

    def absolute_paths(self) -> list[str]:
        return self.absolute_paths_of(self.table)

    def absolute_paths_of(self, rows: pd.DataFrame) -> list[str]:
        """Absolute file paths of some rows of this manifest's table."""
        return [str(p if Path(p).is_absolute() else self.root / p) for p in rows["path"]]

    def __len__(self) -> int:
        return len(self.table)


def write_manifest(
    table: pd.DataFrame,
    out: str | os.PathLike[str],
    root: str | os.PathLike[str],
    info: dict[str, Any] | None = None,
) -> Path:
    """Write ``table`` as parquet (``.parquet``) or CSV (``.csv`` + ``.meta.json`` sidecar)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    root_abs = Path(root).resolve()
    meta = {
        "root": str(root_abs),
        "root_relative": os.path.relpath(root_abs, out.parent.resolve()),
        **(info or {}),
    }
    if out.suffix.lower() == ".csv":
        atomic_write_bytes(out, table.to_csv(index=False).encode())
        atomic_write_json(out.with_name(out.name + ".meta.json"), meta)
        return out
    if out.suffix.lower() != ".parquet":
        raise DatasetError(f"{out}: a manifest is written as .parquet or .csv")
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table, preserve_index=False)
    schema_meta = dict(arrow.schema.metadata or {})
    schema_meta[_META_KEY] = json.dumps(meta).encode()
    arrow = arrow.replace_schema_metadata(schema_meta)
    buf = io.BytesIO()
    pq.write_table(arrow, buf)
    atomic_write_bytes(out, buf.getvalue())
    return out


def read_manifest(
    path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None
) -> Manifest:
    """Read a manifest; its root is ``root`` if given, else resolved from its metadata."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such manifest")
    meta: dict[str, Any] = {}
    try:
        if path.suffix.lower() == ".csv":
            table = pd.read_csv(path, dtype={"target_id": "string", "source_id": "string"})
            side = path.with_name(path.name + ".meta.json")
            if side.is_file():
                meta = json.loads(side.read_text())
        else:
            import pyarrow.parquet as pq

            arrow = pq.read_table(path)
            raw = (arrow.schema.metadata or {}).get(_META_KEY)
            meta = json.loads(raw) if raw else {}
            table = arrow.to_pandas()
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read manifest ({exc})") from None
    table = table.astype(
        {c: "object" for c in ("compression", "target_id", "source_id", "split") if c in table}
    )
    table = table.where(table.notna(), None)
    if root is None:
        candidates = []
        if meta.get("root_relative"):
            candidates.append((path.parent / meta["root_relative"]).resolve())
        if meta.get("root"):
            candidates.append(Path(meta["root"]))
        candidates.append(path.parent)
        root = next((c for c in candidates if c.is_dir()), candidates[0])
    return Manifest(table, root, meta)


def index_dataset(
    root: str | os.PathLike[str],
    name: str,
    *,
    anonymiser: Anonymiser | None = None,
    **options: Any,
) -> tuple[pd.DataFrame, IndexReport, Path]:
    """Run the adapter ``name`` over ``root``.

    Returns the manifest table, the problems met, and the folder its paths are relative to
    (``root``, or the folder of ``root`` when it is a CSV list). A known layout that indexes
    only partly raises ``DatasetError``. With ``anonymiser``, names are hashed (see
    ``fakescope.datasets.anonymise``; link the files with ``anonymiser.link`` before use).
    """
    from .base import create_adapter

    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{root}: no such dataset folder")
    adapter = create_adapter(name, **options)
    report = IndexReport()
    base = root.parent if root.is_file() else root
    records: Iterable[VideoRecord] = adapter.scan(root, report)
    if anonymiser is not None:
        records = (anonymiser.record(r, base) for r in records)
    table = build_manifest(records)
    return table, report, base
