"""Clip detectors: T consecutive crops of one face track -> one logit of "fake".

    crops (B, T, 3, H, W) --backbone--> (B, T, C) --proj--> (B, T, D) --temporal--> seq (B, T, D'),
    pooled (B, D') --head--> logit (B,)

Parts (``parts()``): ``backbone`` (per-frame encoder, ``backbones.build_backbone``), ``proj``
(per-frame projection, ``temporal.build_projection``), ``temporal`` (``mean``/``gru``/``lstm``/
``ssm``) and ``head`` (``temporal.ClipHead``). STF-Mamba's identity-consistency statistics live in
``head`` (``head.identity``, with the classifier after it), so freezing ``temporal`` leaves them
trainable.

``temporal_kwargs`` holds the temporal module's options plus the projection's: ``proj_hidden``
(a hidden layer, 0 = none), ``proj_norm`` (``layer``/``none``) and ``proj_act``
(``gelu``/``relu``/``none``); defaults: one Linear -> LayerNorm -> GELU (seed 000 Exp3).
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import ConfigError
from .backbones import PartedDetector
from .registry import ModelConfig
from .temporal import (
    ClipHead,
    MeanTemporal,
    build_projection,
    build_temporal,
    split_temporal_kwargs,
)

__all__ = ["ClipDetector"]


class ClipDetector(PartedDetector):
    """``forward(x)`` takes (B, T, 3, H, W) normalised crops and returns (B,) logits of "fake".

    ``encode`` (N, 3, H, W) -> (N, C) per-frame features and ``forward_features`` (B, T, C) ->
    (B,) split the network where features can be cached:
    ``forward(x) == forward_features(encode(x.flatten(0, 1)).unflatten(0, (B, T)))``.
    The model was trained at ``config.frames_per_clip`` frames; the recurrent and SSM modules
    accept any T >= 1.
    """

    PART_NAMES = ("backbone", "proj", "temporal", "head")

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        features = self._build_backbone(config, "clip")
        proj_opts, temporal_opts = split_temporal_kwargs(dict(config.temporal_kwargs))
        if not config.proj_dim and proj_opts:
            raise ConfigError("model.temporal_kwargs: proj_* options need model.proj_dim > 0")
        self.proj = build_projection(features, config.proj_dim, **proj_opts)
        dim = config.proj_dim or features
        self.temporal = build_temporal(config.temporal, dim, temporal_opts)
        out_dim = self.temporal.out_dim
        assert isinstance(out_dim, int)
        self.head = ClipHead(out_dim, config)
        if config.freeze_blocks:
            self.freeze(config.freeze_blocks)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features (N, C) of (N, 3, H, W) crops."""
        return self.backbone(x)

    def _run(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        seq, pooled = self.temporal(self.proj(f))
        logit, inconsistency = self.head(seq, pooled)
        return logit, seq, inconsistency

    def forward_features(self, f: torch.Tensor) -> torch.Tensor:
        """(B, T, C) per-frame features -> (B,) logits."""
        return self._run(f)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(self._encode_clips(x))

    def _encode_clips(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            raise ValueError(f"clip model input must be (B, T, 3, H, W), got {tuple(x.shape)}")
        b, t = x.shape[0], x.shape[1]
        return self.encode(x.flatten(0, 1)).reshape(b, t, -1)

    def details_features(self, f: torch.Tensor) -> dict[str, Any]:
        """``logit`` (B,), ``frame_logits`` (B, T) or None, ``inconsistency`` (B, T) or None.

        ``frame_logits``: only for ``mean`` pooling without identity statistics, where the
        head on one frame's embedding is exactly the model's logit for a clip of that frame
        repeated. ``inconsistency``: STF-Mamba's per-frame 1 - cos(frame, clip mean) of the
        temporal embeddings (models with ``identity_head``)."""
        logit, seq, inconsistency = self._run(f)
        frame_logits = None
        if isinstance(self.temporal, MeanTemporal) and self.head.identity is None:
            frame_logits = self.head.frame_logits(seq)
        return {"logit": logit, "frame_logits": frame_logits, "inconsistency": inconsistency}

    def details(self, x: torch.Tensor) -> dict[str, Any]:
        """``details_features`` of (B, T, 3, H, W) crops."""
        return self.details_features(self._encode_clips(x))
