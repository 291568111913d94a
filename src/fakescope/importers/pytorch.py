"""PyTorch checkpoints of published detectors -> fakescope state dicts.

Key names and shapes are those of each project's public code (read, not run):

- **SBI** (mapooon/SelfBlendedImages, ``src/inference/model.py``): ``Detector.net`` =
  ``efficientnet_pytorch`` ``EfficientNet.from_pretrained("efficientnet-b4", advprop=True,
  num_classes=2)``; the file is ``{"model": state_dict, ...}`` with keys ``net._conv_stem``,
  ``net._blocks.N._expand_conv`` ..., ``net._fc`` (2, 1792); inputs: RGB / 255 at 380 px;
  score ``softmax(1)[:, 1]`` = fake.
- **DeepfakeBench** (SCLBD/DeepfakeBench, ``training/detectors``, ``training/networks``): the
  detector's ``state_dict`` (keys may carry DataParallel's ``module.``). Xception and SPSL:
  ``backbone.conv1`` ... ``backbone.block12``, ``backbone.conv3/4`` (separable:
  ``conv1`` + ``pointwise``), ``backbone.last_linear`` (2, 2048) (``last_linear.1`` with dropout),
  ``backbone.adjust_channel`` (unused); SPSL's ``conv1`` has 4 input channels. EfficientNet-B4:
  ``backbone.efficientnet.*`` (``efficientnet_pytorch`` names, stem ``nn.Conv2d`` without
  padding, ``_fc`` = Identity) and ``backbone.last_layer`` (2, 1792). UCF: ``encoder_f.*``
  (Xception, ``adjust_channel``), ``block_sha.conv2d.{0,2,4}``, ``head_sha.mlp.{0,2}``; the
  content encoder ``encoder_c``, ``con_gan``, ``block_spe`` and ``head_spe`` only serve
  training and are left out. 256 px, mean = std = 0.5; ``softmax(1)[:, 1]`` = fake.
- **DFDC winner** (selimsef/dfdc_deepfake_challenge, ``training/zoo/classifiers.py``):
  ``DeepFakeClassifier("tf_efficientnet_b7_ns")``: ``encoder.*`` (timm names; its ImageNet
  ``encoder.classifier`` is unused), ``fc`` (1, 2560); files hold ``{"state_dict": ...}`` with
  ``module.`` prefixes; 380 px, ImageNet mean/std; ``sigmoid`` = fake.

A two-way softmax head ``(w0, w1)`` becomes fakescope's one logit ``w1 - w0`` (the same
probability of fake).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ModelError

__all__ = [
    "EFFNET_BLOCK_EXPANDED",
    "EFFNET_BLOCK_SEPARABLE",
    "EFFNET_TOP",
    "effnet_pytorch_to_timm",
    "load_state",
    "softmax_pair_to_logit",
]

# efficientnet_pytorch module names -> timm's (tf_efficientnet_*)
EFFNET_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2"}
EFFNET_BLOCK_EXPANDED = {
    "_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
    "_se_reduce": "se.conv_reduce", "_se_expand": "se.conv_expand", "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}  # fmt: skip
EFFNET_BLOCK_SEPARABLE = {
    "_depthwise_conv": "conv_dw", "_bn1": "bn1", "_se_reduce": "se.conv_reduce",
    "_se_expand": "se.conv_expand", "_project_conv": "conv_pw", "_bn2": "bn2",
}  # fmt: skip


def load_state(path: Path, *nested: str) -> dict[str, Any]:
    """A checkpoint's tensors: the first of the ``nested`` keys that holds a dict (e.g.
    ``model``, ``state_dict``), else the file itself; DataParallel's ``module.`` dropped.
    Loaded with ``weights_only=True`` (no code runs); ``.safetensors`` too."""
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        obj: Any = load_file(str(path))
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle errors come in many kinds
            msg = " ".join(str(exc).split())[:160]
            raise ModelError(f"{path}: not a PyTorch checkpoint ({msg})") from None
    if not isinstance(obj, dict):
        raise ModelError(f"{path}: holds a {type(obj).__name__}, not a state dict")
    for key in nested:
        if isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in obj.items()}


def _take(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _need(state: dict[str, Any], keys: list[str], what: str) -> None:
    missing = [k for k in keys if k not in state]
    if missing:
        raise ModelError(f"not {what} weights: no {', '.join(missing[:3])}")


def softmax_pair_to_logit(weight: Any, bias: Any) -> tuple[Any, Any]:
    """A (2, C) softmax head (class 1 = fake) -> the (1, C) logit of fake."""
    if weight.shape[0] != 2:
        raise ModelError(f"expected a two-class head, got {weight.shape[0]} outputs")
    return (weight[1] - weight[0])[None], (bias[1] - bias[0])[None]


def _stage_layout(arch: str) -> list[tuple[int, int]]:
    """(stage, index) of every block of timm's ``arch``, in order."""
    import timm

    model: Any = timm.create_model(arch, pretrained=False, num_classes=0)
    return [(i, j) for i, stage in enumerate(model.blocks) for j in range(len(stage))]


def effnet_pytorch_to_timm(state: dict[str, Any], arch: str) -> dict[str, Any]:
    """``efficientnet_pytorch`` names (``_conv_stem``, ``_blocks.N.*``, ``_conv_head`` ...;
    ``_fc`` left out) -> timm's for ``arch`` (``conv_stem``, ``blocks.S.J.*``, ...)."""
    layout = _stage_layout(arch)
    out: dict[str, Any] = {}
    for key, value in state.items():
        module, _, param = key.partition(".")
        if module == "_fc":
            continue
        if module == "_blocks":
            n, _, rest = param.partition(".")
            if int(n) >= len(layout):
                raise ModelError(f"block {n} is beyond {arch}'s {len(layout)} blocks")
            stage, idx = layout[int(n)]
            expanded = f"_blocks.{n}._expand_conv.weight" in state
            table = EFFNET_BLOCK_EXPANDED if expanded else EFFNET_BLOCK_SEPARABLE
            sub, _, tail = rest.partition(".")
            if sub not in table:
                raise ModelError(f"unknown efficientnet_pytorch block layer {key}")
            out[f"blocks.{stage}.{idx}.{table[sub]}.{tail}"] = value
        elif module in EFFNET_TOP:
            out[f"{EFFNET_TOP[module]}.{param}"] = value
        else:
            raise ModelError(f"unknown efficientnet_pytorch layer {key}")
    return out


def _prefixed(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {f"{prefix}{k}": v for k, v in state.items()}


# ── one converter per published checkpoint ───────────────────────────────────


def sbi_efficientnet_b4(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    state = _take(load_state(path, "model", "state_dict"), "net.")
    _need(state, ["_conv_stem.weight", "_fc.weight", "_fc.bias"], "SBI EfficientNet-B4")
    w, b = softmax_pair_to_logit(state["_fc.weight"], state["_fc.bias"])
    out = _prefixed(effnet_pytorch_to_timm(state, "tf_efficientnet_b4"), "backbone.")
    out |= {"head.1.weight": w, "head.1.bias": b}
    return out, {"last_layer": "softmax pair (real, fake) -> one logit w1 - w0"}


def dfb_xception(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    state = _take(load_state(path, "state_dict", "model"), "backbone.")
    return _dfb_xception_like(state, "DeepfakeBench Xception", in_chans=3, prefix="backbone.")


def dfb_spsl(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    state = _take(load_state(path, "state_dict", "model"), "backbone.")
    return _dfb_xception_like(state, "DeepfakeBench SPSL", in_chans=4, prefix="backbone.encoder.")


def _dfb_xception_like(
    state: dict[str, Any], what: str, in_chans: int, prefix: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    head = "last_linear.1." if "last_linear.1.weight" in state else "last_linear."
    _need(state, ["conv1.weight", f"{head}weight", f"{head}bias"], what)
    if state["conv1.weight"].shape[1] != in_chans:
        raise ModelError(
            f"not {what} weights: conv1 reads {state['conv1.weight'].shape[1]} channels, "
            f"{what} reads {in_chans}"
        )
    w, b = softmax_pair_to_logit(state[f"{head}weight"], state[f"{head}bias"])
    body = {
        k: v
        for k, v in state.items()
        if not k.startswith(("last_linear.", "adjust_channel.", "fc."))
    }
    out = _prefixed(body, prefix) | {"head.1.weight": w, "head.1.bias": b}
    return out, {"last_layer": "softmax pair (real, fake) -> one logit w1 - w0"}


def dfb_efficientnet_b4(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    state = _take(load_state(path, "state_dict", "model"), "backbone.")
    _need(
        state,
        ["efficientnet._conv_stem.weight", "last_layer.weight", "last_layer.bias"],
        "DeepfakeBench EfficientNet-B4",
    )
    w, b = softmax_pair_to_logit(state["last_layer.weight"], state["last_layer.bias"])
    body = effnet_pytorch_to_timm(_take(state, "efficientnet."), "tf_efficientnet_b4")
    out = _prefixed(body, "backbone.encoder.") | {"head.1.weight": w, "head.1.bias": b}
    return out, {"last_layer": "softmax pair (real, fake) -> one logit w1 - w0"}


def dfb_ucf(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    state = load_state(path, "state_dict", "model")
    keys = ["encoder_f.conv1.weight", "encoder_f.adjust_channel.0.weight",
            "block_sha.conv2d.0.weight", "head_sha.mlp.0.weight", "head_sha.mlp.2.weight"]  # fmt: skip
    _need(state, keys, "DeepfakeBench UCF")
    enc = {
        k: v
        for k, v in _take(state, "encoder_f.").items()
        if not k.startswith(("last_linear.", "adjust_channel."))
    }
    out = _prefixed(enc, "backbone.encoder.")
    out |= _prefixed(_take(state, "encoder_f.adjust_channel."), "backbone.adjust_channel.")
    out |= _prefixed(_take(state, "block_sha.conv2d."), "backbone.block_sha.")
    out |= {
        "backbone.fc.weight": state["head_sha.mlp.0.weight"],
        "backbone.fc.bias": state["head_sha.mlp.0.bias"],
    }
    w, b = softmax_pair_to_logit(state["head_sha.mlp.2.weight"], state["head_sha.mlp.2.bias"])
    out |= {"head.1.weight": w, "head.1.bias": b}
    left = sorted({k.split(".", 1)[0] for k in state} - {"encoder_f", "block_sha", "head_sha"})
    return out, {
        "last_layer": "head_sha softmax pair (real, fake) -> one logit w1 - w0",
        "left_out": left,  # training-only parts: content encoder, generator, specific branch
    }


def selimsef_efficientnet_b7(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    state = load_state(path, "state_dict", "model")
    _need(state, ["encoder.conv_stem.weight", "fc.weight", "fc.bias"], "DFDC winner B7")
    enc = {k: v for k, v in _take(state, "encoder.").items() if not k.startswith("classifier.")}
    if state["fc.weight"].shape[0] != 1:
        raise ModelError(f"not a DFDC winner B7 head: fc has {state['fc.weight'].shape[0]} outputs")
    out = _prefixed(enc, "backbone.") | {
        "head.1.weight": state["fc.weight"],
        "head.1.bias": state["fc.bias"],
    }
    return out, {"last_layer": "fc (sigmoid = P(fake)) kept as is"}
