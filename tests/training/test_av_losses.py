"""Seed 001's loss suite: each term against a value worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from fakescope.errors import ConfigError, ModelError
from fakescope.models.av import AVOutput
from fakescope.models.av_fusion import AVFusionOutput
from fakescope.training.av_losses import AVLoss, AVLossConfig, smooth_targets

LN3 = math.log(3.0)  # sigmoid(ln 3) = 0.75


def only(term: str, **extra: float) -> AVLoss:
    """A loss whose total is one term (weight 1), no smoothing unless asked."""
    weights = {t: 0.0 for t in ("segment", "video", "temporal", "disagree", "focal")}
    weights[term] = 1.0
    return AVLoss(AVLossConfig(**{"smoothing": 0.0, **weights, **extra}))  # type: ignore[arg-type]


def output(seg: list[list[float]], **extra: torch.Tensor | None) -> AVFusionOutput:
    s = torch.tensor(seg)
    return AVFusionOutput(segment_logits=s, video_logit=s.mean(1), **extra)


def test_seed_defaults() -> None:
    c = AVLossConfig()
    assert (c.segment, c.video, c.temporal, c.disagree, c.focal) == (1.0, 0.1, 0.1, 0.0, 0.0)
    assert (c.smoothing, c.gamma) == (0.05, 2.0)


def test_smoothing_maps_0_and_1_to_005_and_095() -> None:
    t = smooth_targets(torch.tensor([0.0, 1.0]), 0.05)
    torch.testing.assert_close(t, torch.tensor([0.05, 0.95]))


def test_segment_bce_with_smoothing() -> None:
    out = output([[LN3, 0.0]])  # p = 0.75 and 0.5
    total, parts = only("segment", smoothing=0.05)(
        out, torch.tensor([[1.0, 0.0]]), torch.tensor([1.0])
    )
    # fake segment: -(0.95 ln 0.75 + 0.05 ln 0.25); real segment at p = 0.5: ln 2
    first = -(0.95 * math.log(0.75) + 0.05 * math.log(0.25))
    expected = (first + math.log(2.0)) / 2
    assert parts["segment"] == pytest.approx(expected, abs=1e-6)
    assert float(total) == pytest.approx(expected, abs=1e-6)


def test_video_bce_reads_the_aggregate_logit() -> None:
    out = AVOutput(segment_logits=torch.zeros(2, 3), video_logit=torch.tensor([LN3, -LN3]))
    _, parts = only("video", smoothing=0.05)(out, torch.zeros(2, 3), torch.tensor([1.0, 1.0]))
    # sample 1: p = 0.75, target 0.95; sample 2: p = 0.25, target 0.95
    a = -(0.95 * math.log(0.75) + 0.05 * math.log(0.25))
    b = -(0.95 * math.log(0.25) + 0.05 * math.log(0.75))
    assert parts["video"] == pytest.approx((a + b) / 2, abs=1e-6)


def test_temporal_is_the_variance_of_frame_embeddings_within_a_segment() -> None:
    # segment 1: frames (0, 0) and (2, 0): mean (1, 0), squared distances 1 and 1 -> 1
    # segment 2: frames (1, 1) twice -> 0; mean over segments -> 0.5
    frame_emb = torch.tensor([[[[0.0, 0.0], [2.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]]])
    out = output([[0.0, 0.0]], frame_emb=frame_emb, video_emb=frame_emb.mean(2))
    total, parts = only("temporal")(out, torch.zeros(1, 2), torch.zeros(1))
    assert parts["temporal"] == pytest.approx(0.5) and float(total) == pytest.approx(0.5)


def test_temporal_falls_back_to_segment_embeddings() -> None:
    # no per-frame embeddings: segments (0, 0) and (0, 4): mean (0, 2), distances 4, 4 -> 4
    out = AVOutput(
        segment_logits=torch.zeros(1, 2),
        video_logit=torch.zeros(1),
        video_emb=torch.tensor([[[0.0, 0.0], [0.0, 4.0]]]),
    )
    _, parts = only("temporal")(out, torch.zeros(1, 2), torch.zeros(1))
    assert parts["temporal"] == pytest.approx(4.0)
    audio_only = AVOutput(segment_logits=torch.zeros(1, 2), video_logit=torch.zeros(1))
    assert only("temporal")(audio_only, torch.zeros(1, 2), torch.zeros(1))[1]["temporal"] == 0.0


def test_disagreement_is_the_gap_between_branch_probabilities() -> None:
    out = output(
        [[0.0, 0.0]],
        video_segment_logits=torch.tensor([[0.0, LN3]]),  # 0.5, 0.75
        audio_segment_logits=torch.tensor([[LN3, LN3]]),  # 0.75, 0.75
    )
    _, parts = only("disagree")(out, torch.zeros(1, 2), torch.zeros(1))
    assert parts["disagree"] == pytest.approx((0.25 + 0.0) / 2)
    one_branch = output([[0.0, 0.0]], video_segment_logits=torch.zeros(1, 2))
    assert only("disagree")(one_branch, torch.zeros(1, 2), torch.zeros(1))[1]["disagree"] == 0.0


def test_disagreement_needs_branch_logits() -> None:
    plain = AVOutput(segment_logits=torch.zeros(1, 2), video_logit=torch.zeros(1))
    with pytest.raises(ConfigError, match=r"av\.loss_kwargs\.disagree"):
        only("disagree")(plain, torch.zeros(1, 2), torch.zeros(1))
    # weight 0: the term is 0, no error
    assert AVLoss()(plain, torch.zeros(1, 2), torch.zeros(1))[1]["disagree"] == 0.0


def test_focal_loss_hard_and_smoothed() -> None:
    out = output([[LN3]])  # p = 0.75, label fake
    _, hard = only("focal")(out, torch.ones(1, 1), torch.ones(1))
    assert hard["focal"] == pytest.approx(-(0.25**2) * math.log(0.75), abs=1e-6)
    _, soft = only("focal", smoothing=0.05)(out, torch.ones(1, 1), torch.ones(1))
    expected = -(0.95 * 0.25**2 * math.log(0.75) + 0.05 * 0.75**2 * math.log(0.25))
    assert soft["focal"] == pytest.approx(expected, abs=1e-6)


def test_total_combines_the_seed_weights_and_backpropagates() -> None:
    seg = torch.tensor([[LN3, 0.0]], requires_grad=True)
    frame_emb = torch.tensor([[[[0.0, 0.0], [2.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]]])
    out = AVFusionOutput(segment_logits=seg, video_logit=seg.mean(1), frame_emb=frame_emb)
    labels = torch.tensor([[1.0, 0.0]])
    total, parts = AVLoss()(out, labels, torch.ones(1))
    expected = 1.0 * parts["segment"] + 0.1 * parts["video"] + 0.1 * parts["temporal"]
    assert parts["total"] == pytest.approx(expected, abs=1e-6)
    assert parts["temporal"] == pytest.approx(0.5)
    total.backward()
    assert seg.grad is not None and torch.all(seg.grad != 0)


def test_bad_labels_and_config() -> None:
    out = output([[0.0, 0.0]])
    with pytest.raises(ModelError, match="segment_labels"):
        AVLoss()(out, torch.zeros(1, 3), torch.zeros(1))
    with pytest.raises(ModelError, match="video_label"):
        AVLoss()(out, torch.zeros(1, 2), torch.zeros(2))
    with pytest.raises(ModelError, match=r"\[0, 1\]"):
        AVLoss()(out, torch.full((1, 2), 2.0), torch.zeros(1))
    with pytest.raises(ConfigError, match="unknown key"):
        AVLoss(weights=1.0)
    with pytest.raises(ConfigError, match="smoothing"):
        AVLossConfig(smoothing=0.5)
    with pytest.raises(ConfigError, match="temporal"):
        AVLossConfig(temporal=-1.0)
    assert AVLoss(video=0.5).config.video == 0.5


def test_the_av_loop_builds_it_by_name() -> None:
    from fakescope.training.av import build_av_loss

    loss = build_av_loss("seed001", {"disagree": 0.05})
    assert isinstance(loss, AVLoss) and loss.config.disagree == 0.05


def test_half_precision_outputs_give_a_float32_loss() -> None:
    seg = torch.tensor([[LN3, 0.0]]).to(torch.bfloat16)
    emb = torch.tensor([[[[0.0, 0.0], [2.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]]]).to(torch.bfloat16)
    out = AVFusionOutput(segment_logits=seg, video_logit=seg.mean(1), frame_emb=emb)
    total, parts = AVLoss()(out, torch.tensor([[1.0, 0.0]]), torch.ones(1))
    assert total.dtype == torch.float32 and parts["temporal"] == pytest.approx(0.5)
