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
            "--level",
            "frame",
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


def test_calibrate_at_video_level_stores_the_map_and_threshold_and_evaluate_uses_them(
    setup, capsys
):
    out = setup / "video-calibrated"
    args = ["--model", str(setup / "ckpt"), "--manifest", str(setup / "m.parquet")]
    assert main(["calibrate", *args, "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["level"] == "video" and result["units"] == 4
    assert result["method"] in ("temperature", "platt", "beta", "isotonic")
    detector = load_detector(out)
    card = detector.card
    assert card.calibration is not None and card.calibration["method"] == result["method"]
    assert card.threshold == pytest.approx(result["threshold"]) and card.temperature == 1.0
    # the evaluation's calibrated video probabilities are the map applied to the raw video logits
    ev = setup / "video-eval"
    assert main(["evaluate", "--model", str(out), "--manifest", str(setup / "m.parquet"),
                 "--out", str(ev), "--bootstrap", "0", "-q"]) == 0  # fmt: skip
    raw = setup / "raw-eval"
    assert main(["evaluate", *args, "--out", str(raw), "--bootstrap", "0", "-q"]) == 0
    from fakescope.inference import logit, sigmoid
    from fakescope.inference.video_calibration import VideoCalibrator

    got = pd.read_csv(ev / "predictions.csv").set_index("video_id")["probability"].dropna()
    frames = pd.read_csv(raw / "frames.csv")  # one face a frame, probabilities at T = 0.5
    frames["p1"] = sigmoid(0.5 * logit(frames["probability"].to_numpy()))
    raw_video = frames.groupby("video_id")["p1"].mean()
    cal = VideoCalibrator.from_dict(card.calibration)
    expected = pd.Series(cal.predict_proba(logit(raw_video.to_numpy())), index=raw_video.index)
    assert len(got) == 4  # the test split; its face-free clip has no probability
    assert np.allclose(got.sort_index(), expected.sort_index(), atol=1e-6)


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


def _evaluate(setup: Path, out: Path, *extra: str) -> int:
    return main(
        ["evaluate", "--model", str(setup / "ckpt"), "--manifest", str(setup / "m.parquet"),
         "--split", "all", "--out", str(out), "--bootstrap", "20", "--json", *extra]
    )  # fmt: skip


def test_evaluate_reports_ece_before_and_after_the_cards_temperature(setup, capsys):
    assert _evaluate(setup, setup / "e4") == 0
    cal = json.loads(capsys.readouterr().out)["calibration"]
    assert cal["temperature"] == 0.5
    from fakescope.evaluation.metrics import expected_calibration_error

    pred = pd.read_csv(setup / "e4" / "predictions.csv").dropna(subset=["probability"])
    # "calibrated" is the ECE of the very probabilities the run reports
    assert cal["video_level"]["ece_calibrated"] == pytest.approx(
        expected_calibration_error(pred["label"].to_numpy(), pred["probability"].to_numpy())
    )
    for level in ("video_level", "frame_level"):
        assert {
            "ece_uncalibrated",
            "ece_calibrated",
            "brier_uncalibrated",
            "brier_calibrated",
        } <= set(cal[level])
    assert "## Calibration (temperature 0.500)" in (setup / "e4" / "summary.md").read_text()


def test_evaluate_robustness_table_end_to_end(setup, capsys):
    out = setup / "e5"
    code = _evaluate(setup, out, "--robustness", "jpeg:30,h264:40,resize:96")
    assert code == 0
    metrics = json.loads(capsys.readouterr().out)
    rows = {r["perturbation"]: r for r in metrics["robustness"]["rows"]}
    assert list(rows) == ["none", "jpeg:30", "h264:40", "resize:96"]
    # the clean row is the run's own video-level evaluation
    assert rows["none"]["auc"] == pytest.approx(metrics["video_level"]["roc_auc"])
    assert rows["none"]["scored"] == metrics["videos"]["scored"] == 8
    for name in ("jpeg:30", "h264:40", "resize:96"):
        r = rows[name]
        assert r["videos"] == 9 and r["no_face"] >= 1  # the face-free clip stays face-free
        assert r["auc_change"] == pytest.approx(r["auc"] - rows["none"]["auc"])
    # the perturbations really changed what the network saw
    assert rows["jpeg:30"]["ece"] != rows["none"]["ece"]
    # re-encoded copies: downscaled to a 96-pixel short side, kept for a rerun
    resized = list((out / "cache" / "perturbed" / "resize-96").glob("*.mp4"))
    assert len(resized) == 9
    from fakescope.io import probe

    info = probe(resized[0])
    assert min(info.width, info.height) == 96 and info.codec == "h264"
    assert (out / "robustness.json").is_file() and cv2.imread(
        str(out / "robustness.png")
    ) is not None
    table = (out / "robustness.md").read_text()
    assert "| H.264 CRF 40 |" in table and "JPEG quality 30 (face crops)" in table
    assert "## Robustness" in (out / "summary.md").read_text()
    # a rerun is served from the kept copies and the crop cache, with the same figures
    mtime = resized[0].stat().st_mtime_ns
    assert _evaluate(setup, out, "--robustness", "jpeg:30,h264:40,resize:96") == 0
    again = json.loads(capsys.readouterr().out)["robustness"]["rows"]
    assert [r.get("auc") for r in again] == [r.get("auc") for r in metrics["robustness"]["rows"]]
    assert resized[0].stat().st_mtime_ns == mtime


def test_a_bad_robustness_list_is_a_usage_error_before_any_work(setup, capsys):
    code = _evaluate(setup, setup / "e6", "--robustness", "jpeg:101")
    assert code == 2 and "jpeg:101" in capsys.readouterr().err
    assert not (setup / "e6").exists()


def test_compare_two_runs(setup, capsys):
    for name in ("c1", "c2"):
        assert _evaluate(setup, setup / name) == 0
    capsys.readouterr()
    code = main(
        ["compare", str(setup / "c1"), str(setup / "c2"), "--out", str(setup / "cmp"), "--json"]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in result["runs"]] == ["tiny", "tiny"]
    assert result["runs"][0]["video_auc"] == result["runs"][1]["video_auc"]  # same model, same data
    assert result["cross_dataset"]["test_datasets"] == ["synthetic"]
    assert "## Cross-dataset video AUC" in (setup / "cmp" / "comparison.md").read_text()
    assert main(["compare", str(setup / "nothing-here")]) == 2
    assert "no metrics.json" in capsys.readouterr().err


def test_runs_usage_errors_come_before_any_work(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: {name: efficientnet_lite0}\ndata: {manifest: m.parquet}\n")
    cases = [
        (["--manifest", "m.parquet"], "--runs needs --config"),
        (["--manifest", "m.parquet", "--config", str(recipe), "--protocol", "logo"],
         "--runs works with --protocol split"),
        (["--dataset", "generic", str(tmp_path), "--config", str(recipe)], "not --dataset"),
        (["--manifest", "m.parquet", "--config", str(recipe)], "data.crops"),
    ]  # fmt: skip
    for extra, message in cases:
        code = main(["evaluate", "--runs", "2", "--out", str(tmp_path / "o"), *extra])
        assert code == 2 and message in capsys.readouterr().err, extra
    assert not (tmp_path / "o" / "ablation.md").exists()
