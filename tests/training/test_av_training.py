"""The av training loop (training.av) through ``trainer.train``, on synthetic talking heads:
crops whose lower half brightens with a 'speech' envelope and that envelope as audio, or a
mouth patch that moves as much as the sound is loud (``tests.models.test_avsync``; the tracks
stand in for the crop cache, so no extraction is needed)."""

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
from tests.models.test_avsync import talking_clip
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


@pytest.fixture
def talking(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tracks of ``talking_clip`` at 5 FPS, 32 px: 6 identities to train on, 3 to validate."""

    def fake_load(manifest: str, crops: str, split: str, **kw: Any) -> list[av_data.AVTrack]:
        base = 0 if split == "train" else 100
        n = 6 if split == "train" else 3
        need = kw["segments"] * kw["segment_frames"]
        out = []
        for i in range(n):
            crops_i, wave = talking_clip(8.0, fps=5, size=32, seed=base + i)
            times = np.arange(len(crops_i)) / 5.0
            audio = av_data_audio(wave)
            out.append(av_data.AVTrack(f"{split}{i}", f"{split}g{i}", 0, crops_i, times, audio,
                                       av_data.track_starts(times, need, 0.2)))  # fmt: skip
        return out

    monkeypatch.setattr(av_data, "load_av_tracks", fake_load)


def av_data_audio(wave: np.ndarray) -> Any:
    from fakescope.io.audio import AudioTrack

    return AudioTrack(wave, 16000, 0.0)


def _log(tmp_path: Path) -> list[dict[str, str]]:
    with open(tmp_path / "avtest" / "log.csv") as fh:
        return list(csv.DictReader(fh))


def _config(tmp_path: Path, epochs: int, *extra: str) -> Any:
    return load_train_config(
        None,
        [
            "name=avtest",
            f"out={tmp_path}",
            "model={name: avsync, input_size: 32, segment_frames: 5, arch_kwargs: {max_lag: 4}}",
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
    config = _config(tmp_path, 2, "phases=[{name: heads, epochs: 1, freeze: [local_head]}, "
                     "{name: all, epochs: 1}]")  # fmt: skip
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

    config = _config(tmp_path, 1, "phases=[{name: p, epochs: 1, freeze: [head]}]")
    best = train(config)
    trained = load_detector(best).model
    fresh = create_model(
        get_config("avsync", input_size=32, segment_frames=5, arch_kwargs={"max_lag": 4})
    )
    # the read-out starts from fixed values: the frozen part is still there, the other moved
    w0 = dict(fresh.head.named_parameters())
    w1 = dict(trained.head.named_parameters())
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    assert not torch.equal(fresh.local_head.pair, trained.local_head.pair)


def test_cached_video_features_train_the_same_model(tmp_path: Path, talking: None) -> None:
    """av.cache_video_features (avsync's fixed features computed once per track) trains what
    the crops path trains when the crops are not augmented."""
    plain = ("av.flip=false", "av.jitter=0", "av.translate=0")
    train(_config(tmp_path / "a", 1, *plain))
    train(_config(tmp_path / "b", 1, *plain, "av.cache_video_features=true"))
    a, b = _log(tmp_path / "a"), _log(tmp_path / "b")
    for key in ("train_loss", "val_loss", "val_auc"):
        assert float(a[0][key]) == pytest.approx(float(b[0][key]), abs=1e-3), key


def test_bad_av_settings_fail_before_training(tmp_path: Path, synthetic: None) -> None:
    with pytest.raises(ConfigError, match=r"av\.fakes"):
        train(_config(tmp_path, 1, "av.fakes=dubbed"))
    with pytest.raises(ConfigError, match=r"av\.loss"):
        train(_config(tmp_path, 1, "av.loss=hinge"))
    with pytest.raises(ConfigError, match="avsync"):  # its head cannot switch modality
        train(_config(tmp_path, 1, "phases=[{name: v, epochs: 1, modalities: video}]"))
    from fakescope.training.av import _cache_video_features

    with pytest.raises(ConfigError, match="cache_video_features"):  # no fixed video features
        _cache_video_features(torch.nn.Linear(1, 1), [])


@pytest.mark.slow
def test_avsync_learns_synthetic_sync(tmp_path: Path, talking: None) -> None:
    """Lips that move with the sound vs shifted / swapped sound: learnable from real clips only."""
    best = train(_config(tmp_path, 4, "av.samples_per_epoch=256", "av.val_windows=3",
                         "av.cache_video_features=true", "optim.lr=0.05"))  # fmt: skip
    rows = _log(tmp_path)
    assert max(float(r["val_auc"]) for r in rows) >= 0.85
    assert load_detector(best).card.metrics["val_auc_video"] >= 0.85
