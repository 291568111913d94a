"""The ``signals`` family: a gradient-boosted classifier on a video's handcrafted forensic signals.

A video is described by the five signals of ``fakescope.forensics`` (computed from its
crop-cache entry, extracted with context windows) plus a few simple statistics of its main face
track (``STATS``); a scikit-learn ``HistGradientBoostingClassifier`` (missing values, NaN,
handled natively) maps that vector to one logit of "fake". SHAP (``shap.TreeExplainer``, exact
for trees) splits the logit into one contribution per feature.

A checkpoint is a folder with ``card.json`` (``card.signals``: feature names, context and
signal settings, the training distribution of every feature per class, the estimator's file
and format) and the fitted estimator: ``model.skops`` (skops, which loads only the types it is
told to trust) when skops is installed, else ``model.joblib``. **Loading a joblib file runs
code**: only load signals checkpoints you trust.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingDependencyError, ModelError
from ..types import VideoScores
from .checkpoint import Detector

__all__ = [
    "QUANTILES",
    "STATS",
    "SignalsDetector",
    "build_estimator",
    "feature_names",
    "load_estimator",
    "save_estimator",
    "video_features",
]

STATS = ("frames", "tracks", "face_area", "box_jitter")
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
ESTIMATORS = ("hist_gradient_boosting",)


def feature_names(config: Any = None) -> tuple[str, ...]:
    """The columns the classifier sees: the five signals, then the per-video statistics, or
    the subset a config's ``backbone_kwargs.features`` lists (an ablation, e.g. the signals
    without the face-track statistics)."""
    from ..forensics.signals import SIGNALS

    every = (*SIGNALS, *STATS)
    chosen = (getattr(config, "backbone_kwargs", None) or {}).get("features")
    if not chosen:
        return every
    if isinstance(chosen, str):
        chosen = [chosen]
    unknown = [k for k in chosen if k not in every]
    if unknown or len(set(chosen)) != len(chosen):
        raise ModelError(
            f"model.backbone_kwargs.features: {', '.join(map(str, unknown)) or 'repeated names'}"
            f" (choose distinct names from {', '.join(every)})"
        )
    return tuple(chosen)


def build_estimator(config: Any) -> Any:
    """The unfitted classifier of a ``signals`` ``ModelConfig`` (``backbone`` names it,
    ``backbone_kwargs`` are its hyper-parameters)."""
    if config.backbone not in ESTIMATORS:
        raise ModelError(
            f"model.backbone: a signals model takes {', '.join(ESTIMATORS)}, got '{config.backbone}'"
        )
    from sklearn.ensemble import HistGradientBoostingClassifier

    feature_names(config)  # a bad feature list fails here, before any data is read
    params = {k: v for k, v in config.backbone_kwargs.items() if k != "features"}
    try:
        return HistGradientBoostingClassifier(**params)
    except TypeError as exc:
        raise ModelError(f"model.backbone_kwargs: {exc}") from None


def save_estimator(folder: Path, estimator: Any) -> dict[str, str]:
    """Write the fitted estimator (skops when installed, else joblib); returns its card entry."""
    from .._atomic import atomic_write_bytes

    try:
        import skops.io as sio
    except ImportError:
        import io

        import joblib

        buf = io.BytesIO()
        joblib.dump(estimator, buf)
        atomic_write_bytes(folder / "model.joblib", buf.getvalue())
        (folder / "model.skops").unlink(missing_ok=True)
        return {"file": "model.joblib", "format": "joblib"}
    atomic_write_bytes(folder / "model.skops", sio.dumps(estimator))
    (folder / "model.joblib").unlink(missing_ok=True)
    return {"file": "model.skops", "format": "skops"}


def load_estimator(folder: Path, info: dict[str, Any]) -> Any:
    """The fitted estimator named by the card (skops: only scikit-learn and NumPy types are
    trusted; joblib runs code on load, so only load checkpoints you trust)."""
    entry = info.get("estimator") or {}
    path = folder / str(entry.get("file", ""))
    if not path.is_file():
        raise ModelError(f"{folder}: the signals estimator file '{entry.get('file')}' is missing")
    fmt = entry.get("format")
    if fmt == "skops":
        try:
            import skops.io as sio
        except ImportError:
            raise MissingDependencyError("skops", "forensics", f"{path}") from None
        untrusted = sio.get_untrusted_types(file=str(path))
        bad = [t for t in untrusted if not t.startswith(("sklearn.", "numpy."))]
        if bad:
            raise ModelError(f"{path}: refuses to load untrusted types {', '.join(bad)}")
        return sio.load(str(path), trusted=untrusted)
    if fmt == "joblib":
        import joblib

        return joblib.load(path)
    raise ModelError(f"{folder}: unknown estimator format '{fmt}' (skops or joblib)")


def _track_stats(entry: Any, track: int | None) -> dict[str, float]:
    """Simple statistics of the video's faces: crops in the main track, number of tracks, mean
    face area (fraction of the frame) and box jitter (median centre step / box side)."""
    out = dict.fromkeys(STATS, float("nan"))
    tracks = entry.tracks
    out["tracks"] = float(len(tracks))
    if track is None:
        out["frames"] = 0.0
        return out
    t = tracks[track]
    boxes = np.asarray(t["boxes"], np.float64).reshape(-1, 4)
    out["frames"] = float(len(boxes))
    video = entry.meta.get("video", {})
    w, h = float(video.get("width") or 0), float(video.get("height") or 0)
    sides = np.sqrt(np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-6))
    if w > 0 and h > 0:
        out["face_area"] = float(np.mean(sides**2) / (w * h))
    if len(boxes) >= 2:
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        steps = np.linalg.norm(np.diff(centres, axis=0), axis=1)
        out["box_jitter"] = float(np.median(steps / sides[1:]))
    return out


def video_features(entry: Any, settings: Any = None) -> dict[str, Any]:
    """``{"values": {feature: float (NaN when undefined)}, "track", "notes"}`` of one entry."""
    from ..forensics.signals import SIGNALS
    from ..forensics.video import cached_signals

    sig, _ = cached_signals(entry, settings)  # computed once per entry and settings
    values = {k: float("nan") if sig[k] is None else float(sig[k]) for k in SIGNALS}
    values.update(_track_stats(entry, sig["track"]))
    return {"values": values, "track": sig["track"], "notes": list(sig["notes"])}


def has_context(entry: Any) -> bool:
    """Whether the entry kept the context windows and frame runs the signals need."""
    return any(t.get("context") for t in entry.tracks)


@dataclass
class _Explainer:
    model: Any
    explainer: Any = field(default=None)

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        if self.explainer is None:
            try:
                import shap
            except ImportError:
                raise MissingDependencyError("shap", "forensics", "SHAP contributions") from None
            self.explainer = shap.TreeExplainer(self.model)
        values = np.asarray(self.explainer.shap_values(x), np.float64).reshape(len(x), -1)
        base = float(np.ravel(self.explainer.expected_value)[0])
        return values, base


def shap_values(estimator: Any, x: np.ndarray) -> tuple[np.ndarray, float]:
    """(per-row SHAP contributions to the logit, (n, F); the base value)."""
    return _Explainer(estimator)(x)


class SignalsDetector(Detector):
    """A loaded signals checkpoint: cache entry -> video logit, feature values, SHAP values.

    ``family`` is ``signals``; ``logits`` and ``clip_outputs`` (crop and clip networks) do
    not apply; ``score`` (the detector contract) calls ``describe``.
    """

    def __init__(self, estimator: Any, card: Any, device: str = "cpu") -> None:
        from ..forensics.signals import ForensicSettings

        self._model, self._loader, self._session = estimator, None, None
        self.card = card
        self.device = device
        self.config = card.model_config
        self.backend = "sklearn"
        info = card.signals or {}
        self.info = info
        self.features: tuple[str, ...] = tuple(info.get("features") or feature_names())
        fs = dict(info.get("forensic_settings") or {})
        if "farneback" in fs:
            fs["farneback"] = tuple(fs["farneback"])
        self.settings = ForensicSettings(**fs)
        self._explain = _Explainer(estimator)
        self._threads: Any = None  # threadpoolctl controller, made on the first video

    def _one_thread(self) -> Any:
        """A context that runs scikit-learn's OpenMP loops on one thread. Predicting one row
        with a thread per core costs a thread team start-up per tree (200 trees: 40 ms on two
        idle cores, seconds under load); the rows' sums do not depend on it (same logit)."""
        if self._threads is None:
            from threadpoolctl import ThreadpoolController

            self._threads = ThreadpoolController()  # inspects the loaded libraries once
        return self._threads.limit(limits=1, user_api="openmp")

    def logits(self, crops: np.ndarray, batch_size: int = 32) -> np.ndarray:
        raise ModelError(
            f"{self.card.name} is a signals model: it scores whole videos from their cache "
            "entry (fakescope.inference.score_entry), not single crops"
        )

    def clip_outputs(self, clips: np.ndarray, batch_size: int = 4) -> dict[str, Any]:
        return {"logit": self.logits(clips)}

    def score(
        self,
        entry: Any,
        tracks: list[dict[str, Any]],
        *,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        batch_size: int = 32,
    ) -> VideoScores:
        """``VideoScores``: the video's logit on every face of its main track (whatever
        ``tracks`` holds: the signals describe the whole video), with the signal values and
        their SHAP contributions; crop perturbations (``transform``) do not apply."""
        from ..inference.pipeline import score_signals

        return score_signals(entry, self, transform)

    def shape(self) -> dict[str, Any]:
        return {"family": "signals", "features": list(self.features)}

    def vector(self, values: dict[str, float]) -> np.ndarray:
        return np.array([[values.get(k, float("nan")) for k in self.features]], np.float64)

    def describe(self, entry: Any) -> dict[str, Any] | None:
        """One video: ``{"logit", "values", "shap", "base_value", "missing", "track",
        "notes"}``; None when the entry has no face track."""
        if not has_context(entry) and entry.tracks:
            raise ModelError(
                f"{entry.root}: the cache entry has no context windows; a signals model needs "
                "an extraction with ExtractSettings(context=ContextSettings()) "
                "(fakescope.inference.pipeline.extract_settings_for(card) sets it)"
            )
        feats = video_features(entry, self.settings)
        if feats["track"] is None:
            return None
        x = self.vector(feats["values"])
        with self._one_thread():  # one row: OpenMP threads only cost their start-up
            logit = float(self.model.decision_function(x)[0])
        contrib, base = self._explain(x)
        missing = [k for k in self.features if not np.isfinite(x[0, self.features.index(k)])]
        return {
            "logit": logit,
            "values": {k: _num(v) for k, v in zip(self.features, x[0])},
            "shap": {k: float(v) for k, v in zip(self.features, contrib[0])},
            "base_value": base,
            "missing": missing,
            "track": int(feats["track"]),
            "notes": feats["notes"],
            "training": self.info.get("distribution") or {},
        }


def _num(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def load_signals(folder: str | os.PathLike[str], card: Any, device: str = "cpu") -> SignalsDetector:
    """``SignalsDetector`` of a checkpoint folder whose card is a signals card."""
    return SignalsDetector(load_estimator(Path(folder), card.signals or {}), card, device)
