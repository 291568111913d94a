"""``PartedModule``: the unfreeze / param_groups that frame, clip and av networks share."""

import torch
from torch import nn

from fakescope.models import create_model
from fakescope.models.av import AudioVisualDetector
from fakescope.models.backbones import PartedDetector
from fakescope.models.parts import PartedModule


class _Net(PartedModule):
    PART_NAMES = ("video_backbone", "audio", "head")

    def __init__(self) -> None:
        super().__init__()
        linear = nn.Linear(4, 3)
        self.video_backbone = nn.Sequential(linear, nn.LayerNorm(3))
        self.audio = None  # a modality this network did not build
        self.head = nn.Linear(3, 1)
        self.head.weight = linear.weight  # shared: listed once, with the first part
        self.scale = nn.Parameter(torch.ones(1))  # outside every part


def test_groups_per_part_backbone_lr_no_decay_and_rest() -> None:
    net = _Net()
    groups = net.param_groups(lr=1e-3, backbone_lr=1e-5, weight_decay=0.1)
    by_name = {g["name"]: g for g in groups}
    shared = net.head.weight
    assert list(by_name) == [
        "video_backbone/decay",
        "video_backbone/no_decay",
        "head/no_decay",
        "rest/no_decay",
    ]
    assert by_name["video_backbone/decay"]["params"] == [shared]
    assert by_name["video_backbone/decay"]["lr"] == 1e-5
    assert by_name["video_backbone/no_decay"]["weight_decay"] == 0.0
    assert by_name["head/no_decay"]["params"] == [net.head.bias]
    assert by_name["head/no_decay"]["lr"] == 1e-3
    assert by_name["rest/no_decay"]["params"] == [net.scale]
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(net.parameters()))
    # without a backbone lr every part trains at lr
    assert {g["lr"] for g in net.param_groups(1e-3, None, 0.1)} == {1e-3}


def test_unfreeze_makes_every_parameter_trainable() -> None:
    net = _Net()
    for p in net.parameters():
        p.requires_grad_(False)
    net.unfreeze()
    assert all(p.requires_grad for p in net.parameters())


def test_frame_and_av_networks_share_the_part_api() -> None:
    for cls in (PartedDetector, AudioVisualDetector):
        assert issubclass(cls, PartedModule)
        assert cls.param_groups is PartedModule.param_groups
        assert cls.unfreeze is PartedModule.unfreeze
    model = create_model("efficientnet_b0", pretrained="none", input_size=64)
    groups = model.param_groups(lr=1e-3, backbone_lr=1e-5, weight_decay=0.05)
    assert [g["name"].split("/")[0] for g in groups][-1] == "head"
    assert {g["lr"] for g in groups if g["name"].startswith("backbone/")} == {1e-5}
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
