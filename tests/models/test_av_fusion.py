"""Seed 001's ``av_fusion``: tiny random backbones built in the test, never the network."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from fakescope.errors import ConfigError, ModelError
from fakescope.models import create_model, get_config
from fakescope.models.av import AVOutput
from fakescope.models.av_fusion import AVFusion, AVFusionOutput
from fakescope.models.registry import ModelConfig

# a 4-layer, 32-wide wav2vec2 (the architecture of wav2vec2-base, much smaller)
TINY_W2V = {
    "hidden_size": 32,
    "num_hidden_layers": 4,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": [16] * 7,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
}
SIZE, S, F = 32, 3, 5


def tiny_config(**over: object) -> ModelConfig:
    """The registered av_fusion with a tiny timm backbone and a tiny random wav2vec2."""
    kwargs = {
        **get_config("av_fusion").arch_kwargs,
        "dim": 16,
        "heads": 2,
        "audio_config": TINY_W2V,
        "audio_frozen_layers": 2,
    }
    base = get_config(
        "av_fusion",
        backbone="test_efficientnet",
        input_size=SIZE,
        pretrained="none",
        head_hidden=8,
        segments=S,
        arch_kwargs=kwargs,
    )
    return replace(base, **over)  # type: ignore[arg-type]


def tiny_model(seed: int = 0, **over: object) -> AVFusion:
    torch.manual_seed(seed)
    model = create_model(tiny_config(**over))
    assert isinstance(model, AVFusion)
    return model.eval()


def batch(b: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    frames = torch.randn(b, S, F, 3, SIZE, SIZE, generator=g)
    audio = 0.1 * torch.randn(b, S, 16000, generator=g)
    return frames, audio


@pytest.fixture(scope="module")
def model() -> AVFusion:
    return tiny_model()


def test_registry_entry_carries_the_seed_numbers() -> None:
    cfg = get_config("av_fusion")
    assert (cfg.kind, cfg.arch, cfg.backbone, cfg.input_size) == (
        "av",
        "av_fusion",
        "efficientnet_b3",
        224,
    )
    assert (cfg.segment_frames, cfg.modalities) == (5, "both")
    assert cfg.arch_kwargs["audio_pretrained"] == "facebook/wav2vec2-base"
    assert cfg.arch_kwargs["audio_frozen_layers"] == 8


def test_forward_both_gives_the_contract_and_the_branch_logits(model: AVFusion) -> None:
    frames, audio = batch()
    with torch.no_grad():
        out = model(frames, audio)
    assert isinstance(out, AVFusionOutput) and isinstance(out, AVOutput)
    assert out.segment_logits.shape == (2, S) and out.video_logit.shape == (2,)
    assert out.video_emb is not None and out.video_emb.shape == (2, S, 16)
    assert out.audio_emb is not None and out.audio_emb.shape == (2, S, 16)
    assert out.frame_emb is not None and out.frame_emb.shape == (2, S, F, 16)
    assert out.video_segment_logits is not None and out.audio_segment_logits is not None
    torch.testing.assert_close(out.video_logit, out.segment_logits.mean(1))
    torch.testing.assert_close(out.video_emb, out.frame_emb.mean(2))
    # the fused score is its own head, not one branch's
    assert not torch.allclose(out.segment_logits, out.video_segment_logits)


def test_fused_scores_listen_to_the_audio(model: AVFusion) -> None:
    frames, audio = batch()
    other = batch(seed=1)[1]
    with torch.no_grad():
        a = model(frames, audio)
        b = model(frames, other)
    assert not torch.allclose(a.segment_logits, b.segment_logits)
    torch.testing.assert_close(a.frame_emb, b.frame_emb)  # the video branch ignores the audio


def test_modalities_switch_at_run_time(model: AVFusion) -> None:
    frames, audio = batch()
    try:
        model.modalities = "video"
        with torch.no_grad():
            v = model(frames, None)
        assert v.audio_emb is None and v.audio_segment_logits is None
        assert v.video_segment_logits is not None
        torch.testing.assert_close(v.segment_logits, v.video_segment_logits)
        model.modalities = "audio"
        with torch.no_grad():
            a = model(None, audio)
        assert a.video_emb is None and a.frame_emb is None
        assert a.audio_segment_logits is not None
        torch.testing.assert_close(a.segment_logits, a.audio_segment_logits)
        model.modalities = "both"
        with pytest.raises(ModelError, match="audio must be"):
            model(frames, None)
    finally:
        model.modalities = "both"


def test_a_video_only_config_builds_no_audio_branch() -> None:
    m = tiny_model(modalities="video")
    assert m.audio is None and m.fusion is None
    assert set(m.parts()) == {"backbone", "temporal"}
    m.modalities = "both"
    with pytest.raises(ModelError, match="built for 'video'"):
        m(*batch())
    with pytest.raises(ConfigError, match="unknown for av_fusion"):
        m.freeze_parts(["audio"])


def trainable(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def test_parts_freeze_and_wav2vec2_prefix_stays_frozen() -> None:
    m = tiny_model().train()
    enc = m.audio.encoder  # type: ignore[union-attr]
    layers = enc.encoder.layers
    assert all(not p.requires_grad for p in layers[0].parameters())
    assert all(not p.requires_grad for p in layers[1].parameters())
    assert all(p.requires_grad for p in layers[2].parameters())
    assert all(not p.requires_grad for p in enc.feature_extractor.parameters())
    m.freeze_parts(["video", "fusion"])
    assert trainable(m.backbone) == 0 and trainable(m.temporal) == 0 and trainable(m.fusion) == 0
    assert trainable(m.audio) > 0
    assert not m.backbone.training  # a fully frozen backbone keeps its BatchNorm statistics
    m.unfreeze()
    assert m.backbone.training and trainable(m.fusion) > 0
    assert all(not p.requires_grad for p in layers[0].parameters())  # still the recipe's
    m.freeze_parts(["backbone:1"])
    assert 0 < trainable(m.backbone) < sum(p.numel() for p in m.backbone.parameters())
    assert m.backbone.training
    for bad in ["head", "backbone:x", "temporal:2"]:
        with pytest.raises(ConfigError, match="model part"):
            m.freeze_parts([bad])


def test_a_video_phase_trains_only_the_temporal_part() -> None:
    m = tiny_model().train()
    m.modalities = "video"
    m.freeze_parts(["backbone", "audio", "fusion"])
    frames, _ = batch()
    out = m(frames, None)
    torch.nn.functional.binary_cross_entropy_with_logits(
        out.segment_logits, torch.ones_like(out.segment_logits)
    ).backward()
    grads = {
        name: any(p.grad is not None for p in part.parameters()) for name, part in m.parts().items()
    }
    assert grads == {"backbone": False, "temporal": True, "audio": False, "fusion": False}


def test_arch_kwargs_are_checked() -> None:
    cases = [
        ({"dim": 15}, "heads"),
        ({"kernel": 2}, "kernel"),
        ({"nope": 1}, "nope"),
        ({"attn_dropout": "x"}, "attn_dropout"),
        ({"audio_pretrained": 3}, "audio_pretrained"),
    ]
    for bad, key in cases:
        cfg = tiny_config()
        with pytest.raises(ConfigError, match=key):
            create_model(replace(cfg, arch_kwargs={**cfg.arch_kwargs, **bad}))
    cfg = tiny_config()
    with pytest.raises(ConfigError, match="audio_frozen_layers"):
        create_model(replace(cfg, arch_kwargs={**cfg.arch_kwargs, "audio_frozen_layers": 5}))


def _video_weights(tmp_path: Path) -> Path:
    import timm

    torch.manual_seed(3)
    path = tmp_path / "video.pth"
    torch.save(timm.create_model("test_efficientnet", num_classes=0).state_dict(), path)
    return path


def test_weights_come_from_a_local_folder(tmp_path: Path) -> None:
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(7)
    saved = Wav2Vec2Model(Wav2Vec2Config(**TINY_W2V))
    saved.save_pretrained(tmp_path / "w2v")
    video = _video_weights(tmp_path)
    cfg = tiny_config(pretrained=str(video))
    cfg = replace(cfg, arch_kwargs={**cfg.arch_kwargs, "audio_pretrained": str(tmp_path / "w2v")})
    m = create_model(cfg)
    assert m.weights_source == "video: file video.pth; audio: folder w2v"
    ref = saved.state_dict()
    for name, tensor in m.audio.encoder.state_dict().items():
        torch.testing.assert_close(tensor, ref[name], msg=name)
    assert m.audio.encoder.config.apply_spec_augment is False
    # pretrained: none (how a checkpoint is rebuilt) reads no weights from anywhere
    assert (
        create_model(replace(cfg, pretrained="none")).weights_source == "video: none; audio: none"
    )


def test_offline_hub_and_bad_folder_are_one_line_errors(tmp_path: Path, offline_hub: None) -> None:
    cfg = tiny_config(pretrained=str(_video_weights(tmp_path)))
    with pytest.raises(
        ModelError, match="cannot load wav2vec2 weights 'facebook/wav2vec2-base'"
    ) as err:
        create_model(cfg)
    assert "\n" not in str(err.value) and "audio_pretrained" in str(err.value)
    (tmp_path / "empty").mkdir()
    bad = replace(cfg, arch_kwargs={**cfg.arch_kwargs, "audio_pretrained": str(tmp_path / "empty")})
    with pytest.raises(ModelError, match=r"no config\.json"):
        create_model(bad)


def test_seed_sizes_match_the_seed_parameter_counts() -> None:
    # built on the meta device: architecture only, no memory, no weights
    with torch.device("meta"):
        m = create_model("av_fusion")
    count = {name: sum(p.numel() for p in part.parameters()) for name, part in m.parts().items()}
    assert 10.0e6 < count["backbone"] < 11.0e6  # B3 without its classifier (seed: ~12 M with it)
    assert 0.4e6 < count["temporal"] < 0.7e6  # seed: ~0.5 M
    assert 94e6 < count["audio"] < 96e6  # seed: ~95 M
    assert 1.0e8 < sum(count.values()) < 1.1e8  # seed: ~108 M
    frozen = m.audio.frozen_prefix()
    assert len(frozen) == 4 + 8


def test_a_checkpoint_runs_the_branches_its_best_epoch_was_chosen_with(tmp_path: Path) -> None:
    """A staged recipe may keep a video-only phase's epoch: the card records the active
    modalities and the loaded detector runs those, not the untrained fusion head."""
    from fakescope.models import ModelCard, load_detector, save_checkpoint
    from fakescope.models.checkpoint import audio_card

    net = tiny_model()
    net.set_modalities("video")
    card = ModelCard(name="staged", model=net.config.to_dict())
    card.audio = audio_card(net.config, modalities="video")
    detector = load_detector(save_checkpoint(tmp_path / "best", net, card), onnx=False)
    assert detector.model.modalities == "video"
    card.audio = audio_card(net.config)  # older cards: the config's modalities
    detector = load_detector(save_checkpoint(tmp_path / "old", net, card), onnx=False)
    assert detector.model.modalities == "both"
