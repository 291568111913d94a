"""The ``signals`` family end to end: train on synthetic clips where fakes flicker, scan one
video (JSON + HTML with signals and SHAP), evaluate (SHAP summary), calibrate; bad inputs."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import av
import numpy as np
import pytest
import yaml

from fakescope.cli.main import main
from fakescope.datasets import VideoRecord, build_manifest, write_manifest
from fakescope.errors import ConfigError, ModelError
from fakescope.models import get_config, list_models, load_detector
from fakescope.models.signals import STATS, SignalsDetector
from tests.conftest import render_frame, write_video

pytest.importorskip("shap")
pytest.importorskip("pywt")

N_FRAMES, W, H = 24, 192, 160


def _write(path: Path, variant: int, flicker: float) -> None:
    """A still face clip; with ``flicker`` > 0 every frame's brightness jumps by up to that
    much (a frame-by-frame generator's temporal flicker)."""
    rng = np.random.default_rng(100 + variant)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25, options={"crf": "18"})
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        still = render_frame(0, W, H, True, variant).astype(np.float64)
        for _ in range(N_FRAMES):
            img = still + rng.uniform(-flicker, flicker)
            frame = np.clip(img, 0, 255).astype(np.uint8)
            for packet in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)


def _quiet(argv: list[str]) -> tuple[int, str]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(argv)
    return code, buf.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """16 clips (train 10, val 4, test 2 + a face-free one), extracted with context; a fitted
    signals_gbm."""
    root = tmp_path_factory.mktemp("signals")
    data = root / "data"
    records = []
    splits = ["train"] * 10 + ["val"] * 4 + ["test"] * 2
    for i, split in enumerate(splits):
        label = i % 2
        name = f"{'fake' if label else 'real'}/v{i}.mp4"
        _write(data / name, variant=i, flicker=25.0 if label else 0.0)
        method = "flicker" if label else "original"
        records.append(
            VideoRecord(
                f"s/{i}", name, label, "synthetic", method, identities=(f"s:{i}",), split=split
            )
        )
    write_video(data / "real" / "noface.mp4", n_frames=8, width=W, height=H, face=False)
    records.append(
        VideoRecord(
            "s/nf",
            "real/noface.mp4",
            0,
            "synthetic",
            "original",
            identities=("s:nf",),
            split="test",
        )
    )
    manifest = write_manifest(build_manifest(records), root / "m.parquet", data)
    crops = root / "crops"
    code, _ = _quiet(
        ["extract", str(manifest), "--out", str(crops), "--frames", "6", "--context", "--quiet"]
    )
    assert code == 0
    recipe = {
        "name": "sig",
        "out": str(root / "runs"),
        "model": {
            "name": "signals_gbm",
            "backbone_kwargs": {"max_iter": 30, "min_samples_leaf": 2, "random_state": 0},
        },
        "data": {"manifest": str(manifest), "crops": str(crops)},
    }
    (root / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    code, out = _quiet(["train", str(root / "recipe.yaml"), "--json"])
    assert code == 0, out
    return {
        "root": root,
        "manifest": manifest,
        "crops": crops,
        "best": Path(json.loads(out)["best"]),
    }


def test_signals_gbm_is_registered_as_the_signals_family():
    assert "signals_gbm" in list_models()
    assert get_config("signals_gbm").kind == "signals"


def test_training_separates_flicker_and_writes_a_card(trained):
    card = json.loads((trained["best"] / "card.json").read_text())
    assert card["model"]["kind"] == "signals"
    sig = card["signals"]
    assert sig["features"][:1] == ["flicker_hll"] and set(STATS) <= set(sig["features"])
    assert sig["estimator"]["file"] in ("model.skops", "model.joblib")
    assert (trained["best"] / sig["estimator"]["file"]).is_file()
    assert sig["context"] == {"margin": 2.0, "size": 224, "run": 3}
    flick = sig["distribution"]["features"]["flicker_hll"]
    assert flick["fake"]["quantiles"][2] > flick["real"]["quantiles"][2]
    assert card["metrics"]["val_auc"] == 1.0
    assert card["training"]["data"]["train_videos"] == 10
    assert card["training"]["hyper_parameters"]["max_iter"] == 30
    assert (trained["best"].parent / "environment.json").is_file()
    detector = load_detector(trained["best"])
    assert isinstance(detector, SignalsDetector) and detector.family == "signals"
    with pytest.raises(ModelError, match="signals model"):
        detector.logits(np.zeros((1, 8, 8, 3), np.uint8))


def test_scan_gives_one_verdict_with_signals_and_shap(trained, tmp_path):
    video = trained["root"] / "data" / "fake" / "v15.mp4"
    report = tmp_path / "r.html"
    code, out = _quiet(
        [
            "scan",
            str(video),
            "--model",
            str(trained["best"]),
            "--cache",
            str(tmp_path / "c"),
            "--report",
            str(report),
            "--json",
        ]
    )
    assert code == 0
    r = json.loads(out)
    r = r[0] if isinstance(r, list) else r
    assert r["status"] == "ok" and r["verdict"] == "fake"
    assert r["model"]["family"] == "signals"
    sig = r["signals"]
    assert set(sig["values"]) == set(sig["shap"]) and sig["values"]["flicker_hll"] > 0
    # SHAP is exact for trees: base + contributions = the video's logit
    assert sig["base_value"] + sum(sig["shap"].values()) == pytest.approx(sig["logit"], abs=1e-6)
    assert len({round(t["probability"], 9) for t in r["tracks"]}) == 1
    page = report.read_text()
    assert "Forensic signals" in page and "SHAP" in page and "fs-signal-strip" in page
    assert "http://" not in page and "https://" not in page


def test_evaluate_writes_a_shap_summary_and_calibrate_copies_the_estimator(trained, tmp_path):
    out = tmp_path / "eval"
    code, _ = _quiet(
        [
            "evaluate",
            "--model",
            str(trained["best"]),
            "--manifest",
            str(trained["manifest"]),
            "--split",
            "test",
            "--out",
            str(out),
            "--cache",
            str(trained["crops"] / "cache"),
            "--bootstrap",
            "0",
            "--json",
        ]
    )
    assert code == 0
    assert (out / "shap_summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    env = json.loads((out / "environment.json").read_text())
    assert env["packages"]["fakescope"] and "device" in env
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["videos"] == {"total": 3, "scored": 2, "no_face": 1, "failed": 0}
    cal = tmp_path / "cal"
    code, _ = _quiet(
        [
            "calibrate",
            "--model",
            str(trained["best"]),
            "--manifest",
            str(trained["manifest"]),
            "--split",
            "val",
            "--out",
            str(cal),
            "--cache",
            str(trained["crops"] / "cache"),
            "--method",
            "platt",
            "--json",
        ]
    )
    assert code == 0
    calibrated = load_detector(cal)
    assert calibrated.family == "signals" and calibrated.card.calibration is not None


def test_crops_without_context_are_a_one_line_error(trained, tmp_path):
    plain = tmp_path / "plain"
    code, _ = _quiet(
        ["extract", str(trained["manifest"]), "--out", str(plain), "--frames", "4", "--quiet"]
    )
    assert code == 0
    recipe = yaml.safe_load((trained["root"] / "recipe.yaml").read_text())
    recipe["data"]["crops"], recipe["out"] = str(plain), str(tmp_path / "runs")
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    from fakescope.training.config import load_train_config
    from fakescope.training.trainer import train

    with pytest.raises(ConfigError, match="--context") as err:
        train(load_train_config(str(tmp_path / "r.yaml")))
    assert "\n" not in str(err.value)


def test_a_signals_card_over_a_frame_checkpoint_is_a_one_line_error(trained, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(trained["best"], bad)
    card = json.loads((bad / "card.json").read_text())
    (bad / card["signals"]["estimator"]["file"]).unlink()
    (bad / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelError, match="estimator file") as err:
        load_detector(bad)
    assert "\n" not in str(err.value)


def test_a_signal_that_cannot_be_computed_is_missing_and_flagged(trained, tmp_path):
    """Runs of one frame (no consecutive pair): flow_boundary is NaN, the trees still score."""
    import shutil

    from fakescope.inference.scan import scan

    ckpt = tmp_path / "ckpt"
    shutil.copytree(trained["best"], ckpt)
    card = json.loads((ckpt / "card.json").read_text())
    card["signals"]["context"]["run"] = 1
    (ckpt / "card.json").write_text(json.dumps(card))
    video = trained["root"] / "data" / "real" / "v14.mp4"
    result = scan(video, model=ckpt, cache=tmp_path / "c")
    assert result.status == "ok" and result.verdict == "real"
    assert result.signals is not None and result.signals["missing"] == ["flow_boundary"]
    assert result.signals["values"]["flow_boundary"] is None
    assert any("flow_boundary" in w for w in result.warnings)


def test_a_feature_subset_is_an_ablation_and_a_bad_one_fails_first(trained, tmp_path):
    from fakescope.extraction import Extractor
    from fakescope.forensics.signals import SIGNALS
    from fakescope.inference.pipeline import extract_settings_for
    from fakescope.training.config import load_train_config
    from fakescope.training.trainer import train

    recipe = yaml.safe_load((trained["root"] / "recipe.yaml").read_text())
    recipe["out"] = str(tmp_path / "runs")
    recipe["model"]["backbone_kwargs"]["features"] = list(SIGNALS)
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    best = train(load_train_config(str(tmp_path / "r.yaml")))
    card = json.loads((best / "card.json").read_text())
    assert card["signals"]["features"] == list(SIGNALS)
    assert "features" not in card["training"]["hyper_parameters"]
    detector = load_detector(best)
    settings = extract_settings_for(detector.card)
    video = trained["root"] / "data" / "fake" / "v15.mp4"
    result = detector.describe(Extractor(settings, trained["crops"] / "cache")(video).entry)
    assert result is not None and set(result["shap"]) == set(SIGNALS)
    recipe["model"]["backbone_kwargs"]["features"] = ["flicker_hll", "face_size"]
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.raises(ModelError, match="face_size") as err:
        train(load_train_config(str(tmp_path / "r.yaml")))
    assert "\n" not in str(err.value)
