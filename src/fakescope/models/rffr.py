"""RFFR (seed 004): mask a block of the face, inpaint it, classify image and residual.

``BlockMasker`` zeroes one block of a k x k grid per image (k = 4), ``ResidualGenerator`` is
the seed's small inpainter (Conv 3->16, ReLU, Conv 16->3; residual = 4 * (reconstruction -
input)) and ``DualBranchClassifier`` runs one shared encoder (the seed: timm
``vit_base_patch16_224``) on the image and on the residual and concatenates the two pooled
feature vectors (768 + 768 = 1536) for a linear head.

In fakescope these sit in a frame detector's contract (``FrameDetector`` = backbone + head):
the native backbone ``rffr`` (``RFFRBackbone``) holds masker, generator and the shared
encoder and returns the concatenation; the detector's ``linear`` head maps it to one logit.

The masker at inference: the seed's model masks a fresh random block on every forward pass,
in evaluation too (unseeded), so its scores vary from run to run. Here training draws one
block per image from the masker's own seeded generator; evaluation masks the same block
(``eval_block``, row-major index in the grid, default drawn once from the seed) in every image,
so a scan is deterministic and does not depend on how crops are batched.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from .weights import load_pretrained

__all__ = ["BlockMasker", "DualBranchClassifier", "RFFRBackbone", "ResidualGenerator"]


class BlockMasker:
    """Zero one block of a ``k`` x ``k`` grid per image (seed 004: k = 4).

    Blocks are ``H // k`` x ``W // k`` pixels from the top-left corner, as the seed's slicing
    (rows/columns past ``k * (H // k)`` are never masked). Random choices come from the
    masker's own generator, seeded once; ``block`` fixes the block (row-major index) instead.
    """

    def __init__(self, k: int = 4, seed: int = 0) -> None:
        if int(k) < 1:
            raise ConfigError(f"rffr: the masker's grid k must be >= 1, got {k}")
        self.k = int(k)
        self.seed = int(seed)
        self.generator = torch.Generator().manual_seed(self.seed)

    def reset(self) -> None:
        """Start the random blocks again from the seed."""
        self.generator.manual_seed(self.seed)

    def draw(self, batch: int) -> torch.Tensor:
        """(batch,) random block indices in [0, k*k)."""
        return torch.randint(0, self.k * self.k, (batch,), generator=self.generator)

    def block_mask(self, x: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) bool: True inside each image's block (``blocks``: (B,) indices)."""
        h, w = x.shape[-2:]
        bh, bw = h // self.k, w // self.k
        if bh < 1 or bw < 1:
            raise ConfigError(f"rffr: images of {h}x{w} are too small for a {self.k}x{self.k} grid")
        blocks = blocks.to(x.device).long()
        rows = torch.arange(h, device=x.device) // bh
        cols = torch.arange(w, device=x.device) // bw
        r, c = (blocks // self.k)[:, None, None], (blocks % self.k)[:, None, None]
        return ((rows[None, :, None] == r) & (cols[None, None, :] == c))[:, None]

    def mask(self, x: torch.Tensor, block: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(masked, mask)``: ``x`` with one block per image set to 0 (random, or ``block``
        for every image) and the (B, 1, H, W) bool mask of the zeroed pixels."""
        if block is not None and not 0 <= block < self.k * self.k:
            raise ConfigError(f"rffr: block {block} is outside a {self.k}x{self.k} grid")
        blocks = self.draw(x.shape[0]) if block is None else torch.full((x.shape[0],), block)
        m = self.block_mask(x, blocks)
        return x.masked_fill(m, 0.0), m


class ResidualGenerator(nn.Module):
    """The seed's inpainter: Conv3x3 3->``hidden`` (16), ReLU, Conv3x3 ``hidden``->3.

    ``forward(original, masked)`` returns the residual ``scale * (inpaint(masked) - original)``
    (seed: scale 4)."""

    def __init__(self, hidden: int = 16, scale: float = 4.0) -> None:
        super().__init__()
        self.inpainter = nn.Sequential(
            nn.Conv2d(3, int(hidden), 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(int(hidden), 3, 3, padding=1),
        )
        self.scale = float(scale)

    def reconstruct(self, masked: torch.Tensor) -> torch.Tensor:
        return self.inpainter(masked)

    def forward(self, original: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        return self.scale * (self.inpainter(masked) - original)


class DualBranchClassifier(nn.Module):
    """One shared encoder on the image and on the residual -> concatenated features -> a
    linear layer with ``outputs`` classes (the seed: 2). ``outputs=0`` leaves the layer out
    (``forward`` returns the 2 C features): ``RFFRBackbone`` does so, and the frame detector's
    one-logit head plays the seed's ``fc``."""

    def __init__(self, encoder: nn.Module, num_features: int, outputs: int = 2) -> None:
        super().__init__()
        self.encoder = encoder
        self.fc: nn.Module = nn.Linear(2 * num_features, outputs) if outputs else nn.Identity()

    def features(self, img: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.encoder(img), self.encoder(residual)], dim=1)

    def forward(self, img: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(img, residual))


def _prefixed(spec: Any, prefix: str) -> Any:
    """A timm group-matcher regex (or list of (regex, suffix)) for a sub-module ``prefix``."""
    if spec is None:
        return None
    if isinstance(spec, (list, tuple)):
        return [(_prefixed(p, prefix), s) for p, s in spec]
    body = spec[1:] if spec.startswith("^") else f".*(?:{spec})"
    return f"^{prefix}\\.(?:{body})"


class RFFRBackbone(nn.Module):
    """fakescope's native backbone ``rffr``: masker + residual generator + shared encoder.

    ``forward(x)`` (normalised (B, 3, H, W) crops) -> (B, 2 C): the encoder's pooled features
    of the image, then of the residual ``scale * (inpaint(mask(x)) - x)``. Built from
    ``backbone_kwargs``: ``encoder`` (a timm name; seed: ``vit_base_patch16_224``, C = 768),
    ``encoder_kwargs`` (timm overrides, e.g. a tiny ViT for tests), ``k`` (grid, 4),
    ``hidden`` (16), ``scale`` (4.0), ``seed`` (the masker's, 0) and ``eval_block`` (the block
    masked at inference, None = drawn once from the seed). ``pretrained`` weights load into
    the encoder (``load_pretrained``).
    """

    def __init__(
        self,
        encoder: str = "vit_base_patch16_224",
        encoder_kwargs: dict[str, Any] | None = None,
        k: int = 4,
        hidden: int = 16,
        scale: float = 4.0,
        seed: int = 0,
        eval_block: int | None = None,
    ) -> None:
        super().__init__()
        import timm

        self.encoder_name = str(encoder)
        self.encoder_kwargs = dict(encoder_kwargs or {})
        try:
            encoder_module = timm.create_model(
                self.encoder_name, pretrained=False, num_classes=0, **self.encoder_kwargs
            )
        except (RuntimeError, TypeError) as exc:
            msg = " ".join(str(exc).split())[:200]
            raise ConfigError(f"model.backbone_kwargs.encoder '{encoder}': {msg}") from None
        self.masker = BlockMasker(k, seed)
        self.generator = ResidualGenerator(hidden, scale)
        if eval_block is None:
            eval_block = int(
                torch.randint(0, k * k, (1,), generator=torch.Generator().manual_seed(int(seed)))
            )
        if not 0 <= int(eval_block) < k * k:
            raise ConfigError(f"model.backbone_kwargs.eval_block must be within 0..{k * k - 1}")
        self.eval_block = int(eval_block)
        features = encoder_module.num_features
        assert isinstance(features, int)
        self.classifier = DualBranchClassifier(encoder_module, features, outputs=0)
        self.encoder_features = features
        self.num_features = 2 * features

    @property
    def encoder(self) -> nn.Module:
        """The shared encoder (one module, both branches)."""
        return self.classifier.encoder

    def load_pretrained(self, source: str) -> str:
        """Load ``source`` (``none``, ``imagenet``, ``hub``, a file, a URL) into the shared
        encoder; returns where the weights came from."""
        return load_pretrained(self.encoder, self.encoder_name, source, self.encoder_kwargs)

    def masked(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(masked x, block mask)``: random blocks in training, ``eval_block`` otherwise."""
        return self.masker.mask(x, None if self.training else self.eval_block)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """The amplified residual ``scale * (inpaint(mask(x)) - x)``, (B, 3, H, W)."""
        masked, _ = self.masked(x)
        return self.generator(x, masked)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x, self.residual(x))

    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """Block groups from the input side: the generator, then the encoder's own groups."""
        inner = self.encoder.group_matcher(coarse=coarse)  # type: ignore[operator]
        out: dict[str, Any] = {"generator": r"^generator\."}
        out.update({f"encoder_{k}": _prefixed(v, r"classifier\.encoder") for k, v in inner.items()})
        return out
