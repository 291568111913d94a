"""Search spaces and tune settings from YAML (``fakescope tune --space SPACE.yaml``).

SPACE.yaml::

    sampler: tpe                 # tpe | gp | random (the CLI's --sampler wins)
    pruner: {name: median, startup_trials: 5, warmup_epochs: 1}   # or a name: median | hyperband | none
    metric: val_auc              # any column of the training log.csv
    direction: maximize          # or minimize
    trials: 30
    seed: 42                     # the sampler's seed
    startup_trials: 10           # random trials before TPE / the GP model takes over
    overrides: {train.epochs: 10}   # fixed for every trial, before the sampled values
    space:                       # dotted training-config keys, sampled in this order
      optim.lr: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
      train.batch_size: {type: categorical, choices: [4, 8, 16]}
      model.drop_rate: {type: float, low: 0.1, high: 0.6, step: 0.1}
      optim.schedule: {type: categorical, choices: [plateau, warmup_cosine]}
      optim.warmup_epochs: {type: int, low: 0, high: 3, when: {optim.schedule: warmup_cosine}}

``when`` makes a key conditional: it is sampled only when every named key (sampled earlier,
else the base config's value) equals the value or one of the listed values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

__all__ = ["Param", "TuneSpec", "config_value", "load_space", "override_strings"]

SAMPLERS = ("tpe", "gp", "random")
PRUNERS = ("median", "hyperband", "none")
_TYPES = ("float", "int", "categorical")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _num(value: Any, where: str) -> float:
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        value = float(value)  # YAML 1.1 reads 1e-5 (no dot) as a string
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}: expects a number, got {value!r}")
    return value


@dataclass(frozen=True)
class Param:
    """One searched key: ``float`` (``log`` or ``step``), ``int`` (``log`` or ``step``) or
    ``categorical``; ``when`` = {key: allowed values} makes it conditional."""

    key: str
    type: str
    low: float = 0.0  # float and int ranges
    high: float = 0.0
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def first(self) -> Any:
        """A value of the range (its low end or first choice), to check the key exists."""
        if self.type == "categorical":
            return self.choices[0]
        return int(self.low) if self.type == "int" else float(self.low)

    def active(self, values: dict[str, Any], base: Any) -> bool:
        for key, allowed in self.when:
            current = values[key] if key in values else config_value(base, key)
            if current not in allowed:
                return False
        return True

    def suggest(self, trial: Any) -> Any:
        if self.type == "categorical":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.type == "int":
            step = int(self.step) if self.step else 1
            return trial.suggest_int(
                self.key,
                int(self.low),
                int(self.high),
                step=step,
                log=self.log,
            )
        return trial.suggest_float(
            self.key,
            float(self.low),
            float(self.high),
            step=self.step,
            log=self.log,
        )

    def describe(self) -> str:
        if self.type == "categorical":
            text = "{" + ", ".join(map(str, self.choices)) + "}"
        else:
            text = f"[{self.low:g}, {self.high:g}]" + (" log" if self.log else "")
            text += f" step {self.step:g}" if self.step else ""
        if self.when:
            text += " when " + ", ".join(f"{k} in {list(v)}" for k, v in self.when)
        return f"{self.type} {text}"


def _param(key: str, spec: Any, where: str, earlier: list[str]) -> Param:
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: must be a mapping with a type (float, int or categorical)")
    known = {"type", "low", "high", "log", "step", "choices", "when"}
    bad = sorted(set(spec) - known)
    if bad:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(bad)}; known: {', '.join(sorted(known))}"
        )
    kind = spec.get("type")
    if kind == "logfloat":
        kind, spec = "float", {**spec, "log": True}
    if kind not in _TYPES:
        raise ConfigError(
            f"{where}.type: must be float, int, categorical or logfloat, got {kind!r}"
        )
    when = spec.get("when") or {}
    if not isinstance(when, dict):
        raise ConfigError(f"{where}.when: must map keys to a value or a list of values")
    conditions = tuple((str(k), tuple(v) if isinstance(v, list) else (v,)) for k, v in when.items())
    for k, _ in conditions:
        if k == key:
            raise ConfigError(f"{where}.when: a key cannot depend on itself")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}.choices: must be a non-empty list")
        for c in choices:
            if c is not None and not isinstance(c, (str, int, float, bool)):
                raise ConfigError(f"{where}.choices: {c!r} is not a plain value")
        return Param(key, kind, choices=tuple(choices), when=conditions)
    if "low" not in spec or "high" not in spec:
        raise ConfigError(f"{where}: a {kind} range needs low and high")
    low, high = _num(spec["low"], f"{where}.low"), _num(spec["high"], f"{where}.high")
    if not low < high:
        raise ConfigError(f"{where}: low ({low:g}) must be below high ({high:g})")
    log = bool(spec.get("log", False))
    if log and low <= 0:
        raise ConfigError(f"{where}: a log range needs low > 0")
    step = spec.get("step")
    if step is not None:
        step = _num(step, f"{where}.step")
        if step <= 0 or log:
            raise ConfigError(f"{where}.step: must be > 0 and cannot be combined with log")
    if kind == "int" and (low != int(low) or high != int(high)):
        raise ConfigError(f"{where}: an int range needs whole low and high")
    return Param(key, kind, low, high, log, step, when=conditions)


@dataclass(frozen=True)
class TuneSpec:
    """A SPACE.yaml: the searched keys and the tune's defaults."""

    params: tuple[Param, ...]
    sampler: str = "tpe"
    pruner: str = "median"
    pruner_startup_trials: int = 5
    pruner_warmup_epochs: int = 0
    metric: str = "val_auc"
    direction: str = "maximize"
    trials: int = 20
    seed: int = 0
    startup_trials: int = 10
    overrides: tuple[tuple[str, Any], ...] = ()
    path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """What makes two tunes comparable: the space and the fixed overrides."""
        blob = json.dumps(
            {"space": [dataclasses.asdict(p) for p in self.params],
             "overrides": [list(o) for o in self.overrides]},
            sort_keys=True, default=str,
        )  # fmt: skip
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def sample(self, trial: Any, base: Any) -> dict[str, Any]:
        """The trial's values of every active key, in the space's order."""
        values: dict[str, Any] = {}
        for p in self.params:
            if p.active(values, base):
                values[p.key] = p.suggest(trial)
        return values


def config_value(config: Any, dotted: str) -> Any:
    """The value of a dotted key in a TrainConfig (None where it is not set)."""
    target = config
    for part in dotted.split("."):
        target = target.get(part) if isinstance(target, dict) else getattr(target, part, None)
        if target is None:
            return None
    return target


def override_strings(values: dict[str, Any] | tuple[tuple[str, Any], ...]) -> list[str]:
    """``KEY=VALUE`` strings (values as YAML) for ``load_train_config``."""
    items = values.items() if isinstance(values, dict) else values
    return [f"{k}={yaml.safe_dump(v, default_flow_style=True).strip()}" for k, v in items]


def _choice(
    data: dict[str, Any], key: str, choices: tuple[str, ...], default: str, where: str
) -> str:
    value = data.get(key, default)
    if value not in choices:
        raise ConfigError(f"{where}: {key} must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _int(data: dict[str, Any], key: str, default: int, where: str, low: int = 0) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{where}: {key} must be an integer >= {low}, got {value!r}")
    return value


def load_space(path: str | Path) -> TuneSpec:
    """Read and check a SPACE.yaml (one ``ConfigError`` line naming the file and key)."""
    where = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"{where}: cannot read the search space ({' '.join(str(exc).split())[:200]})"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("space"), dict) or not data["space"]:
        raise ConfigError(f"{where}: needs a non-empty 'space:' mapping of config keys to ranges")
    known = {"sampler", "pruner", "metric", "direction", "trials", "seed", "startup_trials",
             "overrides", "space", "config", "notes"}  # fmt: skip
    bad = sorted(set(data) - known)
    if bad:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(bad)}; known: {', '.join(sorted(known))}"
        )
    params: list[Param] = []
    for key, spec in data["space"].items():
        params.append(_param(str(key), spec, f"{where}: space.{key}", [p.key for p in params]))
    pruner = data.get("pruner", "median")
    pruner_cfg: dict[str, Any] = pruner if isinstance(pruner, dict) else {"name": pruner}
    extra_pruner = sorted(set(pruner_cfg) - {"name", "startup_trials", "warmup_epochs"})
    if extra_pruner:
        raise ConfigError(f"{where}: pruner: unknown field(s) {', '.join(extra_pruner)}")
    overrides = data.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise ConfigError(f"{where}: overrides must map config keys to values")
    return TuneSpec(
        params=tuple(params),
        sampler=_choice(data, "sampler", SAMPLERS, "tpe", where),
        pruner=_choice(pruner_cfg, "name", PRUNERS, "median", f"{where}: pruner"),
        pruner_startup_trials=_int(pruner_cfg, "startup_trials", 5, f"{where}: pruner"),
        pruner_warmup_epochs=_int(pruner_cfg, "warmup_epochs", 0, f"{where}: pruner"),
        metric=str(data.get("metric", "val_auc")),
        direction=_choice(data, "direction", ("maximize", "minimize"), "maximize", where),
        trials=_int(data, "trials", 20, where, low=1),
        seed=_int(data, "seed", 0, where),
        startup_trials=_int(data, "startup_trials", 10, where),
        overrides=tuple((str(k), v) for k, v in overrides.items()),
        path=where,
        extra={k: data[k] for k in ("config", "notes") if k in data},
    )
