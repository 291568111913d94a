"""Anonymised manifests: keyed hashes instead of names that reveal identities (seed 003).

``fakescope datasets index --anonymise`` writes a manifest in which every value derived from a
file or person name is ``HMAC-SHA256(key, "<kind>\\x1f<value>")`` in hex, cut to 16 characters:
``video_id`` (``<dataset>/<hash>``), ``path`` (``<hash>.mp4``), ``target_id`` and ``source_id``,
the identity tokens behind ``identity_group`` (``anon:<hash>``, so the groups are those of the
plain manifest) and the benchmark columns that hold names (``original``, ``group``, …). Labels,
methods, compression, splits, scenes and demographic columns stay as they are.

The key never enters the manifest. It lives in a key file (default ``<manifest stem>.key.json``
beside the manifest, mode 0600) with the map hash -> (kind, value[, path, root]) of everything
hashed with it; the same key file gives the same hashes, so re-indexing, or indexing two
datasets with one ``--key``, keeps ids comparable. The videos are not renamed: a folder of
symbolic links named by hash (``<manifest stem>.videos/``) is the manifest's root, so every tool
reads the files through it. Share the manifest alone; keep the key file and the link folder.

Re-identify with the key file: ``reidentify(read_manifest(m).table, key_file)`` puts the names
back; or look a hash up in the key file's ``names``; or test a guess:
``hmac.new(bytes.fromhex(key), b"identity\\x1fdfd:01", "sha256").hexdigest()[:16]``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ..errors import DatasetError
from .base import VideoRecord

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Anonymiser", "key_file_for", "links_folder_for", "reidentify"]

FORMAT = "fakescope-anonymise-key/1"
DIGEST_CHARS = 16
IDENTITY_PREFIX = "anon:"
# benchmark columns that hold no name: kept as they are
KEPT_EXTRAS = frozenset(
    {"subset", "scene", "part", "category", "video_label", "audio_label", "race", "gender",
     "in_metadata"}
)  # fmt: skip
_LINK_NAME = re.compile(rf"^[0-9a-f]{{{DIGEST_CHARS}}}(\.[A-Za-z0-9]+)?$")


def key_file_for(manifest: str | os.PathLike[str]) -> Path:
    """The default key file of a manifest: ``<stem>.key.json`` beside it."""
    m = Path(manifest)
    return m.with_name(f"{m.stem}.key.json")


def links_folder_for(manifest: str | os.PathLike[str]) -> Path:
    """The folder of hash-named links that is an anonymised manifest's root."""
    m = Path(manifest)
    return m.with_name(f"{m.stem}.videos")


class Anonymiser:
    """Hashes the names of ``VideoRecord``s with one secret key and remembers what it hashed."""

    def __init__(self, key: bytes, names: dict[str, dict[str, str]] | None = None) -> None:
        if len(key) < 16:
            raise DatasetError("anonymise: the key must be at least 16 bytes")
        self.key = key
        self.names: dict[str, dict[str, str]] = dict(names or {})
        self.links: dict[str, str] = {}  # hashed path -> the file's path relative to its root

    @classmethod
    def new(cls) -> Anonymiser:
        """A fresh random 256-bit key."""
        return cls(secrets.token_bytes(32))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Anonymiser:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise ValueError(f"not a {FORMAT} file")
            return cls(bytes.fromhex(data["key"]), data.get("names") or {})
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DatasetError(f"{path}: not a usable anonymisation key file ({exc})") from None

    @classmethod
    def load_or_new(cls, path: str | os.PathLike[str]) -> Anonymiser:
        """The key of ``path`` when it exists (same key, same hashes), else a new key."""
        return cls.load(path) if Path(path).exists() else cls.new()

    def digest(self, kind: str, value: str, **about: str) -> str:
        """The hash of ``value`` of ``kind``, remembered in ``names`` (with ``about``)."""
        h = hmac.new(self.key, f"{kind}\x1f{value}".encode(), hashlib.sha256).hexdigest()
        h = h[:DIGEST_CHARS]
        seen = self.names.get(h)
        if seen is not None and (seen.get("kind"), seen.get("value")) != (kind, value):
            raise DatasetError(
                f"anonymise: {kind} {value!r} and {seen.get('kind')} {seen.get('value')!r} "
                "hash alike; index again with a new key (--key NEW_FILE)"
            )
        self.names[h] = {"kind": kind, "value": value, **about}
        return h

    def record(self, r: VideoRecord, root: Path) -> VideoRecord:
        """``r`` with every name replaced by its hash; its file is remembered for ``link``."""
        h = self.digest("video", r.video_id, path=r.path, root=str(root.absolute()))
        path = f"{h}{PurePosixPath(r.path).suffix.lower()}"
        self.links[path] = r.path
        return dataclasses.replace(
            r,
            video_id=f"{r.dataset}/{h}",
            path=path,
            target_id=self._id(r.dataset, r.target_id),
            source_id=self._id(r.dataset, r.source_id),
            identities=tuple(IDENTITY_PREFIX + self.digest("identity", t) for t in r.identities),
            extra={k: self._extra(k, v) for k, v in r.extra.items()},
        )

    def _id(self, dataset: str, value: str | None) -> str | None:
        return None if value is None else self.digest("id", f"{dataset}:{value}")

    def _extra(self, column: str, value: Any) -> Any:
        if column in KEPT_EXTRAS or not isinstance(value, str):
            return value
        return self.digest(column, value)

    def link(self, root: Path, folder: Path) -> Path:
        """Make ``folder`` hold one link per hashed path, to the file under ``root``; links left
        from an earlier run that this one does not name are removed. Returns ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        for entry in folder.iterdir():
            if entry.is_symlink() and _LINK_NAME.match(entry.name) and entry.name not in self.links:
                entry.unlink()
        for name, real in self.links.items():
            target = (root / real).absolute()
            dest = folder / name
            if dest.is_symlink():
                if os.readlink(dest) == str(target):
                    continue
                dest.unlink()
            elif dest.exists():
                raise DatasetError(f"{dest}: exists and is not a link; remove it or pick --out")
            try:
                dest.symlink_to(target)
            except OSError:
                try:
                    os.link(target, dest)  # no symlinks here (e.g. Windows): a hard link
                except OSError as exc:
                    raise DatasetError(
                        f"{dest}: cannot link to {target} ({exc.strerror or exc})"
                    ) from None
        return folder

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the key and every name hashed with it to ``path``, readable by its owner only."""
        path = Path(path)
        data = {
            "format": FORMAT,
            "algorithm": "HMAC-SHA256",
            "digest": f'hex(HMAC-SHA256(key, kind + "\\x1f" + value))[:{DIGEST_CHARS}]',
            "key": self.key.hex(),
            "names": dict(sorted(self.names.items())),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:  # mkstemp makes the file 0600: the key is never readable by others, not even briefly
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


def reidentify(table: pd.DataFrame, key_file: str | os.PathLike[str]) -> pd.DataFrame:
    """A copy of an anonymised manifest table with the names its key file knows put back
    (``video_id``, ``path``, ``target_id``, ``source_id``, the tokens of ``identity_group`` and
    hashed benchmark columns); hashes the key file does not know stay as they are."""
    import pandas as pd

    from .manifest import COLUMNS, PROBE_COLUMNS

    names = Anonymiser.load(key_file).names

    def known(h: Any, kind: str | None = None) -> dict[str, str] | None:
        entry = names.get(h) if isinstance(h, str) else None
        return entry if entry and (kind is None or entry.get("kind") == kind) else None

    def video(vid: Any) -> Any:
        entry = known(str(vid).rsplit("/", 1)[-1], "video")
        return entry["value"] if entry else vid

    def path(p: Any) -> Any:
        entry = known(PurePosixPath(str(p)).stem, "video")
        return entry.get("path", p) if entry else p

    def ident(h: Any) -> Any:  # "<dataset>:<id>" was hashed: give back the id
        entry = known(h, "id")
        return entry["value"].split(":", 1)[-1] if entry else h

    def extra(v: Any, column: str) -> Any:
        entry = known(v, column)
        return entry["value"] if entry else v

    def token(t: str) -> str:
        entry = known(t.removeprefix(IDENTITY_PREFIX), "identity")
        return entry["value"] if t.startswith(IDENTITY_PREFIX) and entry else t

    def group(g: Any) -> Any:  # sorted tokens, as identity_groups names them; "+5more" last
        parts = str(g).split("+")
        more = parts.pop() if re.fullmatch(r"\d+more", parts[-1]) else None
        return "+".join([*sorted(token(t) for t in parts), *([more] if more else [])])

    def put_back(column: str, fn: Any) -> None:  # None stays None, the dtype stays
        values = [fn(v) for v in out[column]]
        out[column] = pd.Series(values, index=out.index, dtype=out[column].dtype)

    out = table.copy()
    put_back("video_id", video)
    put_back("path", path)
    put_back("target_id", ident)
    put_back("source_id", ident)
    put_back("identity_group", group)
    for col in out.columns:
        if col not in COLUMNS and col not in PROBE_COLUMNS and col not in KEPT_EXTRAS:
            put_back(col, lambda v, col=col: extra(v, col))
    return out
