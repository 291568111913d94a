"""Seed 001's recipe: the presets carry the seed's numbers, the staged phases train the parts
the seed says on the model + losses directly, and the CPU preset runs through `fakescope train`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fakescope.models import get_config
from fakescope.training.av_losses import AVLoss, AVLossConfig
from fakescope.training.config import load_train_config
from tests.models.test_av_fusion import batch, tiny_model

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "seed001"


def test_seed_preset_numbers() -> None:
    c = load_train_config(str(CONFIGS / "av_fusion.yaml"))
    model = get_config(**c.model)
    assert (model.name, model.backbone, model.input_size, model.pretrained) == (
        "av_fusion",
        "efficientnet_b3",
        224,
        "imagenet",
    )
    assert model.segment_frames == 5 and model.modalities == "both"
    assert model.arch_kwargs["audio_pretrained"] == "facebook/wav2vec2-base"
    assert model.arch_kwargs["audio_frozen_layers"] == 8
    phases = c.phase_list()
    assert [(p.name, p.epochs, p.modalities, p.lr) for p in phases] == [
        ("video", 5, "video", 1e-3),
        ("audio", 5, "audio", 1e-4),
        ("fusion", 10, "both", 1e-4),
    ]
    assert [p.freeze for p in phases] == [
        ["backbone", "audio", "fusion"],
        ["video", "fusion"],
        ["backbone"],
    ]
    assert (c.optim.name, c.optim.schedule, c.optim.min_lr_ratio) == ("adamw", "warmup_cosine", 0.1)
    assert c.optim.warmup_epochs == 0
    t = c.train
    assert (t.batch_size, t.grad_clip, t.patience, t.min_delta) == (32, 1.0, 3, 0.002)
    assert t.early_stopping and t.select == "val_auc"
    assert c.av["loss"] == "seed001" and c.av["fakes"] == "labelled"
    loss = AVLossConfig.from_dict(c.av["loss_kwargs"])
    assert loss == AVLossConfig()  # the seed's v1 weights are the defaults
    assert (loss.segment, loss.video, loss.temporal, loss.disagree, loss.smoothing) == (
        1.0,
        0.1,
        0.1,
        0.0,
        0.05,
    )


def test_cpu_preset_is_the_seed_recipe_scaled_down() -> None:
    seed = load_train_config(str(CONFIGS / "av_fusion.yaml"))
    cpu = load_train_config(str(CONFIGS / "cpu_av_fusion.yaml"))
    strip = [(p.name, p.modalities, p.freeze, p.lr) for p in seed.phase_list()]
    assert [(p.name, p.modalities, p.freeze, p.lr) for p in cpu.phase_list()] == strip
    assert AVLossConfig.from_dict(cpu.av["loss_kwargs"]) == AVLossConfig()
    model = get_config(**cpu.model)
    assert model.arch_kwargs["audio_pretrained"] == "none"  # offline: random tiny wav2vec2
    assert model.pretrained == "imagenet" and model.backbone == "tf_efficientnet_lite0"
    assert model.segment_frames == 5


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def _changed(before: dict[str, torch.Tensor], model: torch.nn.Module, prefix: str) -> bool:
    return any(
        not torch.equal(before[k], v) for k, v in model.named_parameters() if k.startswith(prefix)
    )


def test_staged_phases_train_the_seeds_parts_on_synthetic_tensors() -> None:
    """Seed 001 §III.C on the model + losses directly: stage 1 trains the temporal encoder
    only, stage 2 the audio encoder's last layers only, stage 3 temporal + audio + fusion; the
    video backbone and wav2vec2's first layers never move."""
    preset = load_train_config(str(CONFIGS / "av_fusion.yaml"))
    # a 2-block CNN stands in for the EfficientNet (same part API, BatchNorm included): fast
    model = tiny_model(seed=1, backbone="fakescope_simple_cnn", backbone_kwargs={"widths": [4, 8]})
    loss_fn = AVLoss(AVLossConfig.from_dict(preset.av["loss_kwargs"]))
    frames, audio = batch(b=2, seed=2)
    audio = audio[..., :4000]  # a quarter second per segment: the network takes any length
    seg = torch.tensor([[1.0, 1, 1], [0, 0, 0]])
    video = seg.max(1).values
    w2v = "audio.encoder.encoder.layers."
    expect = {  # phase -> part prefixes that must change / must not
        "video": (["temporal."], ["backbone.", "audio.", "fusion."]),
        "audio": ([f"{w2v}2.", "audio.proj."], ["backbone.", "temporal.", "fusion."]),
        "fusion": (["temporal.", f"{w2v}3.", "fusion."], ["backbone."]),
    }
    for phase in preset.phase_list():
        model.unfreeze()
        model.freeze_parts(phase.freeze)
        model.set_modalities(phase.modalities or "both")
        params = [p for p in model.parameters() if p.requires_grad]
        # the seed's rate x 10: a few steps must move the loss on this one batch
        opt = torch.optim.AdamW(params, lr=10 * float(phase.lr or 1e-4))
        before = _snapshot(model)
        model.eval()
        with torch.no_grad():
            start, _ = loss_fn(model(frames, audio), seg, video)
        model.train()
        for _ in range(4):
            total, parts = loss_fn(model(frames, audio), seg, video)
            opt.zero_grad()
            total.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            assert np.isfinite(parts["total"])
        model.eval()
        with torch.no_grad():
            end, parts = loss_fn(model(frames, audio), seg, video)
        assert float(end) < float(start), (phase.name, float(start), float(end))
        moving, still = expect[phase.name]
        for prefix in moving:
            assert _changed(before, model, prefix), (phase.name, prefix)
        for prefix in [*still, "audio.encoder.feature_extractor.", f"{w2v}0.", f"{w2v}1."]:
            assert not _changed(before, model, prefix), (phase.name, prefix)
        if phase.modalities == "both":
            assert parts["temporal"] > 0 and parts["video"] > 0


@pytest.mark.slow
def test_cpu_preset_trains_end_to_end_through_fakescope_train(tmp_path: Path, capsys) -> None:
    """Synthetic talking clips with sound -> manifest -> 5-FPS extraction -> the CPU preset's
    three phases -> a checkpoint that loads back as an av_fusion detector."""
    from fakescope.cli.main import main
    from fakescope.models.av_fusion import AVFusion
    from fakescope.models.checkpoint import load_checkpoint
    from tests.conftest import write_av_clip

    rng = np.random.default_rng(0)
    rows = []
    for i in range(4):
        label = i % 2
        t = np.arange(3 * 16000) / 16000
        tone = 0.3 * np.sin(2 * np.pi * (220 + 110 * label) * t) + 0.05 * rng.standard_normal(
            len(t)
        )
        write_av_clip(
            tmp_path / "data" / f"c{i}.mp4",
            n_frames=75,
            width=192,
            height=192,
            audio=tone.astype(np.float32),
            sample_rate=16000,
            face=True,
        )
        rows.append(f"c{i}.mp4,{label},g{i},{'train' if i < 2 else 'val'}\n")
    (tmp_path / "data" / "list.csv").write_text("path,label,group,split\n" + "".join(rows))
    manifest, crops = tmp_path / "m.parquet", tmp_path / "crops"
    args = ["datasets", "index", str(tmp_path / "data" / "list.csv"), "--dataset", "generic"]
    assert main([*args, "--out", str(manifest), "-q"]) == 0
    assert main(["extract", str(manifest), "--out", str(crops), "--sampling", "fps:5", "-q"]) == 0
    overrides = [
        f"data.manifest={manifest}",
        f"data.crops={crops}",
        f"out={tmp_path / 'runs'}",
        "av.samples_per_epoch=8",
    ]
    code = main(["train", str(CONFIGS / "cpu_av_fusion.yaml"), *overrides, "--json"])
    assert code == 0
    json.loads(capsys.readouterr().out)
    run = tmp_path / "runs" / "seed001-cpu-av-fusion"
    with open(run / "log.csv") as fh:
        rows_out = list(csv.DictReader(fh))
    assert [r["phase"] for r in rows_out] == ["video", "audio", "fusion"]
    assert all(np.isfinite(float(r["train_loss"])) for r in rows_out)
    model, card = load_checkpoint(run / "best")
    assert isinstance(model, AVFusion) and card.model["arch"] == "av_fusion"
    frames = torch.zeros(1, 2, 5, 3, 96, 96)
    with torch.no_grad():
        out = model(frames, torch.zeros(1, 2, 16000))
    assert out.segment_logits.shape == (1, 2)
