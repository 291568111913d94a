"""Seed 003's optical-flow CNN-LSTM (``flow_cnn_lstm``, a clip model on flow images): its
shapes, and tiny end to end on synthetic clips where a pasted face moves against a still
background: extract with runs of consecutive frames -> train -> scan (JSON + HTML with the
motion section) -> evaluate."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
import yaml

from fakescope.cli.main import main
from fakescope.datasets import VideoRecord, build_manifest, write_manifest
from fakescope.errors import ConfigError, DatasetError
from fakescope.models import create_model, get_config
from fakescope.models.clip import ClipDetector
from tests.conftest import render_frame

W, H, N_FRAMES = 192, 160, 16
TINY = {
    "input_size": 32,
    "frames_per_clip": 6,
    "backbone_kwargs": {"widths": [8, 16]},
    "proj_dim": 16,
    "temporal_kwargs": {"hidden": 16, "layers": 1, "bidirectional": False, "readout": "last"},
}


def write_motion(path: Path, variant: int, pasted: bool) -> Path:
    """A face clip whose content moves by a seeded random walk: real, the whole frame moves
    together (a camera shake); pasted, only the face region moves, against a still background."""
    rng = np.random.default_rng(200 + variant)
    still = render_frame(0, W, H, True, variant)
    bg = cv2.GaussianBlur(rng.integers(0, 255, (H, W, 3)).astype(np.uint8), (0, 0), 3)
    base = np.where(still.sum(-1, keepdims=True) > 0, still, bg)
    x0, y0, x1, y1 = 56, 34, 136, 124  # about the face
    offsets = np.cumsum(rng.uniform(-2.5, 2.5, (N_FRAMES, 2)), 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25, options={"crf": "16"})
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        for dx, dy in offsets:
            m = np.float32([[1, 0, dx], [0, 1, dy]])
            moved = cv2.warpAffine(base, m, (W, H), borderMode=cv2.BORDER_REFLECT)
            img = base.copy() if pasted else moved
            if pasted:
                img[y0:y1, x0:x1] = moved[y0:y1, x0:x1]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    return path


def _quiet(argv: list[str]) -> tuple[int, str]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(argv)
    return code, buf.getvalue()


def test_flow_cnn_lstm_is_a_clip_model_on_flow_inputs():
    cfg = get_config("flow_cnn_lstm")
    assert (cfg.kind, cfg.inputs, cfg.temporal, cfg.frames_per_clip) == (
        "clip",
        "flow",
        "lstm",
        304,
    )
    assert cfg.backbone == "fakescope_simple_cnn" and cfg.pretrained == "none"
    torch.manual_seed(0)
    model = create_model("flow_cnn_lstm", **TINY)
    assert isinstance(model, ClipDetector)
    assert list(model.parts()) == ["backbone", "proj", "temporal", "head"]
    x = torch.randn(3, 6, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        y = model(x)
        f = model.encode(x.flatten(0, 1))
        assert f.shape == (18, 16)  # the small CNN's last width
        assert torch.allclose(model.forward_features(f.reshape(3, 6, -1)), y, atol=1e-6)
        # a unidirectional LSTM read at the last step: the clip's logit depends on its order
        assert not torch.allclose(model(x.flip(1)), y)
    assert y.shape == (3,) and torch.isfinite(y).all()
    # full size: 304 pairs of 224-px flow images
    full = create_model("flow_cnn_lstm")
    assert sum(p.numel() for p in full.parameters()) < 400_000


@pytest.mark.parametrize(
    ("over", "match"),
    [({"inputs": "audio"}, "model.inputs"), ({"kind": "frame", "frames_per_clip": 1,
      "temporal": "none", "inputs": "flow"}, "clip models only")],
)  # fmt: skip
def test_bad_inputs_are_config_errors(over, match):
    with pytest.raises(ConfigError, match=match):
        get_config("flow_cnn_lstm", **over)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """14 clips (train 8, val 4, test 2) extracted with 4 sampled frames and runs of 4
    consecutive frames; a tiny flow_cnn_lstm trained on 6-pair clips."""
    root = tmp_path_factory.mktemp("flow")
    data = root / "data"
    records = []
    splits = ["train"] * 8 + ["val"] * 4 + ["test"] * 2
    for i, split in enumerate(splits):
        label = i % 2
        name = f"{'fake' if label else 'real'}/v{i}.mp4"
        write_motion(data / name, variant=i, pasted=bool(label))
        method = "pasted" if label else "original"
        records.append(
            VideoRecord(
                f"s/{i}", name, label, "synthetic", method, identities=(f"s:{i}",), split=split
            )
        )
    manifest = write_manifest(build_manifest(records), root / "m.parquet", data)
    crops = root / "crops"
    argv = ["extract", str(manifest), "--out", str(crops), "--frames", "4", "--context-run", "4"]
    code, _ = _quiet([*argv, "--quiet"])
    assert code == 0
    recipe = {
        "name": "flow",
        "out": str(root / "runs"),
        "model": {"name": "flow_cnn_lstm", **TINY},
        "data": {"manifest": str(manifest), "crops": str(crops), "clips_per_video": 2},
        "optim": {"name": "adam", "lr": 3.0e-3, "schedule": "constant", "warmup_epochs": 0},
        "train": {"epochs": 4, "batch_size": 4, "device": "cpu", "early_stopping": False,
                  "amp": False, "seed": 0},
    }  # fmt: skip
    (root / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    code, out = _quiet(["train", str(root / "recipe.yaml"), "--json"])
    assert code == 0, out
    return {
        "root": root,
        "manifest": manifest,
        "crops": crops,
        "best": Path(json.loads(out)["best"]),
    }


def test_training_writes_a_flow_card(trained):
    card = json.loads((trained["best"] / "card.json").read_text())
    assert card["model"]["name"] == "flow_cnn_lstm" and card["model"]["inputs"] == "flow"
    assert card["flow"]["farneback"] == [0.5, 3, 15, 3, 5, 1.2, 0]
    assert card["flow"]["context"] == {"margin": 2.0, "size": 224, "run": 4}
    assert card["frames_per_video"] == 4
    # 8 train videos x up to 2 clips of 6 pairs (a track of 2 sampled faces has 6 pairs: one
    # clip); the flow cache sits beside the crop cache
    assert 14 <= card["training"]["data"]["train_items"] <= 16
    assert card["training"]["data"]["frames_per_item"] == 6
    assert any((trained["crops"] / "cache" / "flow").rglob("*.png"))
    log = (trained["best"].parent / "log.csv").read_text().splitlines()
    assert len(log) == 5  # header + 4 epochs
    assert (trained["best"] / "model.onnx").is_file()


def test_scan_scores_frame_pairs_with_motion_and_flow_heatmaps(trained, tmp_path):
    video = trained["root"] / "data" / "fake" / "v13.mp4"
    report = tmp_path / "r.html"
    code, out = _quiet(
        ["scan", str(video), "--model", str(trained["best"]), "--cache", str(tmp_path / "c"),
         "--report", str(report), "--json"]
    )  # fmt: skip
    assert code == 0, out
    r = json.loads(out)
    r = r[0] if isinstance(r, list) else r
    assert r["status"] == "ok" and 0.0 <= r["probability"] <= 1.0
    assert r["model"]["family"] == "clip" and r["model"]["inputs"] == "flow"
    assert r["settings"]["sampling"] == "uniform:4"
    pairs = r["motion"]["tracks"][0]["pairs"]
    # 4 sampled frames with runs of 4 (the last run cut where the 16-frame video ends)
    assert 9 <= len(pairs) <= 12
    assert [p["frame_index"] for p in pairs] == sorted(p["frame_index"] for p in pairs)
    assert all(p["anomaly"] is not None and p["anomaly"] >= 0 for p in pairs)
    assert "file" not in pairs[0] and "window" not in pairs[0]  # no local paths in the JSON
    assert r["clips"] and all(c["frames"] <= 6 for c in r["clips"])
    page = report.read_text()
    assert "Motion (optical flow)" in page and page.count("alt='flow direction'") >= 3
    assert "http://" not in page and "https://" not in page
    # the JSON follows the published schema
    jsonschema = pytest.importorskip("jsonschema")
    from importlib import resources

    schema = json.loads(
        (resources.files("fakescope") / "schemas" / "scan_result.schema.json").read_text()
    )
    jsonschema.validate(r, schema)


def test_pasted_faces_have_more_motion_anomaly_than_camera_shake(trained, tmp_path):
    from fakescope.inference.scan import scan

    means = {}
    for i in (12, 13):  # test split: a real (whole frame moves) and a pasted face
        folder = "fake" if i % 2 else "real"
        video = trained["root"] / "data" / folder / f"v{i}.mp4"
        result = scan(video, model=trained["best"], cache=tmp_path / "c")
        assert result.motion is not None
        means[folder] = np.mean([p["anomaly"] for p in result.motion["tracks"][0]["pairs"]])
    assert means["fake"] > 2 * means["real"]


def test_evaluate_scores_the_test_split(trained, tmp_path):
    out = tmp_path / "eval"
    code, _ = _quiet(
        ["evaluate", "--model", str(trained["best"]), "--manifest", str(trained["manifest"]),
         "--split", "test", "--out", str(out), "--cache", str(trained["crops"] / "cache"),
         "--bootstrap", "0", "--json"]
    )  # fmt: skip
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["videos"] == {"total": 2, "scored": 2, "no_face": 0, "failed": 0}


def test_crops_without_runs_are_a_one_line_error(trained, tmp_path):
    plain = tmp_path / "plain"
    code, _ = _quiet(
        ["extract", str(trained["manifest"]), "--out", str(plain), "--frames", "4", "--quiet"]
    )
    assert code == 0
    from fakescope.training.config import load_train_config
    from fakescope.training.trainer import train

    config = load_train_config(
        str(trained["root"] / "recipe.yaml"), [f"data.crops={plain}", f"out={tmp_path / 'r'}"]
    )
    with pytest.raises(DatasetError, match="--context") as err:
        train(config)
    assert "\n" not in str(err.value)


def test_seed003_preset_carries_the_seeds_numbers():
    from fakescope.forensics.flow import FlowSettings
    from fakescope.training.augment import AugmentConfig
    from fakescope.training.config import load_train_config

    configs = Path(__file__).resolve().parents[2] / "configs" / "seed003"
    c = load_train_config(str(configs / "flow_cnn_lstm.yaml"))
    model = get_config(**c.model)
    assert (model.name, model.inputs, model.frames_per_clip) == ("flow_cnn_lstm", "flow", 304)
    assert FlowSettings.from_dict(c.flow).farneback == (0.5, 3, 15, 3, 5, 1.2, 0)
    assert c.train.batch_size == 4 and c.data.clips_per_video == 1
    assert AugmentConfig(**c.augment) == AugmentConfig.none()  # the seed's transform=None
    # 38 runs of 9 consecutive frames: the seed's 304 pairs (305 frames)
    header = (configs / "flow_cnn_lstm.yaml").read_text()
    assert "--frames 38 --context-run 9" in header and model.frames_per_clip == 38 * (9 - 1)
    cpu = load_train_config(str(configs / "cpu_flow_cnn_lstm.yaml"))
    assert get_config(**cpu.model).frames_per_clip == 16 * (3 - 1)  # 16 runs of 3 frames
    assert FlowSettings.from_dict(cpu.flow) == FlowSettings.from_dict(c.flow)


def test_crop_perturbations_do_not_apply_to_flow_models(trained):
    from fakescope.cache import CropCache
    from fakescope.errors import ModelError
    from fakescope.inference.pipeline import score_entry
    from fakescope.models import load_detector

    summary = json.loads((trained["crops"] / "summary.json").read_text())
    entry = CropCache(summary["cache"]).get(summary["videos"][0]["cache_key"])
    detector = load_detector(trained["best"])
    scores = score_entry(entry, detector)
    assert len(scores) == 4 and scores.motion is not None  # one score per sampled face
    with pytest.raises(ModelError, match="flow model"):
        score_entry(entry, detector, transform=lambda x: x)
