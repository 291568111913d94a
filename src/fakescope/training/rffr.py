"""RFFR's generator pre-training (seed 004): a recipe phase of ``kind: rffr_generator``.

The residual generator learns to inpaint: one block of each *real* training crop is zeroed
(the model's ``BlockMasker``, random seeded blocks) and the loss is the mean squared error
between the reconstruction and the crop inside that block. Nothing else trains in such a
phase (only the generator gets gradients; the phase's optimiser skips every other
parameter). Fake crops in the batch are left out. Each epoch appends a row to
``RUN/generator_log.csv`` (train and val masked-block MSE; val over the val split's real
crops, blocks drawn from the run's seed); the classifier's ``log.csv``, its validation and the
best checkpoint belong to the ``classify`` phases.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..models.rffr import RFFRBackbone

__all__ = ["GENERATOR_PHASE", "generator_epoch", "masked_block_error", "rffr_backbone"]

GENERATOR_PHASE = "rffr_generator"


def rffr_backbone(model: Any) -> RFFRBackbone:
    """The model's RFFR backbone, or a one-line ``ConfigError``."""
    backbone = getattr(model, "backbone", None)
    if not isinstance(backbone, RFFRBackbone):
        raise ConfigError(
            f"phases: kind {GENERATOR_PHASE} trains an RFFR generator; the model's backbone is "
            f"{getattr(getattr(model, 'config', None), 'backbone', '?')}, not rffr"
        )
    return backbone


def masked_block_error(
    backbone: RFFRBackbone, x: torch.Tensor, region: torch.Tensor | None = None,
    blocks: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Per-image mean squared reconstruction error inside a region, and the mask used.

    ``x``: normalised (B, 3, H, W) crops. The generator inpaints ``x`` with one block per
    image zeroed (``blocks``: (B,) grid indices; random from the masker when None). The error
    is averaged over the pixels of ``region`` ((B, 1, H, W) bool; the masked block when None).
    Images whose region is empty get NaN."""
    if blocks is None:
        blocks = backbone.masker.draw(x.shape[0])
    mask = backbone.masker.block_mask(x, blocks)
    recon = backbone.generator.reconstruct(x.masked_fill(mask, 0.0))
    where = (mask if region is None else region).to(x.dtype)
    squared = ((recon - x) ** 2).mean(1, keepdim=True) * where
    count = where.sum((1, 2, 3))
    return squared.sum((1, 2, 3)) / count.where(count > 0, torch.nan), mask


def generator_epoch(
    loop: Any, phase: Any, epoch: int, optimizer: Any, train_loader: Any, val_loader: Any
) -> dict[str, Any]:
    """One epoch of a ``rffr_generator`` phase on the trainer's loaders; returns its log row."""
    backbone = rffr_backbone(loop.model)
    started = time.perf_counter()
    loop.net.train()
    losses: list[float] = []
    seen = 0
    for x, y, _ in train_loader:
        real = y == 0
        if not bool(real.any()):
            loop.step += 1
            continue
        x = x[real].to(loop.device)
        err, _ = masked_block_error(backbone, x)
        loss = err.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if loop.config.train.grad_clip:
            torch.nn.utils.clip_grad_norm_(
                backbone.generator.parameters(), loop.config.train.grad_clip
            )
        optimizer.step()
        losses.append(float(loss.detach()))
        seen += int(real.sum())
        loop.step += 1
    val = _validate(backbone, val_loader, loop.device, loop.config.train.seed)
    row = {
        "epoch": epoch + 1,
        "phase": phase.name,
        "step": loop.step,
        "lr": optimizer.param_groups[-1]["lr"],
        "train_masked_mse": round(float(np.mean(losses)) if losses else float("nan"), 6),
        "val_masked_mse": round(val, 6),
        "real_crops": seen,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if loop.dist.main:
        from .trainer import _append_csv

        _append_csv(Path(loop.run_dir) / "generator_log.csv", row)
    return row


def _validate(backbone: RFFRBackbone, loader: Any, device: str, seed: int) -> float:
    """Mean masked-block MSE over the real crops of the val set (blocks drawn from ``seed``)."""
    rng = torch.Generator().manual_seed(seed)
    k2 = backbone.masker.k**2
    total, count = 0.0, 0
    backbone.eval()
    with torch.inference_mode():
        for x, y, _ in loader:
            real = y == 0
            if not bool(real.any()):
                continue
            x = x[real].to(device)
            blocks = torch.randint(0, k2, (x.shape[0],), generator=rng)
            err, _ = masked_block_error(backbone, x, blocks=blocks)
            total += float(err.sum())
            count += x.shape[0]
    backbone.train()
    return total / count if count else float("nan")
