"""Extraction on the real benchmark clips in ../shared/data/samples (skipped when absent)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from fakescope.cli.main import main
from fakescope.io import VideoReader, probe

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def extracted(samples: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("samples_extract")
    code = main(
        ["extract", str(samples), "--out", str(out), "--frames", "32", "--workers", "2", "-q"]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    rows = {
        str(Path(v["path"]).resolve().relative_to(samples.resolve())): v for v in summary["videos"]
    }
    for v in rows.values():
        v["meta_path"] = next(Path(summary["cache"]).glob(f"v1/*/{v['cache_key']}/meta.json"))
    return rows


def test_every_labelled_sample_is_extracted(samples, extracted):
    with open(samples / "labels.csv") as fh:
        labelled = [row["path"] for row in csv.DictReader(fh)]
    assert labelled and set(labelled) <= set(extracted)
    assert all(extracted[p]["status"] == "ok" for p in labelled)


@pytest.mark.parametrize("prefix", ["FaceForensics++", "DFDC"])
def test_faces_in_at_least_95_percent_of_sampled_frames(extracted, prefix):
    rows = [v for k, v in extracted.items() if k.startswith(prefix)]
    assert rows
    sampled = sum(v["frames_sampled"] for v in rows)
    with_face = sum(v["frames_with_face"] for v in rows)
    assert with_face / sampled >= 0.95, f"{prefix}: faces in {with_face}/{sampled} sampled frames"
    for v in rows:  # and no single video is badly off
        assert v["frames_with_face"] >= 0.8 * v["frames_sampled"], v


def _matching_original(samples: Path, fake: Path) -> Path | None:
    """The pristine video this fake was made from: same frame count and size, and the same
    scene away from the face (FF++ names do not always say which id provides the frames, and
    some fakes were made from a longer cut of the original than the one shipped)."""
    comp = fake.parts[-3]
    info = probe(fake)
    with VideoReader(fake) as r:
        first = next(r.frames([0])).image.astype(np.float32)
    for ident in fake.stem.split("_"):
        orig = (
            samples
            / "FaceForensics++/original_sequences/youtube"
            / comp
            / "videos"
            / f"{ident}.mp4"
        )
        if not orig.exists():
            continue
        o = probe(orig)
        if (o.frame_count, o.width, o.height) != (info.frame_count, info.width, info.height):
            continue
        with VideoReader(orig) as r:
            other = next(r.frames([0])).image.astype(np.float32)
        if np.median(np.abs(first - other)) < 6:
            return orig
    return None


def test_crops_of_fakes_cover_the_manipulated_face(samples, extracted):
    """Where a fake differs from its original is the manipulated face: the strongest difference
    must lie inside the first track's crop square, which must hold most of the difference."""
    checked, peaks_inside, coverages = 0, [], []
    for rel, row in sorted(extracted.items()):
        if "manipulated_sequences" not in rel:
            continue
        fake = samples / rel
        orig = _matching_original(samples, fake)
        if orig is None:
            continue
        track = json.loads(row["meta_path"].read_text())["tracks"][0]
        picks = track["frame_indices"][::8]
        boxes = dict(zip(track["frame_indices"], track["boxes"]))
        with VideoReader(orig) as r:
            orig_frames = {f.index: f.image for f in r.frames(picks)}
        with VideoReader(fake) as r:
            fake_frames = {f.index: f.image for f in r.frames(picks)}
        for i in picks:
            diff = np.abs(
                orig_frames[i].astype(np.float32) - fake_frames[i].astype(np.float32)
            ).mean(2)
            diff = cv2.GaussianBlur(diff, (0, 0), 9)  # compression noise is fine-grained
            changed = diff > max(0.5 * float(diff.max()), 4.0)
            x1, y1, x2, y2 = boxes[i]
            half = max(x2 - x1, y2 - y1) * 1.3 / 2
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            square = np.zeros_like(changed)
            square[
                max(0, int(cy - half)) : int(cy + half), max(0, int(cx - half)) : int(cx + half)
            ] = True
            py, px = np.unravel_index(int(np.argmax(diff)), diff.shape)
            peaks_inside.append(bool(square[py, px]))
            coverages.append((changed & square).sum() / max(1, changed.sum()))
        checked += 1
    assert checked >= 10
    assert np.mean(peaks_inside) >= 0.95, (
        f"strongest change inside the crop in {np.mean(peaks_inside):.0%}"
    )
    assert np.mean(coverages) >= 0.9, (
        f"crops hold {np.mean(coverages):.0%} of the change on average"
    )
