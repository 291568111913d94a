"""wav2vec2 as an audio encoder (seed 001's audio branch): ``transformers``' ``Wav2Vec2Model``
built from a local folder, the hub, or a config alone, and ``AudioBranch`` (encoder ->
projection -> tokens, with the recipe's frozen prefix)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, ModelError

__all__ = ["WAV2VEC2_BASE", "AudioBranch", "build_wav2vec2"]

WAV2VEC2_BASE = "facebook/wav2vec2-base"


def _one_line(exc: BaseException, limit: int = 160) -> str:
    return " ".join(str(exc).split())[:limit]


def build_wav2vec2(
    source: str, config_overrides: dict[str, Any] | None, load_weights: bool
) -> tuple[nn.Module, str]:
    """A ``transformers`` ``Wav2Vec2Model`` and where its weights came from.

    With ``load_weights``: ``from_pretrained(source)`` (a local folder, or a hub id when
    online; offline, a one-line ``ModelError``). Without: random weights of
    ``Wav2Vec2Config(**config_overrides)`` (wav2vec2-base's architecture by default).
    SpecAugment-style masking is switched off either way."""
    try:
        from transformers import Wav2Vec2Config, Wav2Vec2Model
    except ImportError:
        from ..errors import MissingDependencyError

        raise MissingDependencyError("transformers", "audio", "the av_fusion model") from None
    overrides = dict(config_overrides or {})
    overrides["apply_spec_augment"] = False
    if not load_weights or source == "none":
        try:
            config = Wav2Vec2Config(**overrides)
            return Wav2Vec2Model(config), "none"
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"model.arch_kwargs.audio_config: {_one_line(exc)}") from None
    local = Path(source).expanduser()
    if local.exists() and not (local / "config.json").is_file():
        raise ModelError(
            f"{source}: not a saved wav2vec2 model (no config.json); give a folder written by "
            "save_pretrained, or a hub id such as facebook/wav2vec2-base"
        )
    try:
        model = Wav2Vec2Model.from_pretrained(str(local) if local.exists() else source, **overrides)
    except Exception as exc:  # huggingface_hub / requests / safetensors raise many kinds
        raise ModelError(
            f"cannot load wav2vec2 weights {source!r} ({type(exc).__name__}: {_one_line(exc)}); "
            "offline, set model.arch_kwargs.audio_pretrained to a local folder (save_pretrained)"
        ) from None
    what = f"folder {local.name}" if local.exists() else f"hub {source}"
    return model, what


class AudioBranch(nn.Module):
    """(N, samples) 16-kHz waveforms -> (N, T_a, D) tokens (wav2vec2 -> Linear -> LayerNorm ->
    GELU); ``head`` (Linear D -> 1) scores a segment's mean token (the audio branch's logit)."""

    def __init__(
        self, encoder: nn.Module, dim: int, drop: float, frozen_layers: int, normalize: bool
    ) -> None:
        super().__init__()
        self.encoder = encoder
        enc_config: Any = encoder.config
        hidden, layers = int(enc_config.hidden_size), int(enc_config.num_hidden_layers)
        if frozen_layers > layers:
            raise ConfigError(
                f"model.arch_kwargs.audio_frozen_layers: {frozen_layers} > the encoder's "
                f"{layers} layers (av_fusion)"
            )
        self.frozen_layers = frozen_layers
        self.normalize = normalize
        self.proj = nn.Sequential(nn.Linear(hidden, dim), nn.LayerNorm(dim), nn.GELU())
        self.head = nn.Sequential(nn.Dropout(drop), nn.Linear(dim, 1))
        self.freeze_prefix()

    def frozen_prefix(self) -> list[nn.Module]:
        """The modules below and including the first ``frozen_layers`` transformer layers."""
        if not self.frozen_layers:
            return []
        enc: Any = self.encoder
        prefix: list[nn.Module] = [enc.feature_extractor, enc.feature_projection]
        prefix += [enc.encoder.pos_conv_embed, enc.encoder.layer_norm]
        prefix += list(enc.encoder.layers[: self.frozen_layers])
        return prefix

    def freeze_prefix(self) -> None:
        for module in self.frozen_prefix():
            for p in module.parameters():
                p.requires_grad_(False)
        spec = getattr(self.encoder, "masked_spec_embed", None)
        if isinstance(spec, nn.Parameter) and self.frozen_layers:
            spec.requires_grad_(False)  # unused: SpecAugment is off

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = wave.float()
        if self.normalize:  # Wav2Vec2FeatureExtractor's do_normalize, per segment
            x = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True) + 1e-7)
        hidden = self.encoder(x).last_hidden_state
        return self.proj(hidden)
