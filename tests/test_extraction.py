import itertools
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from fakescope.cache import CropCache
from fakescope.extraction import Extractor, ExtractSettings
from fakescope.faces import CropSettings
from fakescope.io import read_frames
from tests.conftest import write_video


def test_extract_face_clip(face_clip, tmp_path):
    ex = Extractor(ExtractSettings(sampling="uniform:8"), tmp_path / "cache")
    r = ex(face_clip)
    assert r.status == "ok" and not r.cached
    assert r.frames_sampled == 8 and r.frames_with_face == 8 and r.tracks == 1
    meta = r.entry.meta
    track = meta["tracks"][0]
    assert len(track["files"]) == 8
    assert track["frame_indices"] == [f["index"] for f in meta["frames"]]
    crops = r.entry.load_crops(0)
    assert crops.shape == (8, 256, 256, 3)
    # boxes are in frame pixels and the crop keypoints inside the crop
    kp = np.array(track["crop_keypoints"])
    assert kp.shape == (8, 5, 2) and kp.min() > 0 and kp.max() < 256
    assert meta["video"]["width"] == 320

    again = ex(face_clip)
    assert again.cached and again.cache_key == r.cache_key


def test_crops_come_from_the_sampled_frames(face_clip, tmp_path):
    settings = ExtractSettings(sampling="uniform:4", crop=CropSettings(margin=1.3, size=128))
    r = Extractor(settings, tmp_path)(face_clip)
    frames = {f.index: f.image for f in read_frames(face_clip, "uniform:4").frames}
    track = r.entry.meta["tracks"][0]
    import cv2

    checked = 0
    for k, (idx, box) in enumerate(zip(track["frame_indices"], track["boxes"])):
        x1, y1, x2, y2 = box  # rounded to 0.01 px in the metadata: allow a 1-px shift
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        crop = r.entry.load_crops(0)[k].astype(int)
        errors = []
        for side, dx, dy in itertools.product(
            {round(max(x2 - x1, y2 - y1) * 1.3 + d) for d in (-0.02, 0, 0.02)},
            (-1, 0, 1),
            (-1, 0, 1),
        ):
            x0, y0 = round(cx - side / 2) + dx, round(cy - side / 2) + dy
            window = frames[idx][max(0, y0) : y0 + side, max(0, x0) : x0 + side]
            if window.shape[:2] == (side, side) and x0 >= 0 and y0 >= 0:
                interp = cv2.INTER_AREA if side > 128 else cv2.INTER_CUBIC
                expected = cv2.resize(window, (128, 128), interpolation=interp)
                errors.append(np.abs(expected.astype(int) - crop).mean())
        if errors:
            checked += 1
            assert min(errors) < 0.5
    assert checked >= 2


def test_settings_change_the_key(face_clip, tmp_path):
    a = Extractor(ExtractSettings(sampling="uniform:4"), tmp_path)
    b = Extractor(ExtractSettings(sampling="uniform:4", crop=CropSettings(size=128)), tmp_path)
    c = Extractor(
        ExtractSettings(sampling="uniform:4", detector_options=(("score_threshold", 0.9),)),
        tmp_path,
    )
    keys = {a.cache_key(face_clip), b.cache_key(face_clip), c.cache_key(face_clip)}
    assert len(keys) == 3


def test_no_face_is_a_result(make_video, tmp_path):
    path = make_video("plain.mp4", face=False, n_frames=12)
    r = Extractor(ExtractSettings(), tmp_path / "c")(path)
    assert r.status == "no_face" and r.error is None
    assert r.frames_sampled == 12 and r.tracks == 0
    assert "no face" in r.entry.meta["reason"]


@pytest.mark.slow
def test_killed_run_leaves_no_partial_entry_and_resumes(tmp_path):
    clips = [
        write_video(tmp_path / f"v{i}.mp4", n_frames=60, width=640, height=480, variant=i)
        for i in range(6)
    ]
    out = tmp_path / "out"
    cache = tmp_path / "cache"
    cmd = [
        sys.executable,
        "-m",
        "fakescope",
        "extract",
        *map(str, clips),
        "--out",
        str(out),
        "--cache",
        str(cache),
        "--frames",
        "32",
        "-q",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(cache.glob("v1/*/*/meta.json")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = list(cache.glob("v1/*/*"))
    assert 1 <= len(done_before) < 6, "the kill should land mid-batch"
    for entry in done_before:  # every visible entry is complete
        meta = json.loads((entry / "meta.json").read_text())
        for track in meta["tracks"]:
            for name in track["files"]:
                assert (entry / "crops" / name).is_file()
    assert not (out / "summary.json").exists()  # the summary is written once, at the end
    rerun = subprocess.run([*cmd, "--json"], capture_output=True, text=True, check=True)
    summary = json.loads(rerun.stdout)
    cached = [v["cached"] for v in summary["videos"]]
    assert sum(cached) == len(done_before)
    assert all(v["status"] == "ok" for v in summary["videos"])
    assert CropCache(cache).clean_tmp(older_than=0) <= 1  # at most the killed writer's folder


def test_a_still_image_is_one_frame_with_its_face_and_a_gif_is_a_video(tmp_path):
    import cv2
    from PIL import Image

    from tests.conftest import face_photo

    photo = face_photo()
    png, jpg = tmp_path / "astronaut.png", tmp_path / "astronaut.jpg"
    cv2.imwrite(str(png), photo[:, :, ::-1])
    cv2.imwrite(str(jpg), photo[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    ex = Extractor(ExtractSettings(sampling="uniform:32"), tmp_path / "cache")
    for path in (png, jpg):
        r = ex(path)
        assert r.status == "ok", r.error
        assert (r.frames_sampled, r.frames_with_face, r.tracks) == (1, 1, 1)
        meta = r.entry.meta
        assert meta["source"]["still"] is True and meta["frame_count"] == 1
        assert meta["frames"] == [{"index": 0, "timestamp": 0.0, "segment": 0}]
        track = meta["tracks"][0]
        assert track["frame_indices"] == [0] and len(track["files"]) == 1
        x1, y1, x2, y2 = track["boxes"][0]
        assert 150 < (x1 + x2) / 2 < 300 and 60 < (y1 + y2) / 2 < 200  # the astronaut's face
        assert r.entry.load_crops(0).shape == (1, 256, 256, 3)

    frames = [Image.fromarray(np.roll(photo, 6 * i, axis=1)) for i in range(6)]
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=80, loop=0)
    r = ex(gif)
    assert r.status == "ok", r.error
    assert r.frames_sampled == 6 and r.tracks == 1
    assert r.entry.meta["source"]["still"] is False
    assert len(r.entry.meta["tracks"][0]["files"]) == 6  # one face tracked over the frames
