"""Models by name: ``@register_model``, ``create_model(name, **overrides)``, ``list_models()``.

A registered entry is a ``ModelConfig`` (the recipe to build a network and the preprocessing
it expects); ``create_model`` builds the ``nn.Module`` from it. Overrides change any field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .._registry import register_into
from ..errors import ConfigError

__all__ = ["ModelConfig", "create_model", "get_config", "list_models", "register_model"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FAMILIES = ("frame", "clip", "signals", "av", "ensemble")
MODALITIES = ("both", "video", "audio")
TEMPORAL = ("gru", "lstm", "mean", "ssm")
INPUTS = ("crops", "flow")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build a detector and feed it.

    ``kind`` is the family: ``frame`` (one crop -> one logit), ``clip`` (``frames_per_clip``
    consecutive crops of one face track -> one logit, optionally one per frame) or ``signals``
    (a video's handcrafted forensic signals -> one logit, ``models.signals``) or ``ensemble``
    (members' calibrated video scores stacked, ``models.ensemble``; ``backbone`` names the
    stacker, the members live in the checkpoint folder). ``backbone``
    is a timm model name (the per-frame encoder of a clip model); for ``signals``, the
    classifier (``hist_gradient_boosting``) with its hyper-parameters in ``backbone_kwargs``.
    ``pretrained``: ``none``, ``imagenet`` (offline weights from a pip package where one ships
    them, else the timm hub), ``hub`` (the weights timm's tag names, e.g. DINOv2's LVD-142M),
    a local file, a URL or ``hf-hub:ORG/NAME``.

    Clip models: ``clip_stride`` is the step between clip starts when a track is scored (0 =
    ``frames_per_clip``, no overlap); ``padding`` says what fills a track shorter than the clip
    (``last``: its last crop, repeated; seed 000). ``temporal`` names the module over time
    (``gru``, ``lstm``, ``mean``, ``ssm``) with ``temporal_kwargs``; ``proj_dim`` a per-frame
    projection before it (0 = none); ``identity_head`` adds STF-Mamba's identity-consistency
    statistics. ``head`` is ``linear`` or ``mlp`` (seed 000: Dropout, Linear ``head_hidden``,
    GELU, Dropout(p/2), Linear) for either family.

    ``inputs`` is the evidence a network reads: ``crops`` (face crops) or, for clip models,
    ``flow`` (seed 003: flow images of consecutive frame pairs, ``forensics.flow``; the
    extraction then keeps runs of consecutive frames, and a clip is ``frames_per_clip`` pairs).

    Audio-visual models (``kind: av``, ``models.av``; seed 001): ``arch`` names the network in
    ``models.av.AV_ARCHS`` with its options in ``arch_kwargs``; a sample is ``segments``
    consecutive 1-s segments of ``segment_frames`` crops each (5 = seed 001's 5 FPS) with the
    16-kHz audio of each second; ``modalities`` switches the branches (``both``, ``video``,
    ``audio``); ``audio_fallback``: a video without an audio track is scored by the video
    branch alone (and the result says so) instead of being answered with a reason.
    """

    name: str
    kind: str = "frame"
    backbone: str = "efficientnet_b0"
    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    pretrained: str = "none"
    drop_rate: float = 0.2
    freeze_blocks: int = 0
    frames_per_clip: int = 1
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)
    clip_stride: int = 0
    padding: str = "last"
    temporal: str = "none"
    temporal_kwargs: dict[str, Any] = field(default_factory=dict)
    proj_dim: int = 0
    identity_head: bool = False
    head: str = "linear"
    head_hidden: int = 256
    inputs: str = "crops"
    arch: str = ""
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    modalities: str = "both"
    segments: int = 4
    segment_frames: int = 5
    audio_fallback: bool = False

    @property
    def family(self) -> str:
        return self.kind

    @property
    def stride(self) -> int:
        """Step between clip starts when scoring a track (clip models)."""
        return self.clip_stride or self.frames_per_clip

    @property
    def min_track_frames(self) -> int:
        """The shortest face track a clip model scores: a quarter of its clip, at least 2
        crops (shorter tracks carry too little time; padding fills the rest of the clip)."""
        return min_track_frames(self.frames_per_clip) if self.kind == "clip" else 1

    def __post_init__(self) -> None:
        if self.kind not in FAMILIES:
            raise ConfigError(
                f"model.kind: unknown family '{self.kind}'; choose from {', '.join(FAMILIES)}"
            )
        if self.kind == "clip":
            if self.frames_per_clip < 2:
                raise ConfigError("model.frames_per_clip must be >= 2 for a clip model")
            if self.temporal not in TEMPORAL:
                raise ConfigError(
                    f"model.temporal: unknown module '{self.temporal}'; choose from "
                    f"{', '.join(TEMPORAL)}"
                )
        elif self.kind == "av":
            if not self.arch:
                raise ConfigError("model.arch: an av model names its network (e.g. avsync)")
            if self.modalities not in MODALITIES:
                raise ConfigError(
                    f"model.modalities: unknown '{self.modalities}'; choose from "
                    f"{', '.join(MODALITIES)}"
                )
            if self.segments < 1 or self.segment_frames < 1:
                raise ConfigError("model.segments and model.segment_frames must be >= 1")
        if self.kind != "av" and (self.arch or self.modalities != "both"):
            raise ConfigError("model: arch and modalities belong to audio-visual models (kind: av)")
        if self.kind != "clip" and (
            self.frames_per_clip != 1 or self.temporal != "none" or self.identity_head
        ):
            raise ConfigError(
                "model: frames_per_clip, temporal and identity_head belong to clip models "
                "(kind: clip)"
            )
        if self.inputs not in INPUTS or (self.inputs == "flow" and self.kind != "clip"):
            raise ConfigError(
                f"model.inputs: '{self.inputs}' for a {self.kind} model; choose from "
                f"{', '.join(INPUTS)} (flow: clip models only)"
            )
        if self.clip_stride < 0:
            raise ConfigError("model.clip_stride must be >= 0")
        if self.padding not in ("last",):
            raise ConfigError(f"model.padding: unknown rule '{self.padding}'; choose from last")
        if self.head not in ("linear", "mlp"):
            raise ConfigError(f"model.head: unknown head '{self.head}'; choose from linear, mlp")
        if self.proj_dim < 0 or self.head_hidden < 1:
            raise ConfigError("model.proj_dim must be >= 0 and model.head_hidden >= 1")
        if not 32 <= self.input_size <= 1024:
            raise ConfigError(f"model.input_size must be within 32..1024, got {self.input_size}")
        if not 0.0 <= self.drop_rate < 1.0:
            raise ConfigError("model.drop_rate must be within [0, 1)")
        if self.freeze_blocks < 0:
            raise ConfigError("model.freeze_blocks must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"model: unknown key(s) {', '.join(sorted(unknown))}")
        data = dict(data)
        for k in ("mean", "std"):
            if k in data:
                data[k] = tuple(float(v) for v in data[k])
        return cls(**data)


_REGISTRY: dict[str, Callable[[], ModelConfig]] = {}


def register_model(fn: Callable[[], ModelConfig]) -> Callable[[], ModelConfig]:
    """Decorator on a function returning the ``ModelConfig``; its ``name`` is the key."""
    return register_into(_REGISTRY, fn().name, fn, "model")


def _load_builtin() -> None:
    from . import zoo  # noqa: F401


def list_models() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def get_config(name: str, **overrides: Any) -> ModelConfig:
    _load_builtin()
    try:
        config = _REGISTRY[name]()
    except KeyError:
        raise ConfigError(
            f"model: unknown model '{name}'; choose from {', '.join(sorted(_REGISTRY))}"
        ) from None
    known = {f.name for f in fields(ModelConfig)}
    bad = set(overrides) - known
    if bad:
        raise ConfigError(f"model: unknown option(s) {', '.join(sorted(bad))} for '{name}'")
    return replace(config, **overrides)


def create_model(name: str | ModelConfig, **overrides: Any) -> Any:
    """Build the network for a registered name (or a ``ModelConfig``), with overrides (a
    ``signals`` entry builds its unfitted scikit-learn classifier)."""
    config = name if isinstance(name, ModelConfig) else get_config(name, **overrides)
    if isinstance(name, ModelConfig) and overrides:
        config = replace(config, **overrides)
    if config.kind == "ensemble":  # members + a stacker, built from checkpoints
        from ..errors import ModelError

        raise ModelError(
            f"model '{config.name}': an ensemble is built from member checkpoints "
            "('fakescope ensemble build MEMBER... --manifest M --out DIR'), not by name"
        )
    if config.kind == "signals":  # not a network: an unfitted scikit-learn classifier
        from .signals import build_estimator

        return build_estimator(config)
    if config.kind == "av":
        from .av import build_av_model

        return build_av_model(config)
    if config.kind == "clip":
        from .clip import ClipDetector

        return ClipDetector(config)
    from .frame import FrameDetector

    return FrameDetector(config)


def min_track_frames(clip_frames: int) -> int:
    """The shortest face track that gives a clip of ``clip_frames``: a quarter of it, at least
    2 crops; the rest of the clip is padded with the track's last crop (training and scans)."""
    return max(2, -(-clip_frames // 4))
