"""The audio-visual family: AVOutput, the av registry fields, the builder table and avsync."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fakescope.errors import ConfigError, ModelError
from fakescope.models import create_model, get_config
from fakescope.models.av import (
    AV_ARCHS,
    AudioVisualDetector,
    AVOutput,
    check_av_inputs,
    register_av_arch,
)
from fakescope.models.registry import ModelConfig


def _inputs(
    b: int = 2, s: int = 3, size: int = 64, f: int = 10
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(b, s, f, 3, size, size, generator=g), torch.randn(b, s, 16000, generator=g)


def test_avoutput_checks_shapes() -> None:
    AVOutput(torch.zeros(2, 3), torch.zeros(2))
    with pytest.raises(ModelError, match="segment_logits"):
        AVOutput(torch.zeros(2), torch.zeros(2))
    with pytest.raises(ModelError, match="video_logit"):
        AVOutput(torch.zeros(2, 3), torch.zeros(3))


def test_model_config_av_fields() -> None:
    c = ModelConfig("x", kind="av", arch="avsync", segments=2)
    assert c.family == "av" and c.modalities == "both"
    with pytest.raises(ConfigError, match="arch"):
        ModelConfig("x", kind="av")
    with pytest.raises(ConfigError, match="modalities"):
        ModelConfig("x", kind="av", arch="avsync", modalities="smell")
    with pytest.raises(ConfigError, match="segments"):
        ModelConfig("x", kind="av", arch="avsync", segments=0)
    with pytest.raises(ConfigError, match="audio-visual"):
        ModelConfig("x", kind="frame", arch="avsync")
    assert ModelConfig.from_dict(c.to_dict()) == c


def test_unknown_arch_lists_choices() -> None:
    with pytest.raises(ConfigError, match="avsync"):
        create_model(ModelConfig("x", kind="av", arch="nope"))


def test_builder_table_takes_new_archs() -> None:
    class Tiny(AudioVisualDetector):
        PART_NAMES = ("video", "head")

        def __init__(self, config: ModelConfig) -> None:
            super().__init__(config)
            self.video = nn.Linear(3, 4)
            self.head = nn.Linear(4, 1)

        def forward(self, frames: torch.Tensor | None, audio: torch.Tensor | None) -> AVOutput:
            check_av_inputs(frames, audio, self.modalities)
            assert frames is not None
            e = self.video(frames.mean((2, 4, 5)))  # (B, S, 4)
            seg = self.head(e).squeeze(-1)
            return AVOutput(seg, seg.mean(1), e, None)

    register_av_arch("test_tiny")(Tiny)
    try:
        m = create_model(ModelConfig("t", kind="av", arch="test_tiny", modalities="video"))
        out = m(*_inputs(size=8))
        assert out.segment_logits.shape == (2, 3) and out.audio_emb is None
        m.freeze_parts(["video"])
        assert not any(p.requires_grad for p in m.video.parameters())
        groups = m.param_groups(1e-3, 1e-4, 0.01)
        names = {g["name"] for g in groups}
        assert {"video/decay", "head/decay"} <= names
        with pytest.raises(ConfigError, match="unknown"):
            m.freeze_parts(["audio"])
        with pytest.raises(ValueError, match="already"):
            register_av_arch("test_tiny")(lambda c: Tiny(c))
    finally:
        AV_ARCHS.pop("test_tiny", None)


def test_check_av_inputs() -> None:
    f, a = _inputs()
    assert check_av_inputs(f, a) == (2, 3)
    assert check_av_inputs(None, a, "audio") == (2, 3)
    with pytest.raises(ModelError, match="frames"):
        check_av_inputs(None, a, "both")
    with pytest.raises(ModelError, match="audio has"):
        check_av_inputs(f, a[:1])


def test_avsync_shapes_and_size() -> None:
    config = get_config("avsync")
    assert config.kind == "av" and config.segments == 3 and config.segment_frames == 10
    model = create_model(config)
    out = model(*_inputs())
    assert out.segment_logits.shape == (2, 3) and out.video_logit.shape == (2,)
    assert out.video_emb is not None and out.video_emb.shape[:2] == (2, 3)
    assert out.audio_emb is not None and out.audio_emb.shape[:2] == (2, 3)
    # the scan reads the segment logits: the video logit is their mean
    assert torch.allclose(out.video_logit, out.segment_logits.mean(1))
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params < 1000  # fixed features, a small read-out: nothing to memorise faces with
    for modality in ("video", "audio"):
        m = create_model(config, modalities=modality)
        f, a = _inputs()
        o = m(f if modality == "video" else None, a if modality == "audio" else None)
        assert o.segment_logits.shape == (2, 3)
        assert (o.video_emb is None) == (modality == "audio")
        assert (o.audio_emb is None) == (modality == "video")
    with pytest.raises(ConfigError, match="avsync"):
        model.set_modalities("video")
    with pytest.raises(ConfigError, match="unknown option"):
        create_model(config, arch_kwargs={"bogus": 1})
    with pytest.raises(ConfigError, match="video_features"):
        create_model(config, arch_kwargs={"video_features": ["lips"]})


def test_lag_profile_peaks_at_the_shift() -> None:
    model = create_model("avsync")
    g = torch.Generator().manual_seed(1)
    v = torch.randn(1, 30, 2, generator=g)
    for lag in (-3, 0, 2):
        a = torch.roll(v, shifts=lag, dims=1)  # a_{t+lag} = v_t
        prof = model.lag_profile(v, a)  # (1, Cv, Ca, 2K+1)
        assert prof.shape == (1, 2, 2, 2 * model.max_lag + 1)
        assert int(prof[0, 0, 0].argmax()) - model.max_lag == lag
        assert int(prof[0, 1, 1].argmax()) - model.max_lag == lag


def test_avsync_gradients_reach_its_read_out() -> None:
    model = create_model("avsync")
    out = model(*_inputs())
    # the read-out starts at zero pair weights: one step gives them a gradient
    (out.segment_logits.sum() + out.video_logit.sum()).backward()
    for part in ("head", "local_head"):
        grads = [p.grad for p in getattr(model, part).parameters() if p.grad is not None]
        assert grads and any(float(g.abs().sum()) > 0 for g in grads), part
