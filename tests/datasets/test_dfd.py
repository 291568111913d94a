"""Seed 003's DFD layout (``DFD_REAL/`` + ``DFD_FAKE/``) on synthetic trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakescope.datasets import IndexReport, VideoRecord, build_manifest, create_adapter
from fakescope.datasets.dfd import DfdAdapter
from fakescope.errors import DatasetError

# the names seed 003 prints from its Drive folders, plus a few more of DFD's
REAL = ["01__exit_phone_room.mp4", "01__hugging_happy.mp4", "02__kitchen_pan.mp4", "03__walk.mp4"]
FAKE = [
    "07_02__outside_talking_pan_laughing__1ZE4HC06.mp4",
    "07_02__outside_talking_pan_laughing__O4SXNLRL.mp4",
    "01_02__kitchen_pan__YVGY8LOK.mp4",
    "04_05__walk__ABCDEFGH.mp4",
]


def _touch(root: Path, *paths: str) -> None:
    for p in paths:
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_bytes(b"")


def _scan(root: Path) -> tuple[dict[str, VideoRecord], IndexReport]:
    report = IndexReport()
    recs = list(create_adapter("dfd").scan(root, report))
    return {r.path: r for r in recs}, report


@pytest.fixture
def drive(tmp_path: Path) -> Path:
    _touch(tmp_path, *(f"My Drive/DFD_REAL/{n}" for n in REAL))
    _touch(tmp_path, *(f"My Drive/DFD_FAKE/{n}" for n in FAKE))
    _touch(tmp_path, "My Drive/other/clip.mp4")
    return tmp_path


def test_registered() -> None:
    assert isinstance(create_adapter("dfd"), DfdAdapter)


def test_folders_give_labels_names_give_actors(drive: Path) -> None:
    recs, report = _scan(drive)
    assert len(recs) == len(REAL) + len(FAKE)
    assert report.counts == {"skipped": 1}  # My Drive/other/clip.mp4: outside the layout
    real = recs["My Drive/DFD_REAL/01__exit_phone_room.mp4"]
    assert (real.label, real.method, real.dataset) == (0, "original", "dfd")
    assert (real.target_id, real.source_id, real.identities) == ("01", None, ("dfd:01",))
    assert real.extra == {"scene": "exit_phone_room"}
    assert real.video_id == "dfd/My Drive/DFD_REAL/01__exit_phone_room"
    fake = recs["My Drive/DFD_FAKE/07_02__outside_talking_pan_laughing__O4SXNLRL.mp4"]
    assert (fake.label, fake.method) == (1, "DeepFakeDetection")
    assert (fake.target_id, fake.source_id) == ("07", "02")
    assert fake.identities == ("dfd:07", "dfd:02")
    assert fake.extra == {"scene": "outside_talking_pan_laughing"}


def test_identity_groups_join_the_actors_a_fake_involves(drive: Path) -> None:
    recs, _ = _scan(drive)
    table = build_manifest(recs.values())
    group = {Path(p).name: g for p, g in zip(table["path"], table["identity_group"])}
    # 01_02 and 07_02 tie actors 01, 02 and 07 together; 03 stays alone; 04_05 has no reals
    assert (
        group["01__exit_phone_room.mp4"] == group["02__kitchen_pan.mp4"] == "dfd:01+dfd:02+dfd:07"
    )
    assert group["07_02__outside_talking_pan_laughing__1ZE4HC06.mp4"] == "dfd:01+dfd:02+dfd:07"
    assert group["03__walk.mp4"] == "dfd:03"
    assert group["04_05__walk__ABCDEFGH.mp4"] == "dfd:04+dfd:05"


def test_same_actor_tokens_as_the_ffpp_adapter(drive: Path) -> None:
    """DFD inside an FF++ tree gives the same ``dfd:<actor>`` tokens: manifests can merge."""
    from fakescope.datasets.ffpp import FaceForensicsAdapter

    _touch(drive, "ff/original_sequences/actors/c23/videos/01__exit_phone_room.mp4")
    ff = list(FaceForensicsAdapter().scan(drive / "ff", IndexReport()))
    recs, _ = _scan(drive)
    assert ff[0].identities == recs["My Drive/DFD_REAL/01__exit_phone_room.mp4"].identities


def test_seed003_renamed_files_index_without_identity(tmp_path: Path) -> None:
    """Seed 003 renamed its copy to video_000.mp4 …: labels from the folder, no actor id."""
    _touch(tmp_path, "DFD_REAL/video_000.mp4", "DFD_REAL/video_001.mp4", "dfd_fake/video_002.mp4")
    _touch(tmp_path, "DFD_FAKE/01_02__kitchen_pan__YVGY8LOK.mp4")
    recs, report = _scan(tmp_path)
    assert {p: r.label for p, r in recs.items()} == {
        "DFD_REAL/video_000.mp4": 0,
        "DFD_REAL/video_001.mp4": 0,
        "dfd_fake/video_002.mp4": 1,
        "DFD_FAKE/01_02__kitchen_pan__YVGY8LOK.mp4": 1,
    }
    renamed = recs["DFD_REAL/video_000.mp4"]
    assert renamed.target_id is None and renamed.identities == ("dfd:file:DFD_REAL/video_000.mp4",)
    assert report.counts == {"no_identity": 3}
    table = build_manifest(recs.values())
    assert table["identity_group"].nunique() == 4


@pytest.mark.parametrize(
    ("odd", "folder"),
    [
        ("My Drive/DFD_REAL/clip 1.mp4", "My Drive/DFD_REAL"),
        ("My Drive/DFD_REAL/01_02__kitchen_pan__YVGY8LOK.mp4", "My Drive/DFD_REAL"),  # a fake
        ("My Drive/DFD_FAKE/01__kitchen_pan.mp4", "My Drive/DFD_FAKE"),  # a real
        ("My Drive/DFD_FAKE/sub/x.mp4", "My Drive/DFD_FAKE"),
    ],
)
def test_an_unparseable_name_is_an_error(drive: Path, odd: str, folder: str) -> None:
    _touch(drive, odd)
    with pytest.raises(DatasetError) as err:
        _scan(drive)
    msg = str(err.value)
    assert "DFD (DFD_REAL/ + DFD_FAKE/) layout indexes only partly" in msg
    assert f"1 file(s) in {folder}/ not named" in msg and odd in msg


@pytest.mark.parametrize("missing", ["DFD_REAL", "DFD_FAKE"])
def test_a_missing_label_folder_is_an_error(tmp_path: Path, missing: str) -> None:
    present = "DFD_FAKE" if missing == "DFD_REAL" else "DFD_REAL"
    _touch(tmp_path, f"d/{present}/{(FAKE if present == 'DFD_FAKE' else REAL)[0]}")
    (tmp_path / "d" / missing).mkdir()  # there but empty: still missing
    with pytest.raises(DatasetError, match=f"no d/{missing}/ with videos"):
        _scan(tmp_path)
