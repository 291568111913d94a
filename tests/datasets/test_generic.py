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
