"""Build the manifest the shipped ``avsync`` model is trained and measured on.

Reads ../shared/data/wild (the project's real talking heads; the product never depends on it)
and keeps the REAL clips that have an audio track, last at least ``--min-seconds`` and are
mostly speech (silero VAD finds speech in at least ``--min-speech`` of the sound: a sync model
learns nothing from lips over music or silence). The
audio-visual sync model trains on these alone: its fakes are made on the fly from them
(``training.av_data``: audio shifted, swapped with another identity's speech, one segment's
audio replaced). Identity groups are ``scripts/default_data.wild_identity`` (by speaker or
subject where the file name tells it, else one group per source); the split is by identity
group (``fakescope.datasets.assign_splits``, seeded), so the benchmark's test identities are
never trained on. The groups in ``--train-groups`` (GRID's and VoxCeleb's clips, which the
file names do not split by speaker and which hold most of the speech seconds) are put in
train first; the single-speaker groups are dealt to train/val/test by ``--ratios``.

    python scripts/avsync_data.py --out runs/avsync/data/manifest.parquet
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from default_data import DATA, wild_identity


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="runs/avsync/data/manifest.parquet")
    parser.add_argument("--min-seconds", type=float, default=2.5)
    parser.add_argument("--min-speech", type=float, default=0.3)
    parser.add_argument("--ratios", default="0.5,0.2,0.3")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--train-groups", default="wild:grid:all,wild:voxceleb:all")
    args = parser.parse_args()
    labels = DATA / "wild" / "labels.csv"
    if not labels.is_file():
        sys.exit(f"the development clips are not in {DATA} (set FAKESCOPE_SHARED_DATA)")

    from fakescope.datasets import VideoRecord, assign_splits, build_manifest, write_manifest
    from fakescope.datasets.splits import parse_ratios
    from fakescope.io.audio import load_audio, speech_segments

    records: list[VideoRecord] = []
    train_groups = set(filter(None, args.train_groups.split(",")))
    with open(labels, newline="") as fh:
        for row in csv.DictReader(fh):
            if row["label"] != "real" or row["has_audio"] != "1":
                continue
            if float(row["duration_s"]) < args.min_seconds:
                continue
            audio = load_audio(DATA / "wild" / row["path"])
            if audio is None:
                continue
            speech = sum(e - s for s, e in speech_segments(audio)) / max(audio.duration, 1e-6)
            if speech < args.min_speech:
                continue
            group = wild_identity(row)
            records.append(
                VideoRecord(
                    f"wild/{row['path'].rsplit('.', 1)[0]}",
                    f"wild/{row['path']}",
                    0,
                    "wild",
                    "original",
                    identities=(f"wild:{group}",),
                    split="train" if f"wild:{group}" in train_groups else None,
                    extra={
                        "collection": "wild",
                        "source": row["source"],
                        "speech_fraction": round(speech, 3),
                    },
                )
            )
    table = assign_splits(
        build_manifest(records), parse_ratios(args.ratios), seed=args.seed, use_official=True
    )
    out = write_manifest(table, args.out, DATA, {"dataset": "fakescope-avsync"})
    counts = table.groupby("split")["identity_group"].nunique().to_dict()
    print(f"{len(table)} real videos with speech -> {out}; identity groups per split: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
