"""A published detector under leave-one-generator-out: scored with its fixed checkpoint, never
retrained per fold (run_logo(fixed_model=...)), on generated clips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fakescope.datasets import VideoRecord, build_manifest, write_manifest
from tests.conftest import write_video


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("logo_pub")
    records, k = [], 0
    for split, n_real in {"train": 2, "val": 2, "test": 2}.items():
        for method, label in [("original", 0)] * n_real + [("genA", 1), ("genB", 1)]:
            name = f"{method}/v{k}.mp4"
            write_video(root / "data" / name, n_frames=6, width=128, height=128, variant=k)
            records.append(
                VideoRecord(f"x/{k}", name, label, "synthetic", method,
                            identities=(f"x:{k}",), split=split)
            )  # fmt: skip
            k += 1
    write_manifest(build_manifest(records), root / "m.parquet", root / "data")
    return root


@pytest.mark.slow
def test_fixed_checkpoint_scores_every_fold_without_training(data: Path, tmp_path: Path) -> None:
    from fakescope.evaluation.logo_run import run_logo
    from fakescope.models import create_model, load_detector
    from fakescope.models.checkpoint import ModelCard, save_checkpoint
    from fakescope.training.config import load_train_config

    torch.manual_seed(0)
    model = create_model("mesonet4").eval()
    ckpt = save_checkpoint(
        tmp_path / "meso", model,
        ModelCard("meso", model.config.to_dict(), frames_per_video=4, licence="Apache-2.0"),
    )  # fmt: skip
    config = load_train_config(
        None, [f"data.manifest={data / 'm.parquet'}", f"data.crops={tmp_path / 'crops'}"]
    )
    out = tmp_path / "logo"
    result = run_logo(
        config, str(data / "m.parquet"), out, baselines=False, n_boot=20,
        cache_dir=str(tmp_path / "crops" / "cache"), fixed_model=ckpt,
    )  # fmt: skip
    assert not (out / "models").exists() and not (out / "folds").exists()  # nothing trained
    gens = result["per_generator"]
    assert set(gens) == {"genA", "genB"}
    for r in gens.values():
        assert r["reused_model"] is True and r["train_seconds"] is None
        assert r["detector"]["auc"] is not None
    # one model for every fold: a real test video gets the same raw score in both folds, the
    # score the checkpoint gives it directly (calibration is per fold, so compare ranks)
    preds = [p for p in json.loads((out / "logo.json").read_text())["predictions"]]
    by_gen = {g: {p["video_id"]: p["detector"] for p in preds if p["generator"] == g} for g in gens}
    reals = sorted(set(by_gen["genA"]) & set(by_gen["genB"]))
    assert len(reals) == 2
    order_a = np.argsort([by_gen["genA"][v] for v in reals])
    order_b = np.argsort([by_gen["genB"][v] for v in reals])
    assert (order_a == order_b).all()
    # every fold keeps its val and test videos' logits for ensembles: the calibrated logit is
    # the logit of the fold's test probability
    logits = json.loads((out / "logo.json").read_text())["fold_logits"]
    assert set(logits) == {"genA", "genB"}
    for g in gens:
        assert len(logits[g]["val"]) == 3 and set(logits[g]["test"]) == set(by_gen[g])
        for v, p in by_gen[g].items():
            row = logits[g]["test"][v]
            assert row["calibrated"] == pytest.approx(np.log(p / (1 - p)), abs=1e-6)
    assert load_detector(ckpt).card.licence == "Apache-2.0"
