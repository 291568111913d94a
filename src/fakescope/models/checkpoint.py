"""Checkpoints: safetensors weights + a JSON card that carries everything needed to run them.

A checkpoint is a folder::

    model.safetensors   the network's weights
    card.json           model config (backbone, input size, mean/std), crop settings, frames per
                        video, aggregation, calibration temperature and threshold, training data
                        and recipe, metrics, fakescope version

``load_detector(name_or_path)`` needs nothing else. A ``signals`` checkpoint (``models.signals``)
holds a fitted scikit-learn estimator (``model.skops`` or ``model.joblib``) instead of
``model.safetensors``; its card's ``signals`` section says which file and format.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._atomic import atomic_write_bytes, atomic_write_json
from ..errors import ModelError
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
        (path / "model.safetensors").is_file() or _signals_file(path) is not None
    ):
        raise ModelError(
            f"{text}: not a checkpoint (a folder with card.json and model.safetensors) "
            f"nor a shipped model ({', '.join(SHIPPED)})"
        )
    return path


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
    import json

    folder = _resolve(name_or_path)
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
    import json

    from safetensors.torch import load_file

    from .registry import create_model

    folder = _resolve(name_or_path)
    try:
        card = ModelCard.from_dict(json.loads((folder / "card.json").read_text()))
        config = card.model_config
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{folder / 'card.json'}: invalid model card ({exc})") from None
    if config.kind == "signals":  # a fitted scikit-learn estimator, not a network
        from .signals import load_estimator

        return load_estimator(folder, card.signals or {}), card
    if not (folder / "model.safetensors").is_file():
        raise ModelError(f"{folder}: no model.safetensors for the card's {config.kind} model")
    # the weights come from the checkpoint: never fetch pretrained ones again
    model = create_model(config, pretrained="none", freeze_blocks=0)
    try:
        state = load_file(str(folder / "model.safetensors"), device="cpu")
        _check_family(folder, config, state)
        model.load_state_dict(state, strict=True)
    except (RuntimeError, OSError) as exc:
        raise ModelError(
            f"{folder}: weights do not match the card's model ({' '.join(str(exc).split())[:200]})"
        ) from None
    model.eval().to(device)
    return model, card


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


class Detector:
    """A loaded checkpoint with its preprocessing: crops in, calibrated probabilities out.

    On a CPU, when the checkpoint carries ``model.onnx`` and ONNX Runtime is installed, logits
    come from ONNX Runtime (3-6x faster than eager PyTorch on small CPUs); on a GPU, from
    PyTorch in half precision. ``backend`` says which.
    """

    def __init__(
        self,
        model: Any,
        card: ModelCard,
        device: str = "cpu",
        onnx_path: Path | None = None,
        loader: Any = None,
    ) -> None:
        self._model = model
        self._loader = loader  # builds the PyTorch network on first use (ONNX Runtime needs none)
        self.card = card
        self.device = device
        self.config = card.model_config
        self.backend = "torch"
        self._session: Any = None
        if device == "cpu" and onnx_path is not None and onnx_path.is_file():
            try:
                import onnxruntime as ort
            except ImportError:
                pass
            else:
                options = ort.SessionOptions()
                options.intra_op_num_threads = min(4, os.cpu_count() or 1)
                # no busy-waiting between ops: the threads that decode and detect faces
                # beside the network (a staged scan) get the cores instead
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                self._session = ort.InferenceSession(
                    str(onnx_path), options, providers=["CPUExecutionProvider"]
                )
                self.backend = "onnxruntime"
        elif device.startswith("cuda"):
            self.model.half()
            self.backend = "torch-fp16"

    @property
    def model(self) -> Any:
        """The PyTorch network (built on first use when ONNX Runtime serves the logits)."""
        if self._model is None:
            self._model = self._loader()
        return self._model

    def preprocess_array(self, crops: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB crops -> (N, 3, S, S) float32 array, resized and normalised."""
        import cv2

        s = self.config.input_size
        resized = [
            c if c.shape[:2] == (s, s) else cv2.resize(c, (s, s), interpolation=cv2.INTER_AREA)
            for c in crops
        ]
        scaled = np.stack(resized).astype(np.float32) / 255.0
        batch = (scaled - np.asarray(self.config.mean, np.float32)) / np.asarray(
            self.config.std, np.float32
        )
        return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))

    def preprocess(self, crops: np.ndarray) -> Any:
        """The same as ``preprocess_array``, as a tensor on the detector's device."""
        import torch

        return torch.from_numpy(self.preprocess_array(crops)).to(self.device)

    def logits(self, crops: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Raw (uncalibrated) logits of "fake" for each crop (frame models; a clip model's
        crops go through ``clip_outputs``)."""
        if self.family == "clip":
            raise ModelError(
                f"{self.card.name} is a clip model ({self.config.frames_per_clip} frames): "
                "score tracks with fakescope.inference.score_entry or clip_outputs"
            )
        out = []
        if self._session is not None:  # ONNX Runtime: no PyTorch import at all
            for i in range(0, len(crops), batch_size):
                x = self.preprocess_array(crops[i : i + batch_size])
                out.append(self._session.run(None, {"crops": x})[0].astype(np.float32))
            return np.concatenate(out) if out else np.zeros(0, np.float32)
        import torch

        with torch.inference_mode():
            for i in range(0, len(crops), batch_size):
                x = self.preprocess(crops[i : i + batch_size])
                if self.backend == "torch-fp16":
                    x = x.half()
                out.append(self.model(x).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    @property
    def family(self) -> str:
        return str(self.config.kind)

    def clip_outputs(self, clips: np.ndarray, batch_size: int = 4) -> dict[str, Any]:
        """Clip models: (N, T, H, W, 3) uint8 crops -> ``logit`` (N,) raw logits of "fake" and
        ``inconsistency`` (N, T) per-frame identity inconsistency, or None."""
        if self.family != "clip":
            raise ModelError(
                f"{self.card.name} is a frame model: it scores single crops, not clips"
            )
        n, t = clips.shape[:2]
        logits, curves = [], []
        for i in range(0, n, batch_size):
            chunk = clips[i : i + batch_size]
            x = self.preprocess_array(chunk.reshape(-1, *chunk.shape[2:]))
            x = x.reshape(len(chunk), t, *x.shape[1:])
            if self._session is not None:
                outs = self._session.run(None, {"clips": x})
                logits.append(np.asarray(outs[0], np.float32))
                curves.append(np.asarray(outs[1], np.float32) if len(outs) > 1 else None)
                continue
            import torch

            with torch.inference_mode():
                xt = torch.from_numpy(x).to(self.device)
                if self.backend == "torch-fp16":
                    xt = xt.half()
                out = self.model.details(xt)
            logits.append(out["logit"].float().cpu().numpy())
            inc = out.get("inconsistency")
            curves.append(None if inc is None else inc.float().cpu().numpy())
        logit = np.concatenate(logits) if logits else np.zeros(0, np.float32)
        have = [c for c in curves if c is not None]
        curve = np.concatenate(have) if have and len(have) == len(curves) else None
        return {"logit": logit, "inconsistency": curve}

    def torch_logits(self, crops: np.ndarray) -> np.ndarray:
        """Logits from the PyTorch network whatever the backend (for parity checks)."""
        import torch

        dtype = next(self.model.parameters()).dtype
        with torch.inference_mode():
            return self.model(self.preprocess(crops).to(dtype)).float().cpu().numpy()

    def predict_proba(self, crops: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Calibrated probability of "fake" for each crop (temperature from the card)."""
        z = self.logits(crops, batch_size) / float(self.card.temperature)
        return 1.0 / (1.0 + np.exp(-z))


def load_detector(
    name_or_path: str | os.PathLike[str] = "default", device: str = "cpu", onnx: bool = True
) -> Detector:
    """``fakescope.load_detector("default")`` or a checkpoint folder -> ``Detector``
    (``onnx=False`` keeps PyTorch on a CPU even when the checkpoint carries ONNX)."""
    folder = _resolve(name_or_path)
    if read_card(folder).model_config.kind == "signals":
        from .signals import load_signals

        return load_signals(folder, read_card(folder), device)
    if read_card(folder).model_config.kind == "av":  # frames and audio in, segments out
        from .av import AVDetector

        return AVDetector(*load_checkpoint(folder, device), device)
    onnx_path = folder / "model.onnx" if onnx else None
    if device == "cpu" and onnx_path is not None and onnx_path.is_file() and _has_onnxruntime():
        card = read_card(folder)
        return Detector(
            None, card, device, onnx_path, loader=lambda: load_checkpoint(folder, device)[0]
        )
    model, card = load_checkpoint(name_or_path, device)
    return Detector(model, card, device, onnx_path)


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
