"""Frame detectors: a per-frame backbone and a binary head on one face crop -> one logit."""

from __future__ import annotations

import torch

from .backbones import PartedDetector
from .registry import ModelConfig
from .temporal import build_head

__all__ = ["FrameDetector"]


class FrameDetector(PartedDetector):
    """``forward(x)`` takes (B, 3, H, W) normalised crops and returns (B,) logits of "fake".

    Parts: ``backbone`` (``backbones.build_backbone``) and ``head`` (``linear``: Dropout ->
    Linear(1); ``mlp``: seed 000's Dropout -> Linear -> GELU -> Dropout(p/2) -> Linear(1)).
    ``forward(x) == forward_features(encode(x))``.
    """

    PART_NAMES = ("backbone", "head")

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        features = self._build_backbone(config, "frame")
        self.head = build_head(features, config.head, config.head_hidden, config.drop_rate)
        if config.freeze_blocks:
            self.freeze(config.freeze_blocks)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features (N, C) of (N, 3, H, W) crops."""
        return self.backbone(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features (B, C), e.g. for linear probes (same as ``encode``)."""
        return self.backbone(x)

    def forward_features(self, f: torch.Tensor) -> torch.Tensor:
        """(N, C) features -> (N,) logits."""
        return self.head(f).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(self.backbone(x))
