from pathlib import Path

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
