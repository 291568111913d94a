"""Tune fixtures: twelve tiny face clips (fakes: a green cast over the face) -> manifest with
train/val/test -> cached crops, and a tiny frame-model recipe that trains in about a second."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from fakescope.cli.main import main
from tests.conftest import render_frame

SPLITS = ["train"] * 6 + ["val"] * 4 + ["test"] * 2


def _clip(path: Path, variant: int, fake: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 160, 160, "yuv420p"
        for k in range(6):
            img = render_frame(k, 160, 160, True, variant).copy()
            if fake:  # a stand-in for a blending artefact over the face
                face = img[40:120, 45:115, 1].astype(int) + 70
                img[40:120, 45:115, 1] = np.clip(face, 0, 255)
            for packet in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)


@pytest.fixture(scope="session")
def tune_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tune")
    rows = []
    for i in range(12):
        fake = i % 2 == 1
        name = f"{'f' if fake else 'r'}{i}.mp4"
        _clip(root / "videos" / name, i, fake)
        rows.append(f"videos/{name},{int(fake)},{SPLITS[i]}\n")
    (root / "list.csv").write_text("path,label,split\n" + "".join(rows))
    args = ["datasets", "index", str(root / "list.csv"), "--dataset", "generic"]
    assert main([*args, "--out", str(root / "m.parquet"), "-q"]) == 0
    assert main(["extract", str(root / "m.parquet"), "--out", str(root / "crops"),
                 "--frames", "4", "-q"]) == 0  # fmt: skip
    return root


def write_recipe(root: Path, folder: Path, epochs: int = 2) -> Path:
    """A simple_cnn of two tiny blocks at 32 px, constant learning rate, seed 0."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "recipe.yaml"
    path.write_text(
        f"""\
name: tiny
out: {folder / "runs"}
model: {{name: simple_cnn, pretrained: none, input_size: 32, head: linear,
         backbone_kwargs: {{widths: [8, 16]}}}}
data: {{manifest: {root / "m.parquet"}, crops: {root / "crops"}, frames_per_video: 4, sbi: "off"}}
optim: {{lr: 0.01, warmup_epochs: 0, schedule: constant}}
train: {{epochs: {epochs}, batch_size: 8, early_stopping: false, seed: 0, channels_last: false}}
augment: {{p_flip: 0.0, p_color: 0.0, p_gray: 0.0, p_blur: 0.0, p_noise: 0.0, p_jpeg: 0.0,
          p_downscale: 0.0, p_erase: 0.0, p_h264: 0.0}}
"""
    )
    return path


def write_space(folder: Path, text: str) -> Path:
    path = folder / "space.yaml"
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread: the tiny models gain nothing from two, and lose much when the test
    machine's cores are shared."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SPACE = """\
sampler: {sampler}
seed: {seed}
pruner: none
metric: val_loss
direction: minimize
space:
  optim.lr: {{type: float, low: 1.0e-4, high: 0.1, log: true}}
  train.batch_size: {{type: categorical, choices: [4, 8]}}
"""


def read_rows(out: Path) -> list[dict[str, str]]:
    """``OUT/trials.csv``."""
    with open(out / "trials.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def row_params(row: dict[str, str]) -> tuple[str, ...]:
    """A trials.csv row's sampled values."""
    return tuple(v for k, v in row.items() if k.startswith("param:"))


def pruning_setup(root: Path, folder: Path, trials: int) -> tuple[Path, Path, Path, Any]:
    """A 3-epoch recipe, a median pruner that starts after one trial and a study made
    beforehand (for the test to queue its trials in): recipe, space, out, study."""
    from fakescope.tune.runner import TuneJob, open_study
    from fakescope.tune.space import load_space

    recipe = write_recipe(root, folder, epochs=3)
    space = write_space(
        folder,
        "sampler: random\nmetric: val_loss\ndirection: minimize\n"
        "pruner: {name: median, startup_trials: 1}\n"
        "space:\n  optim.lr: {type: float, low: 1.0e-8, high: 0.1, log: true}\n",
    )
    out = folder / "tune"
    out.mkdir()
    job = TuneJob(config=str(recipe), spec=load_space(space), out=str(out), trials=trials,
                  metric="val_loss", direction="minimize")  # fmt: skip
    return recipe, space, out, open_study(job, create=True)
