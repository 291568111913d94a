"""Detectors by name (registry), pretrained backbones, checkpoints with model cards."""

from .checkpoint import (
    Detector,
    ModelCard,
    load_checkpoint,
    load_detector,
    resolve_device,
    save_checkpoint,
)
from .registry import ModelConfig, create_model, get_config, list_models, register_model

__all__ = [
    "Detector",
    "ModelCard",
    "ModelConfig",
    "create_model",
    "get_config",
    "list_models",
    "load_checkpoint",
    "load_detector",
    "register_model",
    "resolve_device",
    "save_checkpoint",
]
