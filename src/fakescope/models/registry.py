"""Models by name: ``@register_model``, ``create_model(name, **overrides)``, ``list_models()``.

A registered entry is a ``ModelConfig`` (the recipe to build a network and the preprocessing
it expects); ``create_model`` builds the ``nn.Module`` from it. Overrides change any field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from ..errors import ConfigError

__all__ = ["ModelConfig", "create_model", "get_config", "list_models", "register_model"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build a detector and feed it.

    ``kind``: ``frame`` (one crop -> one logit). ``backbone`` is a timm model name.
    ``pretrained``: ``none``, ``imagenet`` (offline weights from a pip package where one ships
    them, else the timm hub), a local file, a URL or ``hf-hub:ORG/NAME``.
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

    def __post_init__(self) -> None:
        if self.kind not in ("frame",):
            raise ConfigError(f"model.kind: unknown kind '{self.kind}'")
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
    name = fn().name
    if name in _REGISTRY:
        raise ValueError(f"model '{name}' is already registered")
    _REGISTRY[name] = fn
    return fn


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
    """Build the network for a registered name (or a ``ModelConfig``), with overrides."""
    from .frame import FrameDetector

    config = name if isinstance(name, ModelConfig) else get_config(name, **overrides)
    if isinstance(name, ModelConfig) and overrides:
        config = replace(config, **overrides)
    return FrameDetector(config)
