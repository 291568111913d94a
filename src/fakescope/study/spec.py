"""STUDY.yaml: a grid of training runs (recipes × training manifests × seeds) and the one
protocol every run is scored on.

Schema (every key but ``runs`` and ``manifests`` is optional)::

    name: seed000-ablation             # title of the report
    description: one paragraph         # shown under the title
    seeds: [42]                        # every run is trained once per seed (train.seed)
    overrides: {train.epochs: 2}       # applied to every run, before the run's own
    runs:                              # one row of the table each
      - id: b0                         # unique; letters, digits, '-', '_', '.'
        config: b0.yaml                # a `fakescope train` recipe
        label: EfficientNet-B0 frame   # the row's name in tables and figures (default: id)
        overrides:                     # dotted or nested keys, as `fakescope train KEY=VALUE`
          optim.lr: 1.0e-4
          model: {pretrained: imagenet}
        note: what the row stands for  # optional; a column of the table
    manifests:                         # training data: every run trains on each of them
      - name: ffpp                     # unique; names the data in tables and run folders
        manifest: data/ffpp.parquet    # a manifest with splits (fakescope datasets split)
        crops: data/ffpp-crops         # `fakescope extract` output folder over it
        where: {dataset: ffpp}         # optional row filter: column -> value or [values]
        train_split: train             # default train
        val_split: val                 # default val (checkpoint selection)
    evaluate:
      split: test                      # in-domain: this split of the training manifest
      bootstrap: 1000                  # resamples for the 95% intervals (0 = none)
      frames: 32                       # frames scored per video (default: the crops folder's)
      cross:                           # cross-dataset sets (none: in-domain only)
        - name: celebdf
          manifest: data/celebdf.parquet
          crops: data/celebdf-crops
          split: test                  # default test; 'all' = every row
          where: {}                    # optional row filter
    references:                        # published values: dashed lines, never rows
      - label: Gattu et al. 2025 (EffNet-B0 + Mamba)
        value: 0.8210
        metric: cross_auc              # cross_auc (default) or in_domain_auc
        cross: celebdf                 # the cross set it compares with (default: the first)
        kind: published                # published (default) or target
        note: IJFMR 2025

Paths: ``config`` files resolve against the STUDY.yaml's folder (recipes live beside it);
data paths (``manifest``, ``crops``) against the current working directory, like the data
paths of a ``fakescope train`` recipe. Absolute paths are kept. A bad key or value is a
``ConfigError`` naming it (``runs[1].config: ...``).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

__all__ = [
    "CrossSet",
    "GridRun",
    "Reference",
    "RunSpec",
    "Study",
    "TrainData",
    "load_study",
    "recipe_study",
]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# keys the study sets itself for every run
_RESERVED = (
    "name",
    "out",
    "data.manifest",
    "data.crops",
    "data.train_split",
    "data.val_split",
    "train.seed",
)
_METRICS = ("cross_auc", "in_domain_auc")


@dataclass(frozen=True)
class RunSpec:
    """One row of the study: a recipe and its overrides."""

    id: str
    config: str  # absolute path of the recipe
    label: str
    overrides: tuple[tuple[str, Any], ...] = ()  # dotted key -> value, in order
    note: str = ""


@dataclass(frozen=True)
class TrainData:
    """A training manifest, its crops, an optional row filter and the splits used."""

    name: str
    manifest: str
    crops: str
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()
    train_split: str = "train"
    val_split: str = "val"


@dataclass(frozen=True)
class CrossSet:
    """A cross-dataset test set: a manifest (filtered), a split and its crops."""

    name: str
    manifest: str
    crops: str
    split: str = "test"
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Reference:
    """A published (or target) value drawn as a dashed line; never a row of the table."""

    label: str
    value: float
    metric: str = "cross_auc"
    cross: str | None = None
    kind: str = "published"
    note: str = ""


@dataclass(frozen=True)
class GridRun:
    """One training run of the grid."""

    key: str  # RUN__MANIFEST__sSEED: the run's folder under OUT/runs/
    run: RunSpec
    data: TrainData
    seed: int


@dataclass(frozen=True)
class Study:
    name: str
    path: str  # the STUDY.yaml
    runs: tuple[RunSpec, ...]
    manifests: tuple[TrainData, ...]
    seeds: tuple[int, ...] = (0,)
    split: str = "test"
    bootstrap: int = 1000
    frames: int | None = None
    cross: tuple[CrossSet, ...] = ()
    references: tuple[Reference, ...] = ()
    overrides: tuple[tuple[str, Any], ...] = ()
    description: str = ""

    def grid(self) -> list[GridRun]:
        """Every run: recipes × training manifests × seeds, in that order."""
        return [
            GridRun(f"{r.id}__{m.name}__s{s}", r, m, s)
            for r in self.runs
            for m in self.manifests
            for s in self.seeds
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def eval_fingerprint(self) -> str:
        """What scoring depends on: a run is re-scored (not re-trained) when it changes."""
        return _digest(
            {
                "split": self.split,
                "bootstrap": self.bootstrap,
                "frames": self.frames,
                "cross": [asdict(c) for c in self.cross],
            }
        )

    def train_fingerprint(self, g: GridRun) -> str:
        """What training depends on: the recipe file's content, the overrides, the data, the
        seed (comments and key order of the recipe do not count)."""
        try:
            recipe = yaml.safe_load(Path(g.run.config).read_text())
        except (OSError, yaml.YAMLError):
            recipe = None
        return _digest(
            {
                "recipe": recipe,
                "overrides": [*self.overrides, *g.run.overrides],
                "data": asdict(g.data),
                "seed": g.seed,
            }
        )


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- loading ----------------------------------------------------------------------------------


class _Reader:
    """Typed access to one YAML mapping, with errors naming ``where.key``."""

    def __init__(self, source: str, where: str, data: Any, known: tuple[str, ...]) -> None:
        self.source, self.where = source, where
        if not isinstance(data, dict):
            self.fail(where or "study", "must be a mapping")
        bad = [k for k in data if k not in known]
        if bad:
            key = f"{where}.{bad[0]}" if where else str(bad[0])
            raise ConfigError(f"{source}: unknown key '{key}' (known: {', '.join(known)})")
        self.data: dict[str, Any] = data

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def fail(self, key: str, message: str) -> None:
        raise ConfigError(f"{self.source}: {key}: {message}")

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        value = self.data.get(name, default)
        if value is None:
            return default
        if isinstance(value, bool) and kind in (int, float):
            self.fail(self.key(name), f"expects a number, got {value!r}")
        if kind is float and isinstance(value, int):
            return float(value)
        if kind is float and isinstance(value, str):
            try:
                return float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string
            except ValueError:
                pass
        if not isinstance(value, kind):
            want = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            self.fail(self.key(name), f"expects {want}, got {value!r}")
        return value

    def required(self, name: str, kind: type | tuple[type, ...]) -> Any:
        if self.data.get(name) in (None, ""):
            self.fail(self.key(name), "is required")
        return self.get(name, kind)

    def name(self, key: str) -> str:
        value = str(self.required(key, (str, int)))
        if not _NAME.fullmatch(value):
            self.fail(self.key(key), f"'{value}': use letters, digits, '-', '_' and '.'")
        return value


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested override mappings -> (dotted key, value); lists and empty mappings stay whole."""
    out: list[tuple[str, Any]] = []
    for k, v in data.items():
        if isinstance(v, dict) and v:
            out.extend(_flatten(v, f"{prefix}{k}."))
        else:
            out.append((f"{prefix}{k}", v))
    return out


def _overrides(r: _Reader, name: str) -> tuple[tuple[str, Any], ...]:
    raw = r.get(name, dict, {})
    pairs = _flatten(raw)
    for key, _ in pairs:
        if key in _RESERVED:
            r.fail(
                f"{r.key(name)}.{key}",
                "is set by the study (manifests:, seeds:, the run folder); remove it",
            )
    return tuple(pairs)


def _where(r: _Reader) -> tuple[tuple[str, tuple[str, ...]], ...]:
    raw = r.get("where", dict, {})
    out = []
    for col, values in raw.items():
        vals = values if isinstance(values, list) else [values]
        if not vals or any(isinstance(v, (dict, list)) for v in vals):
            r.fail(f"{r.key('where')}.{col}", "expects a value or a list of values")
        out.append((str(col), tuple(str(v) for v in vals)))
    return tuple(out)


def _data_path(value: str) -> str:
    return str(Path(value).expanduser().resolve())


def load_study(path: str | Path) -> Study:
    """Read and check a STUDY.yaml (the recipes are loaded too, so a bad recipe key fails
    here, before any training)."""
    from ..training.config import load_train_config

    path = Path(path)
    source = str(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"{source}: not valid YAML ({' '.join(str(exc).split())[:200]})"
        ) from None
    top = _Reader(
        source,
        "",
        data or {},
        (
            "name",
            "description",
            "seeds",
            "overrides",
            "runs",
            "manifests",
            "evaluate",
            "references",
        ),
    )
    here = path.resolve().parent

    runs: list[RunSpec] = []
    raw_runs = top.required("runs", list)
    if not raw_runs:
        top.fail("runs", "lists no run")
    for i, item in enumerate(raw_runs):
        r = _Reader(source, f"runs[{i}]", item, ("id", "config", "label", "overrides", "note"))
        rid = r.name("id")
        if any(x.id == rid for x in runs):
            r.fail(r.key("id"), f"'{rid}' is used twice")
        cfg = Path(r.required("config", str)).expanduser()
        cfg = cfg if cfg.is_absolute() else here / cfg
        if not cfg.is_file():
            r.fail(r.key("config"), f"no such file {cfg}")
        run = RunSpec(
            rid,
            str(cfg),
            str(r.get("label", (str, int), rid)),
            _overrides(r, "overrides"),
            str(r.get("note", str, "")),
        )
        runs.append(run)

    manifests: list[TrainData] = []
    raw_manifests = top.required("manifests", list)
    if not raw_manifests:
        top.fail("manifests", "lists no training manifest")
    for i, item in enumerate(raw_manifests):
        r = _Reader(
            source,
            f"manifests[{i}]",
            item,
            ("name", "manifest", "crops", "where", "train_split", "val_split"),
        )
        name = r.name("name")
        if any(m.name == name for m in manifests):
            r.fail(r.key("name"), f"'{name}' is used twice")
        manifests.append(
            TrainData(
                name,
                _data_path(r.required("manifest", str)),
                _data_path(r.required("crops", str)),
                _where(r),
                str(r.get("train_split", str, "train")),
                str(r.get("val_split", str, "val")),
            )
        )

    seeds_raw = top.get("seeds", (list, int), [0])
    seeds_list = seeds_raw if isinstance(seeds_raw, list) else [seeds_raw]
    if not seeds_list or not all(
        isinstance(s, int) and not isinstance(s, bool) for s in seeds_list
    ):
        top.fail("seeds", f"expects a list of integers, got {seeds_raw!r}")
    if len(set(seeds_list)) != len(seeds_list):
        top.fail("seeds", "lists a seed twice")

    ev = _Reader(
        source, "evaluate", top.get("evaluate", dict, {}), ("split", "bootstrap", "frames", "cross")
    )
    bootstrap = ev.get("bootstrap", int, 1000)
    if bootstrap < 0:
        ev.fail("evaluate.bootstrap", "must be >= 0")
    frames = ev.get("frames", int, None)
    if frames is not None and frames < 1:
        ev.fail("evaluate.frames", "must be >= 1")
    cross: list[CrossSet] = []
    for i, item in enumerate(ev.get("cross", list, [])):
        r = _Reader(
            source, f"evaluate.cross[{i}]", item, ("name", "manifest", "crops", "split", "where")
        )
        name = r.name("name")
        if name == "in_domain" or any(c.name == name for c in cross):
            r.fail(r.key("name"), f"'{name}' is used twice or reserved")
        cross.append(
            CrossSet(
                name,
                _data_path(r.required("manifest", str)),
                _data_path(r.required("crops", str)),
                str(r.get("split", str, "test")),
                _where(r),
            )
        )

    references: list[Reference] = []
    for i, item in enumerate(top.get("references", list, [])):
        r = _Reader(
            source, f"references[{i}]", item, ("label", "value", "metric", "cross", "kind", "note")
        )
        ref = Reference(
            str(r.required("label", str)),
            r.required("value", float),
            str(r.get("metric", str, "cross_auc")),
            r.get("cross", str, None),
            str(r.get("kind", str, "published")),
            str(r.get("note", str, "")),
        )
        if ref.metric not in _METRICS:
            r.fail(r.key("metric"), f"'{ref.metric}': choose from {', '.join(_METRICS)}")
        if ref.kind not in ("published", "target"):
            r.fail(r.key("kind"), f"'{ref.kind}': choose from published, target")
        if ref.cross is not None and all(c.name != ref.cross for c in cross):
            r.fail(r.key("cross"), f"'{ref.cross}' is not a name under evaluate.cross")
        if ref.metric == "cross_auc" and not cross:
            r.fail(r.key("metric"), "cross_auc needs a set under evaluate.cross")
        references.append(ref)

    study = Study(
        name=str(top.get("name", (str, int), path.stem)),
        path=str(path.resolve()),
        runs=tuple(runs),
        manifests=tuple(manifests),
        seeds=tuple(seeds_list),
        split=str(ev.get("split", str, "test")),
        bootstrap=bootstrap,
        frames=frames,
        cross=tuple(cross),
        references=tuple(references),
        overrides=_overrides(top, "overrides"),
        description=str(top.get("description", str, "")),
    )
    for i, run in enumerate(study.runs):  # every recipe loads with its overrides
        try:
            load_train_config(run.config, override_strings(study, run))
        except ConfigError as exc:
            raise ConfigError(f"{source}: runs[{i}] ({run.id}): {exc}") from None
    return study


def override_strings(study: Study, run: RunSpec) -> list[str]:
    """The study's and the run's overrides as ``KEY=VALUE`` strings (JSON values are YAML)."""
    return [f"{k}={json.dumps(v)}" for k, v in (*study.overrides, *run.overrides)]


def recipe_study(
    config: str,
    overrides: list[str],
    manifest: str | None,
    runs: int,
    *,
    split: str = "test",
    bootstrap: int = 1000,
    frames: int | None = None,
    name: str | None = None,
) -> Study:
    """One training recipe trained and scored ``runs`` times (seeds ``train.seed`` + 0, 1, ...)
    on its manifest (``manifest`` overrides the recipe's) and crops: the multi-run protocol of
    ``fakescope evaluate --runs N``, as a study, so the runs resume and the report gives every
    metric's mean ± std beside each run's bootstrap intervals."""
    from ..training.config import load_train_config

    if runs < 1:
        raise ConfigError(f"runs: needs N >= 1, got {runs}")
    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise ConfigError(f"overrides: expected KEY=VALUE, got {bad[0]!r}")
    cfg = load_train_config(config, overrides)
    data_file = manifest or cfg.data.manifest
    if not data_file or not cfg.data.crops:
        raise ConfigError(
            f"{config}: the recipe needs data.manifest (or --manifest) and data.crops "
            "(a 'fakescope extract' folder over the manifest) for several runs"
        )
    run_id = name or Path(config).stem
    if not _NAME.fullmatch(run_id):
        run_id = re.sub(r"[^A-Za-z0-9_.-]", "_", run_id).lstrip("_.-") or "recipe"
    data_name = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(data_file).stem).lstrip("_.-") or "data"
    pairs = tuple((k.strip(), yaml.safe_load(v)) for k, v in (o.split("=", 1) for o in overrides))
    return Study(
        name=f"{run_id}, {runs} run(s)",
        path=str(Path(config).resolve()),
        runs=(RunSpec(run_id, str(Path(config).resolve()), run_id, pairs),),
        manifests=(
            TrainData(
                data_name,
                _data_path(data_file),
                _data_path(cfg.data.crops),
                train_split=cfg.data.train_split,
                val_split=cfg.data.val_split,
            ),
        ),
        seeds=tuple(cfg.train.seed + k for k in range(runs)),
        split=split,
        bootstrap=bootstrap,
        frames=frames,
    )
