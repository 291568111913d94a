"""`fakescope evaluate` and `fakescope calibrate` end to end on generated clips."""

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from fakescope.cli.main import main
from fakescope.datasets import VideoRecord, build_manifest, write_manifest
from fakescope.models import ModelCard, create_model, load_detector, save_checkpoint
from tests.conftest import write_video


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("evalcli")
    records = []
    for i in range(8):
        label = i % 2
        split = "val" if i < 4 else "test"
        name = f"{'fake' if label else 'real'}/v{i}.mp4"
        write_video(root / "data" / name, n_frames=8, width=160, height=160, variant=i)
        records.append(
            VideoRecord(
                f"x/{i}",
                name,
                label,
                "synthetic",
                "m" if label else "original",
                identities=(f"x:{i}",),
                split=split,
            )
        )
    write_video(
        root / "data" / "real" / "noface.mp4", n_frames=8, width=160, height=160, face=False
    )
    records.append(
        VideoRecord(
            "x/noface",
            "real/noface.mp4",
            0,
            "synthetic",
            "original",
            identities=("x:nf",),
            split="test",
        )
    )
    write_manifest(build_manifest(records), root / "m.parquet", root / "data")
    import torch

    torch.manual_seed(0)
    model = create_model("efficientnet_b0", pretrained="none", input_size=64).eval()
    card = ModelCard(name="tiny", model=model.config.to_dict(), frames_per_video=4, temperature=0.5)
    save_checkpoint(root / "ckpt", model, card)
    return root


def test_evaluate_writes_every_output(setup, capsys):
    out = setup / "eval"
    code = main(
        [
            "evaluate",
            "--model",
            str(setup / "ckpt"),
            "--manifest",
            str(setup / "m.parquet"),
            "--out",
            str(out),
            "--bootstrap",
            "50",
            "--json",
        ]
    )
    assert code == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["videos"] == {"total": 5, "scored": 4, "no_face": 1, "failed": 0}
    v = metrics["video_level"]
    assert 0 <= v["roc_auc"] <= 1
    # 4 videos are too few for a bootstrap: point estimates stay, with the reason
    assert v["bootstrap"] is None and "too few" in v["bootstrap_note"]
    assert "synthetic" in metrics["breakdown"]["dataset"]
    pred = pd.read_csv(out / "predictions.csv")
    assert len(pred) == 5 and pred["probability"].isna().sum() == 1
    frames = pd.read_csv(out / "frames.csv")
    assert len(frames) == 4 * 4 and frames["probability"].between(0, 1).all()
    # the video probability is the mean over frames of the (calibrated) frame probability
    first = pred[pred["probability"].notna()].iloc[0]
    assert np.isclose(
        first["probability"], frames[frames["video_id"] == first["video_id"]]["probability"].mean()
    )
    for png in ("roc.png", "pr.png", "reliability.png", "hist.png", "failures.png"):
        assert cv2.imread(str(out / png)) is not None, png
    assert "| AUC |" in (out / "summary.md").read_text()


def test_calibrate_writes_a_copy_with_the_fitted_temperature(setup, capsys):
    out = setup / "calibrated"
    code = main(
        [
            "calibrate",
            "--model",
            str(setup / "ckpt"),
            "--manifest",
            str(setup / "m.parquet"),
            "--out",
            str(out),
            "--json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["frames"] == 16 and result["ece_after"] <= result["ece_before"] + 1e-9
    detector = load_detector(out)
    assert (
        detector.card.temperature == pytest.approx(result["temperature"])
        and detector.card.temperature != 0.5
    )
    assert detector.card.metrics["calibration"]["split"] == "val"
    original = load_detector(setup / "ckpt")
    x = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    assert np.array_equal(original.logits(x), detector.logits(x))  # same weights, new temperature


def test_empty_split_is_a_usage_error(setup, capsys):
    code = main(
        [
            "evaluate",
            "--model",
            str(setup / "ckpt"),
            "--manifest",
            str(setup / "m.parquet"),
            "--split",
            "train",
            "--out",
            str(setup / "e2"),
        ]
    )
    assert code == 2 and "no videos in split 'train'" in capsys.readouterr().err


def test_evaluate_a_benchmark_folder_on_the_fly(setup, capsys):
    code = main(
        [
            "evaluate",
            "--model",
            str(setup / "ckpt"),
            "--dataset",
            "generic",
            str(setup / "data"),
            "--out",
            str(setup / "e3"),
            "--bootstrap",
            "0",
            "--json",
        ]
    )
    assert code == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["videos"]["total"] == 9  # no official split: every video of the folder
