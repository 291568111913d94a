"""Clip-family detectors: every registry entry of kind clip, tiny, through the detector API."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fakescope.errors import ConfigError
from fakescope.models import create_model, get_config, list_models
from fakescope.models.clip import ClipDetector
from fakescope.models.frame import FrameDetector

CLIP_MODELS = [n for n in list_models() if get_config(n).kind == "clip"]
T = 3

# small widths of each temporal module (merged over the entry's own options)
TINY_TEMPORAL = {
    "gru": {"hidden": 16},
    "lstm": {"hidden": 8},
    "mean": {},
    "ssm": {"d_state": 8, "headdim": 8, "chunk": 2},
}


def tiny(name: str, **extra) -> dict:
    """Overrides that keep an entry's architecture but make it small and fast on a CPU."""
    cfg = get_config(name)
    over: dict = {"pretrained": "none"}
    if cfg.backbone.startswith("vit_"):
        over["input_size"] = 56
        over["backbone_kwargs"] = {
            **cfg.backbone_kwargs,
            "img_size": 56,
            "depth": 2,
            "embed_dim": 32,
            "num_heads": 2,
        }
        over["freeze_blocks"] = min(cfg.freeze_blocks, 2)
    else:
        over["input_size"] = 64 if cfg.backbone != "fakescope_simple_cnn" else 32
    if cfg.kind == "clip":
        over["frames_per_clip"] = T
        kw = {**cfg.temporal_kwargs, **TINY_TEMPORAL[cfg.temporal]}
        if kw.get("proj_hidden"):
            kw["proj_hidden"] = 24
        over["temporal_kwargs"] = kw
        if cfg.proj_dim:
            over["proj_dim"] = 16
        over["head_hidden"] = 8
    return {**over, **extra}


def clips(model, batch: int = 2, seed: int = 0) -> torch.Tensor:
    s = model.config.input_size
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, model.config.frames_per_clip, 3, s, s, generator=g)


@pytest.mark.parametrize("name", [*CLIP_MODELS, "simple_cnn"])
def test_every_clip_entry_builds_runs_and_trains(name):
    torch.manual_seed(0)
    model = create_model(name, **tiny(name))
    s = model.config.input_size
    x = clips(model) if model.config.kind == "clip" else torch.randn(2, 3, s, s)
    model.eval()
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2,) and torch.isfinite(y).all()
    if model.config.kind == "clip":
        assert isinstance(model, ClipDetector)
        with torch.no_grad():
            f = model.encode(x.flatten(0, 1)).reshape(2, T, -1)
            assert torch.allclose(model.forward_features(f), y, atol=1e-6)
            d = model.details(x)
        assert torch.allclose(d["logit"], y, atol=1e-6)
        for key in ("frame_logits", "inconsistency"):
            assert d[key] is None or d[key].shape == (2, T)
    else:
        assert isinstance(model, FrameDetector)
    # one AdamW step moves the head's last layer
    model.train()
    last = [m for m in model.head.modules() if isinstance(m, torch.nn.Linear)][-1]
    before = last.weight.detach().clone()
    opt = torch.optim.AdamW(model.param_groups(1e-2, 1e-3, 1e-4))
    loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), torch.tensor([0.0, 1.0]))
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert not torch.equal(before, last.weight)


def test_seed_000_bigru_is_built_as_the_seed_says():
    model = create_model("effnet_b0_bigru")
    cfg = model.config
    assert (cfg.frames_per_clip, cfg.input_size, cfg.pretrained) == (8, 224, "none")
    assert cfg.mean == (0.485, 0.456, 0.406)
    proj = model.proj
    assert [type(m).__name__ for m in proj] == ["Linear", "LayerNorm", "GELU"]
    assert (proj[0].in_features, proj[0].out_features) == (1280, 512)
    gru = model.temporal.rnn
    assert isinstance(gru, torch.nn.GRU)
    assert (gru.hidden_size, gru.num_layers, gru.bidirectional, gru.dropout) == (512, 2, True, 0.3)
    for name, p in gru.named_parameters():
        if "weight_hh" in name:  # (3H, H) with orthonormal columns
            assert torch.allclose(p.T @ p, torch.eye(512), atol=1e-4)
        if "bias" in name:
            assert not p.any()
    head = model.head.classifier
    assert [type(m).__name__ for m in head] == ["Dropout", "Linear", "GELU", "Dropout", "Linear"]
    assert (head[0].p, head[3].p) == (0.3, 0.15)
    assert (head[1].in_features, head[1].out_features, head[4].out_features) == (1024, 256, 1)
    lite = get_config("effnet_lite0_bigru")
    assert lite.backbone == "tf_efficientnet_lite0" and lite.pretrained == "imagenet"
    assert lite.mean == lite.std == (0.5, 0.5, 0.5)


def test_gru_readout_is_the_last_time_step():
    torch.manual_seed(0)
    model = create_model("effnet_b0_bigru", **tiny("effnet_b0_bigru")).eval()
    f = torch.randn(2, 5, model.backbone.num_features)
    with torch.no_grad():
        seq, _ = model.temporal.rnn(model.proj(f))
        expected = model.head.classifier(seq[:, -1]).squeeze(-1)
        assert torch.allclose(model.forward_features(f), expected, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "seed_params"),
    [("simple_cnn", 422_530), ("resnet18_tavg", 11_603_650), ("effnet_b0_bilstm", 5_619_966)],
)
def test_seed_002_models_have_the_seeds_parameter_counts(name, seed_params):
    """Seed 002's counts end in two logits; ours in one: 129 parameters fewer (a 128 -> 2
    layer is 258 parameters, 128 -> 1 is 129)."""
    model = create_model(name)
    assert sum(p.numel() for p in model.parameters()) == seed_params - 129
    cfg = model.config
    assert cfg.input_size == 224 and cfg.drop_rate == 0.5
    if cfg.kind == "clip":
        assert cfg.frames_per_clip == 16


def test_stf_mamba_freezes_dinov2_blocks_0_to_9():
    model = create_model("stf_mamba")  # full ViT-B/14 at 224 px, random weights (~1.5 s)
    cfg = model.config
    assert (cfg.frames_per_clip, cfg.proj_dim, cfg.identity_head) == (32, 512, True)
    assert model.backbone.pos_embed.shape == (1, 1 + 16 * 16, 768)
    assert model.proj[0].in_features == 768
    assert len(model.temporal.mixers) == 2
    frozen = {n.split(".")[1] for n, p in model.backbone.named_parameters()
              if not p.requires_grad and n.startswith("blocks.")}  # fmt: skip
    trainable = {n.split(".")[1] for n, p in model.backbone.named_parameters()
                 if p.requires_grad and n.startswith("blocks.")}  # fmt: skip
    assert frozen == {str(i) for i in range(10)} and trainable == {"10", "11"}
    assert not model.backbone.patch_embed.proj.weight.requires_grad
    assert not model.backbone.pos_embed.requires_grad
    assert all(p.requires_grad for k in ("proj", "temporal", "head")
               for p in model.parts()[k].parameters())  # fmt: skip
    assert model.weights_source == "none"


def test_details_per_family():
    torch.manual_seed(0)
    stf = create_model("stf_mamba_lite0", **tiny("stf_mamba_lite0")).eval()
    x = clips(stf)
    with torch.no_grad():
        d = stf.details(x)
    assert d["frame_logits"] is None
    inc = d["inconsistency"]
    assert inc.shape == (2, T) and bool(((inc >= 0) & (inc <= 2)).all())
    # 1 - cos(each frame's temporal embedding, their mean over the clip)
    with torch.no_grad():
        seq, _ = stf.temporal(stf.proj(stf.encode(x.flatten(0, 1)).reshape(2, T, -1)))
    cos = torch.nn.functional.cosine_similarity(seq, seq.mean(1, keepdim=True), dim=-1)
    assert torch.allclose(inc, 1 - cos, atol=1e-6)

    tavg = create_model("resnet18_tavg", **tiny("resnet18_tavg")).eval()
    x = clips(tavg)
    with torch.no_grad():
        d = tavg.details(x)
        # frame t's logit is the model's logit for a clip of frame t repeated
        rep = tavg(x[:, 1:2].expand(-1, T, -1, -1, -1).contiguous())
    assert d["inconsistency"] is None and d["frame_logits"].shape == (2, T)
    assert torch.allclose(d["frame_logits"][:, 1], rep, atol=1e-5)

    gru = create_model("effnet_lite0_bigru", **tiny("effnet_lite0_bigru")).eval()
    with torch.no_grad():
        d = gru.details(clips(gru))
    assert d["frame_logits"] is None and d["inconsistency"] is None


def test_freeze_parts_stops_gradients_and_names_bad_parts():
    torch.manual_seed(0)
    model = create_model("stf_mamba_lite0", **tiny("stf_mamba_lite0"))
    assert list(model.parts()) == ["backbone", "proj", "temporal", "head"]
    model.freeze_parts(["backbone", "temporal"])
    model(clips(model)).sum().backward()
    for name, part in model.parts().items():
        grads = [p.grad for p in part.parameters()]
        if name in ("backbone", "temporal"):
            assert all(g is None for g in grads), name
        else:
            assert all(g is not None for g in grads), name
    model.unfreeze()
    assert all(p.requires_grad for p in model.parameters())
    groups = model.block_groups()
    model.freeze_parts(["backbone:2"])
    frozen = {n for n, p in model.backbone.named_parameters() if not p.requires_grad}
    assert frozen == set(groups[0]) | set(groups[1])
    for bad in ("neck", "head:1", "backbone:x"):
        with pytest.raises(ConfigError, match=r"backbone, proj, temporal, head|backbone:N"):
            model.freeze_parts([bad])


def test_param_groups_cover_every_part_once():
    model = create_model("effnet_lite0_bigru", **tiny("effnet_lite0_bigru"))
    model.freeze()
    groups = model.param_groups(lr=1e-3, backbone_lr=1e-5, weight_decay=0.05)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    backbone = {id(p) for p in model.backbone.parameters()}
    for g in groups:
        in_backbone = {id(p) in backbone for p in g["params"]}
        assert len(in_backbone) == 1
        assert g["lr"] == (1e-5 if in_backbone.pop() else 1e-3)
        assert g["weight_decay"] == (0.0 if all(p.ndim <= 1 for p in g["params"]) else 0.05)
    assert groups[-1]["name"].startswith("head/")


def test_bad_clip_configs():
    with pytest.raises(ConfigError, match="frames_per_clip"):
        create_model("effnet_b0_bigru", frames_per_clip=1)
    with pytest.raises(ConfigError, match="temporal_kwargs"):
        create_model("effnet_b0_bigru", **tiny("effnet_b0_bigru", temporal_kwargs={"hiden": 4}))
    with pytest.raises(ConfigError, match="headdim"):
        create_model("stf_mamba_lite0", **tiny("stf_mamba_lite0", temporal_kwargs={"headdim": 7}))
    with pytest.raises(ConfigError, match="readout"):
        create_model("effnet_b0_bigru", **tiny("effnet_b0_bigru", temporal_kwargs={"readout": "x"}))
    with pytest.raises(ConfigError, match="proj_norm"):
        create_model("resnet18_tavg", **tiny("resnet18_tavg", temporal_kwargs={"proj_norm": "x"}))
    with pytest.raises(ValueError, match=r"\(B, T, 3, H, W\)"):
        create_model("effnet_b0_bigru", **tiny("effnet_b0_bigru"))(torch.zeros(2, 3, 64, 64))


@pytest.mark.parametrize("name", ["effnet_lite0_bigru", "stf_mamba_lite0"])
def test_clip_models_export_to_onnx_and_agree(name, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = create_model(name, **tiny(name)).eval()
    s = model.config.input_size
    path = tmp_path / "clip.onnx"
    with torch.no_grad():
        torch.onnx.export(
            model,
            (torch.zeros(1, T, 3, s, s),),
            str(path),
            input_names=["clips"],
            output_names=["logits"],
            dynamic_axes={"clips": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        x = clips(model, batch=batch, seed=batch)
        with torch.no_grad():
            want = model(x).numpy()
        got = session.run(None, {"clips": x.numpy()})[0]
        assert got.shape == (batch,)
        assert np.abs(got - want).max() < 1e-4


def test_weights_of_the_other_family_fail_in_one_line(tmp_path):
    """A clip card over a frame model's weights (and the reverse) names both families."""
    import json

    from fakescope.errors import ModelError
    from fakescope.models import load_detector
    from fakescope.models.checkpoint import ModelCard, save_checkpoint

    frame = create_model("efficientnet_lite0", pretrained="none", input_size=64)
    clip = create_model("effnet_lite0_bigru", **tiny("effnet_lite0_bigru"))
    for model, other in ((frame, clip), (clip, frame)):
        folder = tmp_path / model.config.kind
        save_checkpoint(
            folder, model, ModelCard(name="x", model=model.config.to_dict()), onnx=False
        )
        card = json.loads((folder / "card.json").read_text())
        card["model"] = other.config.to_dict()
        (folder / "card.json").write_text(json.dumps(card))
        with pytest.raises(ModelError) as err:
            load_detector(folder, onnx=False).model  # noqa: B018
        message = str(err.value)
        assert "\n" not in message
        assert f"describes a {other.config.kind} model" in message
        assert f"weights are a {model.config.kind} model's" in message
