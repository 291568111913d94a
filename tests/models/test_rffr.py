"""RFFR (seed 004): masker, residual generator, dual-branch shared encoder, registry, checkpoints.

ViTs are built tiny and random here: nothing is fetched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fakescope.errors import ConfigError, ModelError
from fakescope.models import ModelCard, create_model, get_config, load_detector, save_checkpoint
from fakescope.models.rffr import (
    BlockMasker,
    DualBranchClassifier,
    ResidualGenerator,
    RFFRBackbone,
)

TINY = {"embed_dim": 32, "depth": 2, "num_heads": 2, "img_size": 32}


def tiny_rffr(**kwargs: object) -> torch.nn.Module:
    cfg = get_config("rffr")
    bk = {**cfg.backbone_kwargs, "encoder_kwargs": TINY, **kwargs}
    return create_model("rffr", input_size=32, backbone_kwargs=bk)


def test_registry_entry_has_the_seed_settings() -> None:
    cfg = get_config("rffr")
    assert cfg.kind == "frame" and cfg.backbone == "rffr" and cfg.input_size == 224
    assert cfg.mean == (0.5, 0.5, 0.5) and cfg.std == (0.5, 0.5, 0.5)
    bk = cfg.backbone_kwargs
    assert bk["encoder"] == "vit_base_patch16_224"
    assert (bk["k"], bk["hidden"], bk["scale"]) == (4, 16, 4.0)
    assert bk["eval_block"] == 5  # inference masks row 1, column 1 (docs/rffr.md)
    assert cfg.head == "linear" and cfg.drop_rate == 0.0


def test_masker_zeroes_exactly_one_block_per_image_and_is_seeded() -> None:
    x = torch.rand(6, 3, 32, 40) + 1.0  # no zero pixel before masking
    a, mask_a = BlockMasker(4, seed=3).mask(x)
    b, mask_b = BlockMasker(4, seed=3).mask(x)
    c, _ = BlockMasker(4, seed=4).mask(x)
    assert torch.equal(a, b) and torch.equal(mask_a, mask_b)
    assert not torch.equal(a, c)
    for i in range(6):
        zero = (a[i] == 0).all(0)
        assert torch.equal(zero, mask_a[i, 0])
        rows = torch.nonzero(zero.any(1)).flatten()
        cols = torch.nonzero(zero.any(0)).flatten()
        # one 8x10 block on the 4x4 grid, nothing else touched
        assert len(rows) == 8 and len(cols) == 10 and int(zero.sum()) == 80
        assert int(rows[0]) % 8 == 0 and int(cols[0]) % 10 == 0
        assert torch.equal(a[i][:, ~zero], x[i][:, ~zero])


def test_masker_fixed_block_and_bad_input() -> None:
    x = torch.ones(2, 3, 16, 16)
    out, mask = BlockMasker(4).mask(x, block=6)  # row 1, column 2
    assert out[:, :, 4:8, 8:12].eq(0).all() and int((out == 0).sum()) == 2 * 3 * 16
    assert mask[:, 0, 4:8, 8:12].all()
    with pytest.raises(ConfigError, match="outside"):
        BlockMasker(4).mask(x, block=16)
    with pytest.raises(ConfigError, match="too small"):
        BlockMasker(4).mask(torch.ones(1, 3, 3, 3))
    with pytest.raises(ConfigError, match="k must be"):
        BlockMasker(0)


def test_generator_layers_and_residual_formula() -> None:
    gen = ResidualGenerator()
    convs = [m for m in gen.inpainter if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (3, 16, (3, 3)),
        (16, 3, (3, 3)),
    ]
    assert isinstance(gen.inpainter[1], torch.nn.ReLU)
    x = torch.randn(2, 3, 16, 16)
    masked, _ = BlockMasker(4, seed=0).mask(x)
    with torch.no_grad():
        expected = 4.0 * (gen.inpainter(masked) - x)
        assert torch.allclose(gen(x, masked), expected)


def test_backbone_shapes_shared_encoder_and_eval_determinism() -> None:
    bb = RFFRBackbone(encoder_kwargs=TINY, seed=0)
    assert bb.num_features == 2 * 32 and bb.encoder is bb.classifier.encoder
    x = torch.randn(3, 3, 32, 32)
    bb.eval()
    with torch.no_grad():
        f = bb(x)
        assert f.shape == (3, 64)
        # image branch, then residual branch, through the one encoder
        assert torch.allclose(f[:, :32], bb.encoder(x), atol=1e-6)
        assert torch.allclose(f[:, 32:], bb.encoder(bb.residual(x)), atol=1e-6)
        # inference masks eval_block in every image: batch-independent, repeatable
        assert torch.allclose(bb(x[1:2]), f[1:2], atol=1e-5) and torch.equal(bb(x), f)
        _, m = bb.masked(x)
        assert torch.equal(m, BlockMasker(4).mask(x, block=bb.eval_block)[1])
    bb.train()
    with torch.no_grad():  # training draws new blocks
        assert not torch.equal(bb.masked(x)[1], bb.masked(x)[1])
    cls = DualBranchClassifier(bb.encoder, 32)  # the seed's two-way head
    assert cls(x, x).shape == (3, 2)


def test_detector_block_groups_start_with_the_generator() -> None:
    model = tiny_rffr()
    groups = model.block_groups()
    assert groups[0] == [f"generator.inpainter.{i}.{p}" for i in (0, 2) for p in ("weight", "bias")]
    assert any(n.startswith("classifier.encoder.patch_embed") for n in groups[1])
    assert len(groups) == 4  # generator, ViT stem, block 0, block 1 (+ final norm)
    model.freeze(1)  # backbone:1 freezes the generator only
    assert not any(p.requires_grad for p in model.backbone.generator.parameters())
    assert all(p.requires_grad for p in model.backbone.encoder.parameters())


def test_checkpoint_round_trip(tmp_path) -> None:
    model = tiny_rffr(seed=5).eval()
    save_checkpoint(tmp_path / "ckpt", model, ModelCard(name="r", model=model.config.to_dict()))
    detector = load_detector(tmp_path / "ckpt", onnx=False)
    crops = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    x = torch.from_numpy(detector.preprocess_array(crops))
    with torch.no_grad():
        expected = model(x).numpy()
    assert np.allclose(detector.logits(crops), expected, atol=1e-5)
    assert detector.model.backbone.eval_block == model.backbone.eval_block


def test_pretrained_goes_to_the_shared_encoder(tmp_path, offline_hub) -> None:
    src = RFFRBackbone(encoder_kwargs=TINY)
    from safetensors.torch import save_file

    save_file(src.encoder.state_dict(), str(tmp_path / "vit.safetensors"))
    model = tiny_rffr()
    model = create_model(model.config, pretrained=str(tmp_path / "vit.safetensors"))
    assert model.weights_source == "file vit.safetensors"
    for k, v in src.encoder.state_dict().items():
        assert torch.equal(model.backbone.encoder.state_dict()[k], v)
    with pytest.raises(ModelError, match="offline, pass pretrained=PATH"):
        create_model(model.config, pretrained="hub")


def test_bad_backbone_kwargs_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="eval_block"):
        tiny_rffr(eval_block=16)
    with pytest.raises(ConfigError, match="backbone_kwargs"):
        tiny_rffr(colour=1)
