import json
import os
import time

import numpy as np
import pytest

from fakescope.cache import CropCache, file_fingerprint, settings_key


def test_fingerprint_follows_content_not_name(tmp_path):
    a = tmp_path / "a.bin"
    b = tmp_path / "b.bin"
    a.write_bytes(b"x" * 1000)
    b.write_bytes(b"x" * 1000)
    assert file_fingerprint(a) == file_fingerprint(b)
    b.write_bytes(b"x" * 999 + b"y")
    assert file_fingerprint(a) != file_fingerprint(b)


def test_key_covers_every_setting():
    base = {"sampling": "uniform:32", "crop": {"margin": 1.3, "size": 256}}
    k = settings_key("f" * 40, base)
    assert k == settings_key("f" * 40, dict(reversed(list(base.items()))))  # order-free
    assert k != settings_key("f" * 40, {**base, "sampling": "uniform:16"})
    assert k != settings_key("f" * 40, {**base, "crop": {"margin": 1.5, "size": 256}})
    assert k != settings_key("e" * 40, base)


def test_put_get_round_trip_is_lossless(tmp_path):
    cache = CropCache(tmp_path)
    rng = np.random.default_rng(0)
    crop = rng.integers(
        0, 256, (64, 64, 3), dtype=np.uint8
    )  # noise: any lossy codec would alter it
    meta = {"status": "ok", "tracks": [{"track_id": 0, "files": ["t000_f000001.png"]}]}
    entry = cache.put("ab" * 32, meta, {"t000_f000001.png": crop})
    again = cache.get("ab" * 32)
    assert again is not None and again.meta["status"] == "ok"
    assert np.array_equal(again.load_crops(0)[0], crop)
    assert entry.root == again.root
    assert cache.get("cd" * 32) is None


def test_failed_write_leaves_no_entry_and_no_temp(tmp_path):
    cache = CropCache(tmp_path)
    with pytest.raises(RuntimeError), cache.writer("ef" * 32) as w:
        w.add_crop("a.png", np.zeros((8, 8, 3), np.uint8))
        raise RuntimeError("killed half-way")
    assert cache.get("ef" * 32) is None
    assert list((tmp_path / "tmp").iterdir()) == []


def test_unreadable_meta_is_a_miss(tmp_path):
    cache = CropCache(tmp_path)
    entry = cache.put("12" * 32, {"status": "ok"}, {})
    (entry.root / "meta.json").write_text("{broken")
    assert cache.get("12" * 32) is None


def test_concurrent_writers_of_one_key_keep_one_entry(tmp_path):
    cache = CropCache(tmp_path)
    w1 = cache.writer("34" * 32)
    w2 = cache.writer("34" * 32)
    e1 = w1.commit({"who": 1})
    e2 = w2.commit({"who": 2})
    assert e1.root == e2.root
    assert json.loads((e1.root / "meta.json").read_text())["who"] == 1
    assert not w2.tmp.exists()


def test_clean_tmp_only_removes_stale_leftovers(tmp_path):
    cache = CropCache(tmp_path)
    old = cache.writer("56" * 32).tmp
    new = cache.writer("78" * 32).tmp
    past = time.time() - 7200
    os.utime(old, (past, past))
    assert cache.clean_tmp() == 1
    assert not old.exists() and new.exists()
