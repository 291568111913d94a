"""The detector contract: every family's detector answers ``family``, ``score`` and ``shape``,
and scans (``score_entry``, ``Scanner``, the report) reach a detector only through them.

Tiny untrained checkpoints of every family (frame, clip, flow clip, signals, audio-visual)
scan synthetic clips whose cache entries are extracted with each card's own settings; a
detector class made up here (a family nobody registered) goes through ``score_entry``,
``Scanner`` and the HTML report end to end, which is what a new family (the ensemble) needs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fakescope.inference.pipeline import VideoScores, _add_track, _columns, _scores, score_entry
from fakescope.inference.scan import Scanner
from fakescope.models import ModelCard, create_model, get_config, save_checkpoint
from fakescope.models import checkpoint as checkpoint_module
from fakescope.reporting import render_report
from fakescope.reporting import sections as sections_module
from tests.conftest import write_av_clip, write_video

FLOW_TINY = {
    "input_size": 32,
    "frames_per_clip": 3,
    "backbone_kwargs": {"widths": [8, 16]},
    "proj_dim": 16,
    "temporal_kwargs": {"hidden": 16, "layers": 1, "bidirectional": False, "readout": "last"},
}
CLIP_TINY = {
    "pretrained": "none",
    "input_size": 32,
    "frames_per_clip": 3,
    "backbone_kwargs": {"widths": [8, 16]},
    "proj_dim": 16,
    "temporal_kwargs": {"hidden": 8, "layers": 1, "bidirectional": True, "readout": "mean"},
}


def _frame(folder: Path) -> Path:
    model = create_model("simple_cnn", input_size=32)
    card = ModelCard("f", model.config.to_dict(), frames_per_video=6)
    return save_checkpoint(folder, model.eval(), card)


def _clip(folder: Path) -> Path:
    model = create_model("flow_cnn_lstm", **CLIP_TINY, inputs="crops")
    card = ModelCard("c", model.config.to_dict(), frames_per_video=6)
    return save_checkpoint(folder, model.eval(), card)


def _flow(folder: Path) -> Path:
    from fakescope.forensics.flow import FlowSettings

    model = create_model("flow_cnn_lstm", **FLOW_TINY)
    flow = {**FlowSettings().to_dict(), "context": {"margin": 2.0, "size": 224, "run": 4}}
    card = ModelCard("fl", model.config.to_dict(), frames_per_video=4, flow=flow)
    return save_checkpoint(folder, model.eval(), card)


def _signals(folder: Path) -> Path:
    pytest.importorskip("shap")
    pytest.importorskip("pywt")
    from sklearn.ensemble import HistGradientBoostingClassifier

    from fakescope.forensics.signals import ForensicSettings
    from fakescope.models.signals import feature_names, save_estimator

    config = get_config("signals_gbm")
    names = feature_names(config)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, len(names)))
    y = (x[:, 0] > 0).astype(int)
    estimator = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(x, y)
    folder.mkdir(parents=True)
    signals = {
        "features": list(names),
        "estimator": save_estimator(folder, estimator),
        "context": {"margin": 2.0, "size": 224, "run": 3},
        "forensic_settings": ForensicSettings().to_dict(),
        "distribution": {},
    }
    card = ModelCard("s", config.to_dict(), frames_per_video=6, signals=signals)
    (folder / "card.json").write_text(json.dumps(card.to_dict()))
    return folder


def _av(folder: Path) -> Path:
    from fakescope.models.checkpoint import audio_card

    config = get_config("avsync")
    model = create_model(config)
    card = ModelCard("a", config.to_dict(), audio=audio_card(config))
    return save_checkpoint(folder, model.eval(), card)


SIGNALS_FEATURES = [
    "flicker_hll",
    "srm_sharpness",
    "noise_autocorr",
    "color_wasserstein",
    "flow_boundary",
    "frames",
    "tracks",
    "face_area",
    "box_jitter",
]

# family -> (checkpoint builder, video, what its shape() says besides the family)
FAMILIES: dict[str, tuple[Callable[[Path], Path], str, dict[str, Any]]] = {
    "frame": (_frame, "face.mp4", {}),
    "clip": (_clip, "face.mp4", {"frames_per_clip": 3, "stride": 3, "padding": "last"}),
    "flow": (_flow, "face.mp4", {"frames_per_clip": 3, "inputs": "flow"}),
    "signals": (_signals, "face.mp4", {"features": SIGNALS_FEATURES}),
    "av": (_av, "av.mp4", {"arch": "avsync", "segments": 3, "segment_frames": 10}),
}


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("contract")
    write_video(root / "face.mp4", n_frames=16, width=160, height=160)
    t = np.arange(int(4.2 * 44100)) / 44100
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    write_av_clip(root / "av.mp4", n_frames=105, face=True, audio=tone)
    return root


@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_family_scores_and_shapes_through_the_contract(
    name: str, videos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build, video, expected = FAMILIES[name]
    folder = build(tmp_path / name)
    reads: list[Path] = []
    card_of = checkpoint_module._card_of
    monkeypatch.setattr(checkpoint_module, "_card_of", lambda f: reads.append(f) or card_of(f))
    scanner = Scanner(str(folder), cache=str(tmp_path / "cache"))
    assert len(reads) == 1  # load_detector reads the card once, whatever the family
    detector = scanner.detector
    shape = detector.shape()
    assert shape["family"] == detector.family == detector.card.model["kind"]
    assert expected.items() <= shape.items()
    entry = scanner.extract(videos / video).entry
    assert entry is not None and entry.tracks
    scores = detector.score(entry, entry.tracks)
    assert isinstance(scores, VideoScores) and len(scores) > 0, scores.reason
    assert len(scores.track) == len(scores.frame) == len(scores.files) == len(scores.logit)
    assert np.isfinite(scores.logit).all()
    # score_entry is the same call: pick the tracks, then detector.score
    again = score_entry(entry, detector)
    np.testing.assert_array_equal(again.logit, scores.logit)
    assert again.files == scores.files
    result = scanner(videos / video)
    assert result.status == "ok" and 0.0 <= (result.probability or 0.0) <= 1.0
    assert result.model["family"] == shape["family"]
    assert {k: result.model[k] for k in shape} == shape  # the scan's model block is shape()


def test_load_detector_reads_a_card_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fakescope.models import load_detector

    folder = _frame(tmp_path / "f")
    reads: list[Path] = []
    card_of = checkpoint_module._card_of
    monkeypatch.setattr(checkpoint_module, "_card_of", lambda f: reads.append(f) or card_of(f))
    for onnx in (True, False):
        reads.clear()
        detector = load_detector(folder, onnx=onnx)
        assert len(reads) == 1 and detector.family == "frame"
        assert detector.logits(np.zeros((2, 32, 32, 3), np.uint8)).shape == (2,)


def test_a_clip_model_without_temporal_weights_loads(tmp_path: Path) -> None:
    """resnet18_tavg pools frames by their mean (no temporal weights): its checkpoint is still
    a clip model's, not "a frame model's weights under a clip card"."""
    from fakescope.models import load_detector

    model = create_model("resnet18_tavg", pretrained="none", input_size=32, frames_per_clip=3)
    assert not any(k.startswith("temporal.") for k in model.state_dict())
    card = ModelCard("tavg", model.config.to_dict(), frames_per_video=6)
    detector = load_detector(save_checkpoint(tmp_path / "t", model.eval(), card), onnx=False)
    assert detector.shape() == {
        "family": "clip",
        "frames_per_clip": 3,
        "stride": 3,
        "padding": "last",
    }
    out = detector.clip_outputs(np.zeros((2, 3, 32, 32, 3), np.uint8))
    assert out["logit"].shape == (2,)


class Oracle:
    """A detector of a family nobody registered: every face of the given tracks gets the same
    logit; it records what it was asked (the contract is all a scan may use)."""

    family = "oracle"

    def __init__(self, card: ModelCard, logit: float = 2.0) -> None:
        self.card = card
        self.logit = logit
        self.calls: list[dict[str, Any]] = []

    def score(
        self,
        entry: Any,
        tracks: list[dict[str, Any]],
        *,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        batch_size: int = 32,
    ) -> VideoScores:
        self.calls.append({"tracks": [t["track_id"] for t in tracks], "batch_size": batch_size})
        cols = _columns()
        for t in tracks:
            _add_track(cols, entry, t)
        n = len(cols["track"])
        return _scores(cols, np.full(n, self.logit), members=[{"name": "m", "answered": True}])

    def shape(self) -> dict[str, Any]:
        return {"family": self.family, "logit": self.logit}


def test_a_new_family_scans_and_reports_end_to_end(
    videos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = ModelCard("oracle", get_config("simple_cnn").to_dict(), frames_per_video=6)
    oracle = Oracle(card)
    monkeypatch.setattr("fakescope.models.load_detector", lambda *a, **k: oracle)
    scanner = Scanner("oracle", cache=str(tmp_path / "cache"))
    assert scanner.detector is oracle
    result = scanner(videos / "face.mp4")
    assert result.status == "ok"
    assert result.probability == pytest.approx(1 / (1 + np.exp(-2.0)))
    assert result.model["family"] == "oracle" and result.model["logit"] == 2.0
    data = result.to_dict()
    assert data["members"] == [{"name": "m", "answered": True}]
    assert json.loads(json.dumps(data))["model"]["family"] == "oracle"
    # score_entry hands the chosen tracks and the batch size over unchanged
    entry = scanner.extract(videos / "face.mp4").entry
    assert entry is not None
    oracle.calls.clear()
    score_entry(entry, oracle, max_tracks=1, batch_size=8)
    assert oracle.calls == [{"tracks": [entry.tracks[0]["track_id"]], "batch_size": 8}]
    # the report draws the family's own sections from the registry, no frame fallback
    drawn: list[str] = []

    def oracle_sections(result: Any, r: dict[str, Any], detector: Any, top: int) -> str:
        drawn.append(r["model"]["family"])
        return f"<h2>Oracle</h2><p>{len(r['members'])} member, top {top}</p>"

    monkeypatch.setitem(sections_module.SECTIONS, "oracle", oracle_sections)
    page = render_report(result, oracle, top=4)
    assert drawn == ["oracle"]
    assert "<h2>Oracle</h2><p>1 member, top 4</p>" in page
    assert "Most suspicious faces" not in page and "Grad-CAM" not in page


def test_data_without_a_track_is_empty_with_the_family_reason(videos: Path, tmp_path: Path) -> None:
    """A clip model and a track too short for it: an empty result with the reason (no guess)."""
    folder = _clip(tmp_path / "c")
    scanner = Scanner(str(folder), cache=str(tmp_path / "cache"))
    entry = scanner.extract(videos / "face.mp4").entry
    assert entry is not None
    short = [{**t, "frames": t["frames"][:1]} for t in entry.tracks]
    scores = scanner.detector.score(entry, short)
    assert isinstance(scores, VideoScores) and len(scores) == 0
    assert scores.reason is not None and "at least" in scores.reason
