"""MesoNet (Afchar et al., WIFS 2018): Meso4 and MesoInception4 as fakescope backbones.

The authors' networks read 256-px RGB crops scaled to [0, 1] and end in flatten -> Dropout(0.5)
-> Dense(16) -> LeakyReLU(0.1) -> Dropout(0.5) -> Dense(1, sigmoid). Here everything up to the
LeakyReLU is the backbone (16 features), so a ``FrameDetector`` with the ``linear`` head at
``drop_rate=0.5`` is the last Dropout -> Dense(1). Layers follow Keras: convolution, ReLU, then
BatchNorm (epsilon 1e-3), 'same' padding, max pooling that pads the right/bottom edge (Keras
'same' pooling = ``ceil_mode``). The dense layer reads an 8 x 8 x 16 map, so the input is 256 px.
Weights come from the authors' Keras files through ``fakescope.importers.mesonet``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["Meso4", "MesoInception4"]

KERAS_BN_EPS = 1e-3


class _ConvBlock(nn.Module):
    """Conv (same padding) -> ReLU -> BatchNorm -> MaxPool."""

    def __init__(self, cin: int, cout: int, k: int, pool: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2)
        self.bn = nn.BatchNorm2d(cout, eps=KERAS_BN_EPS)
        self.pool = nn.MaxPool2d(pool, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.bn(torch.relu(self.conv(x))))


class _Inception(nn.Module):
    """MesoInception's layer: four branches (1x1; 1x1 -> 3x3; 1x1 -> 3x3 dilation 2; 1x1 ->
    3x3 dilation 3), each conv followed by ReLU, concatenated (a + b + c + d channels), then
    BatchNorm -> MaxPool(2)."""

    def __init__(self, cin: int, a: int, b: int, c: int, d: int) -> None:
        super().__init__()
        self.b1 = nn.Conv2d(cin, a, 1)
        self.b2 = nn.Sequential(nn.Conv2d(cin, b, 1), nn.Conv2d(b, b, 3, padding=1))
        self.b3 = nn.Sequential(nn.Conv2d(cin, c, 1), nn.Conv2d(c, c, 3, padding=2, dilation=2))
        self.b4 = nn.Sequential(nn.Conv2d(cin, d, 1), nn.Conv2d(d, d, 3, padding=3, dilation=3))
        self.bn = nn.BatchNorm2d(a + b + c + d, eps=KERAS_BN_EPS)
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.out_chans = a + b + c + d

    @staticmethod
    def _branch(seq: nn.Module, x: torch.Tensor) -> torch.Tensor:
        for layer in seq if isinstance(seq, nn.Sequential) else [seq]:
            x = torch.relu(layer(x))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([self._branch(m, x) for m in (self.b1, self.b2, self.b3, self.b4)], 1)
        return self.pool(self.bn(y))


class _MesoBase(nn.Module):
    num_features = 16
    blocks: nn.Sequential

    def _head(self, last_chans: int) -> None:
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(last_chans * 8 * 8, 16)
        self.act = nn.LeakyReLU(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (256, 256):
            from ..errors import ModelError

            raise ModelError(f"MesoNet reads 256 x 256 crops, got {tuple(x.shape[-2:])}")
        return self.act(self.fc(self.dropout(self.blocks(x).flatten(1))))

    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """timm-style grouping: one group per block, the dense layer last."""
        return {"blocks": [(r"^blocks\.(\d+)", None), (r"^fc", (99999,))]}


class Meso4(_MesoBase):
    """Meso4: four conv blocks (8, 8, 16, 16 channels; 3x3 then 5x5 kernels; pools 2, 2, 2, 4)
    -> flatten (1024) -> Dropout(0.5) -> Dense(16) -> LeakyReLU(0.1): (N, 16)."""

    def __init__(self, in_chans: int = 3) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            _ConvBlock(in_chans, 8, 3, 2),
            _ConvBlock(8, 8, 5, 2),
            _ConvBlock(8, 16, 5, 2),
            _ConvBlock(16, 16, 5, 4),
        )
        self._head(16)


class MesoInception4(_MesoBase):
    """MesoInception4: Inception(1, 4, 4, 2) and Inception(2, 4, 4, 2) layers, then two 5x5
    conv blocks (16, 16; pools 2, 4) -> flatten (1024) -> Dropout(0.5) -> Dense(16) ->
    LeakyReLU(0.1): (N, 16)."""

    def __init__(self, in_chans: int = 3) -> None:
        super().__init__()
        i1 = _Inception(in_chans, 1, 4, 4, 2)
        i2 = _Inception(i1.out_chans, 2, 4, 4, 2)
        self.blocks = nn.Sequential(
            i1, i2, _ConvBlock(i2.out_chans, 16, 5, 2), _ConvBlock(16, 16, 5, 4)
        )
        self._head(16)
