"""The audio-visual family (``kind: av``; issue 13, seed 001): its output and its networks.

An av sample is S consecutive 1-s segments of one face track (seed 001: 1-s windows of 5
frames at 5 FPS):

    frames (B, S, F, 3, H, W) normalised crops, audio (B, S, 16000) float32 mono at 16 kHz

and every av network's ``forward(frames, audio)`` returns an ``AVOutput``: per-segment logits
(B, S), a per-video logit (B,) and the per-segment embeddings of each branch (B, S, D), None for
a modality the config disables (``modalities: both | video | audio``; a disabled branch ignores
its input, which may then be None).

Networks are chosen by ``ModelConfig.arch`` from ``AV_ARCHS`` (name -> builder taking the
``ModelConfig``). A module registers its builder with ``@register_av_arch("name")``; the
built-in ones (``avsync``: ``models.avsync``; ``av_fusion``: ``models.av_fusion``) are imported
on first use, so ``create_model`` needs no edit when one is added to ``_BUILTIN_ARCHS``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .._registry import register_into
from ..errors import ConfigError, ModelError
from ..types import VideoScores
from .checkpoint import Detector
from .parts import PartedModule
from .registry import MODALITIES, ModelConfig

__all__ = [
    "AV_ARCHS",
    "AVDetector",
    "AVOutput",
    "AudioVisualDetector",
    "build_av_model",
    "check_av_inputs",
    "register_av_arch",
]


@dataclass
class AVOutput:
    """What an av network returns for a batch of B samples of S segments.

    ``segment_logits`` (B, S): logit of "this segment is fake"; ``video_logit`` (B,): logit of
    "this sample is fake"; ``video_emb`` / ``audio_emb`` (B, S, D): per-segment embeddings of
    the video and audio branches (None when that modality is disabled); ``extras``: anything
    else a network wants its own ``auxiliary_loss`` to see (e.g. avsync's lag profile)."""

    segment_logits: torch.Tensor
    video_logit: torch.Tensor
    video_emb: torch.Tensor | None = None
    audio_emb: torch.Tensor | None = None
    extras: dict[str, torch.Tensor] | None = None

    def __post_init__(self) -> None:
        if self.segment_logits.ndim != 2:
            raise ModelError(
                f"AVOutput.segment_logits must be (B, S), got {tuple(self.segment_logits.shape)}"
            )
        b = self.segment_logits.shape[0]
        if tuple(self.video_logit.shape) != (b,):
            raise ModelError(
                f"AVOutput.video_logit must be ({b},), got {tuple(self.video_logit.shape)}"
            )


AVBuilder = Callable[[ModelConfig], nn.Module]

# arch name -> builder; filled by @register_av_arch when a module is imported
AV_ARCHS: dict[str, AVBuilder] = {}

# built-in archs: name -> the module whose import registers it
_BUILTIN_ARCHS: dict[str, str] = {
    "avsync": "fakescope.models.avsync",
    "av_fusion": "fakescope.models.av_fusion",
}


def register_av_arch(name: str) -> Callable[[AVBuilder], AVBuilder]:
    """Decorator: register ``builder(config) -> nn.Module`` as the av network ``name``."""

    def deco(builder: AVBuilder) -> AVBuilder:
        return register_into(AV_ARCHS, name, builder, "av arch")

    return deco


def _load_arch(name: str) -> AVBuilder:
    if name not in AV_ARCHS and name in _BUILTIN_ARCHS:
        try:
            importlib.import_module(_BUILTIN_ARCHS[name])
        except ModuleNotFoundError as exc:  # a built-in arch whose module is not there yet
            raise ConfigError(f"model.arch: '{name}' is not available here ({exc})") from None
    try:
        return AV_ARCHS[name]
    except KeyError:
        known = sorted(set(AV_ARCHS) | set(_BUILTIN_ARCHS))
        raise ConfigError(
            f"model.arch: unknown audio-visual network '{name}'; choose from {', '.join(known)}"
        ) from None


def build_av_model(config: ModelConfig) -> nn.Module:
    """The av network ``config.arch`` built from ``config`` (``create_model`` calls this)."""
    if config.kind != "av":
        raise ConfigError(f"model '{config.name}' is a {config.kind} model, not an av one")
    return _load_arch(config.arch)(config)


def check_av_inputs(
    frames: torch.Tensor | None, audio: torch.Tensor | None, modalities: str = "both"
) -> tuple[int, int]:
    """Validate the av input shapes for ``modalities``; returns (B, S)."""
    bs: tuple[int, int] | None = None
    if modalities in ("both", "video"):
        if frames is None or frames.ndim != 6 or frames.shape[3] != 3:
            shape = None if frames is None else tuple(frames.shape)
            raise ModelError(f"av model frames must be (B, S, F, 3, H, W), got {shape}")
        bs = (int(frames.shape[0]), int(frames.shape[1]))
    if modalities in ("both", "audio"):
        if audio is None or audio.ndim != 3:
            shape = None if audio is None else tuple(audio.shape)
            raise ModelError(f"av model audio must be (B, S, samples), got {shape}")
        abs_ = (int(audio.shape[0]), int(audio.shape[1]))
        if bs is not None and abs_ != bs:
            raise ModelError(f"av model: frames have (B, S) = {bs} but audio has {abs_}")
        bs = abs_
    assert bs is not None
    return bs


class AudioVisualDetector(PartedModule):
    """Optional base of av networks: the modality switch and named parts for ``phases:``
    (freezing by part name; ``unfreeze`` and ``param_groups`` per part: ``PartedModule``).

    Subclasses set ``PART_NAMES`` (attributes that are modules, possibly None for a disabled
    modality) and implement ``forward(frames, audio) -> AVOutput``. A network may define
    ``auxiliary_loss(out, segment_labels, video_label) -> scalar tensor``: the av training
    loop adds it to the configured loss (logged as ``aux``)."""

    PART_NAMES: tuple[str, ...] = ()

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.modalities not in MODALITIES:
            raise ConfigError(
                f"model.modalities: unknown '{config.modalities}'; choose from "
                f"{', '.join(MODALITIES)}"
            )
        self.config = config
        self.modalities = config.modalities

    @property
    def uses_video(self) -> bool:
        return self.modalities in ("both", "video")

    @property
    def uses_audio(self) -> bool:
        return self.modalities in ("both", "audio")

    def set_modalities(self, modalities: str) -> None:
        """Switch the branches a forward pass uses (a phase's ``modalities:``: seed 001's
        staged video -> audio -> fusion training); the network must have built them."""
        if modalities not in MODALITIES:
            raise ConfigError(
                f"modalities: unknown '{modalities}'; choose from {', '.join(MODALITIES)}"
            )
        if modalities != "audio" and self.config.modalities == "audio":
            raise ConfigError(f"{self.config.name}: built for audio only, cannot use video")
        if modalities != "video" and self.config.modalities == "video":
            raise ConfigError(f"{self.config.name}: built for video only, cannot use audio")
        self.modalities = modalities

    def freeze_parts(self, names: list[str]) -> None:
        """Freeze whole parts by name (``phases: [{freeze: [...]}]``)."""
        known = self.parts()
        for name in names:
            if name not in known:
                raise ConfigError(
                    f"model part '{name}': unknown for {self.config.arch}; choose from "
                    f"{', '.join(known) or 'none'}"
                )
            for p in known[name].parameters():
                p.requires_grad_(False)

    def forward(self, frames: torch.Tensor | None, audio: torch.Tensor | None) -> AVOutput:
        raise NotImplementedError


class AVDetector(Detector):
    """A loaded av checkpoint: (crops, audio) of S-segment windows in, raw logits out.

    ``av_outputs`` takes uint8 crops (N, S, F, H, W, 3) and float32 audio (N, S, samples)
    (None: no audio track, only when the card's ``audio.fallback`` allows the video branch
    alone) and returns ``segment_logits`` (N, S) and ``video_logit`` (N,)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # the branches the best epoch was chosen with (a staged recipe may keep a video- or
        # audio-only phase's epoch: its fusion head was not trained then)
        active = (self.card.audio or {}).get("modalities")
        if active and active != getattr(self.model, "modalities", active):
            self.model.set_modalities(str(active))

    @property
    def fallback(self) -> bool:
        return bool((self.card.audio or {}).get("fallback", False))

    def score(
        self,
        entry: Any,
        tracks: list[dict[str, Any]],
        *,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        batch_size: int = 32,
    ) -> VideoScores:
        """``VideoScores`` of 1-s segments of crops and sound (``inference.av.score_av``;
        ``batch_size // 4`` windows a batch)."""
        from ..inference.av import score_av

        return score_av(entry, tracks, self, transform, max(1, batch_size // 4))

    def shape(self) -> dict[str, Any]:
        config = self.config
        return {
            "family": "av",
            "arch": config.arch,
            "modalities": config.modalities,
            "segments": int(config.segments),
            "segment_frames": int(config.segment_frames),
            "fallback": self.fallback,
        }

    def av_outputs(
        self, crops: np.ndarray, audio: np.ndarray | None, batch_size: int = 8
    ) -> dict[str, np.ndarray]:
        if crops.ndim != 6:
            raise ModelError(f"av crops must be (N, S, F, H, W, 3), got {crops.shape}")
        if audio is None and not self.fallback:
            raise ModelError(f"{self.card.name} needs the audio track (no video-only fallback)")
        s = crops.shape[1]
        seg_out: list[np.ndarray] = []
        vid_out: list[np.ndarray] = []
        previous = getattr(self.model, "modalities", "both")
        if audio is None and previous != "video":
            self.model.set_modalities("video")  # the card's fallback: the video branch alone
        try:
            self._run(crops, audio, batch_size, seg_out, vid_out)
        finally:
            if audio is None and previous != "video":
                self.model.set_modalities(previous)
        return {
            "segment_logits": np.concatenate(seg_out) if seg_out else np.zeros((0, s), np.float32),
            "video_logit": np.concatenate(vid_out) if vid_out else np.zeros(0, np.float32),
        }

    def _run(
        self,
        crops: np.ndarray,
        audio: np.ndarray | None,
        batch_size: int,
        seg_out: list[np.ndarray],
        vid_out: list[np.ndarray],
    ) -> None:
        n, s, f = crops.shape[:3]
        dtype = next(self.model.parameters()).dtype
        for i in range(0, n, batch_size):
            chunk = crops[i : i + batch_size]
            x = self.preprocess_array(chunk.reshape(-1, *chunk.shape[3:]))
            frames = torch.from_numpy(x.reshape(len(chunk), s, f, *x.shape[1:]))
            a = None if audio is None else torch.from_numpy(np.asarray(audio[i : i + batch_size]))
            with torch.inference_mode():
                out = self.model(
                    frames.to(self.device, dtype),
                    None if a is None else a.to(self.device, torch.float32),
                )
            seg_out.append(out.segment_logits.float().cpu().numpy())
            vid_out.append(out.video_logit.float().cpu().numpy())
