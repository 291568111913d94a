"""Importers of published PyTorch checkpoints (SBI, DeepfakeBench, DFDC winner), offline.

Each test builds a state dict with the published key names and shapes (a timm model made with
random weights, renamed here to the project's names as its public code writes them), saves it
as the project does, imports it, and compares the imported detector's probability of fake with
the project's own forward pass (softmax(1)[:, 1] or sigmoid) computed in the test.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fakescope.errors import ModelError
from fakescope.importers import import_weights, list_importers
from fakescope.models import load_detector
from fakescope.models.checkpoint import read_card


def _randomize(model: nn.Module, seed: int) -> None:
    """Random weights and BatchNorm statistics (so a misplaced tensor changes the output)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.dtype.is_floating_point:
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) * 0.5 + 0.75)
            elif name.endswith(("running_mean", "bias")):
                t.copy_(torch.randn(t.shape, generator=g) * 0.05)
            elif name.endswith("weight") and t.ndim == 1:  # norm scales
                t.copy_(1.0 + torch.randn(t.shape, generator=g) * 0.05)
            else:
                fan_in = max(1, t[0].numel())
                t.copy_(torch.randn(t.shape, generator=g) / math.sqrt(fan_in))


def _timm(name: str, seed: int, **kw: Any) -> nn.Module:
    import timm

    torch.manual_seed(seed)
    model = timm.create_model(name, pretrained=False, **kw)
    _randomize(model, seed)
    return model.eval()


def _fake_prob(folder: Path, x: torch.Tensor) -> torch.Tensor:
    detector = load_detector(folder, onnx=False)
    with torch.no_grad():
        return torch.sigmoid(detector.model(x))


# ── efficientnet_pytorch names, as SBI and DeepfakeBench save them ───────────

TOP = {"conv_stem": "_conv_stem", "bn1": "_bn0", "conv_head": "_conv_head", "bn2": "_bn1"}
SEPARABLE = {"conv_dw": "_depthwise_conv", "bn1": "_bn1", "se.conv_reduce": "_se_reduce",
             "se.conv_expand": "_se_expand", "conv_pw": "_project_conv", "bn2": "_bn2"}  # fmt: skip
EXPANDED = {"conv_pw": "_expand_conv", "bn1": "_bn0", "conv_dw": "_depthwise_conv", "bn2": "_bn1",
            "se.conv_reduce": "_se_reduce", "se.conv_expand": "_se_expand",
            "conv_pwl": "_project_conv", "bn3": "_bn2"}  # fmt: skip


def to_effnet_pytorch(model: Any) -> dict[str, torch.Tensor]:
    """timm tf_efficientnet state -> efficientnet_pytorch names (flat ``_blocks.N``)."""
    flat = {(i, j): n for n, (i, j) in enumerate(
        (i, j) for i, s in enumerate(model.blocks) for j in range(len(s)))}  # fmt: skip
    out = {}
    for key, value in model.state_dict().items():
        if key.startswith("classifier."):
            continue
        if key.startswith("blocks."):
            _, i, j, rest = key.split(".", 3)
            table = EXPANDED if hasattr(model.blocks[int(i)][int(j)], "conv_pwl") else SEPARABLE
            layer, param = rest.rsplit(".", 1)
            out[f"_blocks.{flat[(int(i), int(j))]}.{table[layer]}.{param}"] = value
        else:
            layer, param = key.split(".", 1)
            out[f"{TOP[layer]}.{param}"] = value
    return out


def test_sbi_efficientnet_b4(tmp_path: Path) -> None:
    enc = _timm("tf_efficientnet_b4", 0, num_classes=0)
    fc = nn.Linear(1792, 2)
    _randomize(fc, 1)
    state = {f"net.{k}": v for k, v in to_effnet_pytorch(enc).items()}
    state |= {"net._fc.weight": fc.weight.detach(), "net._fc.bias": fc.bias.detach()}
    torch.save({"model": state, "optimizer": {"lr": 1e-3}, "epoch": 42}, tmp_path / "sbi.tar")
    out = import_weights("sbi_efficientnet_b4", str(tmp_path / "sbi.tar"), tmp_path / "ck")
    card = read_card(out)
    assert card.model_config.input_size == 380 and card.model_config.mean == (0.0, 0.0, 0.0)
    assert card.origin and card.origin["research_only"] and "non-commercial" in (card.licence or "")
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        ref = fc(enc(x)).softmax(1)[:, 1]  # SBI: model(img).softmax(1)[:, 1]
    assert torch.allclose(_fake_prob(out, x), ref, atol=1e-5)


def _static_same(conv: nn.Conv2d, size: int) -> nn.Module:
    """efficientnet_pytorch's Conv2dStaticSamePadding for a ``size``-px input, restated."""
    (kh, _), (sh, _), (dh, _) = conv.kernel_size, conv.stride, conv.dilation
    oh = math.ceil(size / sh)
    pad = max((oh - 1) * sh + (kh - 1) * dh + 1 - size, 0)
    same = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                     groups=conv.groups, bias=conv.bias is not None)  # fmt: skip
    same.load_state_dict(conv.state_dict())
    return nn.Sequential(nn.ZeroPad2d((pad // 2, pad - pad // 2, pad // 2, pad - pad // 2)), same)


def test_deepfakebench_efficientnet_b4(tmp_path: Path) -> None:
    """DeepfakeBench swaps the stem for an unpadded nn.Conv2d and keeps efficientnet_pytorch's
    padding planned for 380 px while feeding 256 px: the reference rebuilds that on timm."""
    enc: Any = _timm("tf_efficientnet_b4", 2, num_classes=0)
    head = nn.Linear(1792, 2)
    _randomize(head, 3)
    state = {f"backbone.efficientnet.{k}": v for k, v in to_effnet_pytorch(enc).items()}
    state |= {"backbone.last_layer.weight": head.weight.detach(),
              "backbone.last_layer.bias": head.bias.detach()}  # fmt: skip
    torch.save(state, tmp_path / "effnb4_best.pth")
    out = import_weights("deepfakebench_efficientnet_b4", str(tmp_path / "effnb4_best.pth"),
                         tmp_path / "ck")  # fmt: skip
    stem = nn.Conv2d(3, 48, 3, 2, bias=False)
    stem.weight.data.copy_(enc.conv_stem.weight)
    enc.conv_stem = stem
    size = 190  # efficientnet_pytorch: ceil(380 / 2) after the stem
    for stage in enc.blocks:
        for block in stage:
            stride = block.conv_dw.stride[0]
            if stride > 1:
                block.conv_dw = _static_same(block.conv_dw, size)
            size = math.ceil(size / stride)
    x = torch.rand(2, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        ref = head(enc(x)).softmax(1)[:, 1]
    assert torch.allclose(_fake_prob(out, x), ref, atol=1e-5)
    assert read_card(out).model_config.input_size == 256


def _xception_state(model: nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {f"{prefix}{k}": v for k, v in model.state_dict().items() if not k.startswith("fc.")}


def _adjust_channel(seed: int) -> nn.Sequential:
    m = nn.Sequential(nn.Conv2d(2048, 512, 1, 1), nn.BatchNorm2d(512), nn.ReLU())
    _randomize(m, seed)
    return m.eval()


@pytest.mark.parametrize("dropout", [False, True])
def test_deepfakebench_xception(tmp_path: Path, dropout: bool) -> None:
    enc = _timm("legacy_xception", 4, num_classes=0)
    fc = nn.Linear(2048, 2)
    _randomize(fc, 5)
    head = "backbone.last_linear.1." if dropout else "backbone.last_linear."
    state = _xception_state(enc, "backbone.")
    state |= {f"backbone.adjust_channel.{k}": v for k, v in _adjust_channel(6).state_dict().items()}
    state |= {f"{head}weight": fc.weight.detach(), f"{head}bias": fc.bias.detach()}
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "xception_best.pth")
    out = import_weights("deepfakebench_xception", str(tmp_path / "xception_best.pth"),
                         tmp_path / "ck")  # fmt: skip
    x = torch.rand(2, 3, 96, 96) * 2 - 1
    with torch.no_grad():  # DeepfakeBench: relu(features) -> pool -> last_linear -> softmax
        ref = fc(enc(x)).softmax(1)[:, 1]
    assert torch.allclose(_fake_prob(out, x), ref, atol=1e-5)
    card = read_card(out)
    assert card.model_config.input_size == 256 and card.model_config.mean == (0.5, 0.5, 0.5)


def _dfb_phase(img: torch.Tensor) -> torch.Tensor:
    """DeepfakeBench's SpslDetector.phase_without_amplitude, as written there."""
    gray_img = torch.mean(img, dim=1, keepdim=True)
    X = torch.fft.fftn(gray_img)
    phase_spectrum = torch.angle(X)
    reconstructed_X = torch.exp(1j * phase_spectrum)
    return torch.real(torch.fft.ifftn(reconstructed_X))


def test_deepfakebench_spsl(tmp_path: Path) -> None:
    enc = _timm("legacy_xception", 7, num_classes=0, in_chans=4)
    fc = nn.Linear(2048, 2)
    _randomize(fc, 8)
    state = _xception_state(enc, "backbone.")
    state |= {f"backbone.adjust_channel.{k}": v for k, v in _adjust_channel(9).state_dict().items()}
    state |= {"backbone.last_linear.weight": fc.weight.detach(),
              "backbone.last_linear.bias": fc.bias.detach()}  # fmt: skip
    torch.save(state, tmp_path / "spsl_best.pth")
    out = import_weights("deepfakebench_spsl", str(tmp_path / "spsl_best.pth"), tmp_path / "ck")
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    got = _fake_prob(out, x)
    with torch.no_grad():  # per image: DeepfakeBench's fftn spans the batch, so batch size 1
        ref = torch.cat(
            [fc(enc(torch.cat([xi[None], _dfb_phase(xi[None])], 1))).softmax(1)[:, 1] for xi in x]
        )
    assert torch.allclose(got, ref, atol=1e-5)
    # the 3-channel Xception's file is not SPSL's
    with pytest.raises(ModelError, match="reads 3 channels"):
        enc3 = _timm("legacy_xception", 7, num_classes=0)
        bad = _xception_state(enc3, "backbone.") | {
            "backbone.last_linear.weight": fc.weight.detach(),
            "backbone.last_linear.bias": fc.bias.detach(),
        }
        torch.save(bad, tmp_path / "x.pth")
        import_weights("deepfakebench_spsl", str(tmp_path / "x.pth"), tmp_path / "ck2")


class _UCFReference(nn.Module):
    """DeepfakeBench's UCFDetector at inference, restated with its module names."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder_f = _timm("legacy_xception", 10, num_classes=0)
        self.encoder_f.adjust_channel = _adjust_channel(11)  # type: ignore[assignment]
        self.block_sha = nn.Module()
        self.block_sha.conv2d = nn.Sequential(
            nn.Conv2d(512, 256, 1), nn.LeakyReLU(), nn.Conv2d(256, 256, 1), nn.LeakyReLU(),
            nn.Conv2d(256, 256, 1),
        )  # fmt: skip
        self.head_sha = nn.Module()
        self.head_sha.mlp = nn.Sequential(nn.Linear(256, 512), nn.LeakyReLU(), nn.Linear(512, 2))
        self.head_spe = nn.Module()
        self.head_spe.mlp = nn.Sequential(nn.Linear(256, 512), nn.LeakyReLU(), nn.Linear(512, 5))
        self.encoder_c = nn.Conv2d(3, 8, 3)  # stand-ins for the training-only parts' keys
        self.con_gan = nn.Conv2d(8, 3, 1)
        _randomize(self.block_sha, 12)
        _randomize(self.head_sha, 13)
        self.eval()

    def prob(self, x: torch.Tensor) -> torch.Tensor:
        enc: Any = self.encoder_f
        act4, enc.act4 = enc.act4, nn.Identity()  # DeepfakeBench's features() ends at bn4
        try:
            f = enc.adjust_channel(enc.forward_features(x))
        finally:
            enc.act4 = act4
        f = F.adaptive_avg_pool2d(self.block_sha.conv2d(f), 1).flatten(1)
        return self.head_sha.mlp(f).softmax(1)[:, 1]


def test_deepfakebench_ucf(tmp_path: Path) -> None:
    ref = _UCFReference()
    torch.save({"module." + k: v for k, v in ref.state_dict().items()}, tmp_path / "ucf.pth")
    out = import_weights("deepfakebench_ucf", str(tmp_path / "ucf.pth"), tmp_path / "ck")
    x = torch.rand(2, 3, 96, 96) * 2 - 1
    with torch.no_grad():
        expected = ref.prob(x)
    assert torch.allclose(_fake_prob(out, x), expected, atol=1e-5)
    origin = read_card(out).origin or {}
    assert {"encoder_c", "con_gan", "head_spe"} <= set(origin["left_out"])


@pytest.mark.slow
def test_dfdc_winner_b7(tmp_path: Path) -> None:
    encoder: Any = _timm("tf_efficientnet_b7", 14)  # with its ImageNet classifier, as saved
    fc = nn.Linear(2560, 1)
    _randomize(fc, 15)
    state = {f"module.encoder.{k}": v for k, v in encoder.state_dict().items()}
    state |= {"module.fc.weight": fc.weight.detach(), "module.fc.bias": fc.bias.detach()}
    path = tmp_path / "final_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_36"
    torch.save({"state_dict": state, "epoch": 36, "bce_best": 0.2}, path)
    out = import_weights("dfdc_winner_b7", str(path), tmp_path / "ck")
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():  # DeepFakeClassifier: forward_features -> avg pool -> fc -> sigmoid
        ref = torch.sigmoid(fc(encoder.forward_features(x).mean((2, 3)))).squeeze(1)
    assert torch.allclose(_fake_prob(out, x), ref, atol=1e-5)
    card = read_card(out)
    assert card.licence == "MIT" and card.model_config.input_size == 380


def test_every_importer_names_its_licence_and_research_flag() -> None:
    rows = {s.name: s.row() for s in list_importers()}
    assert {"mesonet4", "mesoinception4", "sbi_efficientnet_b4", "deepfakebench_xception",
            "deepfakebench_efficientnet_b4", "deepfakebench_spsl", "deepfakebench_ucf",
            "dfdc_winner_b7"} <= set(rows)  # fmt: skip
    assert all(r["licence"] for r in rows.values())
    assert rows["sbi_efficientnet_b4"]["research_only"]
    assert all(rows[n]["research_only"] for n in rows if n.startswith("deepfakebench_"))
    assert not rows["mesonet4"]["research_only"] and rows["mesonet4"]["checksum_known"]


def test_bad_sources_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such file"):
        import_weights("deepfakebench_xception", str(tmp_path / "missing.pth"), tmp_path / "o")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="not a PyTorch checkpoint"):
        import_weights("deepfakebench_xception", str(junk), tmp_path / "o")
    torch.save({"backbone.conv1.weight": torch.zeros(32, 3, 3, 3)}, tmp_path / "partial.pth")
    with pytest.raises(ModelError, match=r"no last_linear\.weight"):
        import_weights("deepfakebench_xception", str(tmp_path / "partial.pth"), tmp_path / "o")
    with pytest.raises(ModelError, match="cannot download"):  # offline: one clear line
        import_weights("mesonet4", "http://127.0.0.1:9/Meso4_DF.h5", tmp_path / "o")
    with pytest.raises(ModelError, match="no importer named"):
        import_weights("nope", str(junk), tmp_path / "o")
