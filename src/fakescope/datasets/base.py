"""The dataset adapter contract, its registry and the report of what indexing found wrong."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from .._registry import register_into
from ..errors import ConfigError, DatasetError

__all__ = [
    "DatasetAdapter",
    "IndexReport",
    "LayoutGaps",
    "VideoRecord",
    "create_adapter",
    "list_datasets",
    "register_dataset",
]

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class VideoRecord:
    """One video of a benchmark, as an adapter reads it from the folder and its metadata.

    ``path`` is relative to the dataset root (POSIX separators). ``identities`` are the
    identity tokens the video involves (a real video: its subject; a fake: target and source);
    videos sharing a token end up in one identity group. ``split`` is the official split when
    the benchmark has one, else ``None``. ``extra`` holds benchmark-specific columns.
    """

    video_id: str
    path: str
    label: int
    dataset: str
    method: str
    compression: str | None = None
    target_id: str | None = None
    source_id: str | None = None
    identities: tuple[str, ...] = ()
    split: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.label not in (0, 1):
            raise ValueError(f"{self.path}: label must be 0 (real) or 1 (fake), got {self.label!r}")
        if self.split is not None and self.split not in SPLITS:
            raise ValueError(f"{self.path}: split must be one of {SPLITS}, got {self.split!r}")
        if Path(self.path).is_absolute():
            raise ValueError(f"{self.path}: record paths are relative to the dataset root")


class IndexReport:
    """Problems met while indexing: counted, with the first few examples of each kind."""

    MAX_EXAMPLES = 5

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.examples: dict[str, list[str]] = {}

    def add(self, kind: str, example: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        ex = self.examples.setdefault(kind, [])
        if len(ex) < self.MAX_EXAMPLES:
            ex.append(example)

    def missing(self, path: str, listed_in: str) -> None:
        """A file named by the benchmark's metadata is not on disk."""
        self.add("missing", f"{path} (listed in {listed_in})")

    def unknown_label(self, path: str, label: object) -> None:
        self.add("unknown_label", f"{path}: {label!r}")

    def skipped(self, path: str, why: str) -> None:
        self.add("skipped", f"{path}: {why}")

    def to_dict(self) -> dict[str, Any]:
        return {
            k: {"count": n, "examples": self.examples[k]} for k, n in sorted(self.counts.items())
        }

    def lines(self) -> list[str]:
        out = []
        for kind, n in sorted(self.counts.items()):
            out.append(f"{kind}: {n} (e.g. {'; '.join(self.examples[kind][:3])})")
        return out

    def __bool__(self) -> bool:
        return bool(self.counts)


class LayoutGaps:
    """What keeps a known layout from indexing fully: a folder the layout needs is absent (or
    holds no video), or a file in one of its folders does not follow that folder's naming.

    A known layout that indexes only partly is an error, not a warning: ``check()`` raises one
    ``DatasetError`` naming every gap (counts and the first examples). Files outside the
    layout's folders, and metadata naming absent files, stay ``IndexReport`` problems.
    """

    MAX_EXAMPLES = 3

    def __init__(self, layout: str, root: Path) -> None:
        self.layout = layout
        self.root = root
        self.missing_folders: dict[str, str] = {}
        self.unparsed_files: dict[tuple[str, str], list[str]] = {}

    def missing(self, folder: str, holds: str) -> None:
        """The layout needs ``folder`` (which holds ``holds``) and it has no video."""
        self.missing_folders.setdefault(folder, holds)

    def unparsed(self, folder: str, path: str, naming: str) -> None:
        """``path`` sits in the layout's ``folder`` but its name does not follow ``naming``."""
        self.unparsed_files.setdefault((folder, naming), []).append(path)

    def __bool__(self) -> bool:
        return bool(self.missing_folders or self.unparsed_files)

    def message(self) -> str:
        parts = [f"no {f} with videos ({holds})" for f, holds in self.missing_folders.items()]
        for (folder, naming), paths in self.unparsed_files.items():
            shown = ", ".join(paths[: self.MAX_EXAMPLES])
            more = (
                f" and {len(paths) - self.MAX_EXAMPLES} more"
                if len(paths) > self.MAX_EXAMPLES
                else ""
            )
            parts.append(f"{len(paths)} file(s) in {folder}/ not named {naming}: {shown}{more}")
        return (
            f"{self.root}: the {self.layout} layout indexes only partly: {'; '.join(parts)}. "
            "Add what is missing or rename/move the odd files out of the layout's folders "
            "(or index the folder with --dataset generic)"
        )

    def check(self) -> None:
        """Raise ``DatasetError`` when the layout indexed only partly."""
        if self:
            raise DatasetError(self.message())


@runtime_checkable
class DatasetAdapter(Protocol):
    """Reads one benchmark's folder layout and metadata into ``VideoRecord``s."""

    name: str

    def scan(self, root: Path, report: IndexReport) -> Iterator[VideoRecord]: ...


_REGISTRY: dict[str, Callable[..., DatasetAdapter]] = {}
F = TypeVar("F", bound=Callable[..., DatasetAdapter])


def register_dataset(name: str) -> Callable[[F], F]:
    """Decorator: make an adapter creatable by ``name``. Duplicate names are an error."""

    def wrap(factory: F) -> F:
        entry: Callable[..., DatasetAdapter] = factory
        register_into(_REGISTRY, name, entry, "dataset adapter")
        return factory

    return wrap


def _load_builtin() -> None:
    from . import celebdf, dfd, dfdc, fakeavceleb, ffpp, generic  # noqa: F401


def list_datasets() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def create_adapter(name: str, **options: Any) -> DatasetAdapter:
    _load_builtin()
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"dataset: unknown dataset '{name}'; choose from {', '.join(sorted(_REGISTRY))}"
        ) from None
    return factory(**options)


_REAL_WORDS = frozenset({"0", "0.0", "false", "real", "original", "pristine", "genuine"})
_FAKE_WORDS = frozenset({"1", "1.0", "true", "fake", "manipulated", "synthetic", "deepfake"})


def parse_label(value: object) -> int | None:
    """0 (real) / 1 (fake) from the spellings benchmark files use (REAL/FAKE, 0/1, booleans,
    real/original/pristine, fake/manipulated/synthetic); ``None`` when unknown."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return int(value) if value in (0, 1) else None
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _REAL_WORDS:
            return 0
        if word in _FAKE_WORDS:
            return 1
    return None


def iter_files(root: Path, suffixes: tuple[str, ...] = (".mp4",)) -> Iterator[Path]:
    """Files under ``root`` with one of ``suffixes`` (any case), sorted, recursively."""
    wanted = {s.lower() for s in suffixes}
    if not root.is_dir():
        return
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() in wanted and p.is_file():
            yield p


def rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()
