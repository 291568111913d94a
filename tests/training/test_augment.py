"""Augmentations: identity, each one on its own, clip consistency, determinism."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fakescope.errors import ConfigError
from fakescope.training import AugmentConfig, augment_clip, augment_image
from tests.conftest import face_photo

PROBABILITIES = ["p_flip", "p_color", "p_blur", "p_noise", "p_jpeg", "p_downscale", "p_erase"]
EVERYTHING = replace(AugmentConfig(), **{p: 1.0 for p in PROBABILITIES})


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.ascontiguousarray(face_photo()[40:240, 150:310])  # 200x160: not square


def test_defaults_are_mild() -> None:
    c = AugmentConfig()
    assert (c.p_jpeg, c.jpeg_quality, c.p_blur, c.p_noise) == (0.3, (60, 100), 0.1, 0.1)
    assert (c.p_downscale, c.downscale, c.p_flip, c.p_color, c.p_erase) == (
        0.2, (0.5, 0.9), 0.5, 0.3, 0.1,
    )  # fmt: skip
    assert not c.disabled and AugmentConfig.none().disabled


def test_identity(image: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    out = augment_image(image, rng, AugmentConfig.none())
    assert np.array_equal(out, image) and not np.shares_memory(out, image)
    clip = np.stack([image, image[::-1]])
    out_clip = augment_clip(clip, rng, AugmentConfig.none())
    assert np.array_equal(out_clip, clip) and not np.shares_memory(out_clip, clip)


@pytest.mark.parametrize("name", PROBABILITIES)
def test_each_augmentation_changes_the_image(image: np.ndarray, name: str) -> None:
    config = replace(AugmentConfig.none(), **{name: 1.0})
    for seed in range(4):
        out = augment_image(image, np.random.default_rng(seed), config)
        assert out.shape == image.shape and out.dtype == np.uint8
        assert not np.array_equal(out, image), (name, seed)


def test_flip_is_a_mirror_and_erase_is_a_rectangle(image: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    flipped = augment_image(image, rng, replace(AugmentConfig.none(), p_flip=1.0))
    assert np.array_equal(flipped, image[:, ::-1])
    erased = augment_image(image, rng, replace(AugmentConfig.none(), p_erase=1.0))
    rows, cols = np.nonzero((erased != image).any(axis=2))
    area = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    assert 0.01 * image.shape[0] * image.shape[1] <= area <= 0.16 * image.shape[0] * image.shape[1]
    unchanged = np.ones(image.shape[:2], bool)
    unchanged[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = False
    assert np.array_equal(erased[unchanged], image[unchanged])


def test_clip_of_identical_frames_stays_identical(image: np.ndarray) -> None:
    clip = np.stack([image] * 4)
    for seed in range(3):
        out = augment_clip(clip, np.random.default_rng(seed), EVERYTHING)
        assert out.shape == clip.shape and out.dtype == np.uint8
        assert not np.array_equal(out[0], image)
        for t in range(1, 4):
            assert np.array_equal(out[t], out[0]), (seed, t)


def test_clip_frames_get_the_draw_of_a_single_image(image: np.ndarray) -> None:
    # colour jitter pivots on the clip's mean, so leave it out of this frame-by-frame check
    config = replace(EVERYTHING, p_color=0.0)
    clip = np.stack([image, np.roll(image, 17, axis=1), image[::-1].copy()])
    for seed in range(3):
        out = augment_clip(clip, np.random.default_rng(seed), config)
        for t in range(len(clip)):
            single = augment_image(clip[t], np.random.default_rng(seed), config)
            assert np.array_equal(out[t], single), (seed, t)


def test_deterministic_given_the_generator(image: np.ndarray) -> None:
    a = augment_image(image, np.random.default_rng(5), EVERYTHING)
    b = augment_image(image, np.random.default_rng(5), EVERYTHING)
    assert np.array_equal(a, b)
    outs = {augment_image(image, np.random.default_rng(s), EVERYTHING).tobytes() for s in range(6)}
    assert len(outs) == 6
    clip = np.stack([image, image[::-1]])
    assert np.array_equal(
        augment_clip(clip, np.random.default_rng(1)), augment_clip(clip, np.random.default_rng(1))
    )


def test_input_not_modified(image: np.ndarray) -> None:
    img = image.copy()
    clip = np.stack([image, image[:, ::-1]])
    clip_copy = clip.copy()
    for seed in range(5):
        augment_image(img, np.random.default_rng(seed), EVERYTHING)
        augment_clip(clip, np.random.default_rng(seed), EVERYTHING)
    assert np.array_equal(img, image) and np.array_equal(clip, clip_copy)


def test_default_config_stays_close_to_the_input(image: np.ndarray) -> None:
    diffs = []
    for seed in range(20):
        out = augment_image(image, np.random.default_rng(seed))
        if np.array_equal(out, image[:, ::-1]) or np.array_equal(out, image):
            continue
        ref = (
            image[:, ::-1]
            if np.abs(out.astype(int) - image[:, ::-1]).mean()
            < np.abs(out.astype(int) - image).mean()
            else image
        )
        diffs.append(np.abs(out.astype(int) - ref).mean())
    assert diffs and np.median(diffs) < 12  # mild: a few grey levels on average


def test_bad_config_and_input(image: np.ndarray) -> None:
    with pytest.raises(ConfigError):
        AugmentConfig(p_jpeg=2.0)
    with pytest.raises(ConfigError):
        AugmentConfig(jpeg_quality=(90, 60))
    with pytest.raises(ConfigError):
        AugmentConfig(downscale=(0.0, 0.5))
    config = AugmentConfig(jpeg_quality=[70, 90], blur_sigma=[1, 2])  # type: ignore[arg-type]
    assert config.jpeg_quality == (70, 90) and config.blur_sigma == (1.0, 2.0)
    assert config.to_dict()["jpeg_quality"] == [70, 90]
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        augment_image(image.astype(np.float32), rng)
    with pytest.raises(ValueError):
        augment_clip(image, rng)


@pytest.mark.parametrize("factor", ["brightness", "contrast", "saturation", "hue"])
def test_each_colour_factor_acts(image: np.ndarray, factor: str) -> None:
    only = {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.0, factor: 0.3}
    config = replace(AugmentConfig.none(), p_color=1.0, **only)
    still = replace(config, **{factor: 0.0})
    rng_seed = 2
    out = augment_image(image, np.random.default_rng(rng_seed), config)
    base = augment_image(image, np.random.default_rng(rng_seed), still)  # HSV round trip only
    assert np.abs(out.astype(int) - base).mean() > 1.0


def test_h264_intra_codes_each_frame_alone_with_stronger_loss_at_higher_crf():
    from fakescope.training.augment import h264_intra
    from tests.conftest import face_photo

    face = face_photo()[100:199, 150:251]  # odd sizes: padded for 4:2:0, cropped back
    clip = np.stack([face, face[::-1].copy()])
    errors = {}
    for crf in (18, 40):
        out = h264_intra(clip, crf)
        assert out.shape == clip.shape and out.dtype == np.uint8
        errors[crf] = float(np.abs(out.astype(int) - clip).mean())
        # intra only: a frame coded alone decodes to the same pixels as inside the clip
        assert np.array_equal(h264_intra(clip[1:], crf)[0], out[1])
    assert 0 < errors[18] < errors[40]


def test_h264_augmentation_is_drawn_only_when_enabled():
    rng = np.random.default_rng(3)
    image = np.full((64, 64, 3), 128, np.uint8)
    image[16:48, 16:48] = 30
    assert np.array_equal(
        augment_image(image, np.random.default_rng(1), AugmentConfig.none()), image
    )
    cfg = AugmentConfig(**{**AugmentConfig.none().to_dict(), "p_h264": 1.0, "h264_crf": [45, 45]})
    out = augment_image(image, rng, cfg)
    assert out.shape == image.shape and not np.array_equal(out, image)
    with pytest.raises(ConfigError, match="h264_crf"):
        AugmentConfig(h264_crf=(20, 60))


def test_grayscale_gives_torchvision_luma_in_every_channel(image: np.ndarray) -> None:
    config = replace(AugmentConfig.none(), p_gray=1.0)
    assert not config.disabled and AugmentConfig().p_gray == 0.0
    out = augment_image(image, np.random.default_rng(0), config)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    luma = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(out[..., 0].astype(np.float64) - luma).max() <= 1.0
    # one draw per clip: every frame of a clip is grey, or none is
    clip = np.stack([image, image[::-1].copy(), np.roll(image, 9, axis=1)])
    half = replace(AugmentConfig.none(), p_gray=0.5)
    grey_counts = set()
    for seed in range(12):
        res = augment_clip(clip, np.random.default_rng(seed), half)
        grey = [bool(np.array_equal(f[..., 0], f[..., 2])) for f in res]
        assert len(set(grey)) == 1, seed
        grey_counts.add(grey[0])
    assert grey_counts == {True, False}
    with pytest.raises(ConfigError, match="p_gray"):
        AugmentConfig(p_gray=1.5)


def test_grayscale_comes_after_the_colour_jitter(image: np.ndarray) -> None:
    # seed 000's torchvision order: flip, ColorJitter, RandomGrayscale
    seed000 = replace(
        AugmentConfig.none(), p_flip=1.0, p_color=1.0, brightness=0.2, contrast=0.2,
        saturation=0.1, hue=0.05, p_gray=1.0,
    )  # fmt: skip
    coloured = augment_image(image, np.random.default_rng(4), replace(seed000, p_gray=0.0))
    grey = augment_image(image, np.random.default_rng(4), seed000)
    expected = coloured.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(grey[..., 1].astype(np.float64) - expected).max() <= 1.0
    assert not np.array_equal(coloured[..., 0], coloured[..., 2])
