"""``Detector``: a loaded checkpoint with its preprocessing, behind the detector contract.

Every detector (this class for frame, clip and flow models; ``SignalsDetector``,
``AVDetector`` and ``EnsembleDetector`` for the other families) answers

- ``family``: its family name (the card's ``model.kind``),
- ``score(entry, tracks, *, transform=None, batch_size=32)``: ``VideoScores`` of the given
  tracks of a cache entry, scored the family's own way,
- ``shape()``: the family block of a scan result's ``model`` section,

so ``inference.score_entry``, ``Scanner``, ``evaluate`` and the service never branch on the
family. The scoring bodies live with the inference pipeline (``inference.pipeline``,
``inference.flow``, ``inference.av``), imported when a detector scores.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ModelError
from ..types import VideoScores

if TYPE_CHECKING:
    from .checkpoint import ModelCard

__all__ = ["Detector"]


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

    def score(
        self,
        entry: Any,
        tracks: list[dict[str, Any]],
        *,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        batch_size: int = 32,
    ) -> VideoScores:
        """``VideoScores`` of ``tracks`` of a cache entry: a frame model scores every crop
        (``batch_size`` a batch); a clip model windows of T crops of each track, and a flow
        clip model windows of T frame pairs (``batch_size // 8`` clips a batch)."""
        clips = max(1, batch_size // 8)
        if self.family == "clip" and self.config.inputs == "flow":  # seed 003: frame pairs
            from ..inference.flow import score_flow

            return score_flow(entry, tracks, self, clips, transform)
        if self.family == "clip":
            from ..inference.pipeline import score_clips

            return score_clips(entry, tracks, self, transform, clips)
        from ..inference.pipeline import score_frames

        return score_frames(entry, tracks, self, transform, batch_size)

    def shape(self) -> dict[str, Any]:
        """The scan result's family block: the family and, for clip models, the clip length,
        stride, padding (and ``inputs: flow`` for a flow model)."""
        if self.family != "clip":
            return {"family": self.family}
        config = self.config
        inputs = {"inputs": "flow"} if config.inputs == "flow" else {}
        return {
            "family": "clip",
            "frames_per_clip": int(config.frames_per_clip),
            "stride": int(config.stride),
            "padding": config.padding,
            **inputs,
        }

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
