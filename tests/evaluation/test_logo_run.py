"""`fakescope evaluate --protocol logo` end to end on generated clips (tiny recipe)."""

import json
from pathlib import Path

import pytest

from fakescope.cli.main import main
from fakescope.datasets import VideoRecord, build_manifest, write_manifest
from tests.conftest import write_video

SPLITS = {"train": 3, "val": 2, "test": 3}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real clips and the fakes of two generators in every split (identities never shared)."""
    root = tmp_path_factory.mktemp("logo")
    records, k = [], 0
    for split, n_real in SPLITS.items():
        items = [("original", 0)] * n_real + [("genA", 1), ("genB", 1)]
        for method, label in items:
            name = f"{method}/v{k}.mp4"
            write_video(root / "data" / name, n_frames=6, width=128, height=128, variant=k)
            records.append(
                VideoRecord(f"x/{k}", name, label, "synthetic", method,
                            identities=(f"x:{k}",), split=split)
            )  # fmt: skip
            k += 1
    write_manifest(build_manifest(records), root / "m.parquet", root / "data")
    assert main(["extract", str(root / "m.parquet"), "--out", str(root / "crops"),
                 "--frames", "4", "-q"]) == 0  # fmt: skip
    (root / "recipe.yaml").write_text(
        "model: {name: efficientnet_lite0, input_size: 64}\n"
        f"data: {{manifest: {root / 'm.parquet'}, crops: {root / 'crops'}, frames_per_video: 2,"
        " sbi: mix}\n"
        "optim: {lr: 0.001, warmup_epochs: 0}\n"
        "train: {epochs: 1, batch_size: 8}\n"
    )
    return root


def _logo(data: Path, out: Path, *extra: str) -> int:
    return main(
        ["evaluate", "--protocol", "logo", "--config", str(data / "recipe.yaml"),
         "--manifest", str(data / "m.parquet"), "--out", str(out), "--cache",
         str(data / "crops" / "cache"), "--bootstrap", "50", "-q", *extra]
    )  # fmt: skip


@pytest.mark.slow
def test_logo_trains_per_fold_scores_held_out_fakes_and_resumes(data, tmp_path):
    out = tmp_path / "logo"
    assert _logo(data, out) == 0
    result = json.loads((out / "logo.json").read_text())
    gens = result["per_generator"]
    assert set(gens) == {"genA", "genB"}
    for g, other in (("genA", "genB"), ("genB", "genA")):
        r = gens[g]
        assert (r["real"], r["fake"]) == (SPLITS["test"], 1)
        assert {"detector", "metadata", "linear_probe"} <= set(r)
        assert r["calibration"]["method"] and 0.0 < r["threshold"] < 1.0
        # the fold's training manifest holds no fake of the held-out generator
        import pandas as pd

        fold = pd.read_parquet(out / "folds" / f"{g}.parquet")
        seen = fold[fold["split"].isin(["train", "val"])]
        assert not (seen["method"] == g).any() and (seen["method"] == other).any()
        tested = fold[fold["split"] == "test"]
        assert set(tested["method"]) == {"original", g}
        assert r["train_seconds"] > 0 and r["reused_model"] is False
    preds = result["predictions"]
    assert {p["generator"] for p in preds} == {"genA", "genB"}
    assert all(0.0 <= p["detector"] <= 1.0 for p in preds)
    assert "genA" in (out / "logo.md").read_text()
    # a rerun reuses each fold's trained model and gives the same scores
    assert _logo(data, out) == 0
    again = json.loads((out / "logo.json").read_text())
    assert all(again["per_generator"][g]["reused_model"] for g in gens)
    assert [again["per_generator"][g]["train_seconds"] for g in gens] == [
        gens[g]["train_seconds"] for g in gens
    ]
    assert [p["detector"] for p in again["predictions"]] == [p["detector"] for p in preds]
    # a fold whose training was cut off (best/ written, the run not finished) is not taken
    # for a finished one: it resumes from its last state
    (next((out / "models").glob("*/logo-done"))).unlink()
    assert _logo(data, out) == 0
    third = json.loads((out / "logo.json").read_text())
    assert sorted(third["per_generator"][g]["reused_model"] for g in gens) == [False, True]


def test_logo_needs_a_recipe(data, tmp_path, capsys):
    code = main(["evaluate", "--protocol", "logo", "--manifest", str(data / "m.parquet"),
                 "--out", str(tmp_path / "x")])  # fmt: skip
    assert code == 2
    assert "--config" in capsys.readouterr().err
