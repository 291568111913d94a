"""What ``fakescope tune`` costs on top of the training it runs: the wall time of N trials
through tune (study in SQLite, sampling, per-epoch pruning reports, trials.csv, best.yaml,
figures, summary) against N plain ``train`` runs of the very same configs (each trial's
resolved config.yaml), in one process after a warm-up run.

Data: twelve synthetic face clips (a real face photo that ships in scikit-image, drifting;
fakes with a green cast over the face) -> ``fakescope extract`` -> SimpleCNN (seed 002's
Model 1 blocks, narrowed) at --size px. Writes benchmarks/results/tune_overhead.{json,md};
``overhead`` = tune wall / train wall - 1 (target <= 0.10).

    python benchmarks/tune_overhead.py --trials 4 --epochs 3
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_results


def _clips(root: Path, n: int = 12) -> None:
    import av
    import cv2
    import numpy as np
    from skimage import data

    photo = data.astronaut()
    rows = []
    splits = ["train"] * (n // 2) + ["val"] * (n // 3) + ["test"] * (n - n // 2 - n // 3)
    for i in range(n):
        fake = i % 2 == 1
        path = root / "videos" / f"{'f' if fake else 'r'}{i}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(path), "w") as c:
            s = c.add_stream("libx264", rate=25)
            s.width, s.height, s.pix_fmt = 192, 192, "yuv420p"
            for k in range(10):
                scale = 192 / 512 * 0.95
                dx, dy = 5 + 6 * np.sin(k / 5 + i), 5 + 4 * np.cos(k / 7 + i)
                m = np.array([[scale, 0, dx], [0, scale, dy]], np.float32)
                img = cv2.warpAffine(photo, m, (192, 192))
                if fake:  # a stand-in for a blending artefact over the face
                    face = img[48:144, 54:138, 1].astype(int) + 60
                    img[48:144, 54:138, 1] = np.clip(face, 0, 255)
                for packet in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    c.mux(packet)
            for packet in s.encode():
                c.mux(packet)
        rows.append(f"videos/{path.name},{int(fake)},{splits[i]}\n")
    (root / "list.csv").write_text("path,label,split\n" + "".join(rows))


def _prepare(root: Path) -> None:
    from fakescope.cli.main import main

    _clips(root)
    index = ["datasets", "index", str(root / "list.csv"), "--dataset", "generic"]
    assert main([*index, "--out", str(root / "m.parquet"), "-q"]) == 0
    extract = ["extract", str(root / "m.parquet"), "--out", str(root / "crops")]
    assert main([*extract, "--frames", "8", "-q"]) == 0


def _recipe(root: Path, epochs: int, size: int) -> Path:
    path = root / "recipe.yaml"
    path.write_text(
        f"""\
name: bench
out: {root / "runs"}
model: {{name: simple_cnn, pretrained: none, input_size: {size}, head: linear,
         backbone_kwargs: {{widths: [16, 32, 64]}}}}
data: {{manifest: {root / "m.parquet"}, crops: {root / "crops"}, frames_per_video: 8, sbi: "off"}}
optim: {{lr: 0.003, warmup_epochs: 0, schedule: constant}}
train: {{epochs: {epochs}, batch_size: 8, early_stopping: false, seed: 0}}
augment: {{p_flip: 0.5, p_color: 0.0, p_gray: 0.0, p_blur: 0.0, p_noise: 0.0, p_jpeg: 0.0,
          p_downscale: 0.0, p_erase: 0.0, p_h264: 0.0}}
"""
    )
    (root / "space.yaml").write_text(
        """\
sampler: tpe
seed: 0
pruner: none
space:
  optim.lr: {type: float, low: 1.0e-4, high: 3.0e-2, log: true}
  train.batch_size: {type: categorical, choices: [8, 16]}
  model.drop_rate: {type: float, low: 0.1, high: 0.6, step: 0.1}
"""
    )
    return path


def _plain(trials: Path, out: Path, n: int) -> list[float]:
    """Plain ``train`` runs of the trials' resolved configs; their wall times."""
    from fakescope.training.config import load_train_config
    from fakescope.training.trainer import train

    times = []
    for k in range(n):
        config = load_train_config(
            str(trials / f"trial-{k:04d}" / "config.yaml"), [f"name=plain-{k}", f"out={out}"]
        )
        started = time.perf_counter()
        train(config)
        times.append(time.perf_counter() - started)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--size", type=int, default=64, help="input size of the model (px)")
    parser.add_argument("--rounds", type=int, default=2, help="tune first, then plain first, ...")
    parser.add_argument(
        "--keep", metavar="DIR", help="work in DIR and keep it (default: a temp folder)"
    )
    args = parser.parse_args()

    from fakescope.training.config import load_train_config
    from fakescope.training.trainer import train
    from fakescope.tune.report import write_report
    from fakescope.tune.runner import TuneJob, run_tune
    from fakescope.tune.space import load_space

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep or tmp)
        root.mkdir(parents=True, exist_ok=True)
        _prepare(root)
        recipe = _recipe(root, args.epochs, args.size)
        load_before = os.getloadavg()
        train(load_train_config(str(recipe), ["name=warmup"]))  # imports, caches, allocator
        spec = load_space(root / "space.yaml")
        rounds = []
        for r in range(args.rounds):  # round 1 runs tune first, round 2 the plain runs
            job = TuneJob(config=str(recipe), spec=spec, out=str(root / f"tune-{r}"),
                          trials=args.trials, sampler="tpe", pruner="none")  # fmt: skip
            first = root / "tune-0" / "trials"  # the same seed samples the same configs
            if r % 2 == 1:
                plain = _plain(first, root / f"plain-{r}", args.trials)
            started = time.perf_counter()
            study = run_tune(job)
            trials_s = time.perf_counter() - started
            write_report(job, study)
            tune_s = time.perf_counter() - started
            if r % 2 == 0:
                plain = _plain(first, root / f"plain-{r}", args.trials)
            inside = sum(float(t.user_attrs["seconds"]) for t in study.get_trials())
            rounds.append({"tune_s": round(tune_s, 2), "tune_trials_only_s": round(trials_s, 2),
                           "train_s": round(sum(plain), 2),
                           "train_run_s": [round(x, 2) for x in plain],
                           "train_inside_tune_s": round(inside, 2)})  # fmt: skip
        load_after = os.getloadavg()
    tune_s = sum(x["tune_s"] for x in rounds)
    trials_s = sum(x["tune_trials_only_s"] for x in rounds)
    train_s = sum(x["train_s"] for x in rounds)
    inside_s = sum(x["train_inside_tune_s"] for x in rounds)
    result: dict[str, Any] = {
        "trials": args.trials,
        "epochs": args.epochs,
        "input_size": args.size,
        "tune_s": round(tune_s, 2),
        "tune_trials_only_s": round(trials_s, 2),
        "train_s": round(train_s, 2),
        "rounds": rounds,
        "overhead": round(tune_s / train_s - 1, 4),
        "overhead_trials_only": round(trials_s / train_s - 1, 4),
        # the same training timed inside tune: what tune adds around it, at the same moment
        "train_inside_tune_s": round(inside_s, 2),
        "machinery_s": round(tune_s - inside_s, 2),
        "machinery_per_trial_s": round((trials_s - inside_s) / (args.trials * args.rounds), 3),
        "machinery_fraction": round((tune_s - inside_s) / inside_s, 4),
        "target": 0.10,
        "load_average_1min": [round(load_before[0], 2), round(load_after[0], 2)],
        "machine": machine(),
    }
    ok = "met" if result["overhead"] <= 0.10 else "missed"
    table = "\n".join(
        [
            "# Tune overhead: N trials through `fakescope tune` vs N plain `train` runs",
            "",
            f"{args.trials} trials x {args.epochs} epochs, SimpleCNN (16-32-64) at {args.size} px, "
            "12 synthetic clips x 8 crops; TPE, no pruner, SQLite study; one process, after a "
            f"warm-up run. Machine load average (1 min) {result['load_average_1min'][0]} before, "
            f"{result['load_average_1min'][1]} after, on {result['machine']['cpus']} CPUs.",
            "",
            "| | wall (s) |",
            "|---|---|",
            f"| {args.trials} plain train runs (the trials' own configs), summed over rounds "
            f"| {train_s:.1f} |",
            f"| tune: trials only (study, sampling, pruning reports) | {trials_s:.1f} |",
            f"| tune: whole command (+ trials.csv, best.yaml, figures, summary) | {tune_s:.1f} |",
            f"| the trials' training, timed inside tune | {inside_s:.1f} |",
            "",
            f"**overhead {result['overhead']:+.1%}** (trials only {result['overhead_trials_only']:+.1%}); "
            f"target <= 10%: {ok}. Per round (tune s / plain s): "
            + ", ".join(f"{x['tune_s']:.1f} / {x['train_s']:.1f}" for x in rounds)
            + " (round 1 runs tune first, round 2 the plain runs first).",
            "",
            "Machine-independent view (the same training timed inside the tune command, so "
            "load changes cancel): tune adds "
            f"{result['machinery_s']:.1f} s to {inside_s:.1f} s of training "
            f"({result['machinery_fraction']:+.1%}): {result['machinery_per_trial_s']:.2f} s "
            "per trial (sampling, SQLite writes, per-epoch reports) plus a fixed cost per "
            "command (opening the study, figures, summary). These trials last a few seconds; "
            "for trials of minutes the fraction shrinks in proportion.",
            "",
            "Produced by `python benchmarks/tune_overhead.py "
            f"--trials {args.trials} --epochs {args.epochs} --size {args.size} "
            f"--rounds {args.rounds}`.",
        ]
    )
    write_results("tune_overhead", result, table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
