"""Backbones of published detectors whose weights ``fakescope weights import`` converts, where
no timm architecture matches them exactly (see ``fakescope.importers``): name -> class, merged
into ``backbones.NATIVE_BACKBONES``.

- ``fakescope_meso4``, ``fakescope_mesoinception4``: MesoNet (``models.mesonet``).
- ``spsl_xception``: DeepfakeBench's SPSL (Liu et al. 2021): Xception with 4 input channels,
  the RGB crop and its phase-only reconstruction (``phase_without_amplitude``).
- ``ucf_xception``: the inference path of DeepfakeBench's UCF (Yan et al. 2023): the forgery
  encoder (Xception, ``adjust_channel`` 2048 -> 512), the common-forgery block ``block_sha`` and
  the first layer of ``head_sha`` (512 features; the head's last layer is fakescope's head).
- ``static_pad_efficientnet``: timm's ``tf_efficientnet_b4`` with the fixed TF-"same" padding
  that ``efficientnet_pytorch`` computes once for its nominal image size (380 for B4) and, as
  DeepfakeBench builds it, an unpadded stem; at other input sizes (DeepfakeBench feeds 256 px)
  this differs from timm's padding computed per input.

timm is imported when one of these is built, never at import.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .mesonet import Meso4, MesoInception4

__all__ = [
    "PUBLISHED_BACKBONES",
    "SPSLXception",
    "StaticPadEfficientNet",
    "UCFXception",
    "phase_without_amplitude",
]


def _prefixed(matcher: dict[str, Any], prefix: str) -> dict[str, Any]:
    """A timm group matcher for a model kept under ``prefix``."""

    def fix(pattern: str) -> str:
        return "|".join(rf"^{prefix}\.{alt.lstrip('^')}" for alt in pattern.split("|"))

    out: dict[str, Any] = {}
    for key, value in matcher.items():
        if isinstance(value, str):
            out[key] = fix(value)
        else:
            out[key] = [(fix(p), order) for p, order in value]
    return out


def phase_without_amplitude(x: torch.Tensor) -> torch.Tensor:
    """SPSL's phase channel: the grey image (mean over channels) rebuilt from the phase of its
    2-D DFT with unit magnitude. Per image (FFT over height and width); DeepfakeBench's
    ``torch.fft.fftn`` without ``dim`` also transforms over the batch, which equals this at
    batch size 1 and mixes the images of a larger batch."""
    gray = x.float().mean(dim=1, keepdim=True)
    phase = torch.angle(torch.fft.fftn(gray, dim=(-2, -1)))
    return torch.real(torch.fft.ifftn(torch.exp(1j * phase), dim=(-2, -1))).to(x.dtype)


class _Wrapped(nn.Module):
    encoder: nn.Module

    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        return _prefixed(self.encoder.group_matcher(coarse=coarse), "encoder")  # type: ignore[operator]


def _xception(in_chans: int = 3) -> nn.Module:
    import timm

    return timm.create_model("legacy_xception", pretrained=False, num_classes=0, in_chans=in_chans)


class SPSLXception(_Wrapped):
    """(N, 3, H, W) normalised crops -> [RGB, phase] (N, 4, H, W) -> Xception -> (N, 2048)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = _xception(in_chans=4)
        self.num_features = 2048

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(torch.cat([x, phase_without_amplitude(x)], dim=1))


class UCFXception(_Wrapped):
    """UCF's forgery encoder -> ``adjust_channel`` (1x1 conv 2048 -> 512, BN, ReLU) ->
    ``block_sha`` (1x1 convs 512 -> 256 -> 256 -> 256, LeakyReLU between) -> average pool ->
    Linear(256, 512) -> LeakyReLU: (N, 512). The encoder's features end at its last BatchNorm
    (no ReLU), as DeepfakeBench's ``Xception.features``."""

    def __init__(self, feat_dim: int = 512) -> None:
        super().__init__()
        half = feat_dim // 2
        self.encoder = _xception()
        self.encoder.act4 = nn.Identity()
        self.adjust_channel = nn.Sequential(
            nn.Conv2d(2048, feat_dim, 1, 1), nn.BatchNorm2d(feat_dim), nn.ReLU(inplace=True)
        )
        self.block_sha = nn.Sequential(
            nn.Conv2d(feat_dim, half, 1, 1), nn.LeakyReLU(inplace=True),
            nn.Conv2d(half, half, 1, 1), nn.LeakyReLU(inplace=True),
            nn.Conv2d(half, half, 1, 1),
        )  # fmt: skip
        self.fc = nn.Linear(half, feat_dim)
        self.act = nn.LeakyReLU(inplace=True)
        self.num_features = feat_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.encoder.forward_features(x)  # type: ignore[operator]
        f = self.block_sha(self.adjust_channel(f)).mean((2, 3))
        return self.act(self.fc(f))


class _FixedPadConv2d(nn.Conv2d):
    """A convolution after a fixed (left, right, top, bottom) zero padding."""

    fixed_pad: tuple[int, int, int, int]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.fixed_pad))


def _fixed(conv: nn.Conv2d, size: int) -> _FixedPadConv2d:
    """``conv`` with efficientnet_pytorch's static 'same' padding for a ``size``-px input."""
    k, s, d = conv.kernel_size[0], conv.stride[0], conv.dilation[0]
    total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
    new = _FixedPadConv2d(
        conv.in_channels, conv.out_channels, k, s, 0, d, conv.groups, conv.bias is not None,
    )  # fmt: skip
    new.fixed_pad = (total // 2, total - total // 2, total // 2, total - total // 2)
    return new


class StaticPadEfficientNet(_Wrapped):
    """timm's ``arch`` (a ``tf_efficientnet_*``) with static padding planned for
    ``image_size`` px (``efficientnet_pytorch``'s ``Conv2dStaticSamePadding``); ``stem``:
    ``valid`` (DeepfakeBench's replacement stem, no padding) or ``static``. (N, C) pooled."""

    def __init__(
        self, arch: str = "tf_efficientnet_b4", image_size: int = 380, stem: str = "valid"
    ) -> None:
        super().__init__()
        import timm
        from timm.layers import Conv2dSame

        if stem not in ("valid", "static"):
            from ..errors import ConfigError

            raise ConfigError(f"model.backbone_kwargs.stem: '{stem}'; choose from valid, static")
        self.encoder = timm.create_model(arch, pretrained=False, num_classes=0)
        enc: Any = self.encoder
        old = enc.conv_stem
        if stem == "valid":
            enc.conv_stem = nn.Conv2d(old.in_channels, old.out_channels, old.kernel_size,
                                      old.stride, 0, bias=old.bias is not None)  # fmt: skip
        else:
            enc.conv_stem = _fixed(old, image_size)
        size = math.ceil(image_size / old.stride[0])
        for stage in enc.blocks:
            for block in stage:
                conv = block.conv_dw
                if isinstance(conv, Conv2dSame):
                    block.conv_dw = _fixed(conv, size)
                size = math.ceil(size / conv.stride[0])
        self.num_features = int(enc.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)


PUBLISHED_BACKBONES: dict[str, type[nn.Module]] = {
    "fakescope_meso4": Meso4,
    "fakescope_mesoinception4": MesoInception4,
    "spsl_xception": SPSLXception,
    "ucf_xception": UCFXception,
    "static_pad_efficientnet": StaticPadEfficientNet,
}
