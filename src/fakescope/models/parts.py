"""The part API shared by detectors made of named parts (``backbones.PartedDetector``,
``av.AudioVisualDetector``): every parameter trainable again, and optimiser groups per part."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import nn

__all__ = ["PartedModule"]


class PartedModule(nn.Module):
    """A network whose parameters lie in named parts: the attributes listed in ``PART_NAMES``
    (input side first). Subclasses freeze parts their own way (``freeze_parts``)."""

    PART_NAMES: tuple[str, ...] = ()

    def parts(self) -> dict[str, nn.Module]:
        """The named parts, input side first; an attribute that is not a module (None for a
        modality a network did not build) is left out."""
        out: dict[str, nn.Module] = {}
        for name in self.PART_NAMES:
            module = getattr(self, name, None)
            if isinstance(module, nn.Module):
                out[name] = module
        return out

    def unfreeze(self) -> None:
        """Make every parameter trainable."""
        for p in self.parameters():
            p.requires_grad_(True)

    def param_groups(
        self, lr: float, backbone_lr: float | None, weight_decay: float
    ) -> list[dict[str, Any]]:
        """Optimizer groups per part, input side first: parts whose name ends in ``backbone``
        train at ``backbone_lr`` (``lr`` when None), the rest at ``lr``; no weight decay on
        biases and normalisation weights (ndim <= 1). Frozen parameters are included (they may
        be unfrozen later). A parameter shared by two parts goes with the first; parameters
        outside every part join a ``rest`` group at ``lr``, last. Each group carries a ``name``
        (``PART/decay`` or ``PART/no_decay``); empty groups are left out."""
        out: list[dict[str, Any]] = []
        seen: set[int] = set()
        for name, part in self.parts().items():
            part_lr = backbone_lr if name.endswith("backbone") and backbone_lr is not None else lr
            out.extend(_groups(name, part.parameters(), part_lr, weight_decay, seen))
        out.extend(_groups("rest", self.parameters(), lr, weight_decay, seen))
        return [g for g in out if g["params"]]


def _groups(
    name: str, params: Iterable[nn.Parameter], lr: float, weight_decay: float, seen: set[int]
) -> list[dict[str, Any]]:
    """The ``decay`` and ``no_decay`` groups of the ``params`` not in ``seen`` (then added)."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for p in params:
        if id(p) in seen:
            continue
        seen.add(id(p))
        (no_decay if p.ndim <= 1 else decay).append(p)
    return [
        {"params": decay, "lr": lr, "weight_decay": weight_decay, "name": f"{name}/decay"},
        {"params": no_decay, "lr": lr, "weight_decay": 0.0, "name": f"{name}/no_decay"},
    ]
