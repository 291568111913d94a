"""Seed 004's inpainter trained on real face crops (../shared/data/samples; skipped without it).

Issue 16 asks: trained for a few minutes on real crops, the generator reconstructs held-out
real crops with lower error inside the masked block than self-blended (SBI) crops inside their
blended region. Measured here with the seed's generator (Conv 3x3 3->16, ReLU, Conv 3x3 16->3:
a 5x5 receptive field, so inside a masked block it can only continue the block's border and
fill the rest with a learnt constant) it does NOT hold: SBI's blended region (the inner face,
colour-shifted and blurred or sharpened) is smoother than a random block of a real crop and
is filled with lower error, in either reading of the claim. The tests assert what holds (the
generator learns to inpaint real crops) and keep the issue's claim as a strict xfail, so the
suite says so the day it becomes true (docs/rffr.md)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from fakescope.models.rffr import RFFRBackbone
from fakescope.training.rffr import masked_block_error
from fakescope.training.sbi import self_blend

SIZE = 64  # CPU scale (the seed: 224); a block is 16 px
STEPS = 150


def _to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    out = [cv2.resize(im, (SIZE, SIZE), interpolation=cv2.INTER_AREA) for im in images]
    x = torch.from_numpy(np.stack(out).astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    return (x - 0.5) / 0.5  # the seed's mean/std 0.5


@pytest.fixture(scope="module")
def trained(samples: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, torch.Tensor]:
    """The generator after ``STEPS`` steps on crops of 6 real FF++ videos, and the held-out
    crops of 3 others with their SBI versions and blended regions."""
    from fakescope.extraction import Extractor, ExtractSettings

    with open(samples / "labels.csv") as fh:
        rows = [r["path"] for r in csv.DictReader(fh) if r["label"] == "real"]
    videos = sorted(p for p in rows if "original_sequences/youtube" in p)[:9]
    if len(videos) < 9:
        pytest.skip("fewer than 9 real FF++ sample videos")
    extractor = Extractor(ExtractSettings(sampling="uniform:6"), tmp_path_factory.mktemp("c"))
    crops: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for v in videos:
        result = extractor(samples / v)
        assert result.status == "ok" and result.entry is not None, result.error
        track = result.entry.tracks[0]
        points = track.get("crop_landmarks") or track.get("crop_keypoints")
        images = result.entry.load_crops(0)
        crops[v] = [(im, np.asarray(p, np.float32)) for im, p in zip(images, points)]
    held = videos[::3]
    train = [im for v in videos if v not in held for im, _ in crops[v]]
    test = [c for v in held for c in crops[v]]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny network: one thread is faster on a shared machine
    try:
        return _train_and_measure(train, test)
    finally:
        torch.set_num_threads(threads)


def _train_and_measure(
    train: list[np.ndarray], test: list[tuple[np.ndarray, np.ndarray]]
) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = RFFRBackbone(encoder_kwargs={"embed_dim": 16, "depth": 1, "num_heads": 1,
                                         "img_size": 32})  # fmt: skip
    x_train = _to_tensor(train)
    x_test = _to_tensor([im for im, _ in test])
    blocks = torch.randint(0, 16, (len(x_test),), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        untrained, _ = masked_block_error(model, x_test, blocks=blocks)
    opt = torch.optim.AdamW(model.generator.parameters(), lr=3e-3, weight_decay=0.0)
    g = torch.Generator().manual_seed(0)
    for _ in range(STEPS):
        batch = x_train[torch.randint(0, len(x_train), (16,), generator=g)]
        loss = masked_block_error(model, batch)[0].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    rng = np.random.default_rng(0)
    blends = [self_blend(im, pts, rng) for im, pts in test]
    x_sbi = _to_tensor([b.image for b in blends])
    region = torch.from_numpy(np.stack([cv2.resize(b.mask, (SIZE, SIZE)) > 0.5 for b in blends]))[
        :, None
    ]
    # the block of each SBI crop that overlaps its blended region most
    grid = region.float().unflatten(2, (4, SIZE // 4)).unflatten(4, (4, SIZE // 4))
    sbi_blocks = grid.mean((3, 5)).flatten(1).argmax(1)
    with torch.no_grad():
        real, _ = masked_block_error(model, x_test, blocks=blocks)
        zero_fill = (x_test**2).mean(1, keepdim=True)  # leaving the block at 0
        _, real_mask = masked_block_error(model, x_test, blocks=blocks)
        zero = (zero_fill * real_mask).sum((1, 2, 3)) / real_mask.sum((1, 2, 3))
        _, sbi_mask = masked_block_error(model, x_sbi, blocks=sbi_blocks)
        sbi, _ = masked_block_error(model, x_sbi, region=region & sbi_mask, blocks=sbi_blocks)
        same, _ = masked_block_error(model, x_test, region=region & sbi_mask, blocks=sbi_blocks)
    return {"untrained": untrained, "real": real, "zero": zero, "sbi": sbi, "same": same}


@pytest.mark.slow
def test_generator_learns_to_inpaint_held_out_real_crops(trained) -> None:
    real = float(trained["real"].mean())
    assert real < 0.7 * float(trained["untrained"].mean())
    assert real < 0.8 * float(trained["zero"].mean())


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="measured: the seed's 5x5-receptive-field inpainter fills SBI blended regions with "
    "LOWER error than random blocks of held-out real crops (docs/rffr.md)",
)
def test_real_blocks_are_reconstructed_better_than_sbi_regions(trained) -> None:
    assert float(trained["real"].mean()) < float(np.nanmean(trained["sbi"].numpy()))
