"""Validated records passed between fakescope's layers: frozen dataclasses, and the mutable
``VideoScores`` a detector returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._numeric import sigmoid


@dataclass(frozen=True)
class VideoInfo:
    """What a probe of a video file tells, before any decoding.

    ``width``/``height`` are the display size, i.e. after ``rotation`` is applied.
    ``frame_count_exact`` says whether ``frame_count`` comes from the container's index (exact)
    or from duration x fps (estimated).
    """

    path: str
    size_bytes: int
    container: str
    codec: str
    pix_fmt: str | None
    width: int
    height: int
    rotation: int
    fps: float
    duration: float | None
    frame_count: int
    frame_count_exact: bool
    bit_rate: int | None
    has_audio: bool

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"invalid frame size {self.width}x{self.height}")
        if self.rotation not in (0, 90, 180, 270):
            raise ValueError(f"rotation must be 0/90/180/270, got {self.rotation}")
        if self.frame_count < 0:
            raise ValueError("frame_count must be >= 0")

    def to_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class FaceBox:
    """One detected face in frame pixel coordinates.

    ``keypoints`` are 5 points (x, y) in image order: eye on the image's left, eye on the
    image's right, nose tip, mouth corner on the left, mouth corner on the right.
    ``landmarks`` holds the backend's dense landmarks (e.g. 68 for dlib) or ``None``.
    """

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    keypoints: np.ndarray = field(repr=False, compare=False)
    landmarks: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (self.x2 > self.x1 and self.y2 > self.y1):
            raise ValueError(f"empty face box ({self.x1}, {self.y1}, {self.x2}, {self.y2})")
        kp = np.asarray(self.keypoints, dtype=np.float32)
        if kp.shape != (5, 2):
            raise ValueError(f"keypoints must have shape (5, 2), got {kp.shape}")
        object.__setattr__(self, "keypoints", kp)
        if self.landmarks is not None:
            lm = np.asarray(self.landmarks, dtype=np.float32)
            if lm.ndim != 2 or lm.shape[1] != 2:
                raise ValueError(f"landmarks must have shape (N, 2), got {lm.shape}")
            object.__setattr__(self, "landmarks", lm)

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)

    def as_array(self) -> np.ndarray:
        return np.array([self.x1, self.y1, self.x2, self.y2], dtype=np.float32)

    def scaled(self, factor: float) -> FaceBox:
        """The same face in an image resized by ``factor``."""
        return FaceBox(
            self.x1 * factor,
            self.y1 * factor,
            self.x2 * factor,
            self.y2 * factor,
            self.score,
            self.keypoints * factor,
            None if self.landmarks is None else self.landmarks * factor,
        )


@dataclass(frozen=True)
class SampledFrame:
    """A decoded RGB frame (rotation applied) with its position in the video."""

    index: int
    timestamp: float
    image: np.ndarray = field(repr=False, compare=False)
    segment: int = 0

    def __post_init__(self) -> None:
        if self.index < 0:
            raise ValueError("frame index must be >= 0")
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(
                f"image must be HxWx3 uint8, got {self.image.shape} {self.image.dtype}"
            )


@dataclass(frozen=True)
class FaceTrack:
    """One face followed across sampled frames.

    ``frames`` are positions in the list of sampled frames, increasing; ``boxes[i]`` is the
    detection in sampled frame ``frames[i]``.
    """

    track_id: int
    frames: tuple[int, ...]
    boxes: tuple[FaceBox, ...]

    def __post_init__(self) -> None:
        if len(self.frames) != len(self.boxes) or not self.frames:
            raise ValueError("a track needs one box per frame and at least one frame")
        if any(b <= a for a, b in zip(self.frames, self.frames[1:])):
            raise ValueError("track frames must be strictly increasing")

    @property
    def mean_area(self) -> float:
        return float(np.mean([b.area for b in self.boxes]))

    def __len__(self) -> int:
        return len(self.frames)


@dataclass
class VideoScores:
    """Per-face logits of one video: parallel arrays, one element per (track, sampled frame)."""

    track: np.ndarray  # int
    frame: np.ndarray  # position in the sampled frames
    index: np.ndarray  # frame index in the video
    timestamp: np.ndarray  # seconds
    logit: np.ndarray  # raw model logits
    files: list[str] = field(default_factory=list)  # crop PNG of each face
    # clip models: one dict per scored clip (track, first/last position in the track, first/
    # last video frame index, start/end seconds, raw logit, padded, real frames); a face's
    # logit is then the mean of the clips that cover it
    clips: list[dict[str, Any]] = field(default_factory=list)
    inconsistency: np.ndarray | None = None  # per face (identity-consistency head), or None
    reason: str | None = None  # why nothing was scored (no track long enough for a clip model)
    # signals models: the video's feature values, SHAP contributions, base value, missing
    # features and the training distribution (``SignalsDetector.describe``)
    signals: dict[str, Any] | None = None
    # flow models (seed 003): per frame pair of each track, the motion anomaly and the flow
    # image files (``inference.flow.score_flow``)
    motion: dict[str, Any] | None = None
    # av models (issue 13): one dict per scored 1-s segment (track, start, end, logit,
    # modality) and the audio used (waveform envelope, speech, fallback; ``inference.av``)
    segments: list[dict[str, Any]] | None = None
    audio: dict[str, Any] | None = None
    # ensembles (models.ensemble): one dict per member (its answer or why it gave none, its
    # probability, logit and contribution to the stacked logit)
    members: list[dict[str, Any]] | None = None
    # ... the stacking summary (stacked logit, base value, method, members that answered) and
    # each member's own VideoScores by name (for the report's strongest-member section; not
    # serialised: the scan JSON carries ``members``)
    ensemble: dict[str, Any] | None = None
    member_scores: dict[str, Any] | None = None

    def __len__(self) -> int:
        return len(self.logit)

    def probabilities(self, temperature: float = 1.0) -> np.ndarray:
        return np.asarray(sigmoid(self.logit / float(temperature)), np.float64)
