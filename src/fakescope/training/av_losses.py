"""Seed 001's loss suite for audio-visual models (issue 13 §3).

    total = segment * L_bce(segment logits, smoothed segment labels)
          + video * L_bce(video logit, smoothed video label)
          + temporal * L_temp + disagree * L_disagree + focal * L_focal

- **Label smoothing** (seed 001 §IV.A: "y_smooth = 0.05 if y=0, 0.95 if y=1"):
  target = y * (1 - ε) + (1 - y) * ε with ε = ``smoothing`` = 0.05, so 0 -> 0.05 and
  1 -> 0.95. This is *not* PyTorch's ``label_smoothing=ε`` (which gives y(1-ε) + ε/2, i.e.
  0.025/0.975 for two classes); the seed's targets equal PyTorch's with ε = 0.1. The seed
  defines one L_bce with this hyper-parameter and uses it for both the segment and the video
  term (§IV.E), so both are smoothed; the focal term reads the same targets.
- **BCE**: binary cross-entropy with logits, mean over batch and segments. The seed writes
  it on a two-way softmax; with one logit z, sigmoid(z) = softmax([0, z])[1]: the same loss.
- **Video-level BCE on the aggregate**: on ``AVOutput.video_logit`` (``av_fusion``: the mean
  of its segment logits).
- **Temporal consistency** (§IV.B): for each 1-s segment, σ² = (1/F) Σ_t ||e_t − μ||² of its F
  per-frame embeddings (squared L2 norm, summed over the embedding's dimensions), averaged over
  segments and batch; the seed's option 1 (the same penalty for real and fake). It reads
  ``frame_emb`` (B, S, F, D) when the output has one (``av_fusion``); an output without it is
  judged on its segment embeddings ``video_emb`` over the S segments instead (the same formula,
  segments in place of frames); 0 with no video branch or fewer than 2 items.
- **Modality disagreement** (§IV.C): |P_video(fake) − P_audio(fake)| per segment, mean, from
  the branches' own segment logits (``video_segment_logits``, ``audio_segment_logits``); 0
  when a branch is off. A weight > 0 on an output type that has no per-branch logits is a
  ``ConfigError``.
- **Focal** (§IV.D): −[y'(1−p)^γ log p + (1−y') p^γ log(1−p)] on the segment logits with the
  smoothed targets y' (with hard targets, −(1−p_t)^γ log p_t), γ = 2.

Weights (§IV.E and the checklist §VII.A, "v1 simplified loss"): segment 1.0, video 0.1,
temporal 0.1, disagree 0.0 (0.05 in the seed's Phase 2), focal 0.0 (the seed gives focal loss
as a Phase-2 calibration alternative with no weight). §II.D's "0.7 / 0.2 / 0.1" is an older
draft that §IV.E and §VII.A replace.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import ConfigError, ModelError

__all__ = ["AVLoss", "AVLossConfig", "smooth_targets"]

TERMS = ("segment", "video", "temporal", "disagree", "focal")


@dataclass(frozen=True)
class AVLossConfig:
    """Weights of the five terms (seed 001 v1 by default), ε and γ."""

    segment: float = 1.0
    video: float = 0.1
    temporal: float = 0.1
    disagree: float = 0.0
    focal: float = 0.0
    smoothing: float = 0.05
    gamma: float = 2.0

    def __post_init__(self) -> None:
        for name in (*TERMS, "gamma"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ConfigError(
                    f"config: av.loss_kwargs.{name} must be a number >= 0, got {value!r}"
                )
        if not isinstance(self.smoothing, int | float) or not 0.0 <= self.smoothing < 0.5:
            raise ConfigError(
                f"config: av.loss_kwargs.smoothing must be within [0, 0.5), got {self.smoothing!r}"
            )
        if not any(getattr(self, t) > 0 for t in TERMS):
            raise ConfigError("config: av.loss_kwargs: at least one term needs a weight > 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AVLossConfig:
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"config: av.loss_kwargs: unknown key(s) {', '.join(unknown)}; known: "
                f"{', '.join(sorted(known))}"
            )
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def smooth_targets(labels: torch.Tensor, eps: float) -> torch.Tensor:
    """Seed 001's smoothing: y * (1 - ε) + (1 - y) * ε (0 -> ε, 1 -> 1 - ε)."""
    y = labels.float()
    return y * (1.0 - eps) + (1.0 - y) * eps


def _variance(emb: torch.Tensor) -> torch.Tensor:
    """(..., N, D) -> mean over ... of (1/N) Σ_n ||e_n − μ||²."""
    emb = emb.float()
    mu = emb.mean(-2, keepdim=True)
    return (emb - mu).pow(2).sum(-1).mean(-1).mean()


class AVLoss:
    """``AVLoss(config)(out, segment_labels, video_label) -> (total, parts)``: ``total`` a
    scalar tensor, ``parts`` each term's unweighted value and ``total`` as floats.

    ``AVLoss(**fields)`` builds the config from ``AVLossConfig`` fields (``av.loss_kwargs``
    of a training config with ``av.loss: seed001``)."""

    def __init__(self, config: AVLossConfig | None = None, **fields: Any) -> None:
        if config is not None and fields:
            raise ConfigError("AVLoss: give an AVLossConfig or its fields, not both")
        self.config = config if config is not None else AVLossConfig.from_dict(fields)

    def __call__(
        self, out: Any, segment_labels: torch.Tensor, video_label: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        c = self.config
        seg_logits: torch.Tensor = out.segment_logits.float()  # float32 under AMP too
        video_logit: torch.Tensor = out.video_logit.float()
        if tuple(segment_labels.shape) != tuple(seg_logits.shape):
            raise ModelError(
                f"AVLoss: segment_labels {tuple(segment_labels.shape)} do not match the "
                f"segment logits {tuple(seg_logits.shape)}"
            )
        if tuple(video_label.shape) != tuple(video_logit.shape):
            raise ModelError(
                f"AVLoss: video_label {tuple(video_label.shape)} does not match the video "
                f"logit {tuple(video_logit.shape)}"
            )
        for name, labels in (("segment_labels", segment_labels), ("video_label", video_label)):
            if labels.numel() and (labels.min() < 0 or labels.max() > 1):
                raise ModelError(f"AVLoss: {name} must lie in [0, 1]")
        seg_t = smooth_targets(segment_labels, c.smoothing).to(seg_logits.device)
        vid_t = smooth_targets(video_label, c.smoothing).to(video_logit.device)
        terms: dict[str, torch.Tensor] = {
            "segment": F.binary_cross_entropy_with_logits(seg_logits, seg_t),
            "video": F.binary_cross_entropy_with_logits(video_logit, vid_t),
            "temporal": self._temporal(out, seg_logits),
            "disagree": self._disagree(out, seg_logits),
            "focal": self._focal(seg_logits, seg_t),
        }
        total = seg_logits.new_zeros(())
        for name, value in terms.items():
            weight = float(getattr(c, name))
            if weight:
                total = total + weight * value
        parts = {name: float(value.detach()) for name, value in terms.items()}
        parts["total"] = float(total.detach())
        return total, parts

    @staticmethod
    def _temporal(out: Any, like: torch.Tensor) -> torch.Tensor:
        frame_emb = getattr(out, "frame_emb", None)
        if frame_emb is not None and frame_emb.shape[-2] >= 2:
            return _variance(frame_emb)
        video_emb = getattr(out, "video_emb", None)
        if frame_emb is None and video_emb is not None and video_emb.shape[1] >= 2:
            return _variance(video_emb)
        return like.new_zeros(())

    def _disagree(self, out: Any, like: torch.Tensor) -> torch.Tensor:
        if not hasattr(out, "video_segment_logits") or not hasattr(out, "audio_segment_logits"):
            if self.config.disagree > 0:
                raise ConfigError(
                    f"config: av.loss_kwargs.disagree > 0 needs per-branch segment logits, which "
                    f"{type(out).__name__} does not give; set av.loss_kwargs.disagree: 0"
                )
            return like.new_zeros(())
        v, a = out.video_segment_logits, out.audio_segment_logits
        if v is None or a is None:
            return like.new_zeros(())
        return (torch.sigmoid(v.float()) - torch.sigmoid(a.float())).abs().mean()

    def _focal(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        gamma = float(self.config.gamma)
        p = torch.sigmoid(logits)
        log_p = F.logsigmoid(logits)
        log_q = F.logsigmoid(-logits)
        loss = -(target * (1 - p).pow(gamma) * log_p + (1 - target) * p.pow(gamma) * log_q)
        return loss.mean()
