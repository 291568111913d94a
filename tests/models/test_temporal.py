"""Temporal modules: the parallel selective scan against its recurrence, the Hydra mixer,
recurrent readouts, the identity-consistency statistics and the head builders."""

from __future__ import annotations

import pytest
import torch

from fakescope.errors import ConfigError
from fakescope.models.temporal import (
    HydraMixer,
    IdentityConsistency,
    RecurrentTemporal,
    SSMTemporal,
    build_head,
    build_projection,
    build_temporal,
    selective_scan,
    selective_scan_reference,
)


def _inputs(b, length, h=3, p=4, n=5, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, length, h, p, generator=g, dtype=dtype)
    dt = torch.rand(b, length, h, generator=g, dtype=dtype) * 0.9 + 0.01
    A = -(torch.rand(h, generator=g, dtype=dtype) * 8 + 0.05)
    B = torch.randn(b, length, h, n, generator=g, dtype=dtype)
    C = torch.randn(b, length, h, n, generator=g, dtype=dtype)
    return x, dt, A, B, C


@pytest.mark.parametrize("length", [1, 2, 32, 33])
@pytest.mark.parametrize("chunk", [1, 7, 16, 64])
def test_parallel_scan_matches_the_recurrence(length, chunk):
    args = _inputs(3, length, seed=length * 100 + chunk)
    want = selective_scan_reference(*args)
    got = selective_scan(*args, chunk=chunk)
    assert got.shape == want.shape == (3, length, 3, 4)
    assert (got - want).abs().max() < 1e-5
    assert torch.allclose(got, want, atol=1e-10, rtol=0)


def test_parallel_scan_in_float32_with_slow_decay():
    # long memory (tiny dt * A) over 33 steps, float32: still close to the float64 recurrence
    x, dt, A, B, C = _inputs(2, 33, seed=1)
    dt = dt * 0.01
    want = selective_scan_reference(x, dt, A, B, C)
    got = selective_scan(*(t.float() for t in (x, dt, A, B, C)), chunk=8).double()
    assert (got - want).abs().max() < 1e-4


def test_scan_state_carries_across_chunks():
    # an impulse at step 0 must reach step 31 through three chunk boundaries
    x, dt, A, B, C = _inputs(1, 32, h=1, seed=2)
    x[:, 1:] = 0
    A = torch.tensor([-0.01], dtype=torch.float64)
    y = selective_scan(x, dt, A, B, C, chunk=8)
    assert y[0, 31].abs().max() > 1e-3
    assert torch.allclose(y, selective_scan_reference(x, dt, A, B, C), atol=1e-10)


def _grad_of_output_wrt_input(module, length, out_t, in_t, dim=16):
    u = torch.randn(2, length, dim, dtype=torch.float64, requires_grad=True)
    module(u)[:, out_t].sum().backward()
    return u.grad[:, in_t].abs().max().item()


def test_hydra_mixer_is_bidirectional_beyond_its_conv():
    torch.manual_seed(0)
    mixer = HydraMixer(16, d_state=8, expand=2, headdim=8, d_conv=3, chunk=4).double()
    # conv reaches one frame either side; frames 15 apart interact only through the scans
    assert _grad_of_output_wrt_input(mixer, 16, out_t=0, in_t=15) > 1e-8
    assert _grad_of_output_wrt_input(mixer, 16, out_t=15, in_t=0) > 1e-8


def test_hydra_mixer_does_not_depend_on_the_chunk_size():
    torch.manual_seed(0)
    mixer = HydraMixer(16, d_state=8, headdim=8, d_conv=3, chunk=4).double().eval()
    u = torch.randn(3, 13, 16, dtype=torch.float64)
    a = mixer(u)
    mixer.chunk = 64
    assert torch.allclose(a, mixer(u), atol=1e-10)
    assert a.shape == u.shape


def test_ssm_temporal_runs_for_one_frame():
    torch.manual_seed(0)
    ssm = SSMTemporal(16, layers=2, d_state=4, headdim=8)
    seq, pooled = ssm(torch.randn(2, 1, 16))
    assert seq.shape == (2, 1, 16) and torch.allclose(pooled, seq[:, 0])


def test_recurrent_readouts():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 6)
    ends = RecurrentTemporal("gru", 6, hidden=4, layers=2, readout="ends").eval()
    seq, pooled = ends(x)
    _, h_n = ends.rnn(x)
    # "ends" = the last layer's final forward and backward states
    assert torch.allclose(pooled, torch.cat([h_n[-2], h_n[-1]], -1), atol=1e-6)
    last = RecurrentTemporal("lstm", 6, hidden=4, layers=1, readout="last")
    seq, pooled = last(x)
    assert seq.shape == (2, 5, 8) and torch.equal(pooled, seq[:, -1])
    assert last.out_dim == 8
    with pytest.raises(ConfigError, match="readout"):
        RecurrentTemporal("gru", 6, readout="first")


def test_identity_consistency_statistics():
    ident = IdentityConsistency(4)
    seq = torch.tensor([[[1.0, 0, 0, 0]] * 3 + [[0, 1.0, 0, 0]]])  # one odd frame out of 4
    pooled = seq.mean(1)
    feats, inc = ident(seq, pooled)
    mean = seq.mean(1, keepdim=True)
    cos = torch.nn.functional.cosine_similarity(seq, mean, dim=-1)
    assert torch.allclose(inc, 1 - cos)
    assert inc[0].argmax().item() == 3
    assert torch.allclose(feats[:, :4], pooled)
    assert torch.allclose(feats[0, 4], cos.var(unbiased=False) * 100)
    assert torch.allclose(feats[0, 5], cos.mean())
    same, inc = ident(torch.ones(1, 5, 4), torch.ones(1, 4))
    assert inc.abs().max() < 1e-6 and same[0, 4].abs() < 1e-10


def test_head_and_projection_builders():
    mlp = build_head(10, "mlp", 6, 0.4)
    assert [type(m).__name__ for m in mlp] == ["Dropout", "Linear", "GELU", "Dropout", "Linear"]
    assert (mlp[0].p, mlp[3].p, mlp[4].out_features) == (0.4, 0.2, 1)
    assert len(build_head(10, "linear", 6, 0.1)) == 2
    proj = build_projection(10, 4, hidden=8, norm="none", act="relu")
    assert [type(m).__name__ for m in proj] == ["Linear", "ReLU", "Linear", "ReLU"]
    assert isinstance(build_projection(10, 0), torch.nn.Identity)
    with pytest.raises(ConfigError, match="unknown module"):
        build_temporal("transformer", 4, {})
    with pytest.raises(ConfigError, match="temporal_kwargs"):
        build_temporal("mean", 4, {"hidden": 3})
