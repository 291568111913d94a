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
