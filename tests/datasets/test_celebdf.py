"""Celeb-DF adapters on synthetic trees in the benchmark's layout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fakescope.datasets import build_manifest
from fakescope.datasets.base import IndexReport, VideoRecord, create_adapter
from fakescope.datasets.celebdf import CelebDFv1Adapter, CelebDFv2Adapter
from fakescope.errors import DatasetError


def _touch(root: Path, *paths: str) -> None:
    for p in paths:
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_bytes(b"")


def _scan(name: str, root: Path) -> tuple[dict[str, VideoRecord], IndexReport]:
    report = IndexReport()
    records = list(create_adapter(name).scan(root, report))
    by_path = {r.path: r for r in records}
    assert len(by_path) == len(records), "a file was yielded twice"
    return by_path, report


@pytest.fixture
def celebdf(tmp_path: Path) -> Path:
    _touch(
        tmp_path,
        "Celeb-real/id0_0000.mp4",
        "Celeb-real/id1_0007.mp4",
        "YouTube-real/00001.mp4",
        "YouTube-real/00002.mp4",
        "Celeb-synthesis/id1_id0_0007.mp4",
        "Celeb-synthesis/id0_id1_0000.mp4",
        "notes/stray.mp4",  # outside the subset folders
    )
    (tmp_path / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id1_0007.mp4\n"
        "1 YouTube-real/00001.mp4\n"
        "0 Celeb-synthesis/id1_id0_0007.mp4\n"
        "0 Celeb-synthesis/id5_id6_0001.mp4\n"  # listed, not on disk
        "7 Celeb-real/id0_0000.mp4\n"  # a digit that is neither 0 nor 1
        "\n"
        "this line is garbage\n"
    )
    return tmp_path


def test_registered_names_create_the_adapters() -> None:
    assert isinstance(create_adapter("celebdf-v1"), CelebDFv1Adapter)
    assert isinstance(create_adapter("celebdf-v2"), CelebDFv2Adapter)
    assert create_adapter("celebdf-v1").name == "celebdf-v1"


def test_every_video_labelled_by_its_folder(celebdf: Path) -> None:
    recs, _ = _scan("celebdf-v2", celebdf)
    assert sorted(recs) == [
        "Celeb-real/id0_0000.mp4",
        "Celeb-real/id1_0007.mp4",
        "Celeb-synthesis/id0_id1_0000.mp4",
        "Celeb-synthesis/id1_id0_0007.mp4",
        "YouTube-real/00001.mp4",
        "YouTube-real/00002.mp4",
    ]
    labels = {p: r.label for p, r in recs.items()}
    assert labels == {
        "Celeb-real/id0_0000.mp4": 0,
        "Celeb-real/id1_0007.mp4": 0,
        "Celeb-synthesis/id0_id1_0000.mp4": 1,
        "Celeb-synthesis/id1_id0_0007.mp4": 1,
        "YouTube-real/00001.mp4": 0,
        "YouTube-real/00002.mp4": 0,
    }
    for r in recs.values():
        assert r.dataset == "celebdf-v2"
        assert r.video_id == "celebdf-v2/" + r.path.removesuffix(".mp4")
        assert r.compression is None
        assert r.method == ("Celeb-synthesis" if r.label else "original")
        assert r.extra["subset"] == r.path.split("/")[0]


def test_identities_and_ids_from_the_names(celebdf: Path) -> None:
    recs, _ = _scan("celebdf-v2", celebdf)
    fake = recs["Celeb-synthesis/id1_id0_0007.mp4"]
    assert (fake.target_id, fake.source_id) == ("id1", "id0")
    assert fake.identities == ("celebdf:id1", "celebdf:id0")
    assert fake.extra["original"] == "id1_0007.mp4"
    real = recs["Celeb-real/id1_0007.mp4"]
    assert (real.target_id, real.source_id, real.identities) == ("id1", None, ("celebdf:id1",))
    assert real.extra["original"] is None
    yt1, yt2 = recs["YouTube-real/00001.mp4"], recs["YouTube-real/00002.mp4"]
    assert yt1.identities == ("celebdf:yt:00001",)
    assert yt2.identities == ("celebdf:yt:00002",)
    assert yt1.target_id is None and yt1.source_id is None


def test_test_list_gives_the_split_only(celebdf: Path) -> None:
    recs, _ = _scan("celebdf-v2", celebdf)
    splits = {p: r.split for p, r in recs.items()}
    assert splits == {
        "Celeb-real/id0_0000.mp4": "test",  # listed, with a bad digit: still in the test list
        "Celeb-real/id1_0007.mp4": "test",
        "Celeb-synthesis/id0_id1_0000.mp4": None,
        "Celeb-synthesis/id1_id0_0007.mp4": "test",
        "YouTube-real/00001.mp4": "test",
        "YouTube-real/00002.mp4": None,
    }
    # the list's 1 = real: the folder label is kept, not the raw digit
    assert recs["YouTube-real/00001.mp4"].label == 0
    assert recs["Celeb-synthesis/id1_id0_0007.mp4"].label == 1


def test_problems_are_reported_with_counts(celebdf: Path) -> None:
    _, report = _scan("celebdf-v2", celebdf)
    assert report.counts == {"missing": 1, "unknown_label": 1, "skipped": 2}
    assert report.examples["missing"] == [
        "Celeb-synthesis/id5_id6_0001.mp4 (listed in List_of_testing_videos.txt:4)"
    ]
    assert report.examples["unknown_label"] == ["Celeb-real/id0_0000.mp4: '7'"]
    skipped = " | ".join(report.examples["skipped"])
    for what in ("notes/stray.mp4", ":7"):
        assert what in skipped


@pytest.mark.parametrize(
    ("odd", "naming"),
    [
        ("Celeb-synthesis/id0-id1-0001.mp4", "id<A>_id<B>_<NNNN>.mp4"),
        ("Celeb-real/clip.mp4", "id<k>_<NNNN>.mp4"),
        ("Celeb-real/id0_id1_0000.mp4", "id<k>_<NNNN>.mp4"),  # a fake's name among reals
    ],
)
def test_an_unparseable_name_in_a_subset_folder_is_an_error(
    celebdf: Path, odd: str, naming: str
) -> None:
    _touch(celebdf, odd)
    with pytest.raises(DatasetError) as err:
        _scan("celebdf-v2", celebdf)
    msg = str(err.value)
    assert "Celeb-DF layout indexes only partly" in msg
    assert f"1 file(s) in {odd.split('/')[0]}/ not named {naming}" in msg and odd in msg


def test_seed002_folders_any_case_with_identity_groups(tmp_path: Path) -> None:
    """Seed 002's copy: ``Celeb-Real/``, ``Celeb-Fake/`` and an unlabelled ``Testing/``."""
    _touch(
        tmp_path,
        "Celeb-Real/id0_0000.mp4",
        "Celeb-Real/id16_0003.mp4",
        "Celeb-Real/id7_0001.mp4",
        "Celeb-Fake/id0_id16_0000.mp4",
        "celeb-fake/id7_id9_0001.mp4",  # any case
        "Testing/aaaa.mp4",
    )
    recs, report = _scan("celebdf-v2", tmp_path)
    assert {p: (r.label, r.method, r.extra["subset"]) for p, r in recs.items()} == {
        "Celeb-Real/id0_0000.mp4": (0, "original", "Celeb-real"),
        "Celeb-Real/id16_0003.mp4": (0, "original", "Celeb-real"),
        "Celeb-Real/id7_0001.mp4": (0, "original", "Celeb-real"),
        "Celeb-Fake/id0_id16_0000.mp4": (1, "Celeb-synthesis", "Celeb-synthesis"),
        "celeb-fake/id7_id9_0001.mp4": (1, "Celeb-synthesis", "Celeb-synthesis"),
    }
    assert report.counts == {"skipped": 1}
    assert "Testing/aaaa.mp4" in report.examples["skipped"][0]
    assert "unlabelled" in report.examples["skipped"][0]
    table = build_manifest(recs.values())
    group = dict(zip(table["path"], table["identity_group"]))
    # the fake joins its target id0 and its donor id16
    assert group["Celeb-Real/id0_0000.mp4"] == group["Celeb-Real/id16_0003.mp4"]
    assert group["Celeb-Fake/id0_id16_0000.mp4"] == "celebdf:id0+celebdf:id16"
    assert group["Celeb-Real/id7_0001.mp4"] == "celebdf:id7+celebdf:id9"


def test_the_test_list_applies_to_seed002_folder_names(tmp_path: Path) -> None:
    """The official list names ``Celeb-synthesis/``: it finds the file in ``Celeb-Fake/``."""
    _touch(tmp_path, "Celeb-Real/id1_0007.mp4", "Celeb-Fake/id1_id0_0007.mp4")
    (tmp_path / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id1_0007.mp4\n0 Celeb-synthesis/id1_id0_0007.mp4\n"
    )
    recs, report = _scan("celebdf-v2", tmp_path)
    assert not report
    assert {r.split for r in recs.values()} == {"test"}


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        (
            ("Celeb-real/id0_0000.mp4", "YouTube-real/00001.mp4"),
            "Celeb-synthesis/ (or Celeb-Fake/)",
        ),
        (("Celeb-Fake/id0_id1_0000.mp4",), "Celeb-real/ (or YouTube-real/)"),
    ],
)
def test_a_missing_label_folder_is_an_error(tmp_path: Path, present, missing) -> None:
    _touch(tmp_path, *(f"cdf/{p}" for p in present))
    with pytest.raises(DatasetError, match=rf"no cdf/{re.escape(missing)} with videos"):
        _scan("celebdf-v2", tmp_path)


def test_list_digit_contradicting_the_folder_is_reported(tmp_path: Path) -> None:
    _touch(tmp_path, "Celeb-synthesis/id2_id3_0004.mp4", "Celeb-real/id2_0004.mp4")
    (tmp_path / "List_of_testing_videos.txt").write_text(
        "1 Celeb-synthesis/id2_id3_0004.mp4\n0 Celeb-real/id2_0004.mp4\n"
    )
    recs, report = _scan("celebdf-v2", tmp_path)
    assert recs["Celeb-synthesis/id2_id3_0004.mp4"].label == 1
    assert recs["Celeb-real/id2_0004.mp4"].label == 0
    assert report.counts == {"label_conflict": 2}


def test_nested_root_videos_folders_and_youtube_spelling(tmp_path: Path) -> None:
    """SBI's tree: ``<subset>/videos/<file>``, ``Youtube-real``, list one level down."""
    base = "Celeb-DF-v1"
    _touch(
        tmp_path,
        f"{base}/Celeb-real/videos/id3_0001.mp4",
        f"{base}/Youtube-real/videos/00042.mp4",
        f"{base}/Celeb-synthesis/videos/id3_id9_0001.mp4",
    )
    (tmp_path / base / "List_of_testing_videos.txt").write_text(
        "1 YouTube-real/00042.mp4\n0 Celeb-synthesis/id3_id9_0001.mp4\n"
    )
    recs, report = _scan("celebdf-v1", tmp_path)
    assert not report
    yt = recs[f"{base}/Youtube-real/videos/00042.mp4"]
    assert (yt.label, yt.split, yt.extra["subset"]) == (0, "test", "YouTube-real")
    assert yt.video_id == "celebdf-v1/Celeb-DF-v1/Youtube-real/videos/00042"
    fake = recs[f"{base}/Celeb-synthesis/videos/id3_id9_0001.mp4"]
    assert (fake.label, fake.split, fake.identities) == (1, "test", ("celebdf:id3", "celebdf:id9"))
    assert recs[f"{base}/Celeb-real/videos/id3_0001.mp4"].split is None
