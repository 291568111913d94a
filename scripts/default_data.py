"""Build the manifest the shipped default detector is trained and measured on.

Reads ../shared/data (the project's labelled development clips: benchmark samples and clips
"from the wild"); the product never depends on it. Every video gets an identity group and a
split chosen by identity, never by video:

- test_seen (split ``test``, method kept): FF++ identity groups (585, 599) and (004, 982), DFD
  actor 27, the DFDC sample videos: identities never trained on, generators seen in training;
- unseen generators (split ``test``): every AniTalker and SadTalker fake (audio-driven talking
  faces; no such generator in training) with the real clips of MEAD speaker W011, three
  LivePortrait performers and two VoxCeleb2 speakers as negatives;
- val: FF++ (469, 481), MEAD W009, three LivePortrait performers, the GRID speakers;
- train: everything else (real faces for SBI, FF++/DFDC fakes).

    python scripts/default_data.py --out runs/default/data/manifest.parquet
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FAKESCOPE_SHARED_DATA", ROOT.parent / "shared" / "data"))

TEST_FFPP = {"585", "599", "004", "982"}
VAL_FFPP = {"469", "481"}
TEST_DFD, VAL_DFD = {"27"}, set()
TEST_LIVEPORTRAIT = {"d0", "d1", "d2"}
VAL_LIVEPORTRAIT = {"d3", "d5", "d6"}
TEST_VOX2 = {"00015", "00086"}


def wild_identity(row: dict[str, str]) -> str:
    """An identity group for a clip of wild/: by speaker or subject where the name tells it,
    else one group per source (clips of one source may show one person)."""
    src, name = row["source"], Path(row["path"]).stem
    if src == "mead":
        return "mead:" + re.search(r"__([MW]\d{3})_", name)[1]  # type: ignore[index]
    if src == "anitalker":
        subject = name.split("__")[1].split("_")[0]
        return f"anitalker:{'aiface' if subject == 'pipeline' else subject}"
    if src == "sadtalker":
        return "sadtalker:" + ("art" if "art_" in name else "still" if "still" in name else name)
    if src == "liveportrait":
        return "liveportrait:" + name.rsplit("__", 1)[1]
    if src == "voxceleb2":
        return "voxceleb2:" + name.rsplit("__", 1)[1]
    return f"{src}:all"


def wild_split(row: dict[str, str], group: str) -> str:
    src = row["source"]
    if src in ("anitalker", "sadtalker"):
        return "test"
    key = group.split(":", 1)[1]
    if (
        group == "mead:W011"
        or (src == "liveportrait" and key in TEST_LIVEPORTRAIT)
        or (src == "voxceleb2" and key in TEST_VOX2)
    ):
        return "test"
    if group == "mead:W009" or (src == "liveportrait" and key in VAL_LIVEPORTRAIT) or src == "grid":
        return "val"
    return "train"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="runs/default/data/manifest.parquet")
    args = parser.parse_args()
    if (
        not (DATA / "samples" / "labels.csv").is_file()
        or not (DATA / "wild" / "labels.csv").is_file()
    ):
        sys.exit(f"the development clips are not in {DATA} (set FAKESCOPE_SHARED_DATA)")

    from fakescope.datasets import (
        IndexReport,
        VideoRecord,
        assign_splits,
        build_manifest,
        create_adapter,
        write_manifest,
    )

    records: list[VideoRecord] = []
    report = IndexReport()
    for name, sub in (("ffpp", "samples/FaceForensics++"), ("dfdc", "samples/DFDC")):
        for r in create_adapter(name).scan(DATA / sub, report):
            ids = {t.split(":", 1)[1] for t in r.identities}
            if name == "dfdc":
                split = "test"
            elif r.method == "original_actors" or r.method == "DeepFakeDetection":
                split = "test" if ids & TEST_DFD else "val" if ids & VAL_DFD else "train"
            else:
                split = "test" if ids & TEST_FFPP else "val" if ids & VAL_FFPP else "train"
            records.append(
                VideoRecord(
                    f"samples/{r.video_id}",
                    f"{sub}/{r.path}",
                    r.label,
                    r.dataset,
                    r.method,
                    r.compression,
                    r.target_id,
                    r.source_id,
                    r.identities,
                    split,
                    {"collection": "samples", "source": r.dataset},
                )
            )
    with open(DATA / "wild" / "labels.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            group = wild_identity(row)
            label = 1 if row["label"] == "fake" else 0
            records.append(
                VideoRecord(
                    f"wild/{row['path'].rsplit('.', 1)[0]}",
                    f"wild/{row['path']}",
                    label,
                    "wild",
                    row["source"] if label else "original",
                    identities=(f"wild:{group}",),
                    split=wild_split(row, group),
                    extra={"collection": "wild", "source": row["source"]},
                )
            )
    table = assign_splits(build_manifest(records))  # keeps the splits above; fails on leakage
    out = write_manifest(
        table, args.out, DATA, {"dataset": "fakescope-default", "problems": report.to_dict()}
    )
    counts = table.groupby(["split", "label"]).size().to_dict()
    print(f"{len(table)} videos -> {out}; per (split, label): {counts}")
    for line in report.lines():
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
