"""``av_fusion``: seed 001's audio-visual detector (issue 13 §2).

    frames (B, S, F, 3, H, W) --EfficientNet-B3 per frame--> (B, S*F, 1536)
        --temporal: Linear 1536 -> D, LayerNorm, GELU, 1-D conv (k = 3) over the S*F frames,
          GELU, residual--> frame embeddings (B, S, F, D) --mean over F--> video_emb (B, S, D)
    audio (B, S, 16000) --per segment: zero mean, unit variance (wav2vec2's input
        normalisation)--> wav2vec2-base (first 8 of 12 transformer layers and everything below
        them frozen) --> (B, S, 49, 768) --Linear 768 -> D, LayerNorm, GELU--> audio tokens
        --mean--> audio_emb (B, S, D)
    fusion: audio tokens pooled to F per segment (one per video frame), the same sinusoidal
        time code added to both streams; video -> audio and audio -> video
        nn.MultiheadAttention (D, ``heads``), each residual + LayerNorm; per segment mean of
        each stream, concatenated (2D) --> head (Dropout, Linear 2D -> hidden, GELU, Dropout,
        Linear 1) --> segment logits (B, S)
    video logit = mean of the segment logits (the aggregate seed 001's video-level loss reads)

Per-modality heads (Linear D -> 1 on ``video_emb`` and on ``audio_emb``) give the branch's own
segment logits: they are the answer with ``modalities: video`` / ``audio`` (seed 001's stages 1
and 2 and its ablation) and the P_video / P_audio of its modality-disagreement loss with
``both``. ``model.modalities`` is read at every forward, so a training phase may switch it
(the branches a config's ``modalities`` leaves out are not built).

Parts (``freeze:`` in ``phases:``): ``backbone`` (EfficientNet), ``temporal`` (projection,
1-D conv and video head), ``audio`` (wav2vec2, projection and audio head), ``fusion``;
``video`` = ``backbone`` + ``temporal``; ``backbone:N`` freezes the first N backbone block
groups. A fully frozen backbone runs in eval mode (its BatchNorm statistics stay ImageNet's).
wav2vec2's first ``audio_frozen_layers`` layers stay frozen through ``unfreeze()``: they are
the recipe, not a phase's choice.

``arch_kwargs``: ``dim`` (D, 256), ``heads`` (4), ``kernel`` (3), ``attn_dropout`` (0.1),
``audio_pretrained`` (``facebook/wav2vec2-base``: a hub id, loaded with
``Wav2Vec2Model.from_pretrained`` when online, or a local folder holding a saved model),
``audio_config`` (``Wav2Vec2Config`` fields for an encoder built without pretrained weights,
``{}`` = wav2vec2-base's architecture), ``audio_frozen_layers`` (8) and ``audio_normalize``
(true). ``pretrained: none`` (as when a checkpoint is loaded) loads no weights into either
branch. SpecAugment-style masking inside wav2vec2 is off (seed 001 §III.D avoids SpecAugment).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import ConfigError, ModelError
from .av import AudioVisualDetector, AVOutput, check_av_inputs, register_av_arch
from .backbones import backbone_block_groups, build_backbone
from .registry import ModelConfig
from .wav2vec2 import WAV2VEC2_BASE, AudioBranch, build_wav2vec2

__all__ = [
    "AVFusion",
    "AVFusionOptions",
    "AVFusionOutput",
    "AudioBranch",
    "CrossModalFusion",
    "TemporalConv",
    "build_wav2vec2",
]


@dataclass
class AVFusionOutput(AVOutput):
    """``AVOutput`` plus what seed 001's losses read: each branch's own segment logits
    (B, S) (None when the branch is off) and the per-frame video embeddings (B, S, F, D) whose
    variance within a segment is the temporal-consistency loss."""

    video_segment_logits: torch.Tensor | None = None
    audio_segment_logits: torch.Tensor | None = None
    frame_emb: torch.Tensor | None = None


@dataclass(frozen=True)
class AVFusionOptions:
    """``arch_kwargs`` of ``av_fusion`` (see the module docstring)."""

    dim: int = 256
    heads: int = 4
    kernel: int = 3
    attn_dropout: float = 0.1
    audio_pretrained: str = WAV2VEC2_BASE
    audio_config: dict[str, Any] | None = None
    audio_frozen_layers: int = 8
    audio_normalize: bool = True

    @classmethod
    def from_kwargs(cls, data: dict[str, Any]) -> AVFusionOptions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"model.arch_kwargs: unknown key(s) {', '.join(unknown)} for av_fusion; "
                f"known: {', '.join(sorted(known))}"
            )
        try:
            opts = cls(**data)
        except TypeError as exc:
            raise ConfigError(f"model.arch_kwargs for av_fusion: {exc}") from None
        checks = [
            (isinstance(opts.dim, int) and opts.dim >= 1, "dim must be an int >= 1"),
            (
                isinstance(opts.heads, int) and opts.heads >= 1 and opts.dim % opts.heads == 0,
                "heads must be an int >= 1 dividing dim",
            ),
            (
                isinstance(opts.kernel, int) and opts.kernel >= 1 and opts.kernel % 2 == 1,
                "kernel must be an odd int >= 1",
            ),
            (
                isinstance(opts.attn_dropout, int | float) and 0.0 <= opts.attn_dropout < 1.0,
                "attn_dropout must be a number within [0, 1)",
            ),
            (
                isinstance(opts.audio_pretrained, str) and bool(opts.audio_pretrained),
                "audio_pretrained must be none, a hub id or a folder",
            ),
            (
                isinstance(opts.audio_frozen_layers, int) and opts.audio_frozen_layers >= 0,
                "audio_frozen_layers must be an int >= 0",
            ),
            (
                isinstance(opts.audio_config, dict | None),
                "audio_config must be a mapping of Wav2Vec2Config fields",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"model.arch_kwargs.{message} (av_fusion)")
        return opts


def _sinusoid(length: int, dim: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(length, dim) sinusoidal position code (Vaswani et al.)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    half = dim // 2
    freq = torch.exp(
        -math.log(10000.0) * torch.arange(half, device=device, dtype=torch.float32) / max(1, half)
    )
    angles = pos * freq[None]
    code = torch.zeros(length, dim, device=device, dtype=torch.float32)
    code[:, 0 : 2 * half : 2] = torch.sin(angles)
    code[:, 1 : 2 * half : 2] = torch.cos(angles)
    return code.to(dtype)


class TemporalConv(nn.Module):
    """Per-frame features (B, T, C) -> frame embeddings (B, T, D): Linear C -> D, LayerNorm,
    GELU, then a residual 1-D convolution over time (kernel k, 'same' padding) and GELU.
    ``head`` (Linear D -> 1) scores a segment's mean embedding (the video branch's own logit)."""

    def __init__(self, in_dim: int, dim: int, kernel: int, drop: float) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.Linear(in_dim, dim), nn.LayerNorm(dim), nn.GELU())
        self.conv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2)
        self.act = nn.GELU()
        self.head = nn.Sequential(nn.Dropout(drop), nn.Linear(dim, 1))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        x = self.proj(f)
        y = self.conv(x.transpose(1, 2)).transpose(1, 2)
        return self.act(x + y)


class CrossModalFusion(nn.Module):
    """Video and audio tokens on one time grid (B, T, D) each -> segment logits (B, S).

    v' = LN(v + MHA(q=v, k=a, v=a)) (video attends to audio), a' = LN(a + MHA(q=a, k=v, v=v))
    (audio attends to video); a sinusoidal code of the token's time index is added to queries
    and keys of both. Each stream is averaged over the F tokens of a segment and the two are
    concatenated into the head."""

    def __init__(self, dim: int, heads: int, attn_dropout: float, hidden: int, drop: float):
        super().__init__()
        self.v2a = nn.MultiheadAttention(dim, heads, dropout=attn_dropout, batch_first=True)
        self.a2v = nn.MultiheadAttention(dim, heads, dropout=attn_dropout, batch_first=True)
        self.norm_v = nn.LayerNorm(dim)
        self.norm_a = nn.LayerNorm(dim)
        self.head = nn.Sequential(
            nn.Dropout(drop),
            nn.Linear(2 * dim, hidden),
            nn.GELU(),
            nn.Dropout(drop / 2),
            nn.Linear(hidden, 1),
        )

    def forward(self, v: torch.Tensor, a: torch.Tensor, segments: int) -> torch.Tensor:
        b, t, d = v.shape
        pos = _sinusoid(t, d, v.device, v.dtype)[None]
        vq, aq = v + pos, a + pos
        v2, _ = self.v2a(vq, aq, a, need_weights=False)
        a2, _ = self.a2v(aq, vq, v, need_weights=False)
        v_out = self.norm_v(v + v2).reshape(b, segments, t // segments, d).mean(2)
        a_out = self.norm_a(a + a2).reshape(b, segments, t // segments, d).mean(2)
        return self.head(torch.cat([v_out, a_out], dim=-1)).squeeze(-1)


class AVFusion(AudioVisualDetector):
    """See the module docstring. ``forward(frames, audio)``: frames (B, S, F, 3, H, W), audio
    (B, S, samples) (either may be None when its branch is off) -> ``AVFusionOutput``."""

    PART_NAMES = ("backbone", "temporal", "audio", "fusion")
    PART_ALIASES: ClassVar[dict[str, tuple[str, ...]]] = {"video": ("backbone", "temporal")}

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        opts = AVFusionOptions.from_kwargs(dict(config.arch_kwargs))
        self.options = opts
        self.built = config.modalities
        drop = float(config.drop_rate)
        sources: list[str] = []
        self.backbone: nn.Module | None = None
        self.temporal: TemporalConv | None = None
        self.audio: AudioBranch | None = None
        self.fusion: CrossModalFusion | None = None
        if self.uses_video:
            self.backbone, features, video_source = build_backbone(config)
            self.temporal = TemporalConv(features, opts.dim, opts.kernel, drop)
            sources.append(f"video: {video_source}")
        if self.uses_audio:
            encoder, audio_source = build_wav2vec2(
                opts.audio_pretrained, opts.audio_config, load_weights=config.pretrained != "none"
            )
            self.audio = AudioBranch(
                encoder, opts.dim, drop, opts.audio_frozen_layers, opts.audio_normalize
            )
            sources.append(f"audio: {audio_source}")
        if self.modalities == "both":
            self.fusion = CrossModalFusion(
                opts.dim, opts.heads, float(opts.attn_dropout), config.head_hidden, drop
            )
        self.weights_source = "; ".join(sources)

    # ── parts ───────────────────────────────────────────────────────────────────────────
    def freeze_parts(self, names: list[str]) -> None:
        """Freeze parts by name: ``backbone``, ``temporal``, ``audio``, ``fusion``, ``video``
        (= backbone + temporal) or ``backbone:N`` (the first N backbone block groups)."""
        parts = self.parts()
        for name in names:
            head, _, count = name.partition(":")
            if count and head == "backbone" and self.backbone is not None:
                if not count.isdigit():
                    raise ConfigError(f"model part '{name}': N in backbone:N must be an int >= 0")
                groups = backbone_block_groups(self.backbone)[: int(count)]
                chosen = {n for g in groups for n in g}
                for pname, p in self.backbone.named_parameters():
                    if pname in chosen:
                        p.requires_grad_(False)
                continue
            members = self.PART_ALIASES.get(name, (name,))
            if count or not all(m in parts for m in members):
                known = [*parts, *(a for a, m in self.PART_ALIASES.items() if set(m) <= set(parts))]
                raise ConfigError(
                    f"model part '{name}': unknown for av_fusion ({self.built} built); choose "
                    f"from {', '.join(known)} or backbone:N"
                )
            for m in members:
                for p in parts[m].parameters():
                    p.requires_grad_(False)
        self.train(self.training)  # a fully frozen backbone switches to eval mode

    def unfreeze(self) -> None:
        """Every parameter trainable except wav2vec2's frozen prefix (the recipe's)."""
        super().unfreeze()
        if self.audio is not None:
            self.audio.freeze_prefix()
        self.train(self.training)

    def train(self, mode: bool = True) -> AVFusion:
        super().train(mode)
        if mode and self.backbone is not None and not _trainable(self.backbone):
            self.backbone.eval()
        return self

    # ── forward ─────────────────────────────────────────────────────────────────────────
    def _check_mode(self) -> str:
        mode = self.modalities
        ok = (
            (mode == "video" and self.temporal is not None)
            or (mode == "audio" and self.audio is not None)
            or (mode == "both" and self.fusion is not None)
        )
        if not ok:
            raise ModelError(
                f"av_fusion: modalities '{mode}' needs a branch this model was built without "
                f"(built for '{self.built}')"
            )
        return mode

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, S, F, 3, H, W) -> frame embeddings (B, S, F, D)."""
        assert self.backbone is not None and self.temporal is not None
        b, s, f = frames.shape[:3]
        feats = self.backbone(frames.flatten(0, 2)).reshape(b, s * f, -1)
        return self.temporal(feats).reshape(b, s, f, -1)

    def encode_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, S, samples) -> audio tokens (B, S, T_a, D)."""
        assert self.audio is not None
        b, s = audio.shape[:2]
        tokens = self.audio(audio.flatten(0, 1))
        return tokens.reshape(b, s, tokens.shape[1], tokens.shape[2])

    def forward(
        self, frames: torch.Tensor | None, audio: torch.Tensor | None = None
    ) -> AVFusionOutput:
        mode = self._check_mode()
        _, s = check_av_inputs(frames, audio, mode)
        frame_emb = video_emb = v_logits = None
        audio_tokens = audio_emb = a_logits = None
        if mode in ("both", "video"):
            assert frames is not None and self.temporal is not None
            frame_emb = self.encode_frames(frames)
            video_emb = frame_emb.mean(2)
            v_logits = self.temporal.head(video_emb).squeeze(-1)
        if mode in ("both", "audio"):
            assert audio is not None and self.audio is not None
            audio_tokens = self.encode_audio(audio)
            audio_emb = audio_tokens.mean(2)
            a_logits = self.audio.head(audio_emb).squeeze(-1)
        if mode == "both":
            assert frame_emb is not None and audio_tokens is not None and self.fusion is not None
            b, _, f, d = frame_emb.shape
            a_grid = nn.functional.adaptive_avg_pool1d(
                audio_tokens.flatten(0, 1).transpose(1, 2), f
            )  # (B*S, D, F): one audio token per video frame
            a_grid = a_grid.transpose(1, 2).reshape(b, s * f, d)
            segment_logits = self.fusion(frame_emb.reshape(b, s * f, d), a_grid, s)
        else:
            chosen = v_logits if mode == "video" else a_logits
            assert chosen is not None
            segment_logits = chosen
        return AVFusionOutput(
            segment_logits=segment_logits,
            video_logit=segment_logits.mean(1),
            video_emb=video_emb,
            audio_emb=audio_emb,
            video_segment_logits=v_logits,
            audio_segment_logits=a_logits,
            frame_emb=frame_emb,
        )


def _trainable(module: nn.Module) -> bool:
    return any(p.requires_grad for p in module.parameters())


@register_av_arch("av_fusion")
def build_av_fusion(config: ModelConfig) -> AVFusion:
    return AVFusion(config)
