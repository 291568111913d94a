"""The shipped training recipes: every YAML under configs/ loads, and the seed presets carry the
seed's numbers (docs/seeds.md). No training here: configs, model configs and augment configs
are only built and validated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fakescope.errors import ConfigError
from fakescope.models.registry import ModelConfig, get_config
from fakescope.training.augment import AugmentConfig
from fakescope.training.config import TrainConfig, load_train_config
from fakescope.training.sbi import SBIConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SEED000 = CONFIGS / "seed000"
SEED002 = CONFIGS / "seed002"


def _yaml_files() -> list[Path]:
    # study files (study*.yaml) are `fakescope study` specs and tune files (tune*.yaml)
    # `fakescope tune` search spaces (tests/tune), not training recipes
    return sorted(p for p in CONFIGS.rglob("*.yaml") if not p.name.startswith(("study", "tune")))


def _recipes(path: Path) -> list[tuple[str, list[str]]]:
    """(config path, overrides) for one YAML: itself, or each candidate of a candidates file
    (config + the shared screening overrides + its own ``set``, as benchmarks/generalisation.py
    builds them)."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or "candidates" not in data:
        return [(str(path), [])]
    root = CONFIGS.parent
    out = []
    for name, c in data["candidates"].items():
        if c.get("kind") == "ensemble":  # no recipe of its own: stacks other candidates' runs
            missing = [m for m in c["members"] if m not in data["candidates"]]
            assert c["members"] and not missing, f"{name}: unknown members {missing}"
            continue
        overrides = {**data.get("screening", {}), **c.get("set", {})}
        out.append(
            (
                str(root / c["config"]),
                [
                    f"{k}={yaml.safe_dump(v, default_flow_style=True).strip()}"
                    for k, v in overrides.items()
                ],
            )
        )
    return out


def _check(config: TrainConfig) -> ModelConfig:
    """What the trainer builds before any data is read: the model, augment and SBI configs and
    the phases (each raises ConfigError on a bad key or value)."""
    model = get_config(**config.model)
    AugmentConfig(**config.augment)
    SBIConfig(**config.sbi_config)
    assert config.total_epochs >= 1
    return model


def _load(path: Path) -> tuple[TrainConfig, ModelConfig]:
    config = load_train_config(str(path))
    return config, _check(config)


def test_the_preset_folders_are_found() -> None:
    names = {p.relative_to(CONFIGS).as_posix() for p in _yaml_files()}
    assert {"default.yaml", "seed000/b0_bigru.yaml", "seed002/simple_cnn.yaml"} <= names
    assert not any(Path(n).name.startswith("study") for n in names)


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: p.relative_to(CONFIGS).as_posix())
def test_every_config_loads(path: Path) -> None:
    recipes = _recipes(path)
    assert recipes
    for config_path, overrides in recipes:
        config = load_train_config(config_path, overrides)
        _check(config)
        if config.phases:  # the comments say train.epochs is the phases' sum: keep it true
            assert config.train.epochs == config.total_epochs, config_path


# ── seed 000 ─────────────────────────────────────────────────────────────────


def test_seed000_b0_bigru_two_phases() -> None:
    config, model = _load(SEED000 / "b0_bigru.yaml")
    assert model.name == "effnet_b0_bigru" and model.kind == "clip"
    phases = config.phase_list()
    assert [p.epochs for p in phases] == [8, 17]
    assert config.total_epochs == 25
    assert phases[0].freeze == ["backbone"] and phases[1].freeze == []
    for p in phases:
        assert p.warmup_epochs == 2
        assert (p.lr or config.optim.lr) == pytest.approx(1e-4)
    # phase 2 fine-tunes the backbone at lr / 10
    lr2 = phases[1].lr or config.optim.lr
    assert phases[1].backbone_lr == pytest.approx(lr2 / 10)
    assert config.optim.name == "adamw" and config.optim.schedule == "warmup_cosine"
    assert config.optim.weight_decay == pytest.approx(1e-4)
    t = config.train
    assert t.batch_size == 32 and t.seed == 42
    assert t.label_smoothing == 0.0 and t.early_stopping is False
    assert t.select == "val_auc"
    assert config.augment["p_gray"] == pytest.approx(0.05)
    assert config.data.sbi == "off"


@pytest.mark.parametrize("name", ["b0", "b4", "resnet50", "xception", "dinov2"])
def test_seed000_backbone_sweep_numbers(name: str) -> None:
    config, model = _load(SEED000 / f"{name}.yaml")
    assert model.kind == "frame" and model.input_size == 224
    assert model.head == "mlp" and model.head_hidden == 256
    assert model.drop_rate == pytest.approx(0.3)
    assert config.data.frames_per_video == 4
    o, t = config.optim, config.train
    assert o.name == "adamw" and o.lr == pytest.approx(1e-4) and o.warmup_epochs == 3
    assert t.epochs == 25 and t.batch_size == 128 and t.seed == 42
    assert t.label_smoothing == 0.0 and t.early_stopping is False
    assert config.augment["p_gray"] == pytest.approx(0.05)
    if name != "dinov2":  # CNN backbones: base_lr / 10
        assert o.backbone_lr == pytest.approx(o.lr / 10)


def test_seed000_dinov2_freezes_blocks_0_to_9() -> None:
    import timm
    import torch

    from fakescope.models.backbones import backbone_block_groups

    config, model = _load(SEED000 / "dinov2.yaml")
    assert config.optim.backbone_lr == pytest.approx(5e-6)  # CFG lr_dinov2_backbone
    assert model.pretrained == "hub" and "dinov2" in model.backbone
    # freeze_blocks counts timm's coarse groups from the input side: stem, blocks.0, blocks.1, ...
    with torch.device("meta"):  # the architecture only: no memory, no weights
        vit = timm.create_model(
            model.backbone, pretrained=False, num_classes=0, **model.backbone_kwargs
        )
    groups = backbone_block_groups(vit)
    frozen = {n for g in groups[: model.freeze_blocks] for n in g}
    trained = {n for g in groups[model.freeze_blocks :] for n in g}
    blocks = {int(n.split(".")[1]) for n in frozen if n.startswith("blocks.")}
    assert blocks == set(range(10))  # blocks 0-9 frozen
    assert "patch_embed.proj.weight" in frozen and "cls_token" in frozen
    assert {int(n.split(".")[1]) for n in trained if n.startswith("blocks.")} == {10, 11}


# ── seed 002 ─────────────────────────────────────────────────────────────────

SEED002_MODELS = {
    # file: (registry model, lr, batch size, kind)
    "simple_cnn": ("simple_cnn", 1e-3, 64, "frame"),
    "resnet18_tavg": ("resnet18_tavg", 1e-4, 4, "clip"),
    "effnet_b0_bilstm": ("effnet_b0_bilstm", 1e-4, 4, "clip"),
}


@pytest.mark.parametrize("name", sorted(SEED002_MODELS))
def test_seed002_recipe(name: str) -> None:
    model_name, lr, batch, kind = SEED002_MODELS[name]
    config, model = _load(SEED002 / f"{name}.yaml")
    assert model.name == model_name and model.kind == kind
    assert model.input_size == 224  # Cell 5
    assert model.drop_rate == pytest.approx(0.5)  # Cell 6
    assert model.pretrained == ("none" if name == "simple_cnn" else "imagenet")
    # 16 evenly spaced frames per video (Cell 5): all of them per video, one clip of 16
    if kind == "clip":
        assert model.frames_per_clip == 16 and config.data.clips_per_video == 1
    else:
        assert config.data.frames_per_video == 16
    o = config.optim
    assert o.name == "adam"  # Cell 7: Adam, not AdamW
    assert o.lr == pytest.approx(lr) and o.backbone_lr is None  # one lr for the whole network
    assert o.weight_decay == pytest.approx(1e-4)
    assert o.schedule == "plateau" and o.plateau_monitor == "val_loss"
    assert o.plateau_factor == pytest.approx(0.5)
    assert o.plateau_patience == 10  # silent in the seed: PyTorch's default
    t = config.train
    assert t.epochs == 2 and config.total_epochs == 2 and not config.phases
    assert t.batch_size == batch  # 4 videos (x 16 frames = 64 crops for the frame model)
    assert t.select == "val_acc" and t.early_stopping is False
    assert t.freeze_backbone_epochs == 0
    assert t.label_smoothing == 0.0 and t.balance == "none" and t.grad_clip == 0.0
    assert t.seed == 42
    assert config.data.sbi == "off"
    a = AugmentConfig(**config.augment)
    assert a.p_flip == pytest.approx(0.5) and a.p_color == 1.0
    assert (a.brightness, a.contrast, a.saturation, a.hue) == (0.2, 0.2, 0.0, 0.0)
    # nothing the seed did not do
    for p in ("p_gray", "p_blur", "p_noise", "p_jpeg", "p_downscale", "p_erase", "p_h264"):
        assert getattr(a, p) == 0.0, p


def test_seed002_presets_differ_only_where_the_seed_does() -> None:
    """The three recipes share the seed's Cell 7 settings; lr, batch and the model differ."""

    def shared(config: TrainConfig) -> dict[str, Any]:
        d = config.to_dict()
        d["optim"].pop("lr")
        d["train"].pop("batch_size")
        for key in ("name", "model", "phases"):
            d.pop(key)
        d["data"].pop("frames_per_video")
        d["data"].pop("clips_per_video")
        return d

    configs = [load_train_config(str(SEED002 / f"{n}.yaml")) for n in sorted(SEED002_MODELS)]
    first = shared(configs[0])
    for c in configs[1:]:
        assert shared(c) == first


# ── validation ───────────────────────────────────────────────────────────────


def test_plateau_monitor_must_be_known(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"optim\.plateau_monitor"):
        load_train_config(None, ["optim.plateau_monitor=bogus"])
    path = tmp_path / "bad.yaml"
    path.write_text("optim:\n  schedule: plateau\n  plateau_monitor: bogus\n")
    with pytest.raises(ConfigError, match=r"optim\.plateau_monitor"):
        load_train_config(str(path))
    ok = load_train_config(str(path), ["optim.plateau_monitor=val_loss"])
    assert ok.optim.plateau_monitor == "val_loss"
