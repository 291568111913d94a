import numpy as np
import pandas as pd
import pytest

from fakescope.datasets import (
    VideoRecord,
    assign_splits,
    build_manifest,
    check_leakage,
    dataset_stats,
    identity_groups,
    parse_ratios,
    read_manifest,
    write_manifest,
)
from fakescope.errors import DatasetError


def test_identity_groups_are_transitive():
    groups = identity_groups([("a",), ("a", "b"), ("b", "c"), ("d",), ("c",), ()])
    assert groups[0] == groups[1] == groups[2] == groups[4] == "a+b+c"
    assert groups[3] == "d" and groups[5] not in groups[:5]


def records(n_people: int = 40, seed: int = 0) -> list[VideoRecord]:
    rng = np.random.default_rng(seed)
    out = []
    for p in range(n_people):
        out.append(
            VideoRecord(f"d/{p}", f"real/{p}.mp4", 0, "d", "original", identities=(f"d:{p}",))
        )
        for k in range(int(rng.integers(1, 5))):
            q = (p + 1 + k) % n_people if k == 0 else p
            out.append(
                VideoRecord(
                    f"d/{p}_{k}",
                    f"fake/{p}_{k}.mp4",
                    1,
                    "d",
                    "m",
                    identities=(f"d:{p}", f"d:{q}") if k == 0 and p % 7 == 0 else (f"d:{p}",),
                )
            )
    return out


def test_split_is_identity_level_stratified_and_seeded():
    table = build_manifest(records())
    a = assign_splits(table, (0.6, 0.2, 0.2), seed=1)
    b = assign_splits(table, (0.6, 0.2, 0.2), seed=1)
    c = assign_splits(table, (0.6, 0.2, 0.2), seed=2)
    assert a["split"].tolist() == b["split"].tolist()
    assert a["split"].tolist() != c["split"].tolist()
    assert a.groupby("identity_group")["split"].nunique().max() == 1
    share = a["split"].value_counts(normalize=True)
    assert abs(share["train"] - 0.6) < 0.1 and abs(share["test"] - 0.2) < 0.1
    fake_frac = a.groupby("split")["label"].mean()
    assert fake_frac.max() - fake_frac.min() < 0.15  # stratified by label


def test_official_splits_are_kept_and_extended_to_their_group():
    recs = [
        VideoRecord("x/1", "1.mp4", 0, "x", "o", identities=("x:a",), split="test"),
        VideoRecord("x/2", "2.mp4", 1, "x", "m", identities=("x:a", "x:b")),
        VideoRecord("x/3", "3.mp4", 0, "x", "o", identities=("x:c",)),
    ]
    out = assign_splits(build_manifest(recs), (1.0, 0.0, 0.0))
    assert out["split"].tolist() == ["test", "test", "train"]


def test_leaky_official_splits_fail_loudly():
    recs = [
        VideoRecord("x/1", "1.mp4", 0, "x", "o", identities=("x:a",), split="train"),
        VideoRecord("x/2", "2.mp4", 1, "x", "m", identities=("x:a",), split="test"),
    ]
    table = build_manifest(recs)
    with pytest.raises(DatasetError, match="official splits put identity group x:a in test/train"):
        assign_splits(table)
    with pytest.raises(DatasetError, match="identity leakage"):
        check_leakage(table)
    assert assign_splits(table, use_official=False)["split"].nunique() == 1


@pytest.mark.parametrize("bad", ["0.5,0.5", "0.7,0.2,0.2", "a,b,c", "-0.1,0.6,0.5"])
def test_bad_ratios(bad):
    with pytest.raises(DatasetError, match="ratios"):
        parse_ratios(bad)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_manifest_round_trip_and_moves_with_its_data(tmp_path, suffix):
    data = tmp_path / "data"
    (data / "real").mkdir(parents=True)
    table = build_manifest(records(5))
    out = write_manifest(table, data / f"manifest{suffix}", data, {"dataset": "d"})
    moved = tmp_path / "elsewhere"
    data.rename(moved)
    m = read_manifest(moved / f"manifest{suffix}")
    assert m.root == moved.resolve()
    assert m.info["dataset"] == "d"
    pd.testing.assert_frame_equal(
        m.table[["video_id", "path", "label", "identity_group"]].astype(str),
        table[["video_id", "path", "label", "identity_group"]].astype(str),
    )
    assert m.absolute_paths()[0].startswith(str(moved))
    del out


def test_duplicate_ids_rejected():
    r = VideoRecord("x/1", "1.mp4", 0, "x", "o")
    with pytest.raises(DatasetError, match="duplicate video_id"):
        build_manifest([r, r])


def test_stats_counts_and_balance():
    table = assign_splits(build_manifest(records(20)), seed=0)
    data = dataset_stats(table)
    assert data["videos"] == len(table) == data["real"] + data["fake"]
    total = sum(row["videos"] for row in data["counts"])
    assert total == len(table)
    bal = {row["split"]: row for row in data["balance"]}
    assert sum(row["total"] for row in bal.values()) == len(table)
    assert all(0 < row["fake_fraction"] < 1 for row in bal.values())
