"""Cached frame-encoder features: a frozen backbone runs once per crop, not once per epoch.

While a phase keeps the whole backbone frozen (``train.cache_features: true``), only the parts
after it learn; their input, the pooled backbone features of each crop, does not change. The
features are computed once (eval mode, no augmentation) and kept in
``CROPS/features/<key>.npz``; the key hashes the encoder's weights and preprocessing, so runs
that share an encoder (a study's temporal heads on one frozen Lite0) share the file, and
fine-tuned or other weights never read stale features.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_write_bytes

__all__ = ["cached_features", "encoder_key"]

log = logging.getLogger(__name__)


def encoder_key(model: Any) -> str:
    """Hash of the backbone's weights (and buffers) and the preprocessing the model expects."""
    h = hashlib.sha1()
    c = model.config
    h.update(repr((c.backbone, c.input_size, tuple(c.mean), tuple(c.std))).encode())
    for name, tensor in model.parts()["backbone"].state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:20]


def cached_features(
    model: Any,
    paths: Sequence[str],
    cache_dir: str | Path,
    *,
    device: str = "cpu",
    batch_size: int = 64,
) -> tuple[np.ndarray, dict[str, int]]:
    """(features (N, C) float32, crop path -> row) for every path, computing only the missing
    ones and saving the union atomically."""
    import torch

    from .data import _normalise, _read_crop

    file = Path(cache_dir) / f"{encoder_key(model)}.npz"
    known: dict[str, int] = {}
    stored = np.zeros((0, 0), np.float32)
    if file.is_file():
        with np.load(file, allow_pickle=False) as data:
            stored = data["features"]
            known = {str(p): i for i, p in enumerate(data["paths"])}
    missing = [p for p in dict.fromkeys(paths) if p not in known]
    if missing:
        log.info("encoding %d crops with the frozen backbone (%s)", len(missing), file.name)
        c = model.config
        mean, std = np.asarray(c.mean, np.float32), np.asarray(c.std, np.float32)
        was_training = model.training
        model.eval()
        out = []
        with torch.inference_mode():
            for i in range(0, len(missing), batch_size):
                images = np.stack(
                    [_read_crop(p, c.input_size) for p in missing[i : i + batch_size]]
                )
                x = _normalise(images, mean, std).to(device)
                out.append(model.encode(x).float().cpu().numpy())
        model.train(was_training)
        new = np.concatenate(out).astype(np.float32)
        stored = new if not len(known) else np.concatenate([stored, new])
        known.update({p: len(known) + k for k, p in enumerate(missing)})
        order = sorted(known, key=known.__getitem__)
        buf = io.BytesIO()
        np.savez(buf, features=stored, paths=np.array(order))
        file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(file, buf.getvalue())
    return stored, known
