"""End-to-end training on cached crops: loss goes down, the checkpoint loads and predicts."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from fakescope.cli.main import main
from fakescope.errors import ConfigError
from fakescope.training.config import load_train_config
from tests.conftest import write_video


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six real talking-head-like clips -> manifest -> identity split -> cached crops."""
    root = tmp_path_factory.mktemp("train")
    for i in range(6):
        write_video(
            root / "data" / "real" / f"r{i}.mp4", n_frames=12, width=192, height=192, variant=i
        )
    csv_path = root / "data" / "list.csv"
    csv_path.write_text(
        "path,label,split\n"
        + "".join(f"real/r{i}.mp4,0,{'train' if i < 4 else 'val'}\n" for i in range(6))
    )
    assert (
        main(
            [
                "datasets",
                "index",
                str(csv_path),
                "--dataset",
                "generic",
                "--out",
                str(root / "m.parquet"),
                "-q",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "extract",
                str(root / "m.parquet"),
                "--out",
                str(root / "crops"),
                "--frames",
                "4",
                "-q",
            ]
        )
        == 0
    )
    return root


def recipe(root: Path, **extra: str) -> list[str]:
    overrides = {
        "name": "t",
        "out": str(root / "runs"),
        "model.name": "efficientnet_lite0",
        "model.input_size": "96",
        "data.manifest": str(root / "m.parquet"),
        "data.crops": str(root / "crops"),
        "data.frames_per_video": "4",
        "data.sbi": "only",
        "optim.lr": "0.001",
        "optim.warmup_epochs": "0",
        "train.epochs": "3",
        "train.batch_size": "8",
        "train.patience": "5",
        **extra,
    }
    return [f"{k}={v}" for k, v in overrides.items()]


@pytest.mark.slow
def test_training_lowers_loss_and_writes_a_loadable_checkpoint(prepared, capsys):
    code = main(["train", str(_empty_yaml(prepared)), *recipe(prepared), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    with open(prepared / "runs" / "t" / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3
    losses = [float(r["train_loss"]) for r in rows]
    assert losses[-1] < losses[0], losses
    assert (prepared / "runs" / "t" / "config.yaml").is_file()
    import cv2

    gallery = cv2.imread(str(prepared / "runs" / "t" / "sbi_gallery.png"))
    assert gallery is not None and gallery.shape[1] >= 3 * 96
    import fakescope

    detector = fakescope.load_detector(out["best"])
    assert (
        detector.card.model["name"] == "efficientnet_lite0"
        and detector.card.training["data"]["sbi"] == "only"
    )
    crops = np.random.default_rng(0).integers(0, 256, (2, 96, 96, 3), dtype=np.uint8)
    p = detector.predict_proba(crops)
    assert p.shape == (2,) and np.all((p > 0) & (p < 1))


@pytest.mark.slow
def test_training_is_reproducible_and_resumes(prepared, monkeypatch):
    def run(name: str, resume: bool = False, expect: int = 0) -> list[dict]:
        args = [
            "train",
            str(_empty_yaml(prepared)),
            *recipe(prepared, name=name, **{"train.epochs": "2"}),
            "-q",
        ]
        assert main([*args, "--resume"] if resume else args) == expect
        with open(prepared / "runs" / name / "log.csv") as fh:
            return list(csv.DictReader(fh))

    a = run("a")
    b = run("b")
    assert [r["train_loss"] for r in a] == [r["train_loss"] for r in b]  # bit-for-bit on the CPU

    # a run that dies during its second epoch, then resumes from last.pt
    import fakescope.training.trainer as trainer

    real_validate = trainer._evaluate
    calls = []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(trainer, "_evaluate", dying)
    assert len(run("c", expect=130)) == 1  # interrupted: one epoch logged
    monkeypatch.setattr(trainer, "_evaluate", real_validate)
    c = run("c", resume=True)
    assert [r["epoch"] for r in c] == ["1", "2"]
    assert [r["train_loss"] for r in c] == [r["train_loss"] for r in a]


def _empty_yaml(root: Path) -> Path:
    p = root / "empty.yaml"
    p.write_text("{}\n")
    return p


def test_config_layers_and_errors(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  epochs: 7\noptim:\n  lr: 0.01\nmodel:\n  name: resnet18\n")
    c = load_train_config(str(f), ["train.epochs=2", "optim.backbone_lr=1e-5"])
    assert (c.train.epochs, c.optim.lr, c.optim.backbone_lr, c.model["name"]) == (
        2,
        0.01,
        1e-5,
        "resnet18",
    )
    with pytest.raises(ConfigError, match=r"unknown key .train\.epoch."):
        load_train_config(str(f), ["train.epoch=2"])
    with pytest.raises(ConfigError, match=r"train\.epochs expects int"):
        load_train_config(str(f), ["train.epochs=many"])
    with pytest.raises(ConfigError, match=r"data\.sbi must be"):
        load_train_config(None, ["data.sbi=sometimes"])


@pytest.mark.slow
def test_two_process_gloo_training_with_torchrun(prepared):
    """Multi-process data-parallel training (DDP over gloo on the CPU) through torchrun."""
    import subprocess
    import sys

    overrides = recipe(prepared, name="ddp", **{"train.epochs": "1", "train.num_workers": "0"})
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
           "-m", "fakescope", "train", str(_empty_yaml(prepared)), *overrides, "-q"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    with open(prepared / "runs" / "ddp" / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1  # one writer (rank 0)
    import fakescope

    assert fakescope.load_detector(prepared / "runs" / "ddp" / "best").card.name == "ddp"


def test_clips_of_consecutive_crops_share_one_augmentation(prepared):
    import torch

    from fakescope.training.augment import AugmentConfig
    from fakescope.training.data import ClipDataset, load_clips

    clips = load_clips(
        str(prepared / "m.parquet"),
        str(prepared / "crops"),
        "train",
        clip_frames=3,
        clips_per_video=2,
    )
    assert len(clips) == 4 * 2 and all(len(c.crops) == 3 for c in clips)
    assert clips[0].crops[1] > clips[0].crops[0]  # time order (crop names carry the frame index)
    strong = AugmentConfig(
        p_flip=1.0, p_color=1.0, p_noise=0.0, p_erase=1.0, p_jpeg=0.0, p_blur=0.0, p_downscale=0.0
    )
    # a clip of one crop repeated: after augmentation its frames must still be identical
    same = [type(clips[0])((clips[0].crops[0],) * 3, 0, "v")]
    x, label, _ = ClipDataset(same, input_size=64, mean=(0.5,) * 3, std=(0.5,) * 3, augment=strong)[
        0
    ]
    assert x.shape == (3, 3, 64, 64) and label == 0
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])
    with pytest.raises(Exception, match="clip_frames must be >= 2"):
        load_clips(str(prepared / "m.parquet"), str(prepared / "crops"), "train", clip_frames=1)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.name=nonesuch"], "model: unknown model 'nonesuch'"),
        (["phases=[{name: a, epochs: 1, frozen: [x]}]"], r"phases\[0\]: unknown key\(s\) frozen"),
        (
            ["model.name=effnet_lite0_bigru", "phases=[{name: a, epochs: 1, freeze: [neck]}]"],
            r"phases\[0\]\.freeze: unknown part 'neck' of a clip model",
        ),
        (
            ["phases=[{name: a, epochs: 1, freeze: [temporal]}]"],
            r"phases\[0\]\.freeze: unknown part 'temporal' of a frame model",
        ),
    ],
)
def test_bad_recipes_name_the_key(overrides, message):
    from fakescope.training.trainer import train

    with pytest.raises(ConfigError, match=message):
        train(load_train_config(None, overrides))


def test_each_epoch_goes_to_tensorboard_when_it_is_installed(prepared, monkeypatch):
    """The ``log.csv`` row's numbers become scalars at the epoch's step; the writer is closed
    (a stand-in writer: the tensorboard package is an optional install)."""
    from fakescope.training import trainer

    calls: list[tuple[str, float, int]] = []
    closed: list[Path] = []

    class Writer:
        def __init__(self, folder: Path) -> None:
            self.folder = folder

        def add_scalar(self, key: str, value: float, step: int) -> None:
            calls.append((key, value, step))

        def flush(self) -> None:
            pass

        def close(self) -> None:
            closed.append(self.folder)

    monkeypatch.setattr(trainer, "_tensorboard", lambda run: Writer(run / "tensorboard"))
    args = recipe(prepared, name="tb", **{"train.epochs": "2", "model.input_size": "64"})
    assert main(["train", str(_empty_yaml(prepared)), *args, "-q"]) == 0
    with open(prepared / "runs" / "tb" / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    for step, row in enumerate(rows, 1):
        logged = {k: v for k, v, s in calls if s == step}
        assert {"train_loss", "val_loss", "val_auc", "lr"} <= set(logged)
        assert logged["train_loss"] == pytest.approx(float(row["train_loss"]))
    assert closed == [prepared / "runs" / "tb" / "tensorboard"]


@pytest.mark.slow
def test_log_has_accuracies_and_the_monitor_picks_best_and_stops(prepared, capsys):
    """``train.select: val_loss``: RUN/best is the epoch of the lowest validation loss, and
    early stopping counts its patience on the same monitor."""
    from fakescope.models.checkpoint import read_card
    from fakescope.training.schedule import EarlyStopping

    extra = {"name": "monitor", "train.epochs": "4", "train.select": "val_loss",
             "train.patience": "1", "train.min_delta": "0.0"}  # fmt: skip
    code = main(["train", str(_empty_yaml(prepared)), *recipe(prepared, **extra), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    with open(prepared / "runs" / "monitor" / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:  # per-epoch train and validation accuracy
        assert 0.0 <= float(row["train_acc"]) <= 1.0 and 0.0 <= float(row["val_acc"]) <= 1.0
    losses = [float(r["val_loss"]) for r in rows]
    card = read_card(out["best"])
    assert card.training["best_epoch"] == int(np.argmin(losses)) + 1
    assert card.metrics["selected_on"] == "val_loss"
    stopper, stopped_after = EarlyStopping(patience=1, min_delta=0.0), 4
    for epoch, loss in enumerate(losses, 1):
        stopper.step(-loss)
        if stopper.should_stop:
            stopped_after = epoch
            break
    assert len(rows) == stopped_after
