"""`fakescope study` end to end on the real sample clips: two tiny frame recipes, one epoch
each, in-domain FF++ test split and DFDC as the cross-dataset set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakescope.cli.main import main
from fakescope.datasets import VideoRecord, build_manifest, write_manifest

FF = "FaceForensics++/{}/c40/videos/{}.mp4"
SPLITS = {  # FF++ identity groups kept whole: (183, 253) train, (469, 481) val, (585, 599) test
    "train": ("183", "253"),
    "val": ("469", "481"),
    "test": ("585", "599"),
}
DFDC = [
    ("DFDC/dfdc_sample_real/lynaeydofd.mp4", 0),
    ("DFDC/dfdc_train_part_0/brtujopkby.mp4", 1),
    ("DFDC/dfdc_train_part_10/widuwuoiur.mp4", 1),
]
RECIPE = """\
model: {{name: {model}, input_size: 64}}
data: {{frames_per_video: 2}}
optim: {{lr: 0.001, warmup_epochs: 0}}
train: {{epochs: 1, batch_size: 8, early_stopping: false}}
"""


@pytest.fixture(scope="module")
def data(samples: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("study")
    records = []
    for split, (a, b) in SPLITS.items():
        group = (f"ffpp:{a}", f"ffpp:{b}")
        items = [(FF.format("original_sequences/youtube", a), 0, "original"),
                 (FF.format("original_sequences/youtube", b), 0, "original"),
                 (FF.format("manipulated_sequences/Deepfakes", f"{a}_{b}"), 1, "Deepfakes"),
                 (FF.format("manipulated_sequences/FaceSwap", f"{b}_{a}"), 1, "FaceSwap")]  # fmt: skip
        for path, label, method in items:
            records.append(VideoRecord(path, path, label, "ffpp", method, "c40",
                                       identities=group, split=split))  # fmt: skip
    for path, label in DFDC:
        records.append(VideoRecord(path, path, label, "dfdc", "DFDC" if label else "original",
                                   "raw", identities=(f"dfdc:{path}",), split="test"))  # fmt: skip
    write_manifest(build_manifest(records), root / "m.parquet", samples)
    assert main(["extract", str(root / "m.parquet"), "--out", str(root / "crops"),
                 "--frames", "4", "-q"]) == 0  # fmt: skip
    for name, model in (("lite0", "efficientnet_lite0"), ("mobilenet", "mobilenetv2")):
        (root / f"{name}.yaml").write_text(RECIPE.format(model=model))
    (root / "study.yaml").write_text(
        f"""\
name: e2e
seeds: [3]
runs:
  - {{id: lite0, config: lite0.yaml, label: Lite0 frame}}
  - {{id: mnv2, config: mobilenet.yaml, label: MobileNetV2 frame}}
manifests:
  - {{name: ff, manifest: {root / "m.parquet"}, crops: {root / "crops"}, where: {{dataset: ffpp}}}}
evaluate:
  bootstrap: 50
  cross:
    - {{name: dfdc, manifest: {root / "m.parquet"}, crops: {root / "crops"},
        where: {{dataset: dfdc}}}}
references:
  - {{label: Published baseline, value: 0.8210, cross: dfdc}}
"""
    )
    return root


@pytest.mark.slow
@pytest.mark.integration
def test_study_trains_scores_and_reports_then_resumes(data, tmp_path, capsys):
    out = tmp_path / "study"
    assert main(["study", str(data / "study.yaml"), "--out", str(out), "-q"]) == 0
    report = json.loads((out / "ablation.json").read_text())
    assert [r["run"] for r in report["rows"]] == ["lite0", "mnv2"]
    for row in report["rows"]:
        assert row["model"]["kind"] == "frame" and not row["temporal"]
        assert row["trainable_params"] > 100_000 and row["total_params"] >= row["trainable_params"]
        auc = row["in_domain_auc"]
        assert auc["n"] == 1 and 0.0 <= auc["mean"] <= 1.0
        cross = row["cross"]["dfdc"]
        assert 0.0 <= cross["auc"]["mean"] <= 1.0
        assert cross["gap"]["mean"] == pytest.approx(auc["mean"] - cross["auc"]["mean"])
        assert row["minutes"]["mean"] > 0
    run = report["runs"][0]
    assert run["in_domain"]["videos"] == 4 and run["in_domain"]["scored"] == 4
    assert run["cross"]["dfdc"]["videos"] == 3 and len(run["history"]) == 1
    md = (out / "ablation.md").read_text()
    assert "| 1 | Lite0 frame |" in md and "| 2 | MobileNetV2 frame |" in md
    assert "Published baseline" in md.split("## Published references")[1]
    assert "Published baseline" not in md.split("## Published references")[0]
    for name in ("backbones", "curves", "params", "phases", "summary"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 10_000
    scores = (out / "runs" / "lite0__ff__s3" / "eval" / "dfdc.csv").read_text()
    assert "lynaeydofd" in scores

    # a second call finds every run done: nothing is trained or scored again
    marker = out / "runs" / "lite0__ff__s3" / "result.json"
    before = marker.stat().st_mtime_ns
    assert main(["study", str(data / "study.yaml"), "--out", str(out), "--dry-run"]) == 0
    assert capsys.readouterr().out.count("done ") == 2
    assert main(["study", str(data / "study.yaml"), "--out", str(out), "-q"]) == 0
    assert marker.stat().st_mtime_ns == before
