"""The av training loop (training.av) through ``trainer.train``, on synthetic talking heads:
crops whose lower half brightens with a 'speech' envelope and that envelope as audio (the
tracks stand in for the crop cache, so no extraction is needed)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from fakescope.errors import ConfigError
from fakescope.models import load_detector
from fakescope.models.av import AVDetector
from fakescope.training import av_data
from fakescope.training.config import load_train_config
from fakescope.training.trainer import train
from tests.training.test_av_data import synthetic_track


@pytest.fixture
def synthetic(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_load(manifest: str, crops: str, split: str, **kw: Any) -> list[av_data.AVTrack]:
        base = 0 if split == "train" else 100
        n = 6 if split == "train" else 3
        tracks = [synthetic_track(f"{split}{i}", f"{split}g{i}", 8.0, base + i) for i in range(n)]
        for t in tracks:
            t.crops = np.repeat(np.repeat(t.crops, 2, 1), 2, 2)  # 32 px
            t.starts = av_data.track_starts(t.times, kw["segments"] * kw["segment_frames"], 0.2)
        return tracks

    monkeypatch.setattr(av_data, "load_av_tracks", fake_load)


def _log(tmp_path: Path) -> list[dict[str, str]]:
    with open(tmp_path / "avtest" / "log.csv") as fh:
        return list(csv.DictReader(fh))


def _config(tmp_path: Path, epochs: int, *extra: str) -> Any:
    return load_train_config(
        None,
        [
            "name=avtest",
            f"out={tmp_path}",
            "model={name: avsync, input_size: 32, segment_frames: 5, arch_kwargs: {max_lag: 7}}",
            "data.manifest=m.parquet",
            "data.crops=crops",
            f"train.epochs={epochs}",
            "train.batch_size=16",
            "train.device=cpu",
            "train.early_stopping=false",
            "av.samples_per_epoch=32",
            "av.val_windows=1",
            "optim.lr=0.003",
            "optim.warmup_epochs=0",
            *extra,
        ],
    )


def test_av_training_writes_a_loadable_checkpoint(tmp_path: Path, synthetic: None) -> None:
    config = _config(tmp_path, 2, "phases=[{name: heads, epochs: 1, freeze: [video_backbone, "
                     "audio_backbone]}, {name: all, epochs: 1}]")  # fmt: skip
    best = train(config)
    rows = _log(tmp_path)
    assert [r["phase"] for r in rows] == ["heads", "all"]
    assert {"val_auc", "val_seg_auc", "val_auc_shift", "val_auc_swap", "train_aux"} <= set(rows[0])
    det = load_detector(best)
    assert isinstance(det, AVDetector)
    assert det.family == "av" and det.card.audio is not None
    assert det.card.audio["sampling"] == "fps:5" and det.card.audio["segments"] == 3
    trainable = det.card.training["trainable_params"]
    assert trainable["heads"] < trainable["all"]
    crops = np.zeros((2, 3, 5, 32, 32, 3), np.uint8)
    out = det.av_outputs(crops, np.zeros((2, 3, 16000), np.float32))
    assert out["segment_logits"].shape == (2, 3) and out["video_logit"].shape == (2,)


def test_frozen_parts_do_not_move(tmp_path: Path, synthetic: None) -> None:
    from fakescope.models import create_model, get_config

    config = _config(tmp_path, 1, "phases=[{name: p, epochs: 1, freeze: [video_backbone]}]")
    best = train(config)
    trained = load_detector(best).model
    torch.manual_seed(0)
    fresh = create_model(
        get_config("avsync", input_size=32, segment_frames=5, arch_kwargs={"max_lag": 7})
    )
    # the same seed builds the same initial network: frozen conv weights are unchanged
    w0 = dict(fresh.video_backbone.named_parameters())
    w1 = dict(trained.video_backbone.named_parameters())
    assert all(torch.equal(w0[k], w1[k]) for k in w0 if w0[k].ndim == 4)
    assert not torch.equal(fresh.head["step"][0][0].weight, trained.head["step"][0][0].weight)


def test_bad_av_settings_fail_before_training(tmp_path: Path, synthetic: None) -> None:
    with pytest.raises(ConfigError, match=r"av\.fakes"):
        train(_config(tmp_path, 1, "av.fakes=dubbed"))
    with pytest.raises(ConfigError, match=r"av\.loss"):
        train(_config(tmp_path, 1, "av.loss=hinge"))
    with pytest.raises(ConfigError, match="avsync"):  # its head cannot switch modality
        train(_config(tmp_path, 1, "phases=[{name: v, epochs: 1, modalities: video}]"))


@pytest.mark.slow
def test_avsync_learns_synthetic_sync(tmp_path: Path, synthetic: None) -> None:
    """Lips that follow the sound vs shifted / swapped sound: learnable from real clips only."""
    best = train(_config(tmp_path, 8, "av.samples_per_epoch=256", "av.val_windows=3"))
    rows = _log(tmp_path)
    assert max(float(r["val_auc"]) for r in rows) >= 0.85
    assert load_detector(best).card.metrics["val_auc_video"] >= 0.85
