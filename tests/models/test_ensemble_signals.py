"""An ensemble with an informative member: a signals detector trained on clips whose fakes
flicker, stacked with an untrained frame model. The shared extraction turns the context
windows on for the signals member, the stacker learns to trust it, and the report shows its
forensic signals as the strongest member's evidence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from fakescope.datasets import VideoRecord, build_manifest, write_manifest
from fakescope.evaluation.ensemble_build import build_ensemble
from fakescope.models import ModelCard, create_model, load_detector, save_checkpoint

pytest.importorskip("shap")
pytest.importorskip("pywt")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    import torch

    from tests.forensics.test_signals_detector import _quiet, _write

    root = tmp_path_factory.mktemp("enssig")
    records = []
    for i, split in enumerate(["train"] * 8 + ["val"] * 8):
        label = i % 2
        name = f"{'fake' if label else 'real'}/v{i}.mp4"
        _write(root / "data" / name, variant=i, flicker=25.0 if label else 0.0)
        records.append(
            VideoRecord(f"s/{i}", name, label, "synthetic", "flicker" if label else "original",
                        identities=(f"s:{i}",), split=split)
        )  # fmt: skip
    manifest = write_manifest(build_manifest(records), root / "m.parquet", root / "data")
    crops = root / "crops"
    code, _ = _quiet(["extract", str(manifest), "--out", str(crops), "--frames", "6",
                      "--context", "--quiet"])  # fmt: skip
    assert code == 0
    recipe = {
        "name": "sig",
        "out": str(root / "runs"),
        "model": {"name": "signals_gbm",
                  "backbone_kwargs": {"max_iter": 30, "min_samples_leaf": 2, "random_state": 0}},
        "data": {"manifest": str(manifest), "crops": str(crops)},
    }  # fmt: skip
    (root / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    code, out = _quiet(["train", str(root / "recipe.yaml"), "--json"])
    assert code == 0, out
    signals = Path(json.loads(out)["best"])
    sig_card = json.loads((signals / "card.json").read_text())
    torch.manual_seed(0)
    frame = create_model("simple_cnn", pretrained="none", input_size=32,
                         backbone_kwargs={"widths": [4, 8, 8, 8]}).eval()  # fmt: skip
    card = ModelCard(name="frame", model=frame.config.to_dict(), crop=sig_card["crop"],
                     frames_per_video=sig_card["frames_per_video"])  # fmt: skip
    save_checkpoint(root / "frame", frame, card)
    summary = build_ensemble([root / "frame", signals], manifest, "val", root / "ens",
                             names=["frame", "signals"], cache=root / "cache")  # fmt: skip
    return {"root": root, "summary": summary, "signals_card": sig_card}


def test_the_shared_extraction_serves_the_signals_member(setup) -> None:
    card = json.loads((setup["root"] / "ens" / "card.json").read_text())
    assert card["ensemble"]["extract"]["context"] == setup["signals_card"]["signals"]["context"]
    assert setup["summary"]["answered"] == {"frame": 8, "signals": 8}


def test_the_stacker_trusts_the_informative_member(setup) -> None:
    s = setup["summary"]
    assert s["member_auc"]["signals"] >= 0.9
    weights = {m["name"]: m["weight"] for m in s["members"]}
    assert weights["signals"] > 5 * weights["frame"]
    assert s["auc_crossfit"] >= 0.9


def test_scan_shows_the_signals_member_as_the_strongest(setup, tmp_path) -> None:
    from fakescope.inference.scan import Scanner
    from fakescope.reporting.html import render_report

    root = setup["root"]
    scanner = Scanner(root / "ens", cache=root / "cache", device="cpu")
    result = scanner(root / "data" / "fake" / "v9.mp4")
    assert result.status == "ok" and result.verdict == "fake"
    members = {m["name"]: m for m in result.members}
    assert members["signals"]["answered"] and members["signals"]["contribution"] > 0
    page = render_report(result, scanner.detector)
    assert "Strongest member: signals (signals)" in page and "Forensic signals" in page
    entry = scanner.extract(root / "data" / "fake" / "v9.mp4").entry
    again = load_detector(root / "ens").score(entry, entry.tracks)
    np.testing.assert_allclose(again.logit, result.faces.logit)
