"""Modules over time for clip detectors, the classification heads, and a bidirectional
selective state-space (Hydra/Mamba-2 style) block with a pure-PyTorch scan.

A temporal module maps per-frame embeddings (B, T, D) to ``(seq, pooled)``: per-frame temporal
embeddings (B, T, D') and one clip embedding (B, D'); ``out_dim`` is D'.

- ``mean``: identity per frame, mean over time (seed 002's ResNet-18 model).
- ``gru`` / ``lstm``: ``nn.GRU``/``nn.LSTM``; ``readout`` ``last`` takes the output at the last
  time step as seed 000 Exp3 does (for a bidirectional RNN its backward half has then seen only
  the last frame), ``mean`` averages over time, ``ends`` joins the forward output at the last
  step with the backward output at the first (both directions' full-clip states).
- ``ssm``: ``layers`` pre-norm residual blocks ``x + HydraMixer(LayerNorm(x))`` and a final
  LayerNorm; pooled = mean over time.

Why Hydra's quasiseparable form (not "forward scan + reversed scan, summed"): seed 000 §7 names
Hydra (Hwang et al., NeurIPS 2024) for STF-Mamba. Its mixer is
``shift(SS(x)) + flip(shift(SS(flip(x)))) + D(x) * x``: two selective scans (Mamba-2's SSD with
a scalar decay per head, input-dependent step Δ, B and C per direction) whose diagonals are
removed by a one-step shift and replaced by one input-dependent diagonal, so each frame is
counted once and the matrix is a true quasiseparable one, rather than the additive bidirectional
SSM whose diagonal is counted twice. The scalar-per-head decay is also what makes the scan
exactly parallel in PyTorch: within a chunk the decays between steps are ``exp`` of differences
of a cumulative sum (a masked T x T matrix), and chunks pass their states on with the same
algebra, so the result matches the sequential recurrence to rounding (tested) and exports to
ONNX (cumsum, exp, einsum). ``mamba_ssm``'s CUDA kernels are not used: they would give the GPU
other numerics than the CPU.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .registry import ModelConfig

__all__ = [
    "ClipHead",
    "HydraMixer",
    "IdentityConsistency",
    "MeanTemporal",
    "RecurrentTemporal",
    "SSMTemporal",
    "build_head",
    "build_projection",
    "build_temporal",
    "selective_scan",
    "selective_scan_reference",
    "split_temporal_kwargs",
]

PROJ_KEYS = ("proj_hidden", "proj_norm", "proj_act")


def build_head(in_dim: int, kind: str, hidden: int, drop: float) -> nn.Sequential:
    """One logit from ``in_dim`` features. ``linear``: Dropout(p) -> Linear(1). ``mlp`` (seed
    000): Dropout(p) -> Linear(hidden) -> GELU -> Dropout(p/2) -> Linear(1).

    The seeds end in two logits and a softmax; one logit ``z`` of "fake" is the same model
    (softmax over (a, b) is sigmoid(b - a)), with one output unit fewer."""
    if kind == "linear":
        return nn.Sequential(nn.Dropout(drop), nn.Linear(in_dim, 1))
    if kind == "mlp":
        return nn.Sequential(
            nn.Dropout(drop),
            nn.Linear(in_dim, hidden),
            nn.GELU(),
            nn.Dropout(drop / 2),
            nn.Linear(hidden, 1),
        )
    raise ConfigError(f"model.head: unknown head '{kind}'; choose from linear, mlp")


def split_temporal_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``temporal_kwargs`` -> (projection options ``proj_*``, temporal-module options)."""
    proj = {k[len("proj_") :]: v for k, v in kwargs.items() if k in PROJ_KEYS}
    return proj, {k: v for k, v in kwargs.items() if k not in PROJ_KEYS}


def build_projection(
    in_dim: int, out_dim: int, hidden: int = 0, norm: str = "layer", act: str = "gelu"
) -> nn.Module:
    """Per-frame projection before the temporal module: ``Linear(out_dim) -> norm -> act``
    (seed 000 Exp3: LayerNorm, GELU), with ``hidden > 0`` a ``Linear(hidden) -> norm -> act``
    first. ``out_dim == 0``: none (identity)."""
    if out_dim == 0:
        return nn.Identity()
    norms = {"layer": nn.LayerNorm, "none": None}
    acts = {"gelu": nn.GELU, "relu": nn.ReLU, "none": None}
    if norm not in norms or act not in acts:
        raise ConfigError(
            "model.temporal_kwargs: proj_norm is one of layer, none and proj_act one of "
            f"gelu, relu, none (got {norm!r}, {act!r})"
        )
    layers: list[nn.Module] = []
    dims = [in_dim, *([int(hidden)] if hidden else []), out_dim]
    for a, b in itertools.pairwise(dims):
        layers.append(nn.Linear(a, b))
        norm_cls, act_cls = norms[norm], acts[act]
        if norm_cls is not None:
            layers.append(norm_cls(b))
        if act_cls is not None:
            layers.append(act_cls())
    return nn.Sequential(*layers)


class MeanTemporal(nn.Module):
    """No mixing over time: each frame keeps its embedding; the clip is their mean."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.out_dim = dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, x.mean(1)


class RecurrentTemporal(nn.Module):
    """``nn.GRU`` or ``nn.LSTM`` over the frames (batch first). ``orthogonal_init``: orthogonal
    ``weight_hh`` and zero biases (seed 000, against the dead-branch problem; on by default for
    the GRU only)."""

    def __init__(
        self,
        cell: str,
        dim: int,
        hidden: int = 512,
        layers: int = 2,
        bidirectional: bool = True,
        dropout: float = 0.0,
        readout: str = "last",
        orthogonal_init: bool | None = None,
    ) -> None:
        super().__init__()
        if readout not in ("last", "mean", "ends"):
            raise ConfigError(
                f"model.temporal_kwargs.readout: unknown '{readout}'; choose from last, mean, ends"
            )
        if hidden < 1 or layers < 1 or not 0.0 <= dropout < 1.0:
            raise ConfigError(
                "model.temporal_kwargs: hidden and layers must be >= 1, dropout within [0, 1)"
            )
        rnn = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = rnn(
            dim,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        if orthogonal_init if orthogonal_init is not None else cell == "gru":
            for name, p in self.rnn.named_parameters():
                if "weight_hh" in name:
                    nn.init.orthogonal_(p)
                elif "bias" in name:
                    nn.init.zeros_(p)
        self.readout = readout
        self.hidden = hidden
        self.bidirectional = bidirectional
        self.out_dim = hidden * (2 if bidirectional else 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        seq, _ = self.rnn(x)
        if self.readout == "last":
            pooled = seq[:, -1]
        elif self.readout == "mean":
            pooled = seq.mean(1)
        elif self.bidirectional:
            pooled = torch.cat([seq[:, -1, : self.hidden], seq[:, 0, self.hidden :]], -1)
        else:
            pooled = seq[:, -1]
        return seq, pooled


# ── selective scan ───────────────────────────────────────────────────────────


def _segsum(a: torch.Tensor) -> torch.Tensor:
    """``a`` (..., L) -> (..., L, L) with ``[i, j] = a[j+1] + ... + a[i]`` for j <= i (0 on and
    above the diagonal is not used: callers mask it). A cumulative sum of a masked matrix, so no
    difference of large cumulative sums is ever taken."""
    n = a.shape[-1]
    strict = torch.ones(n, n, dtype=torch.bool, device=a.device).tril(-1)
    x = a.unsqueeze(-1).expand(*a.shape, n).masked_fill(~strict, 0.0)
    return x.cumsum(-2)


def _causal(n: int, like: torch.Tensor) -> torch.Tensor:
    return torch.ones(n, n, dtype=like.dtype, device=like.device).tril()


def selective_scan(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    chunk: int = 16,
) -> torch.Tensor:
    """Parallel (chunked) selective scan, Mamba-2 SSD form.

    ``x`` (b, l, h, p) inputs, ``dt`` (b, l, h) step sizes > 0, ``A`` (h,) decay rates < 0,
    ``B``, ``C`` (b, l, h, n). Computes ``s_t = exp(dt_t A) s_{t-1} + dt_t x_t B_t^T``,
    ``y_t = s_t C_t`` (s_0 = 0) for every t: within chunks of ``chunk`` steps as one masked
    matrix product, across chunks by passing the chunk-end states on. Returns (b, l, h, p).
    """
    b, length, h, p = x.shape
    n = B.shape[-1]
    q = max(1, min(int(chunk), length))
    pad = (-length) % q
    if pad:  # dt = 0 and x = 0 past the end: later steps never reach earlier outputs
        x = F.pad(x, (0, 0, 0, 0, 0, pad))
        dt = F.pad(dt, (0, 0, 0, pad))
        B = F.pad(B, (0, 0, 0, 0, 0, pad))
        C = F.pad(C, (0, 0, 0, 0, 0, pad))
    c = (length + pad) // q
    xs = (x * dt.unsqueeze(-1)).reshape(b, c, q, h, p)
    a = (dt * A).reshape(b, c, q, h).permute(0, 3, 1, 2)  # (b, h, c, q)
    Bc = B.reshape(b, c, q, h, n)
    Cc = C.reshape(b, c, q, h, n)
    a_cum = a.cumsum(-1)
    # 1. within each chunk: y_l = sum_{s <= l} (C_l . B_s) exp(a_{s+1} + ... + a_l) x_s dt_s
    decay = torch.exp(_segsum(a)) * _causal(q, a)  # (b, h, c, l, s)
    scores = torch.einsum("bclhn,bcshn->bhcls", Cc, Bc) * decay
    y = torch.einsum("bhcls,bcshp->bclhp", scores, xs)
    if c > 1:
        # 2. the state each chunk leaves behind (from its own inputs)
        to_end = torch.exp(a_cum[..., -1:] - a_cum).permute(0, 2, 3, 1)  # (b, c, q, h)
        states = torch.einsum("bclhn,bclhp->bchpn", Bc * to_end.unsqueeze(-1), xs)
        # 3. the state entering each chunk: earlier chunks' states, decayed across chunks
        states = torch.cat([torch.zeros_like(states[:, :1]), states], 1)[:, :-1]  # (b, c, ...)
        chunk_a = F.pad(a_cum[..., -1], (1, 0))[..., :-1]  # (b, h, c): decay of chunk z - 1
        across = torch.exp(_segsum(chunk_a)) * _causal(c, a)  # (b, h, z, c)
        entering = torch.einsum("bhzc,bchpn->bzhpn", across, states)
        # 4. its contribution inside the chunk
        from_start = torch.exp(a_cum).permute(0, 2, 3, 1).unsqueeze(-1)  # (b, c, q, h, 1)
        y = y + torch.einsum("bclhn,bchpn->bclhp", Cc, entering) * from_start
    return y.reshape(b, c * q, h, p)[:, :length]


def selective_scan_reference(
    x: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor
) -> torch.Tensor:
    """The same recurrence as ``selective_scan``, one step at a time (for tests)."""
    b, length, h, p = x.shape
    state = x.new_zeros(b, h, p, B.shape[-1])
    ys = []
    for t in range(length):
        keep = torch.exp(dt[:, t] * A)[..., None, None]
        write = (dt[:, t, :, None] * x[:, t]).unsqueeze(-1) * B[:, t].unsqueeze(-2)
        state = state * keep + write
        ys.append(torch.einsum("bhpn,bhn->bhp", state, C[:, t]))
    return torch.stack(ys, 1)


class HydraMixer(nn.Module):
    """Bidirectional selective SSM mixer (Hydra, Hwang et al. 2024), in pure PyTorch.

    ``in_proj`` -> gate z, (x, B/C forward, B/C backward) and Δ for both directions; a
    non-causal depthwise conv over time + SiLU on (x, B, C); selective scans forward and over the
    reversed clip, each shifted one step; ``+ (fc_D(x) + D) * x`` as the diagonal; gated RMSNorm;
    ``out_proj``. Widths: ``d_inner = expand * dim`` in ``d_inner / headdim`` heads, state size
    ``d_state``; initialisation as Mamba-2 (Δ log-uniform in [dt_min, dt_max], A in [-16, -1]).
    """

    def __init__(
        self,
        dim: int,
        d_state: int = 64,
        expand: int = 2,
        headdim: int = 64,
        d_conv: int = 7,
        chunk: int = 16,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
    ) -> None:
        super().__init__()
        d_inner = int(expand) * dim
        if d_state < 1 or headdim < 1 or d_inner % headdim or d_conv < 1 or d_conv % 2 == 0:
            raise ConfigError(
                f"model.temporal_kwargs: expand * dim ({d_inner}) must be a multiple of headdim "
                f"({headdim}); d_state >= 1; d_conv odd (non-causal conv), got {d_conv}"
            )
        self.d_inner, self.d_state, self.headdim = d_inner, d_state, headdim
        self.nheads = d_inner // headdim
        self.chunk = chunk
        conv_dim = d_inner + 4 * d_state  # x, B/C forward, B/C backward
        self.in_proj = nn.Linear(dim, d_inner + conv_dim + 2 * self.nheads, bias=False)
        self.conv = nn.Conv1d(conv_dim, conv_dim, d_conv, padding=d_conv // 2, groups=conv_dim)
        dt = torch.exp(
            torch.rand(self.nheads) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        ).clamp(min=1e-4)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt)
        self.A_log = nn.Parameter(torch.log(torch.empty(self.nheads).uniform_(1, 16)))
        self.fc_D = nn.Linear(d_inner, self.nheads, bias=False)
        self.D = nn.Parameter(torch.ones(self.nheads))
        self.norm_weight = nn.Parameter(torch.ones(d_inner))
        self.out_proj = nn.Linear(d_inner, dim, bias=False)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        b, length, _ = u.shape
        h, p, n = self.nheads, self.headdim, self.d_state
        z, xbc, dt = torch.split(
            self.in_proj(u), [self.d_inner, self.d_inner + 4 * n, 2 * h], dim=-1
        )
        xbc = F.silu(self.conv(xbc.transpose(1, 2)).transpose(1, 2))
        x, bc_fw, bc_bw = torch.split(xbc, [self.d_inner, 2 * n, 2 * n], dim=-1)
        # the backward direction is the forward scan of the reversed clip (stacked on batch)
        xs = torch.cat([x, x.flip(1)], 0).reshape(2 * b, length, h, p)
        bc = torch.cat([bc_fw, bc_bw.flip(1)], 0)
        dts = torch.cat([dt[..., :h], dt[..., h:].flip(1)], 0)
        dts = F.softplus(dts + self.dt_bias)
        Bm, Cm = bc[..., :n], bc[..., n:]
        Bm = Bm.unsqueeze(2).expand(2 * b, length, h, n)
        Cm = Cm.unsqueeze(2).expand(2 * b, length, h, n)
        y = selective_scan(xs, dts, -torch.exp(self.A_log), Bm, Cm, chunk=self.chunk)
        y = F.pad(y, (0, 0, 0, 0, 1, 0))[:, :length]  # shift: frame t sees t-1, t-2, ...
        y = y[:b] + y[b:].flip(1)
        diag = (self.fc_D(x) + self.D).unsqueeze(-1)  # (b, l, h, 1)
        y = (y + x.reshape(b, length, h, p) * diag).reshape(b, length, self.d_inner)
        y = y * F.silu(z)  # gated RMSNorm (Mamba-2, norm after the gate)
        y = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + 1e-5) * self.norm_weight
        return self.out_proj(y)


class SSMTemporal(nn.Module):
    """``layers`` residual blocks ``x + HydraMixer(LayerNorm(x))``, then a LayerNorm."""

    def __init__(self, dim: int, layers: int = 2, **mixer: Any) -> None:
        super().__init__()
        if layers < 1:
            raise ConfigError("model.temporal_kwargs.layers must be >= 1")
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(layers))
        self.mixers = nn.ModuleList(HydraMixer(dim, **mixer) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.out_dim = dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for norm, mixer in zip(self.norms, self.mixers):
            x = x + mixer(norm(x))
        seq = self.norm(x)
        return seq, seq.mean(1)


def build_temporal(kind: str, dim: int, kwargs: dict[str, Any]) -> nn.Module:
    """The temporal module ``kind`` (``mean``, ``gru``, ``lstm``, ``ssm``) over ``dim`` inputs."""
    try:
        if kind == "mean":
            return MeanTemporal(dim, **kwargs)
        if kind in ("gru", "lstm"):
            return RecurrentTemporal(kind, dim, **kwargs)
        if kind == "ssm":
            return SSMTemporal(dim, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"model.temporal_kwargs for '{kind}': {exc}") from None
    raise ConfigError(f"model.temporal: unknown module '{kind}'; choose from gru, lstm, mean, ssm")


# ── heads ────────────────────────────────────────────────────────────────────


class IdentityConsistency(nn.Module):
    """STF-Mamba's identity statistics (seed 000 §7): the cosine similarity of each frame's
    temporal embedding to the clip mean; their variance and mean over time are appended to the
    pooled embedding. ``inconsistency`` = 1 - that cosine, per frame.

    The two scalars pass through a learnable gain (initialised 100 for the variance, 1 for the
    mean) so that they start on the scale of the LayerNorm'd embedding beside them: a cosine
    spread of 0.1 is a variance of 0.01, which an MLP initialised for unit-scale inputs would
    otherwise need many steps to notice."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.tensor([100.0, 1.0]))
        self.out_dim = dim + 2

    def forward(self, seq: torch.Tensor, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cos = F.cosine_similarity(seq, seq.mean(1, keepdim=True), dim=-1, eps=1e-6)  # (B, T)
        mean = cos.mean(1, keepdim=True)
        var = (cos - mean).pow(2).mean(1, keepdim=True)
        stats = torch.cat([var, mean], 1) * self.gain
        return torch.cat([pooled, stats], 1), 1.0 - cos


class ClipHead(nn.Module):
    """The clip head: optional identity statistics, then ``build_head`` on the clip embedding.
    ``forward(seq, pooled)`` -> (logit (B,), inconsistency (B, T) or None)."""

    def __init__(self, dim: int, config: ModelConfig) -> None:
        super().__init__()
        self.identity = IdentityConsistency(dim) if config.identity_head else None
        in_dim = self.identity.out_dim if self.identity is not None else dim
        self.classifier = build_head(in_dim, config.head, config.head_hidden, config.drop_rate)

    def forward(
        self, seq: torch.Tensor, pooled: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        inconsistency = None
        if self.identity is not None:
            pooled, inconsistency = self.identity(seq, pooled)
        return self.classifier(pooled).squeeze(-1), inconsistency

    def frame_logits(self, seq: torch.Tensor) -> torch.Tensor:
        """The classifier on each frame's embedding alone (B, T) (no identity statistics)."""
        return self.classifier(seq).squeeze(-1)
