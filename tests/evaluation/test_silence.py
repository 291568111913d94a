"""Leading-silence shortcut baseline and per-column breakdowns (issue 13 §4)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fakescope.cli.main import main
from fakescope.datasets import VideoRecord, build_manifest, write_manifest
from fakescope.errors import ConfigError
from fakescope.evaluation.protocol import _breakdowns, breakdown_columns
from fakescope.evaluation.silence import silence_baseline, video_silence
from fakescope.io.audio import SAMPLE_RATE, load_audio, speech_segments
from tests.conftest import write_av_clip
from tests.io.test_audio import _speech_clip


def test_direction_and_threshold_are_fitted_on_train():
    rng = np.random.default_rng(0)
    real = rng.uniform(0.0, 0.4, 40)
    fake = rng.uniform(0.8, 2.0, 40)
    x = np.concatenate([real, fake]).tolist()
    y = [0] * 40 + [1] * 40
    r = silence_baseline(x, y, [*x[::2], None, math.nan], [*y[::2], 0, 1], n_boot=200)
    assert r["fitted_on"] == "train split" and r["longer_is_fake"] is True
    assert 0.4 < r["threshold_seconds"] < 0.8
    assert r["auc"] == 1.0 and r["accuracy"] == 1.0 and r["auc_interval"] == [1.0, 1.0]
    assert (r["test_videos"], r["test_videos_without_audio"]) == (40, 2)
    # a train split where silence means real: the sign comes from train, not from the test set
    flipped = silence_baseline(x, [1 - v for v in y], x[::2], y[::2], n_boot=0)
    assert flipped["longer_is_fake"] is False and flipped["auc"] == 0.0


def test_without_a_train_split_the_raw_feature_is_scored():
    r = silence_baseline([], [], [0.1, 0.2, 1.5, 0.9], [0, 0, 1, 1], n_boot=0)
    assert r["fitted_on"] is None and "raw feature" in r["note"]
    assert r["auc"] == 1.0 and "accuracy" not in r
    one_class = silence_baseline([], [], [0.1, 0.2], [0, 0], n_boot=0)
    assert "single class" in one_class["reason"] and "auc" not in one_class


def test_video_silence_of_files_without_usable_audio(face_clip, tmp_path):
    from tests.io.test_audio import corrupt_audio_packets

    assert video_silence(face_clip) == {"leading_silence": None, "audio": "none", "error": None}
    good = write_av_clip(tmp_path / "g.mp4", audio=np.full(44100, 0.1, np.float32))
    bad = tmp_path / "b.mp4"
    corrupt_audio_packets(good, bad)
    row = video_silence(bad, str(tmp_path / "cache"))
    assert row["audio"] == "broken" and "audio stream cannot be decoded" in row["error"]
    missing = video_silence(tmp_path / "nope.mp4")
    assert missing["audio"] == "failed" and "no such file" in missing["error"]


def _fav_rows() -> pd.DataFrame:
    rows = []
    rng = np.random.default_rng(0)
    for cat, label, n in (("RVRA", 0, 6), ("RVFA", 0, 6), ("FVRA", 1, 6), ("FVFA", 1, 6)):
        for i in range(n):
            p = rng.uniform(0.6, 1.0) if cat == "FVFA" else rng.uniform(0.0, 0.5)
            rows.append(
                {"label": label, "dataset": "fakeavceleb", "method": cat, "compression": None,
                 "av_category": cat, "race": "A" if i % 2 else "B", "probability": p}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_breakdown_by_any_column_with_intervals():
    ok = _fav_rows()
    assert breakdown_columns(ok) == ["av_category"]  # picked up by default
    assert breakdown_columns(ok, ["race", "dataset"]) == ["race"]
    with pytest.raises(ConfigError, match="nope"):
        breakdown_columns(ok, ["nope"])
    b = _breakdowns(ok, 0.5, ["av_category", "race"], n_boot=200)
    cats = b["av_category"]
    assert set(cats) == {f"fakeavceleb/{c}" for c in ("RVRA", "RVFA", "FVRA", "FVFA")}
    # a fakes-only category against every real of the dataset (both real categories)
    assert (cats["fakeavceleb/FVFA"]["real"], cats["fakeavceleb/FVFA"]["fake"]) == (12, 6)
    assert cats["fakeavceleb/FVFA"]["auc"] == 1.0
    assert cats["fakeavceleb/FVRA"]["auc"] < 0.8  # scored like the reals by this "model"
    # a reals-only category against every fake of the dataset
    assert (cats["fakeavceleb/RVFA"]["real"], cats["fakeavceleb/RVFA"]["fake"]) == (6, 12)
    low, high = cats["fakeavceleb/FVRA"]["auc_interval"]
    assert low <= cats["fakeavceleb/FVRA"]["auc"] <= high
    # a column holding both classes is measured within each value
    assert b["race"]["fakeavceleb/A"]["videos"] == 12
    assert "fakeavceleb/FVFA" in b["method"]  # the built-in breakdowns are still there


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """The speech of a GRID clip from its first word on (16 kHz)."""
    track = load_audio(_speech_clip())
    assert track is not None
    start = speech_segments(track)[0][0]
    return track.window(max(0.0, start - 0.05), min(track.end, start + 2.0))


@pytest.fixture(scope="module")
def av_setup(tmp_path_factory: pytest.TempPathFactory, speech: np.ndarray) -> Path:
    """Reals speak from the first frame, fakes after 1.2 s of silence (the shortcut)."""
    root = tmp_path_factory.mktemp("silence")
    records = []
    for i in range(10):
        label = i % 2
        split = "train" if i < 6 else "test"
        pad = np.zeros(round(1.2 * SAMPLE_RATE) if label else 0, np.float32)
        name = f"{'fake' if label else 'real'}/v{i}.mp4"
        write_av_clip(
            root / "data" / name, n_frames=30, width=160, height=160, face=True,
            audio=np.concatenate([pad, speech]), sample_rate=SAMPLE_RATE,
        )  # fmt: skip
        cat = "FVFA" if label else "RVRA"
        records.append(
            VideoRecord(f"x/{i}", name, label, "fakeavceleb", cat, identities=(f"x:{i}",),
                        split=split, extra={"av_category": cat})
        )  # fmt: skip
    write_manifest(build_manifest(records), root / "m.parquet", root / "data")
    import torch

    from fakescope.models import ModelCard, create_model, save_checkpoint

    torch.manual_seed(0)
    model = create_model("efficientnet_b0", pretrained="none", input_size=64).eval()
    card = ModelCard(name="tiny", model=model.config.to_dict(), frames_per_video=2)
    save_checkpoint(root / "ckpt", model, card)
    return root


@pytest.mark.slow  # the fixture writes 10 clips and builds a model
def test_video_silence_is_cached(av_setup):
    clip = av_setup / "data" / "fake" / "v1.mp4"
    row = video_silence(clip, str(av_setup / "cache"))
    assert row["audio"] == "ok" and row["leading_silence"] == pytest.approx(1.2, abs=0.1)
    assert len(list((av_setup / "cache" / "silence").rglob("*.json"))) == 1
    assert video_silence(clip, str(av_setup / "cache")) == row


@pytest.mark.slow
def test_evaluate_reports_the_silence_baseline_and_categories(av_setup, capsys):
    out = av_setup / "eval"
    code = main(
        ["evaluate", "--model", str(av_setup / "ckpt"), "--manifest", str(av_setup / "m.parquet"),
         "--out", str(out), "--bootstrap", "50", "--json"]
    )  # fmt: skip
    assert code == 0
    metrics = json.loads(capsys.readouterr().out)
    s = metrics["shortcuts"]["leading_silence"]
    assert s["fitted_on"] == "train split" and s["train_videos"] == 6
    assert s["longer_is_fake"] is True and s["auc"] == 1.0 and s["test_videos"] == 4
    assert 0.0 <= s["model_auc"] <= 1.0  # the detector on the same videos, beside it
    assert "_values" not in s
    assert set(metrics["breakdown"]["av_category"]) == {"fakeavceleb/RVRA", "fakeavceleb/FVFA"}
    pred = pd.read_csv(out / "predictions.csv")
    assert {"av_category", "leading_silence"} <= set(pred.columns)
    assert (pred.loc[pred["label"] == 1, "leading_silence"] > 1.0).all()
    text = (out / "summary.md").read_text()
    assert "## Shortcut baselines" in text and "| leading_silence | 2/2 | 1.000" in text
    code = main(
        ["evaluate", "--model", str(av_setup / "ckpt"), "--manifest", str(av_setup / "m.parquet"),
         "--out", str(out), "--by", "nope", "-q"]
    )  # fmt: skip
    assert code == 2
