"""Every registered dataset adapter, by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakescope.datasets import DatasetAdapter, IndexReport, create_adapter, list_datasets
from fakescope.datasets.base import LayoutGaps
from fakescope.errors import ConfigError, DatasetError


def test_the_seed_layouts_are_registered() -> None:
    assert {"ffpp", "celebdf-v1", "celebdf-v2", "dfd", "generic"} <= set(list_datasets())
    with pytest.raises(ConfigError, match=r"unknown dataset 'nope'.*dfd"):
        create_adapter("nope")


@pytest.mark.parametrize("name", list_datasets())
def test_every_adapter_scans_an_empty_folder_to_nothing(name: str, tmp_path: Path) -> None:
    adapter = create_adapter(name)
    assert isinstance(adapter, DatasetAdapter) and adapter.name == name
    assert list(adapter.scan(tmp_path, IndexReport())) == []


def test_layout_gaps_are_one_line_with_counts_and_examples(tmp_path: Path) -> None:
    gaps = LayoutGaps("X", tmp_path)
    gaps.check()  # nothing missing: no error
    gaps.missing("a/real/", "the real videos")
    for i in range(5):
        gaps.unparsed("a/fake", f"a/fake/{i}.mp4", "<n>_<m>.mp4")
    with pytest.raises(DatasetError) as err:
        gaps.check()
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{tmp_path}: the X layout indexes only partly")
    assert "no a/real/ with videos (the real videos)" in msg
    assert "5 file(s) in a/fake/ not named <n>_<m>.mp4: a/fake/0.mp4, a/fake/1.mp4" in msg
    assert "a/fake/2.mp4 and 2 more" in msg and "a/fake/3.mp4" not in msg
