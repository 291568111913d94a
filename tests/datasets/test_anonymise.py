"""``datasets index --anonymise``: hashed names in the manifest, the key in its own file."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from fakescope.cli.main import main
from fakescope.datasets import read_manifest
from fakescope.datasets.anonymise import Anonymiser, reidentify
from fakescope.errors import DatasetError

REAL = ["01__exit_phone_room.mp4", "02__kitchen_pan.mp4", "03__walk.mp4"]
FAKE = ["07_02__outside_talking__1ZE4HC06.mp4", "01_02__kitchen_pan__YVGY8LOK.mp4"]
HEX = re.compile(r"^[0-9a-f]{16}$")


@pytest.fixture
def drive(tmp_path: Path) -> Path:
    root = tmp_path / "data" / "My Drive"
    for folder, names in (("DFD_REAL", REAL), ("DFD_FAKE", FAKE)):
        for name in names:
            p = root / folder / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(name.encode())  # distinct contents: a link must reach its own file
    return root


def index(root: Path, out: Path, *extra: str, dataset: str = "dfd") -> int:
    return main(
        ["datasets", "index", str(root), "--dataset", dataset, "--out", str(out), "-q", *extra]
    )


def test_no_name_in_the_manifest_and_the_key_beside_it(drive: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "dfd.csv"
    assert index(drive, out, "--anonymise") == 0
    key_file = out.with_name("dfd.key.json")
    assert key_file.is_file() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = json.loads(key_file.read_text())["key"]
    written = out.read_text() + out.with_name("dfd.csv.meta.json").read_text()
    secrets = [key, "My Drive", "DFD_REAL", "DFD_FAKE", "dfd:", "__"]
    secrets += [n.removesuffix(".mp4") for n in REAL + FAKE]  # the names and their actor ids
    secrets += [f",{a}," for n in REAL + FAKE for a in n.split("__")[0].split("_")]  # id cells
    for secret in secrets:
        assert secret not in written, secret
    table = read_manifest(out).table
    assert all(HEX.match(t) for t in table["target_id"])
    assert table["source_id"].dropna().map(lambda s: bool(HEX.match(s))).all()
    assert all(re.fullmatch(r"dfd/[0-9a-f]{16}", v) for v in table["video_id"])
    assert all(re.fullmatch(r"[0-9a-f]{16}\.mp4", p) for p in table["path"])
    tokens = {t for g in table["identity_group"] for t in g.split("+")}
    assert all(re.fullmatch(r"anon:[0-9a-f]{16}", t) for t in tokens)
    assert list(table["label"]).count(1) == len(FAKE)  # labels and methods stay
    assert set(table["method"]) == {"original", "DeepFakeDetection"}
    meta = json.loads(out.with_name("dfd.csv.meta.json").read_text())
    assert meta["anonymised"] == {"algorithm": "HMAC-SHA256", "key_file": "dfd.key.json"}


def test_the_videos_are_read_through_hash_named_links(drive: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "dfd.parquet"
    assert index(drive, out, "--anonymise") == 0
    manifest = read_manifest(out)
    assert manifest.root == out.with_name("dfd.videos")
    plain = {p.read_bytes(): p.resolve() for p in drive.rglob("*.mp4")}
    for path in manifest.absolute_paths():
        assert Path(path).is_symlink() and Path(path).is_file()
        assert Path(path).resolve() == plain[Path(path).read_bytes()]
    # a split of the anonymised manifest keeps the identity groups of the plain one
    split = tmp_path / "out" / "split.parquet"
    assert main(["datasets", "split", str(out), "--out", str(split), "-q"]) == 0
    assert len(read_manifest(split).absolute_paths()) == len(REAL) + len(FAKE)


def test_groups_are_those_of_the_plain_manifest_and_reidentify_restores(
    drive: Path, tmp_path: Path
) -> None:
    plain_out, anon_out = tmp_path / "plain.parquet", tmp_path / "anon.parquet"
    assert index(drive, plain_out) == 0 and index(drive, anon_out, "--anonymise") == 0
    plain = read_manifest(plain_out).table.sort_values("video_id").reset_index(drop=True)
    anon = read_manifest(anon_out).table
    back = reidentify(anon, tmp_path / "anon.key.json")
    back = back.sort_values("video_id").reset_index(drop=True)
    cols = ["video_id", "path", "label", "method", "target_id", "source_id", "scene"]
    assert back[cols].equals(plain[cols])
    # the same partition into groups (group names are built from other tokens)
    same = {(a, b) for a, b in zip(back["identity_group"], plain["identity_group"])}
    assert len(same) == plain["identity_group"].nunique() == anon["identity_group"].nunique()
    assert set(back["identity_group"]) == set(plain["identity_group"])


def test_same_key_file_same_hashes(drive: Path, tmp_path: Path) -> None:
    a, b, c = (tmp_path / f"{n}.parquet" for n in "abc")
    assert index(drive, a, "--anonymise") == 0
    first = read_manifest(a).table
    assert index(drive, a, "--anonymise") == 0  # again: its key file is reused
    assert read_manifest(a).table.equals(first)
    assert index(drive, b, "--anonymise", "--key", str(tmp_path / "a.key.json")) == 0
    assert read_manifest(b).table.equals(first)
    assert index(drive, c, "--anonymise") == 0  # a new key: other hashes
    assert not set(read_manifest(c).table["video_id"]) & set(first["video_id"])
    assert not (tmp_path / "b.key.json").exists()


def test_one_key_across_datasets_keeps_ids_comparable(drive: Path, tmp_path: Path) -> None:
    """DFD indexed through ffpp and through dfd with one key: actor 01's hash is the same."""
    ff = tmp_path / "ff"
    p = ff / "original_sequences" / "actors" / "c23" / "videos" / "01__exit_phone_room.mp4"
    p.parent.mkdir(parents=True)
    p.write_bytes(b"x")
    key = str(tmp_path / "shared.key.json")
    assert index(drive, tmp_path / "dfd.parquet", "--anonymise", "--key", key) == 0
    assert index(ff, tmp_path / "ff.parquet", "--anonymise", "--key", key, dataset="ffpp") == 0
    dfd_groups = set(
        "+".join(read_manifest(tmp_path / "dfd.parquet").table["identity_group"]).split("+")
    )
    ff_group = read_manifest(tmp_path / "ff.parquet").table["identity_group"].iloc[0]
    assert ff_group in dfd_groups  # anon(dfd:01) in both
    names = json.loads(Path(key).read_text())["names"]
    assert {"dfd:01", "dfd:07"} <= {v["value"] for v in names.values() if v["kind"] == "identity"}


def test_name_columns_are_hashed_and_restored(tmp_path: Path) -> None:
    root = tmp_path / "cdf"
    for rel_path in ("Celeb-real/id1_0007.mp4", "Celeb-synthesis/id1_id0_0007.mp4"):
        (root / rel_path).parent.mkdir(parents=True, exist_ok=True)
        (root / rel_path).write_bytes(b"")
    out = tmp_path / "cdf.parquet"
    assert index(root, out, "--anonymise", dataset="celebdf-v2") == 0
    table = read_manifest(out).table
    fake = table[table["label"] == 1].iloc[0]
    assert HEX.match(fake["original"]) and fake["subset"] == "Celeb-synthesis"
    back = reidentify(table, tmp_path / "cdf.key.json")
    assert set(back["original"].dropna()) == {"id1_0007.mp4"}


def test_stale_links_go_and_usage_errors(drive: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "dfd.parquet"
    assert index(drive, out, "--anonymise") == 0
    links = out.with_name("dfd.videos")
    (drive / "DFD_REAL" / "03__walk.mp4").unlink()
    assert index(drive, out, "--anonymise") == 0
    assert len(list(links.iterdir())) == len(REAL) + len(FAKE) - 1
    capsys.readouterr()
    assert index(drive, tmp_path / "x.parquet", "--key", str(tmp_path / "k.json")) == 2
    assert "--key goes with --anonymise" in capsys.readouterr().err
    bad = tmp_path / "bad.key.json"
    bad.write_text("{}")
    assert index(drive, tmp_path / "y.parquet", "--anonymise", "--key", str(bad)) == 2
    assert "not a usable anonymisation key file" in capsys.readouterr().err


def test_a_layout_error_writes_no_key(tmp_path: Path) -> None:
    root = tmp_path / "d"
    (root / "DFD_REAL").mkdir(parents=True)
    (root / "DFD_REAL" / "01__walk.mp4").write_bytes(b"")
    assert index(root, tmp_path / "m.parquet", "--anonymise") == 2  # no DFD_FAKE/
    assert not (tmp_path / "m.key.json").exists() and not (tmp_path / "m.parquet").exists()


def test_hashes_are_hmac_sha256_of_kind_and_value() -> None:
    import hashlib
    import hmac

    anon = Anonymiser(bytes(range(32)))
    h = anon.digest("identity", "dfd:01")
    assert h == hmac.new(bytes(range(32)), b"identity\x1fdfd:01", hashlib.sha256).hexdigest()[:16]
    assert anon.digest("id", "dfd:01") != h  # the kind is part of the message
    assert Anonymiser(bytes(32)).digest("identity", "dfd:01") != h
    with pytest.raises(DatasetError, match="at least 16 bytes"):
        Anonymiser(b"short")


def test_real_videos_in_the_kaggle_layout_probe_through_the_links(samples, tmp_path: Path) -> None:
    """The sample c23 videos laid out as seed 000's Kaggle copy, indexed, anonymised, probed."""
    base = tmp_path / "FaceForensics++_C23"
    for video in sorted((samples / "FaceForensics++").rglob("c23/videos/*.mp4")):
        parts = video.relative_to(samples / "FaceForensics++").parts
        folder = "original" if parts[0] == "original_sequences" else parts[1]
        (base / folder).mkdir(parents=True, exist_ok=True)
        (base / folder / video.name).symlink_to(video)
    out = tmp_path / "ff.parquet"
    code = main(["datasets", "index", str(base), "--dataset", "ffpp", "--out", str(out), "-q",
                 "--anonymise", "--probe", "--workers", "1"])  # fmt: skip
    assert code == 0
    table = read_manifest(out).table
    assert len(table) == 7 and set(table["compression"]) == {"c23"}
    assert table["readable"].all() and table["error"].isna().all()
    assert (table["label"] == 1).sum() == 4 and (table["fps"] > 0).all()
    back = reidentify(table, tmp_path / "ff.key.json")
    group = dict(zip(back["path"], back["identity_group"]))
    assert group["original/519.mp4"] == group["Deepfakes/519_515.mp4"] == "ffpp:515+ffpp:519"
