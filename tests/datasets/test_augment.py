"""Compression augmentation: H.264 copies of training videos as extra manifest rows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import pytest

from fakescope.cli.main import main
from fakescope.datasets import VideoRecord, build_manifest, read_manifest, write_manifest
from fakescope.datasets.augment import augment_manifest, parse_crfs, parse_splits
from fakescope.errors import ConfigError, DatasetError
from tests.conftest import write_video

N_FRAMES = 5


def _frames(path: str) -> tuple[int, int, int, str]:
    with av.open(path) as c:
        stream = c.streams.video[0]
        n = sum(1 for _ in c.decode(stream))
        return n, stream.codec_context.width, stream.codec_context.height, stream.codec_context.name


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, Path]:
    """A tiny dataset (root, manifest): 2 train videos, 1 corrupt train video, 1 val, 1 test."""
    root = tmp_path / "data"
    specs = [  # video_id, label, split, identities, compression
        ("r0", 0, "train", ("a",), "c23"),
        ("f0", 1, "train", ("a", "b"), "c40"),
        ("bad", 1, "train", ("e",), "c40"),
        ("r1", 0, "val", ("c",), "c23"),
        ("f1", 1, "test", ("d",), "c40"),
    ]
    records = []
    for i, (vid, label, split, ids, comp) in enumerate(specs):
        rel = f"{'fake' if label else 'real'}/{vid}.mp4"
        if vid == "bad":
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x01" * 500)
        else:
            write_video(root / rel, n_frames=N_FRAMES, width=64, height=64, variant=i)
        records.append(
            VideoRecord(
                vid,
                rel,
                label,
                "toy",
                "gen" if label else "real",
                comp,
                identities=ids,
                split=split,
                extra={"quality": i},
            )
        )
    manifest = write_manifest(build_manifest(records), tmp_path / "m.parquet", root, {"x": 1})
    return root, manifest


def test_copies_decode_and_manifest_rows_are_right(dataset, tmp_path):
    root, manifest = dataset
    out = tmp_path / "out" / "aug.parquet"
    summary = augment_manifest(manifest, out, crfs=(40, 23))
    assert summary.crfs == (23, 40) and summary.sources == 3
    assert summary.encoded == 4 and summary.reused == 0 and summary.copies == 4
    assert [f["video_id"] for f in summary.failed] == ["bad"]
    assert "bad.mp4" in summary.failed[0]["error"] and summary.failed[0]["crfs"] == [23, 40]
    assert "\n" not in summary.failed[0]["error"]

    aug = read_manifest(out)
    assert aug.root == root.resolve() and aug.info["x"] == 1
    assert aug.info["augment"]["crfs"] == [23, 40]
    t = aug.table.set_index("video_id")
    assert len(t) == 5 + 4
    copies = t[t["derived_from"].notna()]
    assert sorted(copies.index) == ["f0#h264-23", "f0#h264-40", "r0#h264-23", "r0#h264-40"]
    for vid, row in copies.iterrows():
        src = t.loc[row["derived_from"]]
        assert vid.startswith(f"{row['derived_from']}#")
        for col in ("label", "dataset", "method", "identity_group", "split", "quality"):
            assert row[col] == src[col], col
        crf = vid.rsplit("-", 1)[1]
        assert row["compression"] == f"h264-{crf}" and row["perturbation"] == f"h264:{crf}:veryfast"
    assert t.loc[["r0", "f0", "r1"], "derived_from"].isna().all()
    assert t.loc["r0", "compression"] == "c23"  # source rows unchanged
    # the store is outside the dataset root: copies are stored by absolute path, and resolve
    paths = aug.absolute_paths_of(aug.table[aug.table["derived_from"].notna()])
    assert all(
        Path(p).is_absolute() and Path(p).is_relative_to(out.parent / "reencoded") for p in paths
    )
    for p in paths:
        assert _frames(p) == (N_FRAMES, 64, 64, "h264")
    assert {Path(p).parent.name for p in paths} == {"h264-23-veryfast", "h264-40-veryfast"}
    assert not list((out.parent / "reencoded").rglob(".*tmp*"))

    # a rerun re-encodes nothing and writes the same manifest
    mtimes = {p: Path(p).stat().st_mtime_ns for p in paths}
    again = augment_manifest(manifest, out, crfs=(23, 40))
    assert again.encoded == 0 and again.reused == 4 and again.rows == 9
    assert {p: Path(p).stat().st_mtime_ns for p in paths} == mtimes
    # augmenting an augmented manifest does not copy the copies, nor duplicate rows
    twice = augment_manifest(out, tmp_path / "out" / "aug2.parquet", crfs=(23, 40))
    assert twice.encoded == 0 and twice.rows == 9 and twice.copies == 4


def test_only_requested_splits_and_labels_and_relative_store(dataset, tmp_path):
    root, manifest = dataset
    out = root / "aug.csv"  # inside the root: copies stored relative to it
    summary = augment_manifest(manifest, out, crfs=(32,), splits=("val", "test"), labels=(0,))
    assert summary.sources == 1 and summary.copies == 1 and not summary.failed
    aug = read_manifest(out)
    copy = aug.table[aug.table["derived_from"].notna()]
    assert list(copy["video_id"]) == ["r1#h264-32"] and list(copy["split"]) == ["val"]
    assert copy["path"].iloc[0].startswith("reencoded/h264-32-veryfast/")
    # the data folder moves with its manifest and store: the copy still resolves
    moved = shutil.move(root, tmp_path / "moved")
    again = read_manifest(Path(moved) / "aug.csv")
    (path,) = again.absolute_paths_of(again.table[again.table["derived_from"].notna()])
    assert Path(path).is_file() and str(path).startswith(str(moved))
    assert _frames(path)[0] == N_FRAMES


def test_bad_specs_are_one_line_errors(dataset, tmp_path):
    _, manifest = dataset
    with pytest.raises(ConfigError, match="'abc' is not a CRF"):
        parse_crfs("23,abc")
    with pytest.raises(ConfigError, match="'60' is not a CRF"):
        parse_crfs("60")
    assert parse_crfs("40, 23,23") == (23, 40)
    with pytest.raises(ConfigError, match="'training' is not a split"):
        parse_splits("training")
    with pytest.raises(ConfigError, match="preset"):
        augment_manifest(manifest, tmp_path / "a.parquet", preset="fastest")
    with pytest.raises(DatasetError, match="no video in split"):
        augment_manifest(manifest, tmp_path / "a.parquet", splits=("val",), labels=(1,))
    assert not (tmp_path / "a.parquet").exists()


def test_cli_augment_end_to_end(dataset, tmp_path, capsys):
    _, manifest = dataset
    out = tmp_path / "cli" / "aug.parquet"
    argv = ["datasets", "augment", str(manifest), "--out", str(out), "--h264", "30", "--json"]
    assert main([*argv, "--workers", "2"]) == 1  # the corrupt video fails, the rest are done
    result = json.loads(capsys.readouterr().out)
    assert result["copies"] == 2 and result["encoded"] == 2 and len(result["failed"]) == 1
    assert result["store"] == str((tmp_path / "cli" / "reencoded").resolve())
    assert sorted(read_manifest(out).table["video_id"])[-2:] == ["r0#h264-30", "r1"]
    assert main([*argv[:-1], "-q"]) == 1  # rerun: nothing to encode
    captured = capsys.readouterr()
    assert captured.out == "" and "bad.mp4" in captured.err

    assert main(["datasets", "augment", str(manifest), "--out", str(out), "--h264", "23,99"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'99' is not a CRF" in err
    code = main(["datasets", "augment", str(manifest), "--out", str(out), "--splits", "dev"])
    assert code == 2 and "'dev' is not a split" in capsys.readouterr().err

    with pytest.raises(SystemExit) as exc:
        main(["datasets", "augment", "--help"])
    assert exc.value.code == 0
    help_text = capsys.readouterr().out
    assert "examples:" in help_text and "--h264" in help_text and "reencoded/" in help_text
