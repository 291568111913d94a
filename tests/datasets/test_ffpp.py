import json
from pathlib import Path

import pytest

from fakescope.datasets import IndexReport, build_manifest
from fakescope.datasets.ffpp import FaceForensicsAdapter


def touch(root: Path, rel: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for comp in ("c23", "c40", "raw"):
        for ident in ("000", "003", "010", "020"):
            touch(tmp_path, f"original_sequences/youtube/{comp}/videos/{ident}.mp4")
    for method in ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter"):
        for name in ("000_003", "003_000", "010_020", "020_010"):
            touch(tmp_path, f"manipulated_sequences/{method}/c23/videos/{name}.mp4")
    touch(
        tmp_path, "manipulated_sequences/Deepfakes/masks/videos/000_003.mp4"
    )  # masks are not videos to index
    touch(tmp_path, "original_sequences/actors/c23/videos/01__kitchen_pan.mp4")
    touch(tmp_path, "original_sequences/actors/c23/videos/02__exit_phone_room.mp4")
    touch(
        tmp_path,
        "manipulated_sequences/DeepFakeDetection/c23/videos/01_02__kitchen_pan__YVGY8LOK.mp4",
    )
    touch(tmp_path, "manipulated_sequences/Deepfakes/c23/videos/notes_weird.mp4")
    splits = tmp_path / "splits"
    splits.mkdir()
    (splits / "train.json").write_text(json.dumps([["000", "003"]]))
    (splits / "val.json").write_text(json.dumps([]))
    (splits / "test.json").write_text(json.dumps([["010", "020"]]))
    return tmp_path


def scan(root: Path) -> tuple[list, IndexReport]:
    report = IndexReport()
    return list(FaceForensicsAdapter().scan(root, report)), report


def test_every_file_with_label_method_compression(tree):
    recs, report = scan(tree)
    by_path = {r.path: r for r in recs}
    assert len(recs) == 12 + 20 + 3
    r = by_path["manipulated_sequences/Face2Face/c23/videos/010_020.mp4"]
    assert (r.label, r.method, r.compression, r.target_id, r.source_id) == (
        1,
        "Face2Face",
        "c23",
        "010",
        "020",
    )
    o = by_path["original_sequences/youtube/raw/videos/003.mp4"]
    assert (o.label, o.method, o.compression) == (0, "original", "raw")
    d = by_path[
        "manipulated_sequences/DeepFakeDetection/c23/videos/01_02__kitchen_pan__YVGY8LOK.mp4"
    ]
    assert (d.target_id, d.source_id, d.extra["scene"]) == ("01", "02", "kitchen_pan")
    assert report.counts == {"skipped": 1}  # the unparseable name, reported not dropped
    assert "notes_weird" in report.examples["skipped"][0]


def test_official_split_follows_pairs(tree):
    recs, _ = scan(tree)
    by_path = {r.path: r for r in recs}
    assert by_path["original_sequences/youtube/c40/videos/000.mp4"].split == "train"
    assert by_path["manipulated_sequences/FaceSwap/c23/videos/020_010.mp4"].split == "test"
    assert (
        by_path["original_sequences/actors/c23/videos/01__kitchen_pan.mp4"].split is None
    )  # DFD: none


def test_identity_groups_join_pairs_and_dfd_actors(tree):
    recs, _ = scan(tree)
    table = build_manifest(recs)
    group = dict(zip(table["path"], table["identity_group"]))
    assert (
        group["original_sequences/youtube/c23/videos/000.mp4"]
        == group["manipulated_sequences/Deepfakes/c23/videos/003_000.mp4"]
    )
    assert (
        group["original_sequences/youtube/c23/videos/000.mp4"]
        != group["original_sequences/youtube/c23/videos/010.mp4"]
    )
    # DFD: the fake 01_02 ties actors 01 and 02 together
    assert (
        group["original_sequences/actors/c23/videos/01__kitchen_pan.mp4"]
        == group["original_sequences/actors/c23/videos/02__exit_phone_room.mp4"]
    )
    assert table["identity_group"].nunique() == 3


def test_on_the_sample_videos(samples):
    import csv

    root = samples / "FaceForensics++"
    recs, report = scan(root)
    assert not report
    with open(samples / "labels.csv") as fh:
        expected = {
            row["path"]: row for row in csv.DictReader(fh) if row["dataset"].startswith("FF++")
        }
    got = {f"FaceForensics++/{r.path}": r for r in recs}
    assert set(got) == set(expected)
    for path, row in expected.items():
        r = got[path]
        assert r.label == (1 if row["label"] == "fake" else 0), path
        assert r.compression == row["compression"], path
        if r.label:
            assert r.method == row["method"], path
    table = build_manifest(recs)
    groups = table.groupby("identity_group")["path"].apply(len).to_dict()
    # the closed groups the samples README names
    for a, b in (("183", "253"), ("469", "481"), ("585", "599")):
        assert groups[f"ffpp:{a}+ffpp:{b}"] == 2 + 4 * 2  # 2 reals + 2 fakes x 4 methods (c40)
