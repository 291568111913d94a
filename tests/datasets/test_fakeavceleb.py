"""FakeAVCeleb adapter on synthetic trees in the v1.2 layout, with and without meta_data.csv."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakescope.datasets.base import IndexReport, VideoRecord, create_adapter
from fakescope.datasets.fakeavceleb import CATEGORIES, FakeAVCelebAdapter

RR, RF = "RealVideo-RealAudio", "RealVideo-FakeAudio"
FR, FF = "FakeVideo-RealAudio", "FakeVideo-FakeAudio"

# The release's quirk: 9 header names and a trailing comma, 10 values per row (file, directory).
META = f"""source,target1,target2,method,category,type,race,gender,path,
id00076,-,-,real,A,{RR},African,men,00109.mp4,FakeAVCeleb/{RR}/African/men/id00076
id00200,-,-,real,A,{RR},Asian (East),women,00109.mp4,FakeAVCeleb/{RR}/Asian (East)/women/id00200
id00076,-,-,rtvc,B,{RF},African,men,00109_fake.mp4,FakeAVCeleb/{RF}/African/men/id00076
id00076,id00166,-,faceswap,C,{FR},African,men,00109_id00166_faceswap.mp4,FakeAVCeleb/{FR}/African/men/id00076
id00076,id00166,2,wav2lip,D,{FF},African,men,00109_2_id00166_wavtolip.mp4,FakeAVCeleb/{FF}/African/men/id00076
id00076,id00166,2,faceswap-wav2lip,D,{FF},African,men,00109_2_id00166_wavtolip.mp4,FakeAVCeleb/{FF}/African/men/id00076
id00200,id00076,5,fsgan-wav2lip,D,{FF},Asian (East),women,00001_5_id00076_fsgan-wav2lip.mp4,FakeAVCeleb/{FF}/Asian (East)/women/id00200
id00300,-,-,real,A,{RR},Caucasian (European),men,00404.mp4,FakeAVCeleb/{RR}/Caucasian (European)/men/id00300
id00400,-,-,odd,Z,Unknown,African,men,x.mp4,FakeAVCeleb/Mystery/African/men/id00400
id00500,-,-,real,A
"""


def _touch(root: Path, *paths: str) -> None:
    for p in paths:
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_bytes(b"")


def _scan(root: Path, **options: object) -> tuple[dict[str, VideoRecord], IndexReport]:
    report = IndexReport()
    records = list(create_adapter("fakeavceleb", **options).scan(root, report))
    by_path = {r.path: r for r in records}
    assert len(by_path) == len(records), "a file was yielded twice"
    return by_path, report


@pytest.fixture
def fav(tmp_path: Path) -> Path:
    """The release unzipped as ``FakeAVCeleb_v1.2/`` (not the CSV's ``FakeAVCeleb/``)."""
    top = tmp_path / "FakeAVCeleb_v1.2"
    top.mkdir()
    (top / "meta_data.csv").write_text(META)
    _touch(
        top,
        f"{RR}/African/men/id00076/00109.mp4",
        f"{RR}/Asian (East)/women/id00200/00109.mp4",  # same file name, other folder
        f"{RF}/African/men/id00076/00109_fake.mp4",
        f"{FR}/African/men/id00076/00109_id00166_faceswap.mp4",
        f"{FF}/African/men/id00076/00109_2_id00166_wavtolip.mp4",
        f"{FF}/Asian (East)/women/id00200/00001_5_id00076_fsgan-wav2lip.mp4",
        "Mystery/African/men/id00400/x.mp4",
        f"{FF}/African/women/id00600/00002_id00601_faceswap.mp4",  # not in meta_data.csv
        "loose.mp4",
    )
    return tmp_path


def test_registered_name_creates_the_adapter() -> None:
    adapter = create_adapter("fakeavceleb")
    assert isinstance(adapter, FakeAVCelebAdapter)
    assert adapter.name == "fakeavceleb"


def test_labels_follow_the_video_track(fav: Path) -> None:
    recs, _ = _scan(fav)
    top = "FakeAVCeleb_v1.2"
    got = {
        p.removeprefix(f"{top}/"): (r.label, r.method, r.extra["category"]) for p, r in recs.items()
    }
    assert got == {
        f"{RR}/African/men/id00076/00109.mp4": (0, "real", "A"),
        f"{RR}/Asian (East)/women/id00200/00109.mp4": (0, "real", "A"),
        f"{RF}/African/men/id00076/00109_fake.mp4": (0, "rtvc", "B"),
        f"{FR}/African/men/id00076/00109_id00166_faceswap.mp4": (1, "faceswap", "C"),
        f"{FF}/African/men/id00076/00109_2_id00166_wavtolip.mp4": (1, "wav2lip", "D"),
        f"{FF}/Asian (East)/women/id00200/00001_5_id00076_fsgan-wav2lip.mp4": (
            1,
            "fsgan-wav2lip",
            "D",
        ),
        f"{FF}/African/women/id00600/00002_id00601_faceswap.mp4": (1, FF, "D"),
    }
    for r in recs.values():
        assert r.extra["video_label"] == r.label
        assert r.extra["audio_label"] == int(r.extra["category"] in "BD")
        fake_video, fake_audio = r.extra["av_category"][0] == "F", r.extra["av_category"][2] == "F"
        assert (int(fake_video), int(fake_audio)) == (r.label, r.extra["audio_label"])
        assert f"/{CATEGORIES[r.extra['category']]}/" in r.path
        assert r.split is None and r.compression is None
        assert r.video_id == "fakeavceleb/" + r.path.removesuffix(".mp4")


def test_columns_identities_and_ids(fav: Path) -> None:
    recs, _ = _scan(fav)
    top = "FakeAVCeleb_v1.2"
    fake = recs[f"{top}/{FF}/Asian (East)/women/id00200/00001_5_id00076_fsgan-wav2lip.mp4"]
    assert fake.identities == ("fakeavceleb:id00200",)
    assert (fake.target_id, fake.source_id) == ("id00200", "id00076")
    assert fake.extra == {
        "category": "D",
        "av_category": "FVFA",
        "video_label": 1,
        "audio_label": 1,
        "race": "Asian (East)",
        "gender": "women",
        "target1": "id00076",
        "target2": "5",
        "in_metadata": True,
    }
    real = recs[f"{top}/{RR}/African/men/id00076/00109.mp4"]
    assert (real.identities, real.target_id, real.source_id) == (
        ("fakeavceleb:id00076",),
        "id00076",
        None,
    )
    assert (real.extra["target1"], real.extra["target2"]) == (None, None)
    unlisted = recs[f"{top}/{FF}/African/women/id00600/00002_id00601_faceswap.mp4"]
    assert unlisted.identities == ("fakeavceleb:id00600",)
    assert unlisted.extra["in_metadata"] is False
    assert (unlisted.extra["race"], unlisted.extra["gender"]) == ("African", "women")


def test_problems_are_reported_with_counts(fav: Path) -> None:
    _, report = _scan(fav)
    assert report.counts == {"duplicate": 1, "missing": 1, "skipped": 2, "unknown_label": 1}
    assert report.examples["missing"] == [
        f"FakeAVCeleb/{RR}/Caucasian (European)/men/id00300/00404.mp4 "
        "(listed in FakeAVCeleb_v1.2/meta_data.csv:9)"
    ]
    assert report.examples["unknown_label"] == [
        "FakeAVCeleb_v1.2/Mystery/African/men/id00400/x.mp4: 'Z'"
    ]
    assert (
        "meta_data.csv:7 repeats FakeAVCeleb_v1.2/meta_data.csv:6"
        in (report.examples["duplicate"][0])
    )
    skipped = " | ".join(report.examples["skipped"])
    assert "meta_data.csv:11" in skipped and "loose.mp4" in skipped


def test_link_targets_adds_the_other_subject(fav: Path) -> None:
    recs, _ = _scan(fav, link_targets=True)
    fake = recs[f"FakeAVCeleb_v1.2/{FR}/African/men/id00076/00109_id00166_faceswap.mp4"]
    assert fake.identities == ("fakeavceleb:id00076", "fakeavceleb:id00166")
    real = recs[f"FakeAVCeleb_v1.2/{RR}/African/men/id00076/00109.mp4"]
    assert real.identities == ("fakeavceleb:id00076",)


def test_folders_alone_without_meta_data_csv(tmp_path: Path) -> None:
    _touch(
        tmp_path,
        f"{RR}/Asian (South)/men/id00010/00001.mp4",
        f"{RF}/Asian (South)/men/id00010/00001_fake.mp4",
        f"{FR}/Caucasian (American)/women/id00020/00003_id00010_fsgan.mp4",
        f"{FF}/Caucasian (American)/women/id00020/00003_id00010_wavtolip.mp4",
        "Other-Folder/African/men/id00030/00001.mp4",
    )
    recs, report = _scan(tmp_path)
    got = {
        p: (r.label, r.extra["audio_label"], r.method, r.target_id, r.identities)
        for p, r in recs.items()
    }
    assert got == {
        f"{RR}/Asian (South)/men/id00010/00001.mp4": (
            0,
            0,
            "real",
            "id00010",
            ("fakeavceleb:id00010",),
        ),
        f"{RF}/Asian (South)/men/id00010/00001_fake.mp4": (
            0,
            1,
            RF,
            "id00010",
            ("fakeavceleb:id00010",),
        ),
        f"{FR}/Caucasian (American)/women/id00020/00003_id00010_fsgan.mp4": (
            1,
            0,
            FR,
            "id00020",
            ("fakeavceleb:id00020",),
        ),
        f"{FF}/Caucasian (American)/women/id00020/00003_id00010_wavtolip.mp4": (
            1,
            1,
            FF,
            "id00020",
            ("fakeavceleb:id00020",),
        ),
    }
    fr = recs[f"{FR}/Caucasian (American)/women/id00020/00003_id00010_fsgan.mp4"]
    assert (fr.extra["race"], fr.extra["gender"], fr.extra["in_metadata"]) == (
        "Caucasian (American)",
        "women",
        False,
    )
    assert report.counts == {"skipped": 1}
    assert "Other-Folder/African/men/id00030/00001.mp4" in report.examples["skipped"][0]


def test_csv_category_against_its_folder_is_reported(tmp_path: Path) -> None:
    (tmp_path / "meta_data.csv").write_text(
        "source,target1,target2,method,category,type,race,gender,path,\n"
        f"id00001,-,-,real,A,{RR},African,men,00001.mp4,FakeAVCeleb/{FF}/African/men/id00001\n"
    )
    _touch(tmp_path, f"{FF}/African/men/id00001/00001.mp4")
    recs, report = _scan(tmp_path)
    rec = recs[f"{FF}/African/men/id00001/00001.mp4"]
    assert (rec.label, rec.extra["category"], rec.extra["audio_label"]) == (1, "D", 1)
    assert report.counts == {"label_conflict": 1}
    assert "meta_data.csv:2 says A; folder wins" in report.examples["label_conflict"][0]
