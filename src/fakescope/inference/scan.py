"""``fakescope.scan(path)``: a video in, a calibrated verdict out (``ScanResult``).

Sampling and faces come through the crop cache (``fakescope.extraction``) with the model card's
own settings; every face of every sampled frame is scored in batches; logits are calibrated
with the card's temperature and aggregated (``fakescope.inference.pipeline``). A video without
a face gets ``status="no_face"`` and no probability, never a guess.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import __version__
from ..errors import FakescopeError

if TYPE_CHECKING:
    from ..extraction import ExtractResult
from .pipeline import (
    VideoScores,
    aggregate,
    extract_settings_for,
    score_entry,
    video_calibrator,
)

__all__ = ["SCHEMA_VERSION", "ScanResult", "Scanner", "scan"]

SCHEMA_VERSION = "1.0"


@dataclass
class ScanResult:
    """The answer for one video. ``to_dict()`` follows ``schemas/scan_result.schema.json``."""

    path: str
    status: str  # ok | no_face | no_audio (an av model, no sound, no fallback) | failed
    probability: float | None = None
    verdict: str | None = None  # fake | real
    threshold: float = 0.5
    error: str | None = None
    reason: str | None = None
    tracks: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    clips: list[dict[str, Any]] = field(default_factory=list)  # clip models: one per scored clip
    video: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # signals models: the video's feature values, SHAP contributions (logit units, positive
    # -> fake), base value, missing features and the training distribution; else None
    signals: dict[str, Any] | None = None
    # flow models (seed 003): per frame pair of each track, its time, motion anomaly, flow
    # magnitude and logit (``inference.flow``); else None
    motion: dict[str, Any] | None = None
    # audio-visual models (issue 13): per 1-s segment of a face track its start, end,
    # probability and modality (audio-visual, or video when the card's fallback was used);
    # and the audio used (waveform envelope, speech segments from VAD, fallback); else None
    segments: list[dict[str, Any]] | None = None
    audio: dict[str, Any] | None = None
    # ensembles: one dict per member (its answer or why it gave none, probability, logit,
    # contribution to the stacked logit; ``VideoScores.members``); else None
    members: list[dict[str, Any]] | None = None
    schema_version: str = SCHEMA_VERSION
    fakescope: str = __version__
    faces: Any = field(default=None, repr=False)  # VideoScores, for reports; not serialised

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("faces")
        if data["signals"] is None:  # only signals models have it
            data.pop("signals")
        if data["motion"] is None:  # only flow models have it
            data.pop("motion")
        for key in ("segments", "audio", "members"):  # only av models and ensembles have them
            if data[key] is None:
                data.pop(key)
        return data


class Scanner:
    """Holds a loaded detector and face extractor; ``scanner(path) -> ScanResult``."""

    def __init__(
        self,
        model: str | os.PathLike[str] = "default",
        *,
        frames: int | None = None,
        device: str = "auto",
        cache: str | os.PathLike[str] | None = None,
        aggregation: str | None = None,
    ) -> None:
        from ..extraction import Extractor
        from ..models import load_detector, resolve_device

        device = resolve_device(device)
        self.device = device
        self.detector = load_detector(model, device)
        self.card = self.detector.card
        self.aggregation = aggregation or (
            self.card.aggregation
            if self.card.aggregation in ("mean_of_max", "topk", "max_track")
            else "mean_of_max"
        )
        self.settings = extract_settings_for(self.card, frames)
        self.calibration = video_calibrator(self.card)
        cache_dir = (
            cache
            or os.environ.get("FAKESCOPE_CACHE")
            or Path(tempfile.gettempdir()) / "fakescope-cache"
        )
        self.extractor = Extractor(self.settings, cache_dir)

    def __call__(self, path: str | os.PathLike[str]) -> ScanResult:
        return self.finish(self.extract(path))

    def scan_many(self, paths: Iterable[str | os.PathLike[str]]) -> Iterator[ScanResult]:
        """Scan videos in order, the next video's decoding and face detection overlapping the
        current one's network pass (``fakescope.engines.run_staged``)."""
        from ..engines import run_staged

        for path, result in run_staged(self.staged_job(), paths):
            if isinstance(result, BaseException):  # the stages catch input errors themselves
                result = ScanResult(os.fspath(path), "failed", error=f"{path}: {result}")
            yield result

    def staged_job(self, *after: Any) -> Any:
        """This scanner as a ``StagedJob``: extract, then score (then ``after`` stages)."""
        from ..engines import StagedJob

        return StagedJob(self.extract, self.finish, *after)

    def _base(self) -> dict[str, Any]:
        card = self.card
        return {
            "threshold": float(card.threshold),
            "model": {"name": card.name, "network": card.model.get("name"), "temperature": card.temperature,
                      "calibration": (card.calibration or {}).get("method", "temperature"),
                      "version": card.version, "created": card.created,
                      **self._shape()},
            "settings": {"sampling": self.settings.sampling, "detector": self.settings.detector,
                         "crop": self.settings.crop.to_dict(), "aggregation": self.aggregation,
                         "device": self.device},
        }  # fmt: skip

    def _shape(self) -> dict[str, Any]:
        """The detector's family block (``detector.shape()``: the family and what a reader
        needs to know of it, e.g. a clip model's clip length and stride)."""
        return dict(self.detector.shape())

    def extract(self, path: str | os.PathLike[str]) -> ExtractResult:
        """Stage 1: sampled frames, faces and crops through the cache."""
        return self.extractor(os.fspath(path))

    def finish(self, extracted: ExtractResult) -> ScanResult:
        """Stage 2: score every face, aggregate, calibrate -> ``ScanResult``."""
        started = time.perf_counter()
        spath, t_extract = extracted.path, round(extracted.seconds, 3)
        card = self.card
        base = self._base()
        if extracted.status == "failed" or extracted.entry is None:
            return ScanResult(
                spath,
                "failed",
                error=extracted.error,
                timing={"total_s": t_extract},
                **base,
            )
        meta = extracted.entry.meta
        video = dict(meta.get("video", {}))
        if extracted.status == "no_face":
            return ScanResult(
                spath, "no_face", reason=meta.get("reason") or "no face found", video=video,
                warnings=list(extracted.warnings), timing={"extract_s": t_extract, "total_s": t_extract}, **base,
            )  # fmt: skip
        try:
            scores = score_entry(extracted.entry, self.detector)
        except (FakescopeError, OSError) as exc:
            return ScanResult(spath, "failed", error=f"{spath}: {exc}", video=video, **base)
        if not len(scores) and (scores.audio or {}).get("status") == "no_audio":
            return ScanResult(
                spath, "no_audio", reason=scores.reason, video=video, audio=scores.audio,
                warnings=list(extracted.warnings), timing={"extract_s": t_extract, "total_s": t_extract}, **base,
            )  # fmt: skip
        if not len(scores):  # a clip model and no track long enough, a signals model no track
            return ScanResult(
                spath, "no_face", reason=scores.reason or "no face found", video=video,
                warnings=list(extracted.warnings), timing={"extract_s": t_extract, "total_s": t_extract}, **base,
            )  # fmt: skip
        agg = aggregate(scores, card.temperature, self.aggregation, calibration=self.calibration)
        t_score = round(time.perf_counter() - started, 3)
        prob = agg["probability"]
        tracks = []
        for t in meta["tracks"]:
            tid = t["track_id"]
            if tid not in agg["tracks"]:
                continue
            track = {"track_id": tid, "probability": agg["tracks"][tid], "frames": len(t["frames"]),
                     "start": t["timestamps"][0], "end": t["timestamps"][-1],
                     "boxes": [{"frame_index": i, "time": ts, "box": b, "probability": _face_prob(scores, agg, tid, i)}
                               for i, ts, b in zip(t["frame_indices"], t["timestamps"], t["boxes"])]}  # fmt: skip
            if scores.inconsistency is not None:
                mine = scores.track == tid
                track["inconsistency"] = [
                    {"time": float(ts), "frame_index": int(i), "value": float(v)}
                    for ts, i, v in zip(scores.timestamp[mine], scores.index[mine], scores.inconsistency[mine])
                ]  # fmt: skip
            tracks.append(track)
        clips = [
            {"track_id": c["track"], "start": c["start"], "end": c["end"], "first_index": c["first_index"],
             "last_index": c["last_index"], "probability": c["probability"], "padded": c["padded"],
             "frames": c["frames"]}
            for c in agg["clips"]
        ]  # fmt: skip
        timeline = [
            {
                "time": f["timestamp"],
                "frame_index": f["index"],
                "faces": {str(k): v for k, v in f["faces"].items()},
                "max": f["max"],
            }
            for f in agg["frames"]
        ]
        warnings = list(extracted.warnings)
        if scores.signals is not None and scores.signals["missing"]:
            warnings.append(
                f"signals not computed for this video: {', '.join(scores.signals['missing'])} "
                "(the classifier treats them as missing values)"
            )
        if scores.audio is not None:
            warnings += list(scores.audio.get("warnings", []))
        return ScanResult(
            spath, "ok", probability=prob, verdict="fake" if prob >= card.threshold else "real",
            tracks=tracks, timeline=timeline, clips=clips, video=video, warnings=warnings,
            signals=scores.signals, motion=_motion_json(scores.motion),
            segments=_segments_json(scores.segments, card, self.calibration), audio=scores.audio,
            members=scores.members,
            timing={"extract_s": t_extract, "score_s": t_score,
                    "total_s": round(t_extract + t_score, 3), "cached": extracted.cached},
            faces=scores, **base,
        )  # fmt: skip


def _motion_json(motion: dict[str, Any] | None) -> dict[str, Any] | None:
    """A flow model's per-pair motion, without the local flow image paths."""
    if motion is None:
        return None
    tracks = [
        {"track_id": t["track_id"],
         "pairs": [{k: v for k, v in p.items() if k not in ("file", "window")}
                   for p in t["pairs"]]}
        for t in motion["tracks"]
    ]  # fmt: skip
    return {**motion, "tracks": tracks}


def _segments_json(
    segments: list[dict[str, Any]] | None, card: Any, calibration: Any
) -> list[dict[str, Any]] | None:
    """An av model's segments with calibrated probabilities (as the faces' are)."""
    if segments is None:
        return None
    z = np.asarray([s["logit"] for s in segments], np.float64)
    if calibration is not None:
        p = calibration.predict_proba(z)
    else:
        p = 1.0 / (1.0 + np.exp(-z / float(card.temperature)))
    return [
        {"track_id": s["track"], "start": s["start"], "end": s["end"],
         "probability": float(v), "modality": s["modality"]}
        for s, v in zip(segments, p)
    ]  # fmt: skip


def _face_prob(scores: VideoScores, agg: dict[str, Any], track: int, index: int) -> float | None:
    for f in agg["frames"]:
        if f["index"] == index:
            return f["faces"].get(track)
    return None


def scan(
    path: str | os.PathLike[str], model: str | os.PathLike[str] = "default", **options: Any
) -> ScanResult:
    """Scan one video with a detector (``"default"``, shipped, or a checkpoint folder)."""
    return Scanner(model, **options)(path)
