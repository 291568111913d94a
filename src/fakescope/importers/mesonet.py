"""MesoNet's Keras HDF5 weights (Meso4 / MesoInception4, Keras 2.1.5) -> fakescope state dicts.

The files hold weights only (no model config): each layer is a group named by Keras' creation
counter (``conv2d_5``, ``batch_normalization_5``, ``dense_3`` ...), so layers of one type are
taken in creation order (numeric suffix), which is the order of the authors' ``init_model``.
Conversions: conv kernels (kh, kw, in, out) -> (out, in, kh, kw); BatchNorm gamma/beta/moving
mean/variance -> weight/bias/running_mean/running_var (epsilon 1e-3 in the module); the Dense
after Flatten reads Keras' NHWC flattening, so its rows are permuted to PyTorch's NCHW order.

Label sense: the authors trained with Keras ``flow_from_directory`` on class folders ``df`` and
``real``, sorted alphabetically -> df = 0, real = 1, so the sigmoid is P(real). The importer
negates the last Dense so the logit is of "fake" (checked on the authors' test images in
tests/importers/test_mesonet.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError

__all__ = ["keras_layers", "mesonet_state_dict"]

_SUFFIX = re.compile(r"^(.*?)(?:_(\d+))?$")


def keras_layers(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Every layer with weights in a Keras HDF5 weights file: name -> {weight name: array}
    (``kernel``, ``bias``, ``gamma``, ``beta``, ``moving_mean``, ``moving_variance``)."""
    import h5py

    out: dict[str, dict[str, np.ndarray]] = {}
    with h5py.File(path, "r") as f:
        root = f.get("model_weights", f)
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in root.attrs["layer_names"]]
        for layer in names:
            group = root[layer]
            weights = {}
            for w in group.attrs.get("weight_names", []):
                w = w.decode() if isinstance(w, bytes) else str(w)
                short = w.rsplit("/", 1)[-1].split(":", 1)[0]
                weights[short] = np.asarray(group[w], dtype=np.float32)
            if weights:
                out[layer] = weights
    return out


def _by_type(layers: dict[str, dict[str, np.ndarray]], kind: str) -> list[dict[str, np.ndarray]]:
    """Layers of one Keras type (``conv2d``, ``batch_normalization``, ``dense``) in creation
    order (numeric suffix; no suffix = the first)."""
    found = []
    for name, weights in layers.items():
        m = _SUFFIX.match(name)
        if m and m.group(1) == kind:
            found.append((int(m.group(2) or 0), weights))
    return [w for _, w in sorted(found, key=lambda t: t[0])]


def _conv(prefix: str, layer: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        f"{prefix}.weight": layer["kernel"].transpose(3, 2, 0, 1),
        f"{prefix}.bias": layer["bias"],
    }


def _bn(prefix: str, layer: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        f"{prefix}.weight": layer["gamma"],
        f"{prefix}.bias": layer["beta"],
        f"{prefix}.running_mean": layer["moving_mean"],
        f"{prefix}.running_var": layer["moving_variance"],
        f"{prefix}.num_batches_tracked": np.zeros((), np.int64),
    }


def mesonet_state_dict(path: str | Path, variant: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(state dict of fakescope's ``mesonet4`` / ``mesoinception4``, notes) from the authors'
    HDF5 file. ``variant``: ``meso4`` or ``mesoinception4``."""
    import torch

    layers = keras_layers(path)
    convs = _by_type(layers, "conv2d")
    bns = _by_type(layers, "batch_normalization")
    dense = _by_type(layers, "dense")
    want = {"meso4": (4, 4), "mesoinception4": (16, 4)}[variant]
    if (len(convs), len(bns), len(dense)) != (*want, 2):
        other = "MesoInception4" if variant == "meso4" else "Meso4"
        raise ModelError(
            f"{path}: {len(convs)} conv, {len(bns)} BatchNorm and {len(dense)} dense layers, "
            f"not {variant}'s {want[0]}, {want[1]} and 2 (a {other} file, or not MesoNet?)"
        )
    state: dict[str, np.ndarray] = {}
    if variant == "meso4":
        for i in range(4):
            state |= _conv(f"backbone.blocks.{i}.conv", convs[i])
            state |= _bn(f"backbone.blocks.{i}.bn", bns[i])
    else:
        # each Inception layer creates its convs as: a 1x1; b 1x1, 3x3; c 1x1, 3x3 (dil 2);
        # d 1x1, 3x3 (dil 3)
        names = ["b1", "b2.0", "b2.1", "b3.0", "b3.1", "b4.0", "b4.1"]
        for i in range(2):
            for k, n in enumerate(names):
                state |= _conv(f"backbone.blocks.{i}.{n}", convs[7 * i + k])
            state |= _bn(f"backbone.blocks.{i}.bn", bns[i])
        for i in (2, 3):
            state |= _conv(f"backbone.blocks.{i}.conv", convs[12 + i])
            state |= _bn(f"backbone.blocks.{i}.bn", bns[i])
    kernel = dense[0]["kernel"]  # (1024, 16): rows in Keras' (h, w, c) flattening of 8x8x16
    h = w = 8
    c = kernel.shape[0] // (h * w)
    state["backbone.fc.weight"] = (
        kernel.reshape(h, w, c, -1).transpose(3, 2, 0, 1).reshape(kernel.shape[1], -1)
    )
    state["backbone.fc.bias"] = dense[0]["bias"]
    # the published sigmoid is P(real) (class folders df=0, real=1): negate for a logit of fake
    state["head.1.weight"] = -dense[1]["kernel"].T
    state["head.1.bias"] = -dense[1]["bias"]
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}
    notes = {"keras_layers": len(layers), "last_layer": "negated (published sigmoid = P(real))"}
    return tensors, notes
