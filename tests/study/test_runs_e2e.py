"""Seed 004's protocol end to end on still images: face frames in real/ and fake/ folders ->
manifest with identity splits -> crops (one frame, one face per image) -> `fakescope evaluate
--runs 2` (train and score two seeds; every metric's mean ± std beside each run's intervals)
-> `fakescope evaluate` of one run's checkpoint on the images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fakescope.cli.main import main
from tests.conftest import face_photo


def write_face_frames(root: Path, per_class: int = 8) -> None:
    """Real: the astronaut photo shifted; fake: the same with the face region re-coloured and
    smoothed (a crude blend). One folder of two frames per 'video'."""
    import cv2

    photo = cv2.resize(face_photo(), (256, 256), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)
    for label in ("real", "fake"):
        for k in range(per_class):
            folder = root / label / (f"r{k}" if label == "real" else f"blend/f{k}")
            folder.mkdir(parents=True)
            for f in range(2):
                shift = (int(rng.integers(-12, 12)), int(rng.integers(-12, 12)))
                img = np.roll(photo, shift, (0, 1)).copy()
                if label == "fake":
                    patch = cv2.GaussianBlur(img[40:100, 80:140], (7, 7), 0).astype(int)
                    img[40:100, 80:140] = np.clip(patch + np.array([25, -10, -10]), 0, 255)
                noise = rng.integers(-4, 5, img.shape)
                img = np.clip(img.astype(int) + noise, 0, 255).astype(np.uint8)
                cv2.imwrite(str(folder / f"{f:04d}.png"), img[:, :, ::-1])


@pytest.mark.slow
@pytest.mark.integration
def test_evaluate_runs_on_image_folders(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_face_frames(tmp_path / "frames")
    assert main(["datasets", "index", "frames", "--dataset", "generic", "--out", "m.parquet",
                 "-q"]) == 0  # fmt: skip
    assert main(["datasets", "split", "m.parquet", "--out", "split.parquet",
                 "--ratios", "0.5,0.25,0.25", "--seed", "0", "-q"]) == 0  # fmt: skip
    assert main(["extract", "split.parquet", "--out", "crops", "-q"]) == 0
    summary = json.loads((tmp_path / "crops" / "summary.json").read_text())
    assert summary["counts"] == {"ok": 32, "no_face": 0, "failed": 0}
    assert {v["frames_sampled"] for v in summary["videos"]} == {1}

    (tmp_path / "rffr-like.yaml").write_text(
        "model: {name: efficientnet_lite0, input_size: 64}\n"
        "data: {manifest: split.parquet, crops: crops, frames_per_video: 1}\n"
        "optim: {lr: 0.001, warmup_epochs: 0}\n"
        "train: {epochs: 1, batch_size: 8, early_stopping: false, select: val_acc}\n"
    )
    code = main(["evaluate", "--runs", "2", "--config", "rffr-like.yaml", "--manifest",
                 "split.parquet", "--out", "ev", "--bootstrap", "20", "-q"])  # fmt: skip
    assert code == 0
    report = json.loads((tmp_path / "ev" / "ablation.json").read_text())
    assert report["grid"]["seeds"] == [0, 1] and report["grid"]["finished"] == 2
    (row,) = report["rows"]
    for name, s in row["metrics"].items():
        assert s["n"] == 2 and s["std"] is not None and s["std"] >= 0, name
    for run in report["runs"]:
        m = run["in_domain"]
        assert m["videos"] == m["scored"] == 8 and m["real"] == m["fake"] == 4
        assert m["auc_ci"] is not None and m["auc_ci"][0] <= m["auc"] <= m["auc_ci"][1]
        assert run["history"][0]["train_acc"] is not None and run["best_epoch"] == 1
    md = (tmp_path / "ev" / "ablation.md").read_text()
    assert "## Every metric, mean ± std over seeds" in md and "## Per seed" in md

    best = tmp_path / "ev" / "runs" / "rffr-like__split__s0" / "train" / "best"
    assert main(["evaluate", "--model", str(best), "--manifest", "split.parquet", "--out",
                 "one", "--cache", "crops/cache", "--bootstrap", "20", "--json"]) == 0  # fmt: skip
    metrics = json.loads(capsys.readouterr().out)
    assert metrics == json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert (tmp_path / "one" / "predictions.csv").read_text().count("\n") == 9  # header + 8
