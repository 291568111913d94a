"""``avsync``: a small audio-visual sync network (issue 13 §6; the audio-visual analogue of SBI).

It learns whether the lower face moves with the speech, from real videos only (pseudo-fakes:
``training.av_data``). Per 0.2-s step (one frame at 5 FPS):

    frames (B, S, F, 3, H, W) --lower half of the face, grey--> frame CNN --> temporal conv
        --> v (B, T, D), T = S*F
    audio (B, S, 16000) --log-mel (25 ms / 10 ms, n_mels)--> 1-D conv, pooled to 5 Hz
        --> a (B, T, D)
    alignment: cosine(v_t, a_{t+k}) for lags k = -K..K (K*0.2 s each side) --> (B, T, 2K+1)
        --> 1-D conv head --> per-step logit --> per-segment mean (B, S)
    video logit: mean over segments of the segment logits plus a learned read-out of the
        sample's mean lag profile (a shifted track peaks off zero everywhere)

The video branch sees motion through its temporal convolution, the audio branch the speech
envelope; both subtract their sample's temporal mean (a face's look and a voice's timbre are
constant over a sample) and neither sees the other except through the lag profile, so the
model learns timing, not identities. Training adds ``auxiliary_loss`` (lag 0 against the
other lags and the batch's other audio, on real samples: SyncNet-style self-supervision). About 0.3 M parameters (~1.2 MB).

``modalities: video`` or ``audio`` keep one branch and classify from its own embeddings (an
ablation: neither branch alone can know sync, so expect chance).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .av import AudioVisualDetector, AVOutput, check_av_inputs, register_av_arch
from .registry import ModelConfig

__all__ = ["AVSync", "LogMel"]

SAMPLE_RATE = 16000


class LogMel(nn.Module):
    """(N, samples) waveform -> (N, n_mels, frames) log-mel, 25-ms windows every 10 ms,
    normalised per item (mean 0, unit variance over the whole item: loudness is no cue)."""

    def __init__(self, n_mels: int = 40, sample_rate: int = SAMPLE_RATE) -> None:
        super().__init__()
        self.n_fft, self.hop = 400, 160
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        self.register_buffer(
            "fbank", _mel_filterbank(n_mels, self.n_fft, sample_rate), persistent=False
        )

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(
            wave.float(),
            self.n_fft,
            self.hop,
            window=self.window,  # type: ignore[arg-type]
            center=True,
            return_complex=True,
        )
        power = spec.abs().pow(2)  # (N, n_fft//2+1, frames)
        mel = torch.matmul(self.fbank, power)  # type: ignore[arg-type]
        logmel = torch.log(mel + 1e-6)
        mean = logmel.mean(dim=(1, 2), keepdim=True)
        std = logmel.std(dim=(1, 2), keepdim=True).clamp_min(1e-3)
        return (logmel - mean) / std


def _mel_filterbank(n_mels: int, n_fft: int, sr: int) -> torch.Tensor:
    """Triangular HTK-mel filters (n_mels, n_fft//2+1) from 20 Hz to sr/2."""

    def hz_to_mel(f: float) -> float:
        return 2595.0 * math.log10(1.0 + f / 700.0)

    def mel_to_hz(m: torch.Tensor) -> torch.Tensor:
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    mels = torch.linspace(hz_to_mel(20.0), hz_to_mel(sr / 2), n_mels + 2)
    hz = mel_to_hz(mels)
    bins = torch.linspace(0, sr / 2, n_fft // 2 + 1)
    lower, centre, upper = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    up = (bins[None] - lower) / (centre - lower)
    down = (upper - bins[None]) / (upper - centre)
    return torch.clamp(torch.minimum(up, down), min=0.0)


def _standardise(x: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance over time (dim 1), per sample and feature."""
    return (x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True).clamp_min(1e-4)


def _conv2d(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


def _conv1d(cin: int, cout: int, k: int = 3, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(cin, cout, k, padding=dilation * (k // 2), dilation=dilation, bias=False),
        nn.BatchNorm1d(cout),
        nn.ReLU(inplace=True),
    )


class AVSync(AudioVisualDetector):
    """See the module docstring. ``arch_kwargs``: ``dim`` (embedding width, 64), ``max_lag``
    (K steps of 1/``segment_frames`` s each side, 7 = 1.4 s), ``n_mels`` (40),
    ``widths`` (frame CNN channels, [16, 32, 48, 64]), ``lower`` (the fraction of the crop's
    height from the top where the mouth region starts, 0.5), ``sync_weight`` (1.0) and
    ``sync_temperature`` (0.1) of ``auxiliary_loss``."""

    PART_NAMES = ("video_backbone", "video_temporal", "audio_backbone", "cues", "head")

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        opts: dict[str, Any] = {
            "dim": 64,
            "max_lag": 7,
            "n_mels": 40,
            "widths": [16, 32, 48, 64],
            "lower": 0.5,
            "sync_weight": 1.0,
            "sync_temperature": 0.1,
        }
        unknown = set(config.arch_kwargs) - set(opts)
        if unknown:
            raise ConfigError(
                f"model.arch_kwargs: unknown option(s) {', '.join(sorted(unknown))} for avsync; "
                f"known: {', '.join(sorted(opts))}"
            )
        opts.update(config.arch_kwargs)
        self.weights_source = "none"
        dim, self.max_lag = int(opts["dim"]), int(opts["max_lag"])
        self.lower = float(opts["lower"])
        self.sync_weight = float(opts["sync_weight"])
        self.sync_temperature = float(opts["sync_temperature"])
        self.steps = int(config.segment_frames)  # steps per 1-s segment
        widths = [int(w) for w in opts["widths"]]
        self.video_backbone: nn.Module | None = None
        self.video_temporal: nn.Module | None = None
        self.audio_backbone: nn.Module | None = None
        if self.uses_video:
            layers: list[nn.Module] = []
            prev = 1
            for w in widths:
                layers.append(_conv2d(prev, w, 2))
                prev = w
            self.video_backbone = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
            # motion: the temporal conv sees each frame with its neighbours (and their difference)
            self.video_temporal = nn.Sequential(
                _conv1d(2 * prev, dim), _conv1d(dim, dim), nn.Conv1d(dim, dim, 1)
            )
        if self.uses_audio:
            self.mel = LogMel(int(opts["n_mels"]))
            self.audio_backbone = nn.Sequential(
                _conv1d(int(opts["n_mels"]), 64, 5),
                nn.MaxPool1d(2),  # 50 Hz
                _conv1d(64, 64, 5),
                nn.MaxPool1d(2),  # 25 Hz
                _conv1d(64, dim, 5),
                nn.Conv1d(dim, dim, 1),
            )
        lags = 2 * self.max_lag + 1
        self.cues: nn.Module | None = None
        if self.modalities == "both":
            # two fixed low-level cues per side, each mixed by a 2 -> 4 linear map: too small
            # to memorise a speaker, enough to say "the mouth moves when the sound starts"
            self.cues = nn.ModuleDict({"video": nn.Linear(2, 4), "audio": nn.Linear(2, 4)})
            self.head = nn.ModuleDict(
                {
                    "step": nn.Sequential(
                        _conv1d(2 * lags, 32, 3), _conv1d(32, 32, 3, 2), nn.Conv1d(32, 1, 1)
                    ),
                    "profile": nn.Sequential(nn.Linear(2 * lags, 32), nn.ReLU(), nn.Linear(32, 1)),
                }
            )
        else:
            self.head = nn.ModuleDict(
                {"step": nn.Sequential(_conv1d(dim, 32, 3), nn.Conv1d(32, 1, 1))}
            )

    def set_modalities(self, modalities: str) -> None:
        if modalities != self.config.modalities:
            raise ConfigError(
                f"avsync: its head is built for modalities={self.config.modalities}; a phase "
                "cannot switch it (build the model with the modalities you want)"
            )

    # -- branches -------------------------------------------------------------------------

    def _mouth(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, S, F, 3, H, W) -> (B, S*F, h', W): the grey lower part of each crop."""
        b, s, f, _, h, w = frames.shape
        top = round(self.lower * h)
        return frames[:, :, :, :, top:, :].mean(dim=3).reshape(b, s * f, h - top, w)

    def video_cues(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, 2): the mouth region's motion (mean absolute change from the previous
        step) and darkness (an open mouth is dark), each standardised over the sample."""
        m = self._mouth(frames)
        motion = (m[:, 1:] - m[:, :-1]).abs().mean((2, 3))
        motion = torch.cat([motion[:, :1], motion], dim=1)
        dark = -m.mean((2, 3))
        return _standardise(torch.stack([motion, dark], dim=-1))

    def audio_cues(self, audio: torch.Tensor, steps: int) -> torch.Tensor:
        """(B, T, 2): log energy of each step's sound and its change, standardised."""
        b = audio.shape[0]
        x = audio.reshape(b, steps, -1).float()
        energy = torch.log(x.pow(2).mean(-1) + 1e-6)
        change = torch.cat([energy[:, :1] * 0, energy[:, 1:] - energy[:, :-1]], dim=1)
        return _standardise(torch.stack([energy, change], dim=-1))

    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, S, F, 3, H, W) -> (B, S*F, D) per-step video embeddings."""
        assert self.video_backbone is not None and self.video_temporal is not None
        b, s, f, _, h, w = frames.shape
        top = round(self.lower * h)
        grey = self._mouth(frames)
        x = self.video_backbone(grey.reshape(b * s * f, 1, h - top, w))  # (N, C)
        x = x.reshape(b, s * f, -1).transpose(1, 2)  # (B, C, T)
        # the sample's mean look (who it is, the light) removed: what is left is how it moves
        x = x - x.mean(-1, keepdim=True)
        diff = torch.cat([x[:, :, :1] * 0, x[:, :, 1:] - x[:, :, :-1]], dim=2)
        v = self.video_temporal(torch.cat([x, diff], dim=1))  # (B, D, T)
        return v.transpose(1, 2)

    def encode_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, S, samples) -> (B, S*F, D): the whole sample's log-mel, pooled to F per second."""
        assert self.audio_backbone is not None
        b, s, n = audio.shape
        mel = self.mel(audio.reshape(b, s * n))  # (B, M, frames) at 100 Hz
        a = self.audio_backbone(mel)  # (B, D, frames/4) at 25 Hz
        a = F.adaptive_avg_pool1d(a, s * self.steps)  # (B, D, T)
        a = a - a.mean(-1, keepdim=True)  # the voice's constant timbre removed as well
        return a.transpose(1, 2)

    def lag_profile(self, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """cosine(v_t, a_{t+k}) for k = -K..K: (B, T, 2K+1); zero where t+k is outside."""
        k = self.max_lag
        vn, an = F.normalize(v, dim=-1), F.normalize(a, dim=-1)
        t = vn.shape[1]
        padded = F.pad(an, (0, 0, k, k))  # (B, T+2K, D)
        cols = [(vn * padded[:, j : j + t]).sum(-1) for j in range(2 * k + 1)]
        return torch.stack(cols, dim=-1)

    def forward(self, frames: torch.Tensor | None, audio: torch.Tensor | None) -> AVOutput:
        b, s = check_av_inputs(frames, audio, self.modalities)
        v = self.encode_video(frames) if self.uses_video and frames is not None else None
        a = self.encode_audio(audio) if self.uses_audio and audio is not None else None
        head = self.head
        assert isinstance(head, nn.ModuleDict)
        if v is not None and a is not None:
            assert frames is not None and audio is not None and isinstance(self.cues, nn.ModuleDict)
            learned = self.lag_profile(v, a)  # (B, T, L)
            cue = self.lag_profile(
                self.cues["video"](self.video_cues(frames)),
                self.cues["audio"](self.audio_cues(audio, v.shape[1])),
            )
            prof = torch.cat([learned, cue], dim=-1)  # (B, T, 2L)
            step = head["step"](prof.transpose(1, 2)).squeeze(1)  # (B, T)
            extra = head["profile"](prof.mean(1)).squeeze(-1)  # (B,)
        else:
            emb = v if v is not None else a
            assert emb is not None
            step = head["step"](emb.transpose(1, 2)).squeeze(1)
            extra = torch.zeros(b, device=step.device, dtype=step.dtype)
        seg = step.reshape(b, s, -1).mean(-1)  # (B, S)
        video = seg.mean(-1) + extra
        seg_emb = lambda e: e.reshape(b, s, -1, e.shape[-1]).mean(2)  # noqa: E731
        extras = None
        if v is not None and a is not None:
            extras = {"lag_profile": learned, "cue_profile": cue, "video_steps": v,
                      "audio_steps": a}  # fmt: skip
        return AVOutput(
            seg,
            video,
            None if v is None else seg_emb(v),
            None if a is None else seg_emb(a),
            extras,
        )

    def auxiliary_loss(
        self, out: AVOutput, segment_labels: torch.Tensor, video_label: torch.Tensor
    ) -> torch.Tensor:
        """SyncNet-style self-supervision on the real samples (``sync_weight`` x): at every
        step the video embedding must match its own audio at lag 0 better than the audio at
        the other lags (time negatives) and the other samples' audio at the same step (batch
        negatives): cross-entropy over cosine / ``sync_temperature``."""
        zero = out.segment_logits.sum() * 0
        if out.extras is None or self.sync_weight <= 0:
            return zero
        real = video_label.to(out.segment_logits.device) == 0
        if not bool(real.any()):
            return zero
        prof = out.extras["lag_profile"]  # (B, T, L)
        vn = F.normalize(out.extras["video_steps"], dim=-1)
        an = F.normalize(out.extras["audio_steps"], dim=-1)
        batch = torch.einsum("btd,ctd->btc", vn, an)  # (B, T, B): v_b,t against a_c,t
        eye = torch.eye(batch.shape[0], dtype=torch.bool, device=batch.device)
        batch = batch.masked_fill(eye[:, None, :], -1e4)  # the diagonal is lag 0 already
        logits = torch.cat([prof, batch], dim=-1)[real] / self.sync_temperature
        target = torch.full(logits.shape[:2], self.max_lag, device=logits.device)
        ce = F.cross_entropy(logits.flatten(0, 1), target.flatten())
        cue = out.extras["cue_profile"][real] / self.sync_temperature
        ce_cue = F.cross_entropy(cue.flatten(0, 1), target[:, : cue.shape[1]].flatten())
        return self.sync_weight * (ce + ce_cue)


@register_av_arch("avsync")
def build_avsync(config: ModelConfig) -> nn.Module:
    return AVSync(config)
