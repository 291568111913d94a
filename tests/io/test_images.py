"""Still images read as one-frame videos; a GIF reads as a video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakescope import errors
from fakescope.inputs import collect_inputs
from fakescope.io import VideoReader, probe, read_frames
from tests.conftest import face_photo


def write_image(path: Path, image: np.ndarray, **save: object) -> Path:
    Image.fromarray(image).save(path, **save)
    return path


def write_gif(path: Path, n: int = 5) -> Path:
    """An animated GIF of the face photo drifting, 100 ms per frame."""
    base = face_photo()[::2, ::2]
    frames = [Image.fromarray(np.roll(base, 8 * i, axis=1)) for i in range(n)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".webp", ".tiff"])
def test_a_still_image_is_one_frame_at_time_zero(tmp_path, suffix):
    photo = face_photo()
    path = write_image(tmp_path / f"astronaut{suffix}", photo)
    with VideoReader(path) as reader:
        assert reader.still
        assert len(reader.index) == 1 and reader.index.complete
        frames = list(reader.frames([0, 5]))  # past the end: skipped with a warning
        assert reader.warnings
    assert [(f.index, f.timestamp) for f in frames] == [(0, 0.0)]
    assert frames[0].image.shape == photo.shape and frames[0].image.dtype == np.uint8
    if suffix in (".png", ".bmp", ".tiff"):  # lossless: the very pixels
        assert np.array_equal(frames[0].image, photo)
    else:
        assert np.abs(frames[0].image.astype(int) - photo).mean() < 6
    info = probe(path)
    assert (info.width, info.height, info.frame_count) == (512, 512, 1)
    assert info.frame_count_exact and info.duration == 0.0 and not info.has_audio
    sample = read_frames(path, "uniform:32")
    assert len(sample.frames) == 1 and sample.frame_count == 1


def test_exif_orientation_is_applied(tmp_path):
    photo = face_photo()[:, :384]  # not square: the turn shows in the size
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = write_image(tmp_path / "phone.jpg", photo, exif=exif, quality=95)
    sample = read_frames(path)
    image = sample.frames[0].image
    assert image.shape == (384, 512, 3)
    assert (sample.info.width, sample.info.height, sample.info.rotation) == (512, 384, 270)
    expected = np.rot90(photo, -1)
    assert np.abs(image.astype(int) - expected).mean() < 6
    assert np.abs(image.astype(int) - np.rot90(photo, 1)).mean() > 20  # the other way is wrong


def test_a_gif_is_a_video(tmp_path):
    path = write_gif(tmp_path / "anim.gif", n=5)
    with VideoReader(path) as reader:
        assert not reader.still
        assert len(reader.index) == 5
    sample = read_frames(path, "uniform:32")
    assert [f.index for f in sample.frames] == [0, 1, 2, 3, 4]
    assert [f.timestamp for f in sample.frames] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    first, last = sample.frames[0].image, sample.frames[-1].image
    assert not np.array_equal(first, last)  # the frames differ (the photo drifts)


def test_damaged_images_are_one_line_input_errors(tmp_path):
    good = write_image(tmp_path / "good.png", face_photo())
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:50_000])
    text = tmp_path / "notes.jpg"
    text.write_text("not an image\n" * 20)
    for path in (cut, text):
        with pytest.raises(errors.InputError) as info:
            read_frames(path)
        assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_folders_yield_images_and_gifs_beside_videos(tmp_path):
    (tmp_path / "a").mkdir()
    write_image(tmp_path / "a" / "one.PNG", face_photo())
    write_image(tmp_path / "two.jpeg", face_photo())
    write_gif(tmp_path / "three.gif", n=2)
    (tmp_path / "notes.txt").write_text("x")
    found = [Path(p).name for p in collect_inputs([str(tmp_path)])]
    assert sorted(found) == ["one.PNG", "three.gif", "two.jpeg"]
