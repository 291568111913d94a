"""RFFR training (seed 004): the generator pre-training phase, the seed presets, the staged run."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from fakescope.errors import ConfigError
from fakescope.models import create_model, get_config, load_detector
from fakescope.models.rffr import RFFRBackbone
from fakescope.training.config import load_train_config
from fakescope.training.rffr import generator_epoch, masked_block_error

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "seed004"
TINY = {"embed_dim": 32, "depth": 1, "num_heads": 2, "img_size": 32}


def tiny_model() -> torch.nn.Module:
    bk = {**get_config("rffr").backbone_kwargs, "encoder_kwargs": TINY}
    return create_model("rffr", input_size=32, backbone_kwargs=bk)


def test_seed_preset_carries_the_seed_numbers() -> None:
    config = load_train_config(str(CONFIGS / "rffr.yaml"))
    model = get_config(**config.model)
    assert model.name == "rffr" and model.input_size == 224 and config.model["pretrained"] == "hub"
    assert model.mean == model.std == (0.5, 0.5, 0.5)
    assert model.backbone_kwargs["encoder"] == "vit_base_patch16_224"
    o, t = config.optim, config.train
    assert o.name == "adamw" and o.lr == pytest.approx(2e-5) and o.backbone_lr is None
    assert o.schedule == "constant" and t.batch_size == 8 and t.select == "val_acc"
    assert t.label_smoothing == 0.0 and t.balance == "none" and t.grad_clip == 0.0
    phases = config.phase_list()
    assert [p.kind for p in phases] == ["rffr_generator", "classify"]
    assert phases[1].lr is None and phases[1].freeze == []  # end to end at the seed's lr
    assert all(v == 0 for k, v in config.augment.items() if k.startswith("p_"))
    cpu = load_train_config(str(CONFIGS / "cpu_rffr_lite0.yaml"))
    assert cpu.model["name"] == "rffr_lite0" and cpu.train.batch_size == 8
    assert get_config("rffr_lite0").pretrained == "imagenet"  # offline weights, pip package


def test_phase_kind_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"phases\[0\]\.kind"):
        load_train_config(None, ["phases=[{name: g, kind: inpaint, epochs: 1}]"])


def _loop(model: torch.nn.Module, run: Path) -> SimpleNamespace:
    return SimpleNamespace(
        model=model, net=model, device="cpu", step=0, run_dir=run,
        dist=SimpleNamespace(main=True),
        config=SimpleNamespace(train=SimpleNamespace(grad_clip=0.0, seed=0)),
    )  # fmt: skip


def test_generator_phase_trains_the_generator_alone_on_real_crops(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # smooth images: the inpainter can learn them within a few steps
    base = torch.linspace(-1, 1, 32)
    real = (base[None, :] + base[:, None]).clamp(-1, 1).expand(3, 32, 32)
    x = torch.stack([real * s for s in torch.linspace(0.3, 1.0, 16)])
    y = torch.tensor([0, 1] * 8)
    batches = [(x[i : i + 8], y[i : i + 8], torch.arange(8)) for i in (0, 8)]
    optimizer = torch.optim.AdamW(model.param_groups(3e-2, None, 0.0))
    loop = _loop(model, tmp_path)
    phase = SimpleNamespace(name="generator")
    rows = [generator_epoch(loop, phase, e, optimizer, batches * 5, batches) for e in range(3)]
    assert rows[0]["real_crops"] == 40  # the fakes of each batch are left out
    assert rows[-1]["val_masked_mse"] < rows[0]["val_masked_mse"]
    after = model.state_dict()
    for k, v in before.items():
        changed = not torch.equal(v, after[k])
        assert changed == k.startswith("backbone.generator."), k
    with open(tmp_path / "generator_log.csv") as fh:
        assert [int(r["epoch"]) for r in csv.DictReader(fh)] == [1, 2, 3]
    assert loop.step == 30


def test_generator_phase_needs_an_rffr_model(tmp_path: Path) -> None:
    model = create_model("simple_cnn", input_size=32)
    with pytest.raises(ConfigError, match="not rffr"):
        generator_epoch(_loop(model, tmp_path), SimpleNamespace(name="g"), 0, None, [], [])


def test_masked_block_error_regions() -> None:
    bb = RFFRBackbone(encoder_kwargs=TINY)
    x = torch.randn(2, 3, 32, 32)
    blocks = torch.tensor([0, 15])
    err, mask = masked_block_error(bb, x, blocks=blocks)
    with torch.no_grad():
        recon = bb.generator.reconstruct(x.masked_fill(mask, 0.0))
        expected = ((recon - x) ** 2).mean(1)[:, :8, :8].mean((1, 2))
    assert torch.allclose(err[0], expected[0], atol=1e-6)
    empty = torch.zeros(2, 1, 32, 32, dtype=torch.bool)
    assert torch.isnan(masked_block_error(bb, x, region=empty, blocks=blocks)[0]).all()


@pytest.mark.slow
def test_staged_recipe_trains_and_the_checkpoint_scans(tmp_path: Path) -> None:
    """generator phase -> classifier phase through `fakescope train` on synthetic videos."""
    from fakescope.cli.main import main

    root = _prepare(tmp_path)
    bk = {**get_config("rffr").backbone_kwargs, "encoder_kwargs": TINY}
    recipe = {
        "name": "r", "out": str(root / "runs"),
        "model": {"name": "rffr", "input_size": 32, "backbone_kwargs": bk},
        "data": {"manifest": str(root / "m.parquet"), "crops": str(root / "crops"),
                 "frames_per_video": 4, "sbi": "only"},
        "optim": {"lr": 1.0e-3, "schedule": "constant", "warmup_epochs": 0},
        "train": {"epochs": 3, "batch_size": 8, "early_stopping": False},
        "phases": [{"name": "generator", "kind": "rffr_generator", "epochs": 2, "lr": 1.0e-2},
                   {"name": "classifier", "epochs": 1}],
    }  # fmt: skip
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["train", str(path), "-q"]) == 0
    run = root / "runs" / "r"
    with open(run / "generator_log.csv") as fh:
        gen = list(csv.DictReader(fh))
    with open(run / "log.csv") as fh:
        cls = list(csv.DictReader(fh))
    assert [r["phase"] for r in gen] == ["generator"] * 2 and int(gen[0]["real_crops"]) > 0
    assert [r["phase"] for r in cls] == ["classifier"]
    detector = load_detector(run / "best", onnx=False)
    assert detector.card.model["backbone"] == "rffr"
    import numpy as np

    crops = np.random.default_rng(0).integers(0, 256, (2, 48, 48, 3), dtype=np.uint8)
    p = detector.predict_proba(crops)
    assert p.shape == (2,) and np.all((p > 0) & (p < 1))


def _prepare(tmp_path: Path) -> Path:
    """Four real synthetic clips -> manifest -> split -> cached crops."""
    from fakescope.cli.main import main
    from tests.conftest import write_video

    root = tmp_path / "data"
    for i in range(4):
        write_video(root / "real" / f"r{i}.mp4", n_frames=8, width=160, height=160, variant=i)
    csv_path = root / "list.csv"
    csv_path.write_text(
        "path,label,split\n"
        + "".join(f"real/r{i}.mp4,0,{'train' if i < 3 else 'val'}\n" for i in range(4))
    )
    args = ["datasets", "index", str(csv_path), "--dataset", "generic"]
    assert main([*args, "--out", str(tmp_path / "m.parquet"), "-q"]) == 0
    assert main(["extract", str(tmp_path / "m.parquet"), "--out", str(tmp_path / "crops"),
                 "--frames", "4", "-q"]) == 0  # fmt: skip
    return tmp_path
