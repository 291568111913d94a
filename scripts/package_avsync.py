"""Copy a trained avsync checkpoint into the package as the shipped model ``avsync``
(src/fakescope/weights/avsync/: model.safetensors + card.json), with what it catches, what it
does not, and the held-out benchmark figures in its card.

    python scripts/package_avsync.py --checkpoint runs/avsync/best \\
        --bench benchmarks/results/av_sync.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "fakescope" / "weights" / "avsync"
LIMIT_MB = 30
TARGET_AUC = 0.9

CATCHES = (
    "audio that does not move with the lips: dubbing, audio shifted against the picture "
    "(0.2-1.5 s), speech swapped in from another person, a lip-sync fake whose mouth does not "
    "follow its new audio; per 1-s segment (one replaced second is localised)"
)
MISSES = (
    "a face swap that keeps the original audio (the lips still move with the speech: "
    "nothing is out of sync); fakes with no speech or no audio track (it answers no_audio); "
    "a well lip-synced fake (Wav2Lip-class generators that re-render the mouth to the new "
    "audio); anything its 10-FPS, 64-px view of the lower face cannot see"
)


def model_card(card: dict[str, Any], size_mb: float) -> str:
    """A human-readable card beside card.json."""
    audio = card["audio"]
    held = card.get("metrics", {}).get("held_out", {})
    lines = [
        "# avsync: audio-visual sync detector (issue 13)",
        "",
        '`fakescope scan video.mp4 --model avsync`, `fakescope.scan(path, model="avsync")`.',
        "",
        f"- Network: `models/avsync.py`, {card['training'].get('total_params')} parameters "
        f"({size_mb:.2f} MB); 3 x 1-s segments of 10 crops (10 FPS, 64 px, lower half) + 16 kHz.",
        "- Trained from REAL talking heads only (../shared/data/wild clips with speech), with "
        "pseudo-fakes: audio shifted 0.2-1.5 s, swapped with another identity's speech, one "
        "segment replaced. Rebuild: `make train-avsync`.",
        f"- Designed to catch (see the held-out figures for how well it does): "
        f"{audio['designed_to_catch']}.",
        f"- Does NOT catch: {audio['does_not_catch']}.",
        "- Without an audio track it answers `no_audio` (no video-only fallback).",
    ]
    if held:
        v = held["video"]["shift+swap"]
        lines.append(
            f"- Held-out ({held['videos']} videos, {held['identity_groups']} identities): video "
            f"AUC {v.get('auc')} (95% CI {v.get('ci95')}) against their shifted and swapped "
            f"versions; one replaced segment: segment AUC {held['segment_replace_auc']}."
        )
    if audio.get("warning"):
        lines += ["", f"**{audio['warning']}.**"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default="runs/avsync/best")
    parser.add_argument("--bench", default="benchmarks/results/av_sync.json")
    args = parser.parse_args()
    src = Path(args.checkpoint)
    weights = src / "model.safetensors"
    if not weights.is_file() or not (src / "card.json").is_file():
        sys.exit(f"{src}: not a checkpoint (run `make train-avsync`)")
    size_mb = weights.stat().st_size / 2**20
    if size_mb > LIMIT_MB:
        sys.exit(f"{weights}: {size_mb:.1f} MB is over the {LIMIT_MB} MB limit for shipped weights")
    card = json.loads((src / "card.json").read_text())
    card["name"] = "avsync"
    audio = dict(card.get("audio") or {})
    audio["designed_to_catch"] = CATCHES
    audio["does_not_catch"] = MISSES
    card["audio"] = audio
    training = card.setdefault("training", {})
    training["data"] = {
        **training.get("data", {}),
        "manifest": "scripts/avsync_data.py (../shared/data/wild: real clips with speech)",
        "crops": "fakescope extract --sampling fps:10 --size 128",
    }
    training["recipe_file"] = "configs/avsync.yaml (make train-avsync)"
    bench = Path(args.bench)
    if bench.is_file():
        data = json.loads(bench.read_text())
        acc = data["accuracy"]
        card.setdefault("metrics", {})["held_out"] = {
            "videos": acc["videos"],
            "identity_groups": acc["identity_groups"],
            "video": {
                k: {kk: v[kk] for kk in ("auc", "ci95", "n_real", "n_fake") if kk in v}
                for k, v in acc["video"].items()
            },
            "segment_replace_auc": acc["segment_replace"]["auc"],
            "source": "benchmarks/av_sync.py",
        }
        auc = acc["video"]["shift+swap"].get("auc")
        if auc is None or auc < TARGET_AUC:
            # every scan with this model says so (inference.av adds it to the warnings)
            audio["warning"] = (
                f"avsync is experimental: its held-out video AUC against shifted and swapped "
                f"audio is {auc} (target {TARGET_AUC}; benchmarks/results/av_sync.md); do not "
                "rely on its verdict"
            )
            card["audio"] = audio
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, OUT / "model.safetensors")
    (OUT / "model.onnx").unlink(missing_ok=True)
    (OUT / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    (OUT / "MODEL_CARD.md").write_text(model_card(card, size_mb))
    print(f"shipped {OUT} ({size_mb:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
