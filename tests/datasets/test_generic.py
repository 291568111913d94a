from pathlib import Path

import pytest

from fakescope.datasets import IndexReport, build_manifest
from fakescope.datasets.generic import GenericAdapter


def touch(root: Path, rel: str) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"")
    return p


def test_folders_any_case_and_synonyms(tmp_path):
    touch(tmp_path, "REAL/a.mp4")
    touch(tmp_path, "Original/b.MOV")
    touch(tmp_path, "fake/sadtalker/c.mp4")
    touch(tmp_path, "Manipulated/d.avi")
    touch(tmp_path, "other/e.mp4")
    report = IndexReport()
    recs = {r.path: r for r in GenericAdapter().scan(tmp_path, report)}
    assert {p: r.label for p, r in recs.items()} == {
        "REAL/a.mp4": 0,
        "Original/b.MOV": 0,
        "fake/sadtalker/c.mp4": 1,
        "Manipulated/d.avi": 1,
    }
    assert recs["fake/sadtalker/c.mp4"].method == "sadtalker"
    assert report.counts == {"skipped": 1}


def test_csv_with_groups_splits_and_problems(tmp_path):
    for name in ("a", "b", "c", "d"):
        touch(tmp_path, f"v/{name}.mp4")
    csv = tmp_path / "list.csv"
    csv.write_text(
        "path,label,group,split\n"
        "v/a.mp4,real,alice,train\n"
        "v/b.mp4,1,alice,\n"
        "v/c.mp4,0,bob,test\n"
        "v/d.mp4,maybe,bob,\n"
        "v/missing.mp4,1,carol,\n"
    )
    report = IndexReport()
    recs = list(GenericAdapter().scan(csv, report))
    assert [(r.path, r.label, r.split) for r in recs] == [
        ("v/a.mp4", 0, "train"),
        ("v/b.mp4", 1, None),
        ("v/c.mp4", 0, "test"),
    ]
    assert report.counts == {"unknown_label": 1, "missing": 1}
    table = build_manifest(recs)
    assert (
        table.loc[0, "identity_group"]
        == table.loc[1, "identity_group"]
        != table.loc[2, "identity_group"]
    )


def test_ffpp_style_names_keep_their_identity_groups(tmp_path):
    for rel_path in (
        "real/123.mp4",
        "real/456.mp4",
        "real/789.mp4",
        "fake/deepfakes/123_456.mp4",
        "fake/faceswap/456_123.mp4",
        "real/01__kitchen_pan.mp4",
        "fake/dfd/01_02__walk__ABCDEFGH.mp4",
        "real/holiday.mp4",
        "real/sub/holiday.mp4",
    ):
        touch(tmp_path, rel_path)
    recs = {r.path: r for r in GenericAdapter(dataset="mine").scan(tmp_path, IndexReport())}
    fake = recs["fake/deepfakes/123_456.mp4"]
    assert (fake.target_id, fake.source_id, fake.identities) == (
        "123",
        "456",
        ("mine:123", "mine:456"),
    )
    assert recs["real/123.mp4"].identities == ("mine:123",)
    assert recs["fake/dfd/01_02__walk__ABCDEFGH.mp4"].identities == ("mine:01", "mine:02")
    assert recs["real/holiday.mp4"].target_id is None
    table = build_manifest(recs.values())
    group = dict(zip(table["path"], table["identity_group"]))
    assert group["real/123.mp4"] == group["real/456.mp4"] == group["fake/faceswap/456_123.mp4"]
    assert group["real/123.mp4"] == "mine:123+mine:456"
    assert group["real/789.mp4"] == "mine:789"
    assert group["real/01__kitchen_pan.mp4"] == group["fake/dfd/01_02__walk__ABCDEFGH.mp4"]
    # names without ids: one group per file, even when two files share a name
    assert group["real/holiday.mp4"] != group["real/sub/holiday.mp4"]


def test_csv_group_column_wins_over_names(tmp_path):
    for name in ("000", "003", "000_003", "010"):
        touch(tmp_path, f"v/{name}.mp4")
    csv = tmp_path / "list.csv"
    csv.write_text(
        "path,label,group\nv/000.mp4,0,\nv/003.mp4,0,\nv/000_003.mp4,1,\nv/010.mp4,0,x\n"
    )
    recs = {r.path: r for r in GenericAdapter().scan(csv, IndexReport())}
    table = build_manifest(recs.values())
    group = dict(zip(table["path"], table["identity_group"]))
    assert group["v/000.mp4"] == group["v/003.mp4"] == group["v/000_003.mp4"] == "list:000+list:003"
    assert group["v/010.mp4"] == "list:x" and recs["v/010.mp4"].target_id == "010"


def test_image_folders_keep_the_frames_of_one_video_together(tmp_path):
    from fakescope.datasets import assign_splits, check_leakage
    from fakescope.errors import DatasetError

    # pre-extracted face frames, as seed 004 trains on: a folder of frames per video
    for k in range(6):
        for f in range(3):
            touch(tmp_path, f"real/r{k}/{f:04d}.png")
            touch(tmp_path, f"fake/NeuralTextures/f{k}/{f:04d}.jpg")
    touch(tmp_path, "real/loose.jpeg")  # an image straight in the label folder
    touch(tmp_path, "fake/FaceSwap/000_003/0001.png")  # an FF++-named frame folder
    touch(tmp_path, "real/000.png")  # ... and the real it came from
    touch(tmp_path, "real/clip.mp4")  # videos and images side by side
    touch(tmp_path, "real/notes.txt")
    report = IndexReport()
    recs = {r.path: r for r in GenericAdapter().scan(tmp_path, report)}
    assert len(recs) == 6 * 3 * 2 + 4 and not report  # .txt is not media: not even listed
    assert recs["real/r0/0000.png"].method == "original"  # r0 is a sequence, not a method
    assert recs["fake/NeuralTextures/f0/0001.jpg"].method == "NeuralTextures"
    assert recs["fake/FaceSwap/000_003/0001.png"].method == "FaceSwap"
    assert recs["real/loose.jpeg"].method == "original"
    assert recs["fake/FaceSwap/000_003/0001.png"].identities == (
        f"{tmp_path.name}:000",
        f"{tmp_path.name}:003",
    )
    table = build_manifest(recs.values())
    group = dict(zip(table["path"], table["identity_group"]))
    assert group["real/r1/0000.png"] == group["real/r1/0002.png"] != group["real/r2/0000.png"]
    assert group["real/000.png"] == group["fake/FaceSwap/000_003/0001.png"]
    assert group["real/loose.jpeg"] != group["real/clip.mp4"]

    split = assign_splits(table, (0.5, 0.25, 0.25), seed=0)
    per_sequence = split.assign(seq=split["path"].str.rsplit("/", n=1).str[0])
    sequences = per_sequence[per_sequence["seq"].str.match(r"(real|fake/NeuralTextures)/[rf]\d")]
    assert (sequences.groupby("seq")["split"].nunique() == 1).all()
    assert set(split["split"]) == {"train", "val", "test"}
    leaky = split.copy()
    leaky.loc[leaky["path"] == "real/r0/0000.png", "split"] = "train"
    leaky.loc[leaky["path"] == "real/r0/0001.png", "split"] = "test"
    with pytest.raises(DatasetError, match="identity leakage"):
        check_leakage(leaky)


def test_images_listed_in_a_csv(tmp_path):
    for name in ("a", "b", "c"):
        touch(tmp_path, f"faces/{name}.png")
    csv = tmp_path / "list.csv"
    csv.write_text(
        "path,label,group,split\nfaces/a.png,real,p1,train\nfaces/b.png,fake,p1,\n"
        "faces/c.png,fake,p2,test\n"
    )
    recs = list(GenericAdapter().scan(csv, IndexReport()))
    assert [(r.path, r.label, r.split) for r in recs] == [
        ("faces/a.png", 0, "train"),
        ("faces/b.png", 1, None),
        ("faces/c.png", 1, "test"),
    ]
    table = build_manifest(recs)
    assert table.loc[0, "identity_group"] == table.loc[1, "identity_group"]


def test_a_method_folder_named_like_a_label_word_is_the_method(tmp_path):
    # FF++'s method folder "Deepfakes" is also a fake label word: the folder above is the label
    for rel_path in (
        "fake/Deepfakes/x.mp4",
        "fake/Deepfakes/000_003/0001.png",  # a sequence of frames below the method folder
        "manipulated/fake/y.mp4",
        "real/x.mp4",
        "real/youtube/z.mp4",
        "deepfakes/real/w.mp4",  # a collection named like a label word: the inner label wins
        "deepfakes/fake/FaceSwap/v.mp4",
    ):
        touch(tmp_path, rel_path)
    recs = {r.path: r for r in GenericAdapter().scan(tmp_path, IndexReport())}
    assert {p: (r.label, r.method) for p, r in recs.items()} == {
        "fake/Deepfakes/x.mp4": (1, "Deepfakes"),
        "fake/Deepfakes/000_003/0001.png": (1, "Deepfakes"),
        "manipulated/fake/y.mp4": (1, "unknown"),  # a generic label word is no method
        "real/x.mp4": (0, "original"),
        "real/youtube/z.mp4": (0, "youtube"),
        "deepfakes/real/w.mp4": (0, "original"),
        "deepfakes/fake/FaceSwap/v.mp4": (1, "FaceSwap"),
    }
