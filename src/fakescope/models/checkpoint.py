"""Checkpoints: safetensors weights + a JSON card that carries everything needed to run them.

A checkpoint is a folder::

    model.safetensors   the network's weights
    card.json           model config (backbone, input size, mean/std), crop settings, frames per
                        video, aggregation, calibration temperature and threshold, training data
                        and recipe, metrics, fakescope version

``load_detector(name_or_path)`` needs nothing else: it reads the card once and builds the
family's detector (``models.detector`` for the contract they share). A ``signals`` checkpoint
(``models.signals``) holds a fitted scikit-learn estimator (``model.skops`` or
``model.joblib``) instead of ``model.safetensors``; its card's ``signals`` section says which
file and format.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .. import __version__
from .._atomic import atomic_write_bytes, atomic_write_json
from ..errors import ModelError
from .detector import Detector
from .registry import ModelConfig

__all__ = [
    "CARD_FORMAT",
    "Detector",
    "ModelCard",
    "load_checkpoint",
    "load_detector",
    "save_checkpoint",
]

CARD_FORMAT = 1
SHIPPED = ("default", "avsync")


@dataclass
class ModelCard:
    """What a checkpoint is and how to feed it. JSON round-trips through ``to_dict``/``from_dict``."""

    name: str
    model: dict[str, Any]
    crop: dict[str, Any] = field(
        default_factory=lambda: {"detector": "yunet", "margin": 1.3, "size": 256}
    )
    frames_per_video: int = 32
    aggregation: str = "mean_of_max"  # video score = mean over frames of the max over faces
    temperature: float = 1.0
    threshold: float = 0.5
    calibration: dict[str, Any] | None = None  # video-level map (VideoCalibrator.to_dict)
    # signals family: features, context/signal settings, training distribution, estimator file
    signals: dict[str, Any] | None = None
    # flow inputs (seed 003): Farneback settings and the extraction's context (runs of frames)
    flow: dict[str, Any] | None = None
    # audio-visual models (kind av, issue 13): sampling, 16-kHz segments, video fallback
    # without an audio track, and what the model does not catch (``audio_card``)
    audio: dict[str, Any] | None = None
    # ensembles (kind ensemble, models.ensemble): the members (folder, family, own card), the
    # stacker and what the ensemble was fitted on
    ensemble: dict[str, Any] | None = None
    # imported published weights (fakescope.importers): their licence, what the logit means
    # and how it was derived from the published output, and where the weights came from
    # (importer, file, sha256, checksum verified, research-only); None for fakescope's own
    licence: str | None = None
    label_sense: str | None = None
    origin: dict[str, Any] | None = None
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    version: str = __version__
    format: int = CARD_FORMAT
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    @property
    def model_config(self) -> ModelConfig:
        return ModelConfig.from_dict(self.model)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        if int(data.get("format", 0)) > CARD_FORMAT:
            raise ModelError(
                f"model card format {data.get('format')} is newer than this fakescope reads ({CARD_FORMAT})"
            )
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def save_checkpoint(
    folder: str | os.PathLike[str], model: Any, card: ModelCard, *, onnx: bool = False
) -> Path:
    """Write ``model.safetensors`` and ``card.json`` (and ``model.onnx`` with ``onnx=True``)
    into ``folder``, each atomically."""
    from safetensors.torch import save

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(
        folder / "model.safetensors", save(state, metadata={"fakescope": __version__})
    )
    if onnx:
        export_onnx(model, folder / "model.onnx")
    else:
        (folder / "model.onnx").unlink(missing_ok=True)  # never keep a stale export
    atomic_write_json(folder / "card.json", card.to_dict(), indent=2)
    return folder


class _ClipOutputs:
    """A clip network as (logits, per-frame inconsistency) for export (the second output only
    when the model has an identity-consistency head)."""

    @staticmethod
    def wrap(model: Any) -> Any:
        import torch

        class Wrapped(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, x: Any) -> Any:
                out = self.inner.details(x)
                return out["logit"], out["inconsistency"]

        return Wrapped(model)


def export_onnx(model: Any, out: str | os.PathLike[str]) -> Path:
    """Export the network (any batch size) to ONNX, for ONNX Runtime on CPUs. Frame models
    take ``crops`` (B, 3, S, S); clip models ``clips`` (B, T, 3, S, S) and also answer the
    per-frame ``inconsistency`` when they have an identity-consistency head."""
    import copy
    import io
    import warnings

    import torch

    config = model.config
    size = config.input_size
    cpu_model = copy.deepcopy(model).float().cpu().eval()  # leave the caller's model untouched
    if config.kind == "clip":
        example = torch.zeros(1, config.frames_per_clip, 3, size, size)
        names = ["logits", "inconsistency"] if config.identity_head else ["logits"]
        net = _ClipOutputs.wrap(cpu_model) if config.identity_head else cpu_model
        inputs = "clips"
    else:
        example, names, net, inputs = torch.zeros(1, 3, size, size), ["logits"], cpu_model, "crops"
    buf = io.BytesIO()
    # the tracer's notes (T and shapes fixed by the example, constant folding skipped) are
    # expected: the graph is tested equal to PyTorch at other batch sizes; users need not see them
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            net,
            (example,),
            buf,  # type: ignore[arg-type]
            input_names=[inputs],
            output_names=names,
            dynamic_axes={inputs: {0: "batch"}, **{n: {0: "batch"} for n in names}},
            opset_version=17,
            dynamo=False,
        )
    atomic_write_bytes(out, buf.getvalue())
    return Path(out)


def _resolve(name_or_path: str | os.PathLike[str]) -> Path:
    text = os.fspath(name_or_path)
    if text in SHIPPED:
        folder = Path(str(resources.files("fakescope") / "weights" / text))
        if not (folder / "card.json").is_file():
            raise ModelError(
                f"the shipped model '{text}' is missing from this installation ({folder})"
            )
        return folder
    path = Path(text)
    if path.is_file() and path.name in ("card.json", "model.safetensors"):
        path = path.parent
    if not (path / "card.json").is_file() or not (
        (path / "model.safetensors").is_file()
        or _signals_file(path) is not None
        or _is_ensemble(path)
    ):
        raise ModelError(
            f"{text}: not a checkpoint (a folder with card.json and model.safetensors) "
            f"nor a shipped model ({', '.join(SHIPPED)})"
        )
    return path


def _is_ensemble(folder: Path) -> bool:
    from .ensemble import is_ensemble_folder

    return is_ensemble_folder(folder)


def _signals_file(folder: Path) -> Path | None:
    """The estimator file a signals card names, when the card is one and the file exists."""
    import json

    try:
        data = json.loads((folder / "card.json").read_text())
        name = data["signals"]["estimator"]["file"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    path = folder / str(name)
    return path if path.is_file() else None


def estimator_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The files of a checkpoint besides its card (weights, ONNX export, signals estimator)."""
    folder = Path(folder)
    names = [folder / "model.safetensors", folder / "model.onnx", _signals_file(folder)]
    return [p for p in names if p is not None and p.is_file()]


def read_card(name_or_path: str | os.PathLike[str]) -> ModelCard:
    """A checkpoint's card alone (cheap: no weights are read)."""
    return _card_of(_resolve(name_or_path))


def _card_of(folder: Path) -> ModelCard:
    """The card of a resolved checkpoint folder, its model section validated."""
    import json

    try:
        card = ModelCard.from_dict(json.loads((folder / "card.json").read_text()))
        card.model_config  # noqa: B018 - validate the model section too
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{folder / 'card.json'}: invalid model card ({exc})") from None
    return card


def load_checkpoint(
    name_or_path: str | os.PathLike[str], device: str = "cpu"
) -> tuple[Any, ModelCard]:
    """(network in eval mode, card) from a checkpoint folder or a shipped model name."""
    folder = _resolve(name_or_path)
    card = _card_of(folder)
    return _load_network(folder, card, device), card


def _load_network(folder: Path, card: ModelCard, device: str) -> Any:
    """The network (or a signals card's fitted estimator) of a checkpoint whose card is read."""
    from safetensors.torch import load_file

    from .registry import create_model

    config = card.model_config
    if config.kind == "signals":  # a fitted scikit-learn estimator, not a network
        from .signals import load_estimator

        return load_estimator(folder, card.signals or {})
    if not (folder / "model.safetensors").is_file():
        raise ModelError(f"{folder}: no model.safetensors for the card's {config.kind} model")
    # the weights come from the checkpoint: never fetch pretrained ones again
    model = create_model(config, pretrained="none", freeze_blocks=0)
    try:
        state = load_file(str(folder / "model.safetensors"), device="cpu")
        if set(state) != set(model.state_dict()):  # (a mean-pooled clip has no temporal keys)
            _check_family(folder, config, state)
        model.load_state_dict(state, strict=True)
    except (RuntimeError, OSError) as exc:
        raise ModelError(
            f"{folder}: weights do not match the card's model ({' '.join(str(exc).split())[:200]})"
        ) from None
    model.eval().to(device)
    return model


def _check_family(folder: Path, config: ModelConfig, state: dict[str, Any]) -> None:
    """One line when the weights are of the other family (a frame model's weights under a clip
    card, or the reverse)."""
    if config.kind == "av":  # an av network's own keys: load_state_dict(strict) checks them
        return
    weights_family = "clip" if any(k.startswith("temporal.") for k in state) else "frame"
    if weights_family != config.kind:
        raise ModelError(
            f"{folder}: the card describes a {config.kind} model ({config.name}) but the weights "
            f"are a {weights_family} model's; a {config.kind} detector needs a {config.kind} "
            "checkpoint"
        )


def load_detector(
    name_or_path: str | os.PathLike[str] = "default", device: str = "cpu", onnx: bool = True
) -> Detector:
    """``fakescope.load_detector("default")`` or a checkpoint folder -> ``Detector``
    (``onnx=False`` keeps PyTorch on a CPU even when the checkpoint carries ONNX)."""
    folder = _resolve(name_or_path)
    card = _card_of(folder)  # read once; every family below is built from it
    kind = card.model_config.kind
    if kind == "ensemble":  # members + stacker (models.ensemble)
        from .ensemble import load_ensemble

        return load_ensemble(folder, card, device)  # type: ignore[return-value]
    if kind == "signals":
        from .signals import load_signals

        return load_signals(folder, card, device)
    if kind == "av":  # frames and audio in, segments out
        from .av import AVDetector

        return AVDetector(_load_network(folder, card, device), card, device)
    onnx_path = folder / "model.onnx" if onnx else None
    if device == "cpu" and onnx_path is not None and onnx_path.is_file() and _has_onnxruntime():
        return Detector(
            None, card, device, onnx_path, loader=lambda: _load_network(folder, card, device)
        )
    return Detector(_load_network(folder, card, device), card, device, onnx_path)


def audio_card(config: ModelConfig, **extra: Any) -> dict[str, Any]:
    """The ``audio`` section of an av model's card: how scans feed it (``sampling`` at
    ``segment_frames`` FPS, 1-s windows of 16-kHz mono audio, ``segments`` per window) and
    whether a video without audio falls back to the video branch (``fallback``)."""
    return {
        "sample_rate": 16000,
        "segment_seconds": 1.0,
        "sampling": f"fps:{config.segment_frames}",
        "segments": int(config.segments),
        "fallback": bool(config.audio_fallback),
        **extra,
    }


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when PyTorch sees a GPU, else ``cpu``; other names pass through.

    On Linux without an NVIDIA device node (and macOS, which has no CUDA) this answers
    ``cpu`` without importing PyTorch, so a CPU scan on ONNX Runtime never pays its import.
    """
    if device != "auto":
        return device
    import sys

    if "torch" not in sys.modules:
        if sys.platform == "darwin":
            return "cpu"
        if sys.platform.startswith("linux") and not any(Path("/dev").glob("nvidia[0-9]*")):
            return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _has_onnxruntime() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None
