"""Self-blended images on a real face: the astronaut photo, cropped as the cache stores it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from fakescope.errors import ConfigError
from fakescope.faces import CropSettings, create_detector, crop_face
from fakescope.training import SBIConfig, sbi_crop_window, sbi_gallery, self_blend
from tests.conftest import face_photo

SEEDS = range(12)


@dataclass(frozen=True)
class Face:
    image: np.ndarray  # 256x256 crop
    points: np.ndarray  # what self_blend gets: 68 landmarks or 5 keypoints
    keypoints: np.ndarray  # the 5 keypoints
    hull68: np.ndarray  # dlib's 68 landmarks in this crop's pixels


@pytest.fixture(scope="module")
def faces() -> dict[str, Face]:
    photo = face_photo()
    dlib_box = create_detector("dlib").detect(photo)[0]
    yunet_box = create_detector("yunet").detect(photo)[0]
    out = {}
    for name, box in (("68", dlib_box), ("5", yunet_box)):
        crop = crop_face(photo, box, CropSettings())
        m = crop.matrix
        lm68 = (dlib_box.landmarks @ m[:, :2].T + m[:, 2]).astype(np.float32)
        points = crop.landmarks if name == "68" else crop.keypoints
        assert points is not None
        out[name] = Face(crop.image, points, crop.keypoints, lm68)
    assert out["68"].points.shape == (68, 2) and out["5"].points.shape == (5, 2)
    return out


def polygon_mask(points: np.ndarray, shape: tuple[int, int], dilate: int = 0) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    if dilate:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
        mask = cv2.dilate(mask, k)
    return mask.astype(bool)


def documented_region(face: Face, kind: str) -> np.ndarray:
    """The region self_blend documents, as points whose hull it is."""
    if kind == "keypoint_ellipse":  # recomputed from the docstring's proportions
        c = SBIConfig()
        kp = face.keypoints.astype(np.float64)
        eyes, mouth = (kp[0] + kp[1]) / 2, (kp[3] + kp[4]) / 2
        d = np.linalg.norm(mouth - eyes)
        u = (mouth - eyes) / d
        v = np.array([u[1], -u[0]])
        hw = c.keypoint_half_width * d
        shift = np.clip(-c.keypoint_yaw_shift * (kp[2] - eyes) @ v, -hw / 2, hw / 2)
        centre = eyes + u * d * (c.keypoint_bottom - c.keypoint_top) / 2 + v * shift
        hh = d * (c.keypoint_top + c.keypoint_bottom) / 2
        t = np.linspace(0, 2 * np.pi, 90)
        return centre + np.outer(np.cos(t) * hw, v) + np.outer(np.sin(t) * hh, u)
    if kind == "lower_face":
        return face.points[[*range(1, 16), *range(28, 36)]]
    return face.points


@pytest.mark.parametrize("kind", ["68", "5"])
def test_output_types_and_params(faces: dict[str, Face], kind: str) -> None:
    face = faces[kind]
    before = face.image.copy()
    r = self_blend(face.image, face.points, np.random.default_rng(3))
    assert r.image.shape == face.image.shape and r.image.dtype == np.uint8
    assert r.target.shape == face.image.shape and r.target.dtype == np.uint8
    assert r.mask.shape == face.image.shape[:2] and r.mask.dtype == np.float32
    assert np.array_equal(face.image, before)  # input untouched
    params = json.loads(json.dumps(r.params))  # JSON-serialisable as returned
    assert params["ratio"] in (0.25, 0.5, 0.75, 1.0)
    assert params["transformed"] in ("source", "target")
    assert params["region"] == ("keypoint_ellipse" if kind == "5" else params["region"])
    assert {"transform", "affine", "elastic", "mask_blur"} <= set(params)


@pytest.mark.parametrize("kind", ["68", "5"])
def test_mask_lies_on_the_face(faces: dict[str, Face], kind: str) -> None:
    face = faces[kind]
    nose = np.round(face.keypoints[2]).astype(int)
    for seed in SEEDS:
        r = self_blend(face.image, face.points, np.random.default_rng(seed))
        assert r.mask.min() >= 0.0 and r.mask.max() <= 1.0
        assert r.mask.max() == pytest.approx(r.params["ratio"], abs=1e-5)  # non-empty, peak=ratio
        # zero well outside the region: affine <= ~10 px, blur <= ~17 px on a 256 px crop
        region = documented_region(face, r.params["region"])
        near = polygon_mask(region, r.mask.shape, dilate=40)
        assert not r.mask[~near].any(), seed
        assert r.mask[nose[1], nose[0]] >= 0.99 * r.mask.max(), seed  # the plateau covers the nose
        assert (r.mask > 0).sum() < 0.8 * r.mask.size


@pytest.mark.parametrize("kind", ["68", "5"])
def test_unmasked_pixels_are_the_target_and_only_the_face_changes(
    faces: dict[str, Face], kind: str
) -> None:
    face = faces[kind]
    seen = set()
    for seed in SEEDS:
        r = self_blend(face.image, face.points, np.random.default_rng(seed))
        outside = r.mask == 0
        assert outside.sum() > 0.2 * outside.size
        assert np.array_equal(r.image[outside], r.target[outside])
        seen.add(r.params["transformed"])
        if r.params["transformed"] == "source":  # target untouched: the input itself
            assert np.array_equal(r.target, face.image)
            changed = (r.image != face.image).any(axis=2)
            assert changed.any()
            region = documented_region(face, r.params["region"])
            assert not changed[~polygon_mask(region, changed.shape, dilate=40)].any()
        else:  # the colour-altered copy is the target: it differs from the input everywhere
            assert not np.array_equal(r.target, face.image)
    assert seen == {"source", "target"}


def test_same_seed_identical_other_seeds_differ(faces: dict[str, Face]) -> None:
    face = faces["68"]
    a = self_blend(face.image, face.points, np.random.default_rng(7))
    b = self_blend(face.image, face.points, np.random.default_rng(7))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert a.params == b.params
    images = [self_blend(face.image, face.points, np.random.default_rng(s)).image for s in SEEDS]
    assert len({im.tobytes() for im in images}) == len(images)


def test_region_variants(faces: dict[str, Face]) -> None:
    face = faces["68"]
    kinds = {
        self_blend(face.image, face.points, np.random.default_rng(s)).params["region"]
        for s in range(40)
    }
    assert kinds == {"hull", "lower_face"}
    full = self_blend(
        face.image, face.points, np.random.default_rng(0), config=SBIConfig(p_reduced_hull=0)
    )
    lower = self_blend(
        face.image, face.points, np.random.default_rng(0), config=SBIConfig(p_reduced_hull=1)
    )
    assert (full.params["region"], lower.params["region"]) == ("hull", "lower_face")
    assert (lower.mask > 0.5).sum() < 0.8 * (full.mask > 0.5).sum()
    brows = np.round(face.points[[19, 24]]).astype(int)  # above the lower face
    assert (lower.mask[brows[:, 1], brows[:, 0]] < full.mask[brows[:, 1], brows[:, 0]]).all()
    # 81 points (68 + forehead): the published variant drops the forehead
    forehead = face.points[17:27] - [0, 40]
    r = self_blend(
        face.image,
        np.vstack([face.points, forehead[:13]]),
        np.random.default_rng(0),
        config=SBIConfig(p_reduced_hull=1),
    )
    assert r.params["region"] == "hull68"


def test_keypoint_region_covers_forehead_and_chin(faces: dict[str, Face]) -> None:
    face = faces["5"]
    kp = face.keypoints
    eyes, mouth = (kp[0] + kp[1]) / 2, (kp[3] + kp[4]) / 2
    config = SBIConfig(blend_ratios=(1.0,), scale_range=(1.0, 1.0), translate_x=0, translate_y=0)
    r = self_blend(face.image, kp, np.random.default_rng(1), config=config)
    down = mouth - eyes
    across = np.array([down[1], -down[0]])
    centre = eyes + 0.5 * down
    for point in (
        eyes - 0.5 * down,
        mouth + 0.4 * down,
        centre - 0.7 * across,
        centre + 0.7 * across,
    ):
        x, y = np.round(point).astype(int)
        assert r.mask[y, x] > 0.9


def test_deterministic_transforms_are_applied(faces: dict[str, Face]) -> None:
    face = faces["68"]
    # mask identical for any transform: every draw before the mask is independent of it
    no_colour = SBIConfig(
        p_rgb_shift=0, hue_shift_limit=0, sat_shift_limit=0, val_shift_limit=0,
        brightness_limit=0, contrast_limit=0, p_downscale=1, downscale_factors=(4,),
        p_transform_source=1, blend_ratios=(1.0,),
    )  # fmt: skip
    r = self_blend(face.image, face.points, np.random.default_rng(0), config=no_colour)
    assert r.params["transform"]["quality"] == {"op": "downscale", "factor": 4}
    inside = r.mask >= 1.0
    assert inside.sum() > 1000
    # x4 downscale blurs: less high-frequency energy inside the face than in the input
    lap = lambda im: np.abs(cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), cv2.CV_32F))  # noqa: E731
    assert lap(r.image)[inside].mean() < 0.7 * lap(face.image)[inside].mean()


def test_gallery_png(faces: dict[str, Face], tmp_path: Path) -> None:
    images = [faces["68"].image] * 5 + [faces["5"].image] * 5
    points = [faces["68"].points] * 5 + [faces["5"].points] * 5
    out = sbi_gallery(images, points, tmp_path / "g" / "sbi.png", seed=4, rows=4)
    assert out == tmp_path / "g" / "sbi.png"
    png = cv2.imread(str(out), cv2.IMREAD_COLOR)
    assert png is not None and png.shape == (4 * 256, 3 * 3 * 256, 3)  # 4 rows, 3 triplet columns
    first = self_blend(images[0], points[0], np.random.default_rng(4))
    rgb = png[:, :, ::-1]
    assert np.array_equal(rgb[:256, :256], first.target)
    assert np.array_equal(rgb[:256, 256:512], first.image)
    assert np.array_equal(rgb[:256, 512:768, 0], np.rint(first.mask * 255).astype(np.uint8))
    assert not rgb[3 * 256 :, 3 * 768 :].any()  # 10 samples: the last slot stays empty
    assert [p.name for p in out.parent.iterdir()] == ["sbi.png"]  # no temporary left behind


def test_crop_window() -> None:
    rng = np.random.default_rng(0)
    assert sbi_crop_window(256, 256, 1.3, rng, train=False) == (4, 4, 252, 252)
    box = 256 / 1.3
    windows = {sbi_crop_window(256, 256, 1.3, rng) for _ in range(20)}
    assert len(windows) > 10
    for x0, y0, x1, y1 in windows:
        # the box plus 5..20 % of its side on each side, clipped to the crop
        assert 0 <= x0 <= 128 - box / 2 - 0.05 * box + 1 and x1 >= 128 + box / 2 + 0.05 * box - 1
        assert y0 >= 0 and y1 <= 256 and x1 <= 256


def test_invalid_input_and_config(faces: dict[str, Face]) -> None:
    face = faces["68"]
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        self_blend(face.image.astype(np.float32), face.points, rng)
    with pytest.raises(ValueError):
        self_blend(face.image, face.points[:2], rng)
    with pytest.raises(ValueError):
        self_blend(face.image, face.points + 1000, rng)  # region outside the crop
    with pytest.raises(ConfigError):
        SBIConfig(p_reduced_hull=1.5)
    with pytest.raises(ConfigError):
        SBIConfig(blend_ratios=())
    config = SBIConfig(scale_range=[0.9, 1.1], blend_ratios=[0.5])  # type: ignore[arg-type]
    assert config.scale_range == (0.9, 1.1) and config.blend_ratios == (0.5,)
    assert json.loads(json.dumps(SBIConfig().to_dict()))["blend_ratios"] == [
        0.25,
        0.5,
        0.75,
        1,
        1,
        1,
    ]
