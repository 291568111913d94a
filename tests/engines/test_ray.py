"""The Ray engine on a local Ray instance gives the same outputs as the local engine."""

import json
from pathlib import Path

import pytest

from fakescope.cli.main import main

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray instance (2 CPUs) for the module, in a short temp dir (socket paths)."""
    ray = pytest.importorskip("ray")
    import tempfile

    tmp = tempfile.mkdtemp(prefix="fsray", dir="/tmp")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=tmp)
    yield
    ray.shutdown()
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)


def test_ray_and_local_engines_agree_on_sample_videos(samples, tmp_path):
    videos = (
        sorted((samples / "DFDC").rglob("*.mp4"))
        + sorted((samples / "FaceForensics++/original_sequences/youtube/c40/videos").glob("*.mp4"))[
            :3
        ]
    )
    common = ["--frames", "8", "-q"]
    assert (
        main(
            [
                "extract",
                *map(str, videos),
                "--out",
                str(tmp_path / "local"),
                "--workers",
                "2",
                *common,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "extract",
                *map(str, videos),
                "--out",
                str(tmp_path / "ray"),
                "--engine",
                "ray",
                "--workers",
                "2",
                *common,
            ]
        )
        == 0
    )

    def load(name: str) -> tuple[list, list]:
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        rows = [
            (v["path"], v["status"], v["frames_with_face"], v["tracks"], v["cache_key"])
            for v in summary["videos"]
        ]
        metas = sorted(
            json.dumps(json.loads(p.read_text())["tracks"], sort_keys=True)
            for p in Path(summary["cache"]).glob("v1/*/*/meta.json")
        )
        return rows, metas

    assert load("local") == load("ray")
    streamed = (tmp_path / "ray" / "results.jsonl").read_text().splitlines()
    assert len(streamed) == len(videos)


def test_ray_engine_reports_errors_per_item(tmp_path):
    from fakescope.engines import create_engine

    got = dict(create_engine("ray", 2).map(_factory, [1, 2, 3], (10,)))
    assert got[1] == 11 and got[3] == 13
    assert isinstance(got[2], ValueError)


def _factory(offset):
    def fn(x):
        if x == 2:
            raise ValueError("two")
        return x + offset

    return fn
