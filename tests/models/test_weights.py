"""Offline ImageNet weights for EfficientNet-Lite1/2 shipped in pip packages."""

import numpy as np
import pytest
import torch

from fakescope.models import create_model, get_config
from fakescope.models.weights import OFFLINE_IMAGENET, _remap_in_order, offline_weights_file

CAT_CLASSES = {281, 282, 283, 284, 285}  # ImageNet: tabby, tiger cat, Persian, Siamese, Egyptian

LITES = [
    pytest.param(
        name,
        backbone,
        size,
        marks=pytest.mark.skipif(
            offline_weights_file(backbone) is None,
            reason=f"{OFFLINE_IMAGENET[backbone][2]} not installed",
        ),
        id=name,
    )
    for name, backbone, size in [
        ("efficientnet_lite1", "tf_efficientnet_lite1", 240),
        ("efficientnet_lite2", "tf_efficientnet_lite2", 260),
    ]
]


def _resize(img: np.ndarray, s: int) -> np.ndarray:
    import cv2

    return cv2.resize(img, (s, s), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize(("name", "backbone", "size"), LITES)
def test_offline_lite_weights_recognise_a_cat(name: str, backbone: str, size: int) -> None:
    import timm
    from skimage import data

    state = torch.load(offline_weights_file(backbone), map_location="cpu", weights_only=True)
    full = timm.create_model(backbone, pretrained=False)
    full.load_state_dict(
        {
            **_remap_in_order(state, backbone),
            "classifier.weight": state["_fc.weight"],
            "classifier.bias": state["_fc.bias"],
        }
    )
    cfg = get_config(name)
    assert cfg.input_size == size and cfg.mean == cfg.std == (0.5, 0.5, 0.5)
    cat = torch.from_numpy(np.asarray(_resize(data.chelsea(), size), np.float32) / 255.0)
    x = ((cat - 0.5) / 0.5).permute(2, 0, 1)[None]
    with torch.no_grad():
        top5 = full.eval()(x).topk(5).indices[0].tolist()
    assert set(top5) & CAT_CLASSES, top5
    # the registered detector's backbone got the same weights, offline
    model = create_model(name)
    assert model.weights_source == f"imagenet ({OFFLINE_IMAGENET[backbone][2]})"
    assert torch.equal(model.backbone.conv_stem.weight, full.conv_stem.weight)
    assert torch.equal(model.backbone.conv_head.weight, full.conv_head.weight)


def test_dinov2_weights_made_at_518_px_load_into_a_224_px_model(tmp_path):
    """DINOv2 ships 518-px weights (37 x 37 patches + CLS); the 224-px model (16 x 16) gets
    its position embeddings resampled, the CLS token's kept, every other weight as saved."""
    import timm
    from safetensors.torch import save_file
    from timm.layers import resample_abs_pos_embed

    torch.manual_seed(0)
    tiny = {"depth": 1, "embed_dim": 32, "num_heads": 2}
    src = timm.create_model(
        "vit_small_patch14_dinov2", pretrained=False, img_size=518, num_classes=0, **tiny
    )
    assert src.pos_embed.shape == (1, 1 + 37 * 37, 32)
    state = {k: v.contiguous() for k, v in src.state_dict().items()}
    save_file(state, str(tmp_path / "dinov2_518.safetensors"))
    model = create_model(
        "dinov2_vitb14",
        pretrained=str(tmp_path / "dinov2_518.safetensors"),
        backbone_kwargs={"img_size": 224, **tiny},
    )
    assert model.weights_source == "file dinov2_518.safetensors"
    got = model.backbone.state_dict()
    assert got["pos_embed"].shape == (1, 1 + 16 * 16, 32)
    assert torch.equal(got["pos_embed"][:, :1], state["pos_embed"][:, :1])
    want = resample_abs_pos_embed(state["pos_embed"], new_size=[16, 16], num_prefix_tokens=1)
    assert torch.allclose(got["pos_embed"], want, atol=1e-6)
    assert set(got) == set(state)
    for k in state:
        if k != "pos_embed":
            assert torch.equal(got[k], state[k]), k


def test_fit_pos_embed_resamples_only_what_differs():
    import timm

    from fakescope.models.weights import fit_pos_embed

    tiny = {"depth": 1, "embed_dim": 16, "num_heads": 2, "num_classes": 0}
    big = timm.create_model("vit_small_patch14_dinov2", img_size=518, **tiny).state_dict()
    small = timm.create_model("vit_small_patch14_dinov2", img_size=224, **tiny)
    fitted = fit_pos_embed(small, big)
    assert fitted["pos_embed"].shape == small.pos_embed.shape
    assert fitted["blocks.0.attn.qkv.weight"] is big["blocks.0.attn.qkv.weight"]
    assert big["pos_embed"].shape == (1, 1 + 37 * 37, 16)  # the input is left as it was
    same = small.state_dict()
    assert fit_pos_embed(small, same) is same
    small.load_state_dict(fitted)  # fits: no size mismatch


def test_hub_weights_name_their_true_source(offline_hub):
    from fakescope.errors import ModelError
    from fakescope.models.weights import hub_source_name

    assert hub_source_name("vit_base_patch14_dinov2.lvd142m") == (
        "LVD-142M (timm vit_base_patch14_dinov2.lvd142m)"
    )
    assert hub_source_name("efficientnet_b0").startswith("ImageNet-1k (timm efficientnet_b0.")
    tiny = {"img_size": 56, "depth": 1, "embed_dim": 32, "num_heads": 2}
    for source in ("hub", "imagenet"):  # DINOv2 has no ImageNet weights: never say so
        with pytest.raises(ModelError, match=r"LVD-142M \(timm vit_base_patch14_dinov2") as err:
            create_model("dinov2_vitb14", pretrained=source, input_size=56, backbone_kwargs=tiny)
        assert "imagenet" not in str(err.value).split(" weights for")[0]


def test_vit_b16_uses_the_mean_and_std_of_its_timm_weights():
    import timm

    cfg = get_config("vit_b16")
    pre = timm.create_model(cfg.backbone, pretrained=False).pretrained_cfg
    assert (cfg.mean, cfg.std) == (tuple(pre["mean"]), tuple(pre["std"]))
    dino = get_config("stf_mamba")
    pre = timm.models.get_pretrained_cfg(dino.backbone)
    assert (dino.mean, dino.std) == (tuple(pre.mean), tuple(pre.std))
