"""Study fixtures: a tiny manifest with fake crops folders, and fake run results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fakescope.datasets import VideoRecord, build_manifest, write_manifest


def make_manifest(root: Path) -> Path:
    """12 videos (files need not exist: tests that use it fake the scoring): train/val/test
    of two datasets, both labels everywhere."""
    records = []
    for k, (split, dataset, label) in enumerate(
        (s, d, y) for s in ("train", "val", "test") for d in ("ffpp", "other") for y in (0, 1)
    ):
        records.append(
            VideoRecord(f"v{k}", f"{dataset}/v{k}.mp4", label, dataset,
                        "original" if label == 0 else "swap", identities=(f"id:{k}",), split=split)
        )  # fmt: skip
    return write_manifest(build_manifest(records), root / "m.parquet", root / "videos")


def make_crops(folder: Path, frames: int = 4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    summary = {"settings": {"sampling": f"uniform:{frames}"}, "cache": str(folder / "cache"),
               "videos": []}  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


@pytest.fixture
def tiny_study(tmp_path: Path) -> Path:
    """A study over the tiny manifest: 2 recipes x 1 manifest x 2 seeds, one cross set."""
    make_manifest(tmp_path)
    make_crops(tmp_path / "crops")
    for name in ("a", "b"):
        (tmp_path / f"{name}.yaml").write_text(
            "model: {name: efficientnet_lite0}\ntrain: {epochs: 2, early_stopping: false}\n"
        )
    path = tmp_path / "study.yaml"
    path.write_text(
        f"""\
name: tiny
seeds: [1, 2]
runs:
  - {{id: a, config: a.yaml, label: Frame A}}
  - {{id: b, config: b.yaml, label: Frame B, note: a stand-in}}
manifests:
  - {{name: ff, manifest: {tmp_path / "m.parquet"}, crops: {tmp_path / "crops"},
      where: {{dataset: ffpp}}}}
evaluate:
  bootstrap: 20
  cross:
    - {{name: other, manifest: {tmp_path / "m.parquet"}, crops: {tmp_path / "crops"},
        split: all, where: {{dataset: other}}}}
references:
  - {{label: Published X, value: 0.821}}
"""
    )
    return path


def fake_result(
    run: str, seed: int, auc: float, cross: float, *, kind: str = "frame", label: str = ""
) -> dict[str, Any]:
    """A run result as ``study.job`` writes it (history of 3 epochs, 2 phases)."""
    history = [
        {"epoch": e, "train_loss": 0.7 - 0.1 * e, "val_loss": 0.7 - 0.05 * e,
         "val_auc": auc - 0.1 + 0.05 * e, "seconds": 30.0, "phase": "frozen" if e == 1 else "all"}
        for e in (1, 2, 3)
    ]  # fmt: skip
    model = {"name": run, "kind": kind, "backbone": f"{run}_net",
             "temporal": "gru" if kind == "clip" else "none",
             "frames_per_clip": 8 if kind == "clip" else 1}  # fmt: skip
    return {
        "key": f"{run}__ff__s{seed}", "status": "ok", "run": run, "label": label or run,
        "note": "", "config": f"{run}.yaml", "manifest": "ff", "seed": seed, "model": model,
        "params": {"trainable": 4_000_000 if kind == "frame" else 6_000_000, "total": 9_000_000},
        "phases": [{"name": "frozen", "epochs": 1, "freeze": ["backbone"]},
                   {"name": "all", "epochs": 2, "freeze": []}],
        "history": history, "best_epoch": 3, "checkpoint": "x",
        "in_domain": {"auc": auc, "auc_ci": [auc - 0.1, min(1.0, auc + 0.1)], "accuracy": 0.7},
        "cross": {"other": {"auc": cross, "auc_ci": [cross - 0.1, cross + 0.1], "gap": auc - cross}},
        "minutes": {"train": 1.5, "train_wall": 1.6, "eval": 0.2},
        "fingerprints": {"train": "t", "eval": "e"},
    }  # fmt: skip
