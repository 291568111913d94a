"""DFDC and DFDC-preview adapters: synthetic trees in their layouts, and the real sample set."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fakescope.datasets.base import IndexReport, VideoRecord, create_adapter, parse_label
from fakescope.datasets.dfdc import DfdcAdapter, DfdcPreviewAdapter

SHARED_DATA = Path(
    os.environ.get(
        "FAKESCOPE_SHARED_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"
    )
)
SAMPLE_DFDC = SHARED_DATA / "samples" / "DFDC"


def _touch(root: Path, *paths: str) -> None:
    for p in paths:
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_bytes(b"")


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _scan(name: str, root: Path, **options: object) -> tuple[dict[str, VideoRecord], IndexReport]:
    report = IndexReport()
    records = list(create_adapter(name, **options).scan(root, report))
    by_path = {r.path: r for r in records}
    assert len(by_path) == len(records), "a file was yielded twice"
    return by_path, report


def _real() -> dict[str, object]:
    return {"label": "REAL", "split": "train", "original": None}


def _fake(original: str) -> dict[str, object]:
    return {"label": "FAKE", "split": "train", "original": original}


@pytest.fixture
def dfdc(tmp_path: Path) -> Path:
    part0, part7 = "train/dfdc_train_part_0", "train/dfdc_train_part_7"
    _touch(
        tmp_path,
        f"{part0}/aaaaaaaaaa.mp4",
        f"{part0}/bbbbbbbbbb.mp4",
        f"{part0}/cccccccccc.mp4",
        f"{part0}/eeeeeeeeee.mp4",  # not in metadata.json
        f"{part7}/ffffffffff.mp4",
        "dfdc_sample_real/rrrrrrrrrr.mp4",
        "test/videos/t1.mp4",
        "test/t2.mp4",
        "test/t4.mp4",
        "other/clip.mp4",  # a folder without DFDC metadata
    )
    _write_json(
        tmp_path / part0 / "metadata.json",
        {
            "aaaaaaaaaa.mp4": _real(),
            "bbbbbbbbbb.mp4": _fake("aaaaaaaaaa.mp4"),
            "cccccccccc.mp4": {"label": "UNSURE", "split": "train", "original": None},
            "dddddddddd.mp4": _fake("aaaaaaaaaa.mp4"),  # not on disk
        },
    )
    _write_json(tmp_path / part7 / "metadata.json", {"ffffffffff.mp4": _fake("aaaaaaaaaa.mp4")})
    _write_json(
        tmp_path / "dfdc_sample_real" / "metadata.json",
        {"rrrrrrrrrr.mp4": {"label": "REAL", "split": "train"}},  # no 'original' key at all
    )
    _write_json(tmp_path / "other" / "metadata.json", {"fps": 25, "codec": "h264"})
    (tmp_path / "test" / "labels.csv").write_text(
        "filename,label\nt1.mp4,1\nt2.mp4,0\nt3.mp4,1\nt4.mp4,maybe\n"
    )
    return tmp_path


def test_registered_names_create_the_adapters() -> None:
    assert isinstance(create_adapter("dfdc"), DfdcAdapter)
    assert isinstance(create_adapter("dfdcp"), DfdcPreviewAdapter)


@pytest.mark.parametrize(
    ("value", "label"),
    [("REAL", 0), ("FAKE", 1), ("fake", 1), (" 1 ", 1), ("0", 0), (True, 1), (0, 0), (1.0, 1)],
)
def test_parse_label_spellings(value: object, label: int) -> None:
    assert parse_label(value) == label


@pytest.mark.parametrize("value", ["UNSURE", "2", None, 3, "", [1]])
def test_parse_label_rejects_the_rest(value: object) -> None:
    assert parse_label(value) is None


def test_dfdc_records(dfdc: Path) -> None:
    recs, _ = _scan("dfdc", dfdc)
    assert {p: (r.label, r.split, r.method) for p, r in recs.items()} == {
        "train/dfdc_train_part_0/aaaaaaaaaa.mp4": (0, "train", "original"),
        "train/dfdc_train_part_0/bbbbbbbbbb.mp4": (1, "train", "DFDC"),
        "train/dfdc_train_part_7/ffffffffff.mp4": (1, "train", "DFDC"),
        "dfdc_sample_real/rrrrrrrrrr.mp4": (0, "train", "original"),
        "test/videos/t1.mp4": (1, "test", "DFDC"),  # labels.csv: 1 = fake
        "test/t2.mp4": (0, "test", "original"),
    }
    fake = recs["train/dfdc_train_part_7/ffffffffff.mp4"]
    assert fake.extra == {"original": "aaaaaaaaaa.mp4", "part": 7}
    assert fake.video_id == "dfdc/train/dfdc_train_part_7/ffffffffff"
    assert recs["dfdc_sample_real/rrrrrrrrrr.mp4"].extra == {"original": None, "part": None}
    assert recs["test/t2.mp4"].extra == {"original": None, "part": None}
    assert all(r.dataset == "dfdc" and r.compression is None for r in recs.values())


def test_dfdc_fakes_join_their_originals_family(dfdc: Path) -> None:
    recs, _ = _scan("dfdc", dfdc)
    family = ("dfdc:aaaaaaaaaa",)
    assert recs["train/dfdc_train_part_0/aaaaaaaaaa.mp4"].identities == family
    assert recs["train/dfdc_train_part_0/bbbbbbbbbb.mp4"].identities == family
    assert recs["train/dfdc_train_part_7/ffffffffff.mp4"].identities == family  # across parts
    assert recs["dfdc_sample_real/rrrrrrrrrr.mp4"].identities == ("dfdc:rrrrrrrrrr",)
    assert recs["test/videos/t1.mp4"].identities == ("dfdc:t1",)  # no original: its own


def test_dfdc_problems_are_reported_with_counts(dfdc: Path) -> None:
    _, report = _scan("dfdc", dfdc)
    assert report.counts == {"missing": 2, "unknown_label": 2, "skipped": 3}
    assert sorted(report.examples["missing"]) == [
        "test/t3.mp4 (listed in test/labels.csv)",
        "train/dfdc_train_part_0/dddddddddd.mp4 (listed in train/dfdc_train_part_0/metadata.json)",
    ]
    assert sorted(report.examples["unknown_label"]) == [
        "test/t4.mp4: 'maybe'",
        "train/dfdc_train_part_0/cccccccccc.mp4: 'UNSURE'",
    ]
    skipped = " | ".join(report.examples["skipped"])
    for what in ("eeeeeeeeee.mp4", "other/clip.mp4", "other/metadata.json"):
        assert what in skipped


@pytest.fixture
def dfdcp(tmp_path: Path) -> Path:
    listed = {
        "original_videos/643049/643049_A_001.mp4": {"label": "real", "set": "train"},
        "method_A/643049/643049_A/1381238_643049_A_001.mp4": {"label": "fake", "set": "test"},
        "method_B/1224068/1224068_C/643049_1224068_C_002.mp4": {"label": "fake", "set": "train"},
        "method_A/643049/643049_A/1381238_643049_A_009.mp4": {"label": "fake", "set": "train"},
        "original_videos/777/777_B_003.mp4": {"label": "maybe", "set": "train"},
    }
    _write_json(tmp_path / "dataset.json", listed)
    on_disk = [k for k in listed if not k.endswith("_A_009.mp4")]  # that one is missing
    _touch(
        tmp_path,
        *on_disk,
        "original_videos/999/999_A_001.mp4",  # not listed: labelled by its folder
        "method_B/stray.mp4",  # not listed, no actor folder
        "notes/clip.mp4",  # outside the DFDCP folders
    )
    return tmp_path


def test_dfdcp_records(dfdcp: Path) -> None:
    recs, _ = _scan("dfdcp", dfdcp)
    got = {p: (r.label, r.method, r.split, r.target_id, r.source_id) for p, r in recs.items()}
    assert got == {
        "original_videos/643049/643049_A_001.mp4": (0, "original", "train", "643049", None),
        "method_A/643049/643049_A/1381238_643049_A_001.mp4": (
            1,
            "method_A",
            "test",
            "643049",
            "1381238",
        ),
        "method_B/1224068/1224068_C/643049_1224068_C_002.mp4": (
            1,
            "method_B",
            "train",
            "1224068",
            "643049",
        ),
        "original_videos/999/999_A_001.mp4": (0, "original", None, "999", None),
    }
    fake = recs["method_B/1224068/1224068_C/643049_1224068_C_002.mp4"]
    assert fake.identities == ("dfdcp:1224068", "dfdcp:643049")
    assert fake.extra == {"in_metadata": True}
    assert fake.video_id == "dfdcp/method_B/1224068/1224068_C/643049_1224068_C_002"
    assert recs["original_videos/643049/643049_A_001.mp4"].identities == ("dfdcp:643049",)
    assert recs["original_videos/999/999_A_001.mp4"].extra == {"in_metadata": False}


def test_dfdcp_problems_are_reported_with_counts(dfdcp: Path) -> None:
    _, report = _scan("dfdcp", dfdcp)
    assert report.counts == {"missing": 1, "unknown_label": 1, "skipped": 2}
    assert report.examples["missing"] == [
        "method_A/643049/643049_A/1381238_643049_A_009.mp4 (listed in dataset.json)"
    ]
    assert report.examples["unknown_label"] == ["original_videos/777/777_B_003.mp4: 'maybe'"]
    skipped = " | ".join(report.examples["skipped"])
    assert "method_B/stray.mp4" in skipped and "notes/clip.mp4" in skipped


def test_dfdcp_videos_folder_below_the_method_folder(tmp_path: Path) -> None:
    """SBI's tree inserts ``videos/`` below each method folder; dataset.json keys do not."""
    _write_json(
        tmp_path / "DFDCP" / "dataset.json",
        {
            "method_A/643049/643049_A/1381238_643049_A_001.mp4": {"label": "fake", "set": "test"},
            "original_videos/643049/643049_A_001.mp4": {"label": "real", "set": "test"},
        },
    )
    _touch(
        tmp_path,
        "DFDCP/method_A/videos/643049/643049_A/1381238_643049_A_001.mp4",
        "DFDCP/original_videos/videos/643049/643049_A_001.mp4",
    )
    recs, report = _scan("dfdcp", tmp_path)
    assert not report
    fake = recs["DFDCP/method_A/videos/643049/643049_A/1381238_643049_A_001.mp4"]
    assert (fake.label, fake.split, fake.identities) == (
        1,
        "test",
        ("dfdcp:643049", "dfdcp:1381238"),
    )
    real = recs["DFDCP/original_videos/videos/643049/643049_A_001.mp4"]
    assert (real.label, real.split, real.extra) == (0, "test", {"in_metadata": True})


def test_dfdc_on_the_real_sample_set() -> None:
    if not SAMPLE_DFDC.is_dir():
        pytest.skip(f"DFDC sample videos not found in {SAMPLE_DFDC} (set FAKESCOPE_SHARED_DATA)")
    recs, report = _scan("dfdc", SAMPLE_DFDC)
    assert {p: r.label for p, r in recs.items()} == {
        "dfdc_sample_real/lynaeydofd.mp4": 0,
        "dfdc_train_part_0/brtujopkby.mp4": 1,
        "dfdc_train_part_10/widuwuoiur.mp4": 1,
        "dfdc_train_part_10/yhffcuhhjy.mp4": 1,
    }
    assert recs["dfdc_train_part_0/brtujopkby.mp4"].identities == ("dfdc:gnmmhlbzge",)
    assert recs["dfdc_train_part_10/widuwuoiur.mp4"].extra["part"] == 10
    assert all(r.split == "train" for r in recs.values())
    assert report.counts == {"missing": 1}
    assert report.examples["missing"] == [
        "dfdc_train_part_0/awnfpubqmo.mp4 (listed in dfdc_train_part_0/metadata.json)"
    ]
