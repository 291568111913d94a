"""``avsync``: an audio-visual sync detector (issue 13 §6; the audio-visual analogue of SBI).

It says whether the lips move with the speech. The sync signal is not learnt: it is the
classic correlation between mouth motion and the speech envelope (``models.avsync_features``):

    frames (B, S, F, 3, H, W) --grey, blurred--> per-frame mouth motion (optical flow and
        grey change in the mouth box, the head's own motion removed)   v (B, T, Cv), T = S*F
    audio (B, S, 16000) --STFT--> per-frame band energies, spectral flux, speech onsets
        a (B, T, Ca)
    both smoothed over ``smooth`` frames and standardised over the sample, then
    ncc(v_t, a_{t+k}) for every feature pair and lags k = -K..K:
        over the whole sample  -> P (B, Cv, Ca, 2K+1)
        around each segment    -> P_s (B, S, Cv, Ca, 2L+1)   (Gaussian, ``local_sigma`` s)

A real talking head correlates near lag 0; sound that comes d seconds late peaks at +d*F or
nowhere within K; another person's speech correlates nowhere. What is learnt is only how to
read the profiles: a rank-``rank`` bilinear map (a weight per feature pair times a weight per
lag) of the sample's profile gives its logit, a rank-1 map of each segment's local profile
adds that segment's own term:

    segment_logit_s = w(P) + w_local(P_s),   video_logit = mean_s segment_logit_s

Both maps are linear in the correlations, so the mean of the segment logits over a video's
windows (what a scan reports) reads the mean profile. About 150 parameters: nothing can
memorise a face or a voice, and it trains in a minute from real videos with pseudo-fakes
(``training.av_data``). Training can precompute each track's visual features once
(``track_video_features``, ``forward_features``; ``av.cache_video_features``).

``modalities: video`` or ``audio`` keep one side and classify from its own per-segment feature
means (an ablation: one side alone cannot know sync, so expect chance).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, ModelError
from .av import AudioVisualDetector, AVOutput, check_av_inputs, register_av_arch
from .avsync_features import (
    AUDIO_FEATURES,
    VIDEO_FEATURES,
    audio_sync_features,
    grey_frames,
    ncc_profiles,
    segment_weights,
    smooth_time,
    standardise_time,
    video_sync_features,
)
from .registry import ModelConfig

__all__ = ["AVSync"]

SAMPLE_RATE = 16000


class BilinearProfileHead(nn.Module):
    """Lag profiles (N, Cv, Ca, L) -> (N,) logit: sum over ``rank`` terms of
    (pair weights (Cv*Ca) x lag weights (L)) . profile, plus a bias. Lag weights start as
    [lag 0] and [mean over lags] and pair weights at 0: training begins from "how correlated
    at lag 0 and overall" and learns which pairs and lags matter."""

    def __init__(self, pairs: int, lags: int, rank: int) -> None:
        super().__init__()
        self.pair = nn.Parameter(torch.zeros(rank, pairs))
        init = torch.zeros(rank, lags)
        init[0, lags // 2] = 1.0
        if rank > 1:
            init[1:] = 1.0 / lags
        self.lag = nn.Parameter(init)
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, prof: torch.Tensor) -> torch.Tensor:
        p = prof.flatten(-3, -2)  # (N, pairs, L)
        return torch.einsum("npl,rp,rl->n", p, self.pair, self.lag) + self.bias


class AVSync(AudioVisualDetector):
    """See the module docstring. ``arch_kwargs``: ``video_features`` / ``audio_features``
    (names from ``models.avsync_features``, all by default), ``max_lag`` (K frames each side,
    8), ``local_lag`` (L, 2), ``local_sigma`` (seconds, 0.5), ``smooth`` (frames, 3), ``rank``
    (2), ``blur`` (sigma in pixels, 1.0), ``flow_window`` (7) and ``flow_iters`` (2)."""

    PART_NAMES = ("head", "local_head", "single_head")

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        opts: dict[str, Any] = {
            "video_features": list(VIDEO_FEATURES),
            "audio_features": list(AUDIO_FEATURES),
            "max_lag": 8,
            "local_lag": 2,
            "local_sigma": 0.5,
            "smooth": 3,
            "rank": 2,
            "blur": 1.0,
            "flow_window": 7,
            "flow_iters": 2,
        }
        unknown = set(config.arch_kwargs) - set(opts)
        if unknown:
            raise ConfigError(
                f"model.arch_kwargs: unknown option(s) {', '.join(sorted(unknown))} for avsync; "
                f"known: {', '.join(sorted(opts))}"
            )
        opts.update(config.arch_kwargs)
        self.video_names = [str(n) for n in opts["video_features"]]
        self.audio_names = [str(n) for n in opts["audio_features"]]
        for names, known, side in (
            (self.video_names, VIDEO_FEATURES, "video_features"),
            (self.audio_names, AUDIO_FEATURES, "audio_features"),
        ):
            bad = sorted(set(names) - set(known))
            if bad or not names:
                raise ConfigError(
                    f"model.arch_kwargs.{side}: unknown or empty {bad}; choose from "
                    f"{', '.join(known)}"
                )
        self.weights_source = "none"
        self.max_lag, self.local_lag = int(opts["max_lag"]), int(opts["local_lag"])
        self.local_sigma, self.smooth = float(opts["local_sigma"]), int(opts["smooth"])
        self.blur = float(opts["blur"])
        self.flow_window, self.flow_iters = int(opts["flow_window"]), int(opts["flow_iters"])
        self.steps = int(config.segment_frames)  # frames per 1-s segment
        cv, ca = len(self.video_names), len(self.audio_names)
        self.head: nn.Module | None = None
        self.local_head: nn.Module | None = None
        self.single_head: nn.Module | None = None
        if self.modalities == "both":
            lags, local = 2 * self.max_lag + 1, 2 * self.local_lag + 1
            self.head = BilinearProfileHead(cv * ca, lags, int(opts["rank"]))
            self.local_head = BilinearProfileHead(cv * ca, local, 1)
        else:  # an ablation: one side's per-segment feature means
            self.single_head = nn.Linear(cv if self.modalities == "video" else ca, 1)

    def set_modalities(self, modalities: str) -> None:
        if modalities != self.config.modalities:
            raise ConfigError(
                f"avsync: its head is built for modalities={self.config.modalities}; a phase "
                "cannot switch it (build the model with the modalities you want)"
            )

    # -- features -----------------------------------------------------------------------

    def video_features(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, S, F, 3, H, W) normalised crops -> (B, S*F, Cv) per-frame mouth motion."""
        grey = grey_frames(frames, self.config.mean, self.config.std, self.blur)
        return video_sync_features(
            grey, self.video_names, window=self.flow_window, iters=self.flow_iters
        )

    def track_video_features(self, crops: np.ndarray, chunk: int = 64) -> np.ndarray:
        """One track's uint8 crops (T, H, W, 3) at the model's input size -> (T, Cv) float32:
        frame t describes the change from crop t-1 (frame 0 copies frame 1), as
        ``video_features`` does inside a sample. Training computes these once per track
        (``av.cache_video_features``); a sample's first frame then copies its second."""
        mean = np.asarray(self.config.mean, np.float32)
        std = np.asarray(self.config.std, np.float32)
        out = []
        with torch.inference_mode():
            for i in range(0, len(crops), chunk):
                lo = max(0, i - 1)  # the previous crop, for the first change of the chunk
                x = (crops[lo : i + chunk].astype(np.float32) / 255.0 - mean) / std
                t = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, -3)))[None, None]
                f = self.video_features(t)[0].numpy()
                out.append(f[1:] if lo < i else f)
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)

    def audio_features(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, S, 16000) -> (B, S*F, Ca): the sample's sound at its frame times."""
        b, s, n = audio.shape
        return audio_sync_features(audio.reshape(b, s * n), s * self.steps, self.audio_names)

    def lag_profile(self, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Per-frame features v (B, T, Cv), a (B, T, Ca) -> (B, Cv, Ca, 2K+1): smoothed,
        standardised, normalised cross-correlation of v_t with a_{t+k} over the sample."""
        vs = standardise_time(smooth_time(v, self.smooth))
        as_ = standardise_time(smooth_time(a, self.smooth))
        return ncc_profiles(vs, as_, self.max_lag)[:, 0]

    # -- forward ------------------------------------------------------------------------

    def forward(self, frames: torch.Tensor | None, audio: torch.Tensor | None) -> AVOutput:
        b, s = check_av_inputs(frames, audio, self.modalities)
        v = self.video_features(frames) if self.uses_video and frames is not None else None
        return self._from_features(b, s, v, audio)

    def forward_features(
        self, video_feats: torch.Tensor | None, audio: torch.Tensor | None
    ) -> AVOutput:
        """The same as ``forward`` from precomputed per-frame video features (B, S, F, Cv)
        (``track_video_features``) instead of crops."""
        if audio is not None and audio.ndim != 3:
            raise ModelError(f"av model audio must be (B, S, samples), got {tuple(audio.shape)}")
        if video_feats is not None and video_feats.ndim != 4:
            raise ModelError(
                f"avsync video features must be (B, S, F, C), got {tuple(video_feats.shape)}"
            )
        if video_feats is not None:
            b, s = int(video_feats.shape[0]), int(video_feats.shape[1])
            v = video_feats.reshape(b, s * video_feats.shape[2], -1).float()
        else:
            assert audio is not None
            b, s, v = int(audio.shape[0]), int(audio.shape[1]), None
        return self._from_features(b, s, v, audio)

    def _from_features(
        self, b: int, s: int, v: torch.Tensor | None, audio: torch.Tensor | None
    ) -> AVOutput:
        a = self.audio_features(audio) if self.uses_audio and audio is not None else None
        seg_emb = lambda e: e.reshape(b, s, -1, e.shape[-1]).mean(2)  # noqa: E731
        extras = None
        if v is not None and a is not None:
            assert self.head is not None and self.local_head is not None
            vs = standardise_time(smooth_time(v, self.smooth))
            as_ = standardise_time(smooth_time(a, self.smooth))
            prof = ncc_profiles(vs, as_, self.max_lag)[:, 0]  # (B, Cv, Ca, 2K+1)
            weights = segment_weights(s, self.steps, self.local_sigma * self.steps, v.device)
            local = ncc_profiles(vs, as_, self.local_lag, weights)  # (B, S, Cv, Ca, 2L+1)
            window = self.head(prof)  # (B,)
            own = self.local_head(local.flatten(0, 1)).reshape(b, s)
            seg = window[:, None] + own
            extras = {"profile": prof, "local_profile": local, "video_steps": v,
                      "audio_steps": a}  # fmt: skip
        else:
            assert self.single_head is not None
            e = v if v is not None else a
            assert e is not None
            seg = self.single_head(seg_emb(e)).squeeze(-1)  # (B, S)
        return AVOutput(
            seg,
            seg.mean(-1),
            None if v is None else seg_emb(v),
            None if a is None else seg_emb(a),
            extras,
        )


@register_av_arch("avsync")
def build_avsync(config: ModelConfig) -> nn.Module:
    return AVSync(config)
