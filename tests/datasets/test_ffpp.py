import json
from pathlib import Path

import pytest

from fakescope.datasets import IndexReport, build_manifest
from fakescope.datasets.ffpp import FaceForensicsAdapter
from fakescope.errors import DatasetError


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
    touch(tmp_path, "manipulated_sequences/NewMethod/c23/videos/x.mp4")  # not an FF++ folder
    touch(tmp_path, "downloaded_videos/abc/abc.mp4")  # outside the layout
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
    # files outside the layout's folders: reported, not dropped silently
    assert report.counts == {"skipped": 2}
    skipped = " | ".join(report.examples["skipped"])
    assert "NewMethod/c23/videos/x.mp4" in skipped and "downloaded_videos/abc" in skipped


@pytest.mark.parametrize(
    "odd",
    [
        "manipulated_sequences/Deepfakes/c23/videos/notes_weird.mp4",
        "original_sequences/youtube/c23/videos/000_003.mp4",  # a fake's name among originals
        "manipulated_sequences/DeepFakeDetection/c23/videos/01__kitchen_pan.mp4",
    ],
)
def test_an_unparseable_name_in_an_ffpp_folder_is_an_error(tree, odd):
    touch(tree, odd)
    with pytest.raises(DatasetError) as err:
        scan(tree)
    msg = str(err.value)
    folder = odd.rsplit("/", 1)[0]
    assert "indexes only partly" in msg and f"1 file(s) in {folder}/" in msg and odd in msg
    assert "\n" not in msg


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


KAGGLE_NAMES = {
    "original": ["000", "003", "010", "020"],
    "Deepfakes": ["000_003", "003_000", "010_020", "020_010"],
    "Face2Face": ["000_003", "003_000"],
    "FaceSwap": ["010_020", "020_010"],
    "NeuralTextures": ["000_003", "020_010"],
}


def kaggle(root: Path, names: dict[str, list[str]] = KAGGLE_NAMES) -> Path:
    """Seed 000's Kaggle copy: ``FaceForensics++_C23/<folder>/*.mp4`` (xdxd003/ff-c23)."""
    base = root / "ff-c23" / "FaceForensics++_C23"
    for folder, stems in names.items():
        for stem in stems:
            touch(base, f"{folder}/{stem}.mp4")
    (base / "csv").mkdir(exist_ok=True)
    (base / "csv" / "FF++_Metadata.csv").write_text("File Path,Label\n")  # not a video
    return base


@pytest.mark.parametrize("at", ["layout", "parent", "above"])
def test_kaggle_layout_indexes_fully_with_labels_methods_c23_and_groups(tmp_path, at):
    base = kaggle(tmp_path)
    root = {"layout": base, "parent": base.parent, "above": tmp_path}[at]
    recs, report = scan(root)
    assert not report
    assert len(recs) == sum(map(len, KAGGLE_NAMES.values()))
    for r in recs:
        folder, stem = Path(r.path).parent.name, Path(r.path).stem
        assert r.compression == "c23" and r.dataset == "ffpp"
        assert r.label == (folder != "original")
        assert r.method == folder
        if r.label:
            assert (r.target_id, r.source_id) == tuple(stem.split("_"))
        else:
            assert (r.target_id, r.source_id) == (stem, None)
    table = build_manifest(recs)
    group = dict(
        zip(
            table["path"].map(lambda p: p.split("FaceForensics++_C23/")[-1]),
            table["identity_group"],
        )
    )
    assert group["original/000.mp4"] == group["Deepfakes/003_000.mp4"] == "ffpp:000+ffpp:003"
    assert group["NeuralTextures/020_010.mp4"] == group["original/010.mp4"] == "ffpp:010+ffpp:020"
    assert table["identity_group"].nunique() == 2


def test_kaggle_layout_any_case_dfd_faceshifter_and_official_splits(tmp_path):
    base = tmp_path / "FaceForensics++_C40"
    for rel_path in (
        "Original/000.mp4",
        "Original/003.mp4",
        "DEEPFAKES/000_003.mp4",
        "FaceShifter/003_000.mp4",
        "DeepFakeDetection/01_02__kitchen_pan__YVGY8LOK.mp4",
    ):
        touch(base, rel_path)
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "train.json").write_text(json.dumps([["000", "003"]]))
    recs, report = scan(tmp_path)
    assert not report
    by_name = {Path(r.path).stem: r for r in recs}
    assert {r.compression for r in recs} == {"c40"}
    assert by_name["000_003"].method == "Deepfakes" and by_name["000_003"].split == "train"
    assert by_name["003_000"].method == "FaceShifter" and by_name["000"].split == "train"
    dfd = by_name["01_02__kitchen_pan__YVGY8LOK"]
    assert (dfd.label, dfd.method, dfd.identities) == (1, "DeepFakeDetection", ("dfd:01", "dfd:02"))
    assert dfd.extra["scene"] == "kitchen_pan"


def test_kaggle_folder_name_without_compression_gives_none(tmp_path):
    base = kaggle(tmp_path / "ffpp", {"original": ["000"], "Deepfakes": ["000_003"]})
    base.rename(tmp_path / "ffpp" / "mine")
    recs, _ = scan(tmp_path / "ffpp" / "mine")
    assert {r.compression for r in recs} == {None}  # no guess


def test_kaggle_layout_missing_label_folder_is_an_error(tmp_path):
    kaggle(tmp_path, {k: v for k, v in KAGGLE_NAMES.items() if k != "original"})
    with pytest.raises(
        DatasetError, match=r"no ff-c23/FaceForensics\+\+_C23/original/ with videos"
    ):
        scan(tmp_path)
    only_reals = tmp_path / "reals"
    kaggle(only_reals, {"original": ["000"]})
    with pytest.raises(DatasetError, match=r"<method>/ folder with videos \(the fakes"):
        scan(only_reals)


def test_kaggle_method_folder_with_odd_names_is_an_error(tmp_path):
    base = kaggle(tmp_path)
    touch(base, "Face2Face/000-003.mp4")
    touch(base, "Face2Face/copy of 000_003.mp4")
    with pytest.raises(DatasetError) as err:
        scan(base)
    msg = str(err.value)
    assert "2 file(s) in Face2Face/ not named <target>_<source>.mp4" in msg
    assert "Face2Face/000-003.mp4" in msg and "Face2Face/copy of 000_003.mp4" in msg
