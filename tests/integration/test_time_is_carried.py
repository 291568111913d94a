"""Evidence that clip models carry time end to end: data -> train -> calibrate -> evaluate/scan.

A synthetic task built here: every video shows the same face (the astronaut photo, drifting).
A real video keeps one look for its whole length (brightness -45 or +45, a warm or a cool
tint, chosen per video); a fake one switches between two looks every other frame: brightness
flicker or colour flicker (the kind of temporal inconsistency a frame-by-frame generator
leaves). Each look is equally likely in both classes, so a single frame says nothing about
the label; only the change over time does. The video is coded losslessly, so no compression
artefact of the flicker gives a frame away. A frame model
must stay near chance; every clip model must separate the classes.

Frozen offline-pretrained encoder (EfficientNet-Lite0, features cached per crop), so each
model trains in seconds on a CPU.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from fakescope.cli.main import main
from tests.conftest import render_frame

pytestmark = pytest.mark.slow

SIZE = 192
N_FRAMES = 16
SAMPLED = 8
T = 4
SPLITS = {"train": 64, "val": 16, "test": 24}


def _look(image: np.ndarray, bright: int, warm: bool) -> np.ndarray:
    tint = np.array([30, 0, -30] if warm else [-30, 0, 30], np.int16)
    return np.clip(image.astype(np.int16) + bright + tint, 0, 255).astype(np.uint8)


def _write(path: Path, looks: list[tuple[int, bool]], variant: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(25), options={"qp": "0"})
        s.width, s.height, s.pix_fmt = SIZE, SIZE, "yuv420p"
        for i, (bright, warm) in enumerate(looks):
            img = _look(render_frame(i, SIZE, SIZE, True, variant), bright, warm)
            for packet in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)


def _video(rng: np.random.Generator, fake: bool) -> list[tuple[int, bool]]:
    a = (int(rng.choice([-45, 45])), bool(rng.integers(2)))
    if not fake:
        return [a] * N_FRAMES
    # brightness flicker or colour flicker
    b = (-a[0], a[1]) if rng.integers(2) else (a[0], not a[1])
    return [a if (i // 2) % 2 == 0 else b for i in range(N_FRAMES)]


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("time")
    rng = np.random.default_rng(7)
    rows, k = ["path,label,split"], 0
    for split, n in SPLITS.items():
        for i in range(n):
            fake = i % 2 == 1
            name = f"{'fake' if fake else 'real'}/{split}{i}.mp4"
            _write(root / "data" / name, _video(rng, fake), variant=k)
            rows.append(f"{name},{int(fake)},{split}")
            k += 1
    (root / "data" / "list.csv").write_text("\n".join(rows) + "\n")
    manifest, crops = root / "m.parquet", root / "crops"
    args = ["datasets", "index", str(root / "data" / "list.csv"), "--dataset", "generic"]
    assert main([*args, "--out", str(manifest), "-q"]) == 0
    assert (
        main(["extract", str(manifest), "--out", str(crops), "--frames", str(SAMPLED), "-q"]) == 0
    )
    return root


# (id, model overrides): each clip model on the same frozen Lite0 encoder, and the video AUC it
# must reach. Test AUC over training seeds 0/1/2 (the same checkpoints as 60 full epochs, see
# PATIENCE): STF-Mamba with its identity-consistency head 1.0/1.0/1.0; BiGRU 1.0/0.92/0.90;
# seed 002's mean over time 0.94/0.94/0.90 (blind to order, it sees flicker only through its
# non-linear per-frame projection) and its BiLSTM on raw 1280-d features 0.92/0.81/0.81 (it
# learns it less steadily). The bars leave each at least ~0.05 of margin; the frame model,
# which cannot see time, gets 0.44, and a model trained on shuffled labels ~0.5.
AUC_AT_LEAST = {"bigru": 0.85, "bilstm": 0.75, "mean": 0.75, "stf_mamba": 0.9}
LITE0 = {
    "backbone": "tf_efficientnet_lite0",
    "pretrained": "imagenet",
    "mean": [0.5] * 3,
    "std": [0.5] * 3,
}
CLIP_MODELS = {
    "bigru": {"name": "effnet_lite0_bigru"},
    "bilstm": {"name": "effnet_b0_bilstm", **LITE0},
    "mean": {"name": "resnet18_tavg", **LITE0},
    "stf_mamba": {"name": "stf_mamba_lite0"},
}  # fmt: skip


# Up to 60 epochs, stopped after PATIENCE epochs without a better val AUC: the checkpoint kept
# is the first epoch at the best val AUC, and once that is 1.0 (epochs 3-20 here, every model)
# no later epoch can replace it, so the 60-epoch run keeps the same checkpoint at ~1/3 the cost.
# PATIENCE 8 keeps the same checkpoint as 10 in all 15 runs (5 models x seeds 0/1/2; two fewer
# epochs each); 7 would not (the frame model at seed 1 stops on a plateau before its best), nor
# 5 (also the mean model at seed 1 and the BiLSTM at seed 2: earlier, weaker checkpoints).
PATIENCE = 8


def _train(root: Path, run: str, model: dict, clip: bool, seed: int = 0) -> dict:
    """Train (frozen encoder, cached features) -> calibrate on val -> evaluate on test."""
    import yaml

    model = {**model, "input_size": 96, **({"frames_per_clip": T} if clip else {})}
    recipe = {
        "name": run, "out": str(root / "runs"), "model": model,
        "data": {"manifest": str(root / "m.parquet"), "crops": str(root / "crops"),
                 "frames_per_video": SAMPLED, "clips_per_video": 5, "sbi": "off"},
        "optim": {"lr": 3e-4, "weight_decay": 1e-2, "schedule": "constant"},
        "phases": [{"name": "frozen", "epochs": 60, "freeze": ["backbone"]}],
        "train": {"epochs": 60, "batch_size": 16, "early_stopping": True, "patience": PATIENCE,
                  "cache_features": True, "label_smoothing": 0.0, "seed": seed, "num_workers": 0},
        "augment": {"p_flip": 0.0, "p_color": 0.0, "p_blur": 0.0, "p_noise": 0.0, "p_jpeg": 0.0,
                    "p_downscale": 0.0, "p_erase": 0.0},
    }  # fmt: skip
    (root / f"{run}.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["train", str(root / f"{run}.yaml"), "-q"]) == 0
    best, cal = root / "runs" / run / "best", root / "runs" / run / "calibrated"
    cache = str(root / "crops" / "cache")
    args = ["calibrate", "--model", str(best), "--manifest", str(root / "m.parquet")]
    assert main([*args, "--split", "val", "--out", str(cal), "--cache", cache, "-q"]) == 0
    out = root / "runs" / run / "eval"
    args = [
        "evaluate",
        "--model",
        str(cal),
        "--manifest",
        str(root / "m.parquet"),
        "--split",
        "test",
    ]
    assert main([*args, "--out", str(out), "--cache", cache, "--bootstrap", "50", "-q"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["videos"]["failed"] == 0 and metrics["videos"]["scored"] == SPLITS["test"]
    return metrics


def test_a_frame_model_cannot_see_time(task):
    auc = _train(task, "frame", {"name": "efficientnet_lite0", "pretrained": "imagenet"}, False)
    assert auc["video_level"]["roc_auc"] < 0.8, auc["video_level"]


@pytest.mark.parametrize("run", list(CLIP_MODELS))
def test_each_clip_model_sees_time(task, run):
    metrics = _train(task, run, CLIP_MODELS[run], True)
    assert metrics["video_level"]["roc_auc"] >= AUC_AT_LEAST[run], metrics["video_level"]


def test_the_scan_of_a_clip_model_shows_clips_on_the_timeline(task):
    from fakescope.inference.scan import Scanner

    model = task / "runs" / "stf_mamba" / "calibrated"
    if not model.is_dir():
        _train(task, "stf_mamba", CLIP_MODELS["stf_mamba"], True)
    scanner = Scanner(model, cache=task / "scan-cache")
    fake = scanner(task / "data" / "fake" / "test1.mp4").to_dict()
    real = scanner(task / "data" / "real" / "test0.mp4").to_dict()
    for r in (fake, real):
        assert r["status"] == "ok", r
        assert r["model"]["family"] == "clip" and r["model"]["frames_per_clip"] == T
        assert r["clips"] and all(c["frames"] == T and not c["padded"] for c in r["clips"])
        times = [c["start"] for c in r["clips"]]
        assert times == sorted(times) and r["clips"][-1]["end"] <= r["video"]["duration"] + 1e-6
        curve = r["tracks"][0]["inconsistency"]
        assert len(curve) == r["tracks"][0]["frames"]
    assert fake["probability"] > real["probability"]


def test_a_clip_model_given_no_track_long_enough_answers_no_face_with_the_reason(task):
    from fakescope.inference.scan import Scanner
    from tests.conftest import write_video

    model = task / "runs" / "stf_mamba" / "calibrated"
    if not model.is_dir():
        _train(task, "stf_mamba", CLIP_MODELS["stf_mamba"], True)
    short = write_video(task / "short.mp4", n_frames=1, width=SIZE, height=SIZE)
    r = Scanner(model, cache=task / "scan-cache")(short)
    assert r.status == "no_face" and r.probability is None
    assert r.reason is not None and "no face track of at least 2 sampled frames" in r.reason
