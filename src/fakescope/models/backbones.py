"""Per-frame encoders and the part API shared by every detector.

``build_backbone(config)`` returns ``(module, num_features, weights_source)``: a timm model built
with ``num_classes=0`` (pooled features, e.g. DINOv2's CLS token) and its pretrained weights, or
one of fakescope's own small networks (``fakescope_simple_cnn``, seed 002's baseline).
``PartedDetector`` is the base of ``FrameDetector`` and ``ClipDetector``: named parts, freezing by
part or by backbone block group, and optimiser parameter groups.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, ModelError
from .parts import PartedModule
from .published import PUBLISHED_BACKBONES
from .registry import ModelConfig
from .rffr import RFFRBackbone
from .weights import load_pretrained

__all__ = [
    "NATIVE_BACKBONES",
    "PartedDetector",
    "SimpleCNN",
    "backbone_block_groups",
    "build_backbone",
]


class SimpleCNN(nn.Module):
    """Seed 002's baseline: four blocks of Conv3x3 -> BatchNorm -> ReLU -> MaxPool(2) with
    ``widths`` channels (32, 64, 128, 256), then global average pooling -> (N, 256).

    With seed 002's head (256 -> 128 -> 2) this is 422,530 parameters, the count the seed
    reports; fakescope's one-logit head makes it 422,401.
    """

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128, 256), in_chans: int = 3) -> None:
        super().__init__()
        if len(widths) < 1 or any(int(w) < 1 for w in widths):
            raise ConfigError("model.backbone_kwargs.widths: give one or more channel counts >= 1")
        blocks = []
        prev = in_chans
        for w in widths:
            blocks.append(
                nn.Sequential(
                    nn.Conv2d(prev, int(w), 3, padding=1),
                    nn.BatchNorm2d(int(w)),
                    nn.ReLU(inplace=True),
                    nn.MaxPool2d(2),
                )
            )
            prev = int(w)
        self.blocks = nn.Sequential(*blocks)
        self.num_features = prev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x).mean((2, 3))

    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """timm-style grouping: one group per conv block."""
        return {"blocks": [(r"^blocks\.(\d+)", None)]}


# fakescope's own backbones (not timm names): name -> class
NATIVE_BACKBONES: dict[str, type[nn.Module]] = {"fakescope_simple_cnn": SimpleCNN}
NATIVE_BACKBONES["rffr"] = RFFRBackbone  # seed 004: masker + generator + shared encoder
NATIVE_BACKBONES.update(PUBLISHED_BACKBONES)  # published detectors (models/published.py)


def build_backbone(config: ModelConfig) -> tuple[nn.Module, int, str]:
    """The per-frame encoder named by ``config.backbone`` with its pretrained weights:
    ``(module, num_features, weights_source)``; ``module(x)`` maps (N, 3, H, W) to (N, C)."""
    native = NATIVE_BACKBONES.get(config.backbone)
    if native is not None:
        try:
            module = native(**config.backbone_kwargs)
        except TypeError as exc:
            raise ConfigError(f"model.backbone_kwargs for {config.backbone}: {exc}") from None
        own = getattr(module, "load_pretrained", None)  # e.g. rffr: into its shared encoder
        source = own(config.pretrained) if callable(own) else _load_native(module, config)
        return module, int(module.num_features), source  # type: ignore[arg-type]
    import timm

    try:
        module = timm.create_model(
            config.backbone, pretrained=False, num_classes=0, **config.backbone_kwargs
        )
    except (RuntimeError, TypeError) as exc:
        msg = " ".join(str(exc).split())[:200]
        raise ConfigError(f"model.backbone '{config.backbone}': {msg}") from None
    source = load_pretrained(
        module, config.backbone, config.pretrained, backbone_kwargs=config.backbone_kwargs
    )
    num_features = module.num_features
    assert isinstance(num_features, int)
    return module, num_features, source


def _load_native(module: nn.Module, config: ModelConfig) -> str:
    source = config.pretrained
    if source == "none":
        return "none"
    path = Path(source)
    if not path.is_file():
        raise ModelError(
            f"pretrained={source!r}: {config.backbone} has no published weights; use "
            "pretrained=none or a local .safetensors/.pth file of this backbone"
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        msg = " ".join(str(exc).split())[:200]
        raise ModelError(f"{path}: weights do not fit {config.backbone} ({msg})") from None
    return f"file {path.name}"


def backbone_block_groups(module: nn.Module) -> list[list[str]]:
    """Parameter names of a backbone in groups from the input side (stem, stage 1, ...), per
    timm's coarse grouping of each architecture."""
    from timm.models import group_parameters

    matcher = module.group_matcher(coarse=True)  # type: ignore[operator]
    groups = group_parameters(module, matcher)
    return [list(groups[k]) for k in sorted(groups)]


class PartedDetector(PartedModule):
    """A detector made of named parts; ``backbone`` is always one of them (``unfreeze`` and
    ``param_groups``: ``PartedModule``; every parameter lies in a part).

    Subclasses set ``config``, ``weights_source`` and the part attributes, and list the parts
    in ``PART_NAMES`` (input side first).
    """

    PART_NAMES: tuple[str, ...] = ("backbone", "head")
    config: ModelConfig
    weights_source: str
    backbone: nn.Module

    def _build_backbone(self, config: ModelConfig, kind: str) -> int:
        """Check the family, set ``config``, ``backbone`` and ``weights_source``; returns the
        backbone's feature width."""
        if config.kind != kind:
            raise ConfigError(
                f"model.kind: {type(self).__name__} builds {kind} models, got '{config.kind}'"
            )
        self.config = config
        self.backbone, features, self.weights_source = build_backbone(config)
        return features

    def parts(self) -> dict[str, nn.Module]:
        """The named parts, input side first."""
        return {name: getattr(self, name) for name in self.PART_NAMES}

    def block_groups(self) -> list[list[str]]:
        """Backbone parameter names in groups from the input side (stem, stage 1, ...)."""
        return backbone_block_groups(self.backbone)

    def freeze(self, blocks: int | None = None) -> None:
        """Freeze the first ``blocks`` backbone groups (all of the backbone when None)."""
        groups = self.block_groups()
        chosen = groups if blocks is None else groups[:blocks]
        names = {n for g in chosen for n in g}
        for name, p in self.backbone.named_parameters():
            if name in names:
                p.requires_grad_(False)

    def freeze_parts(self, names: list[str]) -> None:
        """Freeze whole parts by name; ``backbone:N`` freezes the first N backbone groups."""
        parts = self.parts()
        for name in names:
            part, _, count = name.partition(":")
            if part not in parts or (count and part != "backbone"):
                raise ConfigError(
                    f"model part '{name}': unknown; choose from {', '.join(parts)} "
                    "(or backbone:N for the first N backbone block groups)"
                )
            if count:
                try:
                    n = int(count)
                except ValueError:
                    n = -1
                if n < 0:
                    raise ConfigError(f"model part '{name}': N in backbone:N must be an int >= 0")
                self.freeze(n)
            else:
                for p in parts[part].parameters():
                    p.requires_grad_(False)
