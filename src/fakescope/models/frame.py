"""Frame detectors: a timm backbone and a binary head on one face crop -> one logit."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .registry import ModelConfig
from .weights import load_pretrained

__all__ = ["FrameDetector"]


class FrameDetector(nn.Module):
    """``forward(x)`` takes (B, 3, H, W) normalised crops and returns (B,) logits of "fake"."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        import timm

        self.config = config
        backbone: Any = timm.create_model(
            config.backbone, pretrained=False, num_classes=0, **config.backbone_kwargs
        )
        self.backbone = backbone
        self.weights_source = load_pretrained(backbone, config.backbone, config.pretrained)
        features = int(backbone.num_features)
        self.head = nn.Sequential(nn.Dropout(config.drop_rate), nn.Linear(features, 1))
        if config.freeze_blocks:
            self.freeze(config.freeze_blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x)).squeeze(-1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features (B, C), e.g. for linear probes."""
        return self.backbone(x)

    def block_groups(self) -> list[list[str]]:
        """Backbone parameter names in groups from the input side (stem, stage 1, ...), per
        timm's coarse grouping of each architecture."""
        from timm.models import group_parameters

        matcher = self.backbone.group_matcher(coarse=True)
        groups = group_parameters(self.backbone, matcher)
        return [list(groups[k]) for k in sorted(groups)]

    def freeze(self, blocks: int | None = None) -> None:
        """Freeze the first ``blocks`` backbone groups (all of the backbone when None)."""
        groups = self.block_groups()
        chosen = groups if blocks is None else groups[:blocks]
        names = {n for g in chosen for n in g}
        for name, p in self.backbone.named_parameters():
            if name in names:
                p.requires_grad_(False)

    def unfreeze(self) -> None:
        for p in self.backbone.parameters():
            p.requires_grad_(True)

    def param_groups(
        self, lr: float, backbone_lr: float | None, weight_decay: float
    ) -> list[dict[str, Any]]:
        """Optimizer groups: head and backbone learning rates; no weight decay on biases and
        normalisation weights. Frozen parameters are included (they may be unfrozen later)."""
        out: list[dict[str, Any]] = []
        for part, part_lr in (
            (self.backbone, backbone_lr if backbone_lr is not None else lr),
            (self.head, lr),
        ):
            decay: list[nn.Parameter] = []
            no_decay: list[nn.Parameter] = []
            for _name, p in part.named_parameters():
                (no_decay if p.ndim <= 1 else decay).append(p)
            out.append({"params": decay, "lr": part_lr, "weight_decay": weight_decay})
            out.append({"params": no_decay, "lr": part_lr, "weight_decay": 0.0})
        return [g for g in out if g["params"]]
