"""Typed training configuration: defaults -> YAML file -> ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

__all__ = [
    "DataConfig",
    "OptimConfig",
    "PhaseConfig",
    "TrainConfig",
    "TrainLoopConfig",
    "load_train_config",
]


@dataclass
class DataConfig:
    manifest: str = ""  # manifest with a split column (fakescope datasets split)
    crops: str = ""  # a `fakescope extract` output folder over the manifest's videos
    frames_per_video: int = 8
    tracks: int = 1  # faces per video used: the first N tracks (largest x most persistent)
    train_split: str = "train"
    val_split: str = "val"
    sbi: str = "off"  # off | only (real videos + self-blended fakes) | mix (labelled fakes too)
    max_videos: int = 0  # cap per split (0 = all), for quick runs
    clips_per_video: int = 4  # clip models: windows of T consecutive crops per video (even spread)


@dataclass
class OptimConfig:
    name: str = "adamw"  # adamw | adam
    lr: float = 1e-4
    backbone_lr: float | None = None  # None = same as lr
    weight_decay: float = 1e-4
    schedule: str = "warmup_cosine"  # warmup_cosine | plateau | constant
    warmup_epochs: float = 3.0
    min_lr_ratio: float = 0.01
    plateau_factor: float = 0.5
    plateau_patience: int = 1
    plateau_monitor: str = "val_auc"  # val_auc | val_loss (seed 002: ReduceLROnPlateau on val loss)


@dataclass
class TrainLoopConfig:
    epochs: int = 20
    batch_size: int = 32
    freeze_backbone_epochs: int = 0  # staged freezing: train the head first
    amp: bool = True  # mixed precision (GPU only)
    grad_clip: float = 1.0
    label_smoothing: float = 0.0
    balance: str = "pos_weight"  # pos_weight | sampler | none
    patience: int = 3
    min_delta: float = 0.002
    seed: int = 0
    num_workers: int = 0
    device: str = "auto"
    channels_last: bool = True  # NHWC batches: ~1.4x faster convolutions on these CPUs
    early_stopping: bool = True  # False: every epoch runs (seed presets), best still kept
    select: str = "val_auc"  # the monitor: best val_auc | val_acc | val_loss (lowest) is kept
    # as RUN/best, and early stopping counts its patience on it
    cache_features: bool = False  # frozen-backbone phases train on cached per-crop features


@dataclass
class PhaseConfig:
    """One stage of a staged recipe (``phases:`` in the YAML): its own optimiser and schedule.

    ``freeze`` names model parts (``backbone``, ``head``; clip models also ``proj``,
    ``temporal``; ``backbone:N`` = the first N backbone block groups). Unset values (None)
    take the run's ``optim`` values. ``kind``: ``classify`` (the detector's loss) or
    ``rffr_generator`` (seed 004: the residual generator alone learns to inpaint masked
    blocks of real crops; ``training.rffr``). ``modalities`` (av models): the branches the
    phase runs, ``both``/``video``/``audio`` (seed 001 trains video, then audio, then both).
    """

    name: str = "phase"
    kind: str = "classify"
    epochs: int = 1
    modalities: str | None = None  # av models: both | video | audio (None = the model's)
    freeze: list[str] = field(default_factory=list)
    lr: float | None = None
    backbone_lr: float | None = None
    warmup_epochs: float | None = None
    schedule: str | None = None
    weight_decay: float | None = None


@dataclass
class TrainConfig:
    name: str = "run"
    out: str = "runs"
    model: dict[str, Any] = field(default_factory=lambda: {"name": "efficientnet_lite0"})
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainLoopConfig = field(default_factory=TrainLoopConfig)
    augment: dict[str, Any] = field(default_factory=dict)  # AugmentConfig fields
    sbi_config: dict[str, Any] = field(default_factory=dict)  # SBIConfig fields
    phases: list[dict[str, Any]] = field(default_factory=list)  # PhaseConfig fields, in order
    flow: dict[str, Any] = field(default_factory=dict)  # FlowSettings fields (flow models)
    # audio-visual models (training.av): AVDataSettings fields plus loss / loss_kwargs
    av: dict[str, Any] = field(default_factory=dict)

    def phase_list(self) -> list[PhaseConfig]:
        """The recipe's phases; without ``phases:``, one phase of ``train.epochs`` (with the
        backbone frozen for the first ``train.freeze_backbone_epochs`` as before)."""
        if not self.phases:
            k = min(self.train.freeze_backbone_epochs, self.train.epochs)
            out = [PhaseConfig("frozen", epochs=k, freeze=["backbone"])] if k else []
            # one optimiser and schedule across both: the legacy recipe
            return (
                [*out, PhaseConfig("train", epochs=self.train.epochs - k)]
                if k < self.train.epochs
                else out
            )
        return [_phase(i, p) for i, p in enumerate(self.phases)]

    @property
    def total_epochs(self) -> int:
        return sum(p.epochs for p in self.phase_list())

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def run_dir(self) -> Path:
        return Path(self.out) / self.name


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")


def _set(obj: Any, dotted: str, raw: Any) -> None:
    if isinstance(raw, str) and _NUMBER.fullmatch(raw.strip()):
        raw = float(raw)  # YAML 1.1 reads 1e-5 (no dot) as a string
    parts = dotted.split(".")
    target = obj
    for p in parts[:-1]:
        target = target[p] if isinstance(target, dict) else getattr(target, p, None)
        if target is None:
            raise ConfigError(f"config: unknown key '{dotted}'")
    key = parts[-1]
    if isinstance(target, dict):
        target[key] = raw
        return
    if not dataclasses.is_dataclass(target) or key not in {
        f.name for f in dataclasses.fields(target)
    }:
        raise ConfigError(f"config: unknown key '{dotted}'")
    current = getattr(target, key)
    if current is not None and raw is not None and not isinstance(raw, type(current)):
        if isinstance(current, float) and isinstance(raw, int):
            raw = float(raw)
        else:
            raise ConfigError(f"config: {dotted} expects {type(current).__name__}, got {raw!r}")
    setattr(target, key, raw)


def _flatten(obj: Any, data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested YAML mappings -> dotted keys, down to the dataclass fields (dict fields whole)."""
    out: list[tuple[str, Any]] = []
    for key, value in data.items():
        current = getattr(obj, key, None) if dataclasses.is_dataclass(obj) else None
        if isinstance(value, dict) and dataclasses.is_dataclass(current):
            out.extend(_flatten(current, value, f"{prefix}{key}."))
        else:
            out.append((f"{prefix}{key}", value))
    return out


def load_train_config(path: str | None, overrides: list[str] | None = None) -> TrainConfig:
    """Defaults, then the YAML file, then ``key=value`` overrides (values parsed as YAML)."""
    config = TrainConfig()
    if path:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(
                f"{path}: cannot read config ({' '.join(str(exc).split())[:200]})"
            ) from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the config must be a mapping")
        for key, value in _flatten(config, data):
            _set(config, key, value)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not KEY=VALUE")
        key, value = item.split("=", 1)
        _set(config, key.strip(), yaml.safe_load(value))
    _validate(config)
    return config


def _phase(i: int, data: Any) -> PhaseConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"config: phases[{i}] must be a mapping")
    known = {f.name for f in dataclasses.fields(PhaseConfig)}
    bad = sorted(set(data) - known)
    if bad:
        raise ConfigError(
            f"config: phases[{i}]: unknown key(s) {', '.join(bad)}; known: {', '.join(sorted(known))}"
        )
    values = dict(data)
    for key in ("lr", "backbone_lr", "warmup_epochs", "weight_decay"):
        v = values.get(key)
        if isinstance(v, str) and _NUMBER.fullmatch(v.strip()):
            values[key] = float(v)
    freeze = values.get("freeze", [])
    values["freeze"] = [freeze] if isinstance(freeze, str) else list(freeze or [])
    phase = PhaseConfig(**values)
    if not isinstance(phase.epochs, int) or phase.epochs < 0:
        raise ConfigError(f"config: phases[{i}].epochs must be an integer >= 0")
    if phase.schedule not in (None, "warmup_cosine", "plateau", "constant"):
        raise ConfigError(
            f"config: phases[{i}].schedule must be warmup_cosine, plateau or constant"
        )
    if phase.lr is not None and not phase.lr > 0:
        raise ConfigError(f"config: phases[{i}].lr must be > 0")
    if phase.kind not in ("classify", "rffr_generator"):
        raise ConfigError(f"config: phases[{i}].kind must be classify or rffr_generator")
    if phase.modalities not in (None, "both", "video", "audio"):
        raise ConfigError(f"config: phases[{i}].modalities must be both, video or audio")
    return phase


def _validate(c: TrainConfig) -> None:
    checks = [
        (c.data.frames_per_video >= 1, "data.frames_per_video must be >= 1"),
        (c.data.tracks >= 1, "data.tracks must be >= 1"),
        (c.data.sbi in ("off", "only", "mix"), "data.sbi must be off, only or mix"),
        (c.optim.name in ("adamw", "adam"), "optim.name must be adamw or adam"),
        (
            c.optim.schedule in ("warmup_cosine", "plateau", "constant"),
            "optim.schedule must be warmup_cosine, plateau or constant",
        ),
        (
            c.optim.plateau_monitor in ("val_auc", "val_loss"),
            "optim.plateau_monitor must be val_auc or val_loss",
        ),
        (c.optim.lr > 0, "optim.lr must be > 0"),
        (c.train.epochs >= 1, "train.epochs must be >= 1"),
        (c.train.batch_size >= 1, "train.batch_size must be >= 1"),
        (
            c.train.balance in ("pos_weight", "sampler", "none"),
            "train.balance must be pos_weight, sampler or none",
        ),
        (0.0 <= c.train.label_smoothing < 0.5, "train.label_smoothing must be within [0, 0.5)"),
        ("name" in c.model, "model.name is required"),
        (c.data.clips_per_video >= 1, "data.clips_per_video must be >= 1"),
        (
            c.train.select in ("val_auc", "val_acc", "val_loss"),
            "train.select must be val_auc, val_acc or val_loss",
        ),
        (isinstance(c.phases, list), "phases must be a list of mappings"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"config: {message}")
    if c.flow:
        from ..forensics.flow import FlowSettings

        FlowSettings.from_dict(c.flow)  # a bad flow setting fails at load, naming the key
    phases = c.phase_list()
    if not phases or sum(p.epochs for p in phases) < 1:
        raise ConfigError("config: the phases must train for at least one epoch")
    _check_freeze(c, phases)


def _check_freeze(c: TrainConfig, phases: list[PhaseConfig]) -> None:
    """Every ``freeze:`` entry names a part of the model's family, or ``backbone:N``."""
    from ..models.clip import ClipDetector
    from ..models.frame import FrameDetector
    from ..models.registry import get_config

    kind = c.model.get("kind")
    if kind is None:
        try:
            kind = get_config(str(c.model["name"])).kind
        except ConfigError:
            return  # an unknown model is reported (with the choices) where it is built
    if kind == "av":
        return  # an av network's parts depend on its arch: checked where the model is built
    parts = (ClipDetector if kind == "clip" else FrameDetector).PART_NAMES
    for i, p in enumerate(phases):
        for part in p.freeze:
            head, _, n = str(part).partition(":")
            if part in parts or (head == "backbone" and n.isdigit()):
                continue
            raise ConfigError(
                f"config: phases[{i}].freeze: unknown part '{part}' of a {kind} model; "
                f"choose from {', '.join(parts)} or backbone:N"
            )
