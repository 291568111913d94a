"""Tiny real member checkpoints and a small manifest for the ensemble tests (frame and clip
families on synthetic face clips; random weights, seeded)."""

from __future__ import annotations

from pathlib import Path

from fakescope.datasets import VideoRecord, build_manifest, write_manifest
from fakescope.models import ModelCard, ModelConfig, create_model, save_checkpoint
from tests.conftest import write_video

CROP = {"detector": "yunet", "margin": 1.3, "size": 64}
SMALL = {"widths": [4, 8, 8, 8]}
FRAMES = 6


def build_members(root: Path) -> dict[str, Path]:
    """Checkpoints ``frame`` (simple CNN), ``clip`` (simple CNN + GRU, T = 4: tracks of 2+
    crops) and ``longclip`` (T = 16: needs tracks of 4+ crops, so it cannot score a video of
    3 frames); all on the same crops (yunet, margin 1.3, 64 px), 6 frames per video."""
    import torch

    out = {}
    torch.manual_seed(0)
    frame = create_model(
        "simple_cnn", pretrained="none", input_size=32, backbone_kwargs=SMALL
    ).eval()
    card = ModelCard(name="frame", model=frame.config.to_dict(), frames_per_video=FRAMES, crop=CROP)
    out["frame"] = save_checkpoint(root / "frame", frame, card)
    for name, t in (("clip", 4), ("longclip", 16)):
        cfg = ModelConfig(
            f"tiny_{name}", kind="clip", backbone="fakescope_simple_cnn", input_size=32,
            backbone_kwargs=SMALL, frames_per_clip=t, temporal="gru",
            temporal_kwargs={"hidden": 8}, head_hidden=8,
        )  # fmt: skip
        model = create_model(cfg).eval()
        card = ModelCard(name=name, model=cfg.to_dict(), frames_per_video=FRAMES, crop=CROP)
        out[name] = save_checkpoint(root / name, model, card)
    return out


def build_manifest_file(root: Path, n: int = 8) -> Path:
    """``n`` val videos (half fake) of 10 frames, every third one only 3 frames long (the
    ``longclip`` member cannot score those), and 2 test videos; returns the manifest path."""
    records = []
    for i in range(n + 2):
        label = i % 2
        name = f"{'fake' if label else 'real'}/v{i}.mp4"
        frames = 3 if i % 3 == 2 else 10
        write_video(root / "data" / name, n_frames=frames, width=128, height=128, variant=i)
        records.append(
            VideoRecord(
                f"x/{i}", name, label, "synthetic", "m" if label else "original",
                identities=(f"x:{i}",), split="val" if i < n else "test",
            )
        )  # fmt: skip
    path = root / "m.parquet"
    write_manifest(build_manifest(records), path, root / "data")
    return path
