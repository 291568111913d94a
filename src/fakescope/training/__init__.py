"""Training: self-blended pseudo-fakes (SBI) and forensics-suited augmentations."""

from .augment import AugmentConfig, augment_clip, augment_image
from .sbi import SBIConfig, SBIResult, sbi_crop_window, sbi_gallery, self_blend

__all__ = [
    "AugmentConfig",
    "SBIConfig",
    "SBIResult",
    "augment_clip",
    "augment_image",
    "sbi_crop_window",
    "sbi_gallery",
    "self_blend",
]
