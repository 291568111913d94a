"""Each signal moves the way it should on a synthetic clip whose answer is known."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fakescope.forensics.signals import (
    color_wasserstein,
    flicker_hll,
    flow_boundary,
    noise_autocorr,
    srm_sharpness,
)
from tests.conftest import face_photo

S = 224
T = 16


def _face() -> np.ndarray:
    return face_photo()[20:220, 140:340]  # the astronaut's face, 200 x 200


def _drifting_face(n: int = T) -> np.ndarray:
    """A face crop that drifts by a pixel or two, as a tracked face does: (n, S, S, 3) float."""
    face = _face()
    frames = []
    for t in range(n):
        m = np.array([[S / 200, 0, 2 * np.sin(t / 3)], [0, S / 200, 1.5 * np.cos(t / 4)]])
        frames.append(cv2.warpAffine(face, m, (S, S), borderMode=cv2.BORDER_REFLECT))
    return np.stack(frames).astype(np.float64)


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def real_clip() -> np.ndarray:
    """Camera-like clip: fresh sensor noise (sigma 6) on every frame, everywhere."""
    rng = np.random.default_rng(0)
    base = _drifting_face()
    return _u8(base + rng.normal(0, 6, base.shape))


def test_added_flicker_raises_flicker_hll(real_clip):
    rng = np.random.default_rng(1)
    base = _drifting_face()
    sign = np.where(np.arange(T) % 2, 1.0, -1.0)[:, None, None, None]
    flicker = _u8(base + 12 * sign + rng.normal(0, 6, base.shape))  # brightness +-12 per frame
    calm, flickering = flicker_hll(real_clip), flicker_hll(flicker)
    assert np.isfinite(calm) and flickering > 5 * calm
    assert np.isnan(flicker_hll(real_clip[:1]))


def _pasted_face(real_clip: np.ndarray) -> np.ndarray:
    """A generated face pasted over the central two-thirds: smoother than the camera and with a
    noise pattern that stays the same from frame to frame (a generator's fingerprint)."""
    rng = np.random.default_rng(2)
    base = _drifting_face()
    smooth = np.stack([cv2.GaussianBlur(f, (0, 0), 1.0) for f in base])
    pattern = rng.normal(0, 1.0, (S, S, 3))
    fake = real_clip.astype(np.float64)
    y = slice(20, 204)
    fake[:, y, y] = smooth[:, y, y] + pattern[y, y]
    return _u8(fake)


def test_pasted_face_with_other_noise_raises_srm_sharpness(real_clip):
    real, fake = srm_sharpness(real_clip), srm_sharpness(_pasted_face(real_clip))
    assert real > 1.0 and fake > 1.5 * real


def test_pasted_face_with_persistent_noise_raises_noise_autocorr(real_clip):
    real, fake = noise_autocorr(real_clip), noise_autocorr(_pasted_face(real_clip))
    assert -1.0 <= real < fake <= 1.0
    assert fake - real > 0.05
    flat = np.full((3, 32, 32, 3), 128, np.uint8)
    assert np.isnan(noise_autocorr(flat))  # no residual: undefined, not 0


def _window() -> tuple[np.ndarray, np.ndarray]:
    """A background window whose central half is the face, as the extraction cuts it."""
    photo = face_photo()
    window = cv2.resize(photo[0:300, 100:400], (S, S), interpolation=cv2.INTER_AREA)
    face = np.zeros((S, S), bool)
    face[56:168, 56:168] = True
    return np.stack([window] * 4), face


def test_recoloured_face_raises_color_wasserstein():
    windows, face = _window()
    recoloured = windows.astype(np.float64)
    recoloured[:, face] *= np.array([1.25, 1.0, 0.75])  # warmer face than its surroundings
    real, fake = color_wasserstein(windows, face), color_wasserstein(_u8(recoloured), face)
    assert real > 0 and fake > 1.5 * real
    # the same picture as face and background: distance 0
    same = np.zeros_like(windows)
    same[:] = 90
    assert color_wasserstein(same, face) == pytest.approx(0.0, abs=1e-9)


def test_out_of_frame_pixels_are_not_background():
    windows, face = _window()
    black = windows.copy()
    black[:, :, :40] = 0  # the window left the frame on the left: zero padding
    valid = np.ones((S, S), bool)
    valid[:, :40] = False
    assert color_wasserstein(black, face, valid) == pytest.approx(
        color_wasserstein(windows, face, valid)
    )
    assert color_wasserstein(black, face) != pytest.approx(color_wasserstein(black, face, valid))


def _scene(face_dx: int, background: np.ndarray, small: np.ndarray) -> np.ndarray:
    img = background.copy()
    img[56:168, 56 + face_dx : 168 + face_dx] = small
    return img


def test_face_moving_against_static_background_raises_flow_boundary():
    rng = np.random.default_rng(3)
    noise = cv2.GaussianBlur(rng.uniform(0, 255, (S, S, 3)).astype(np.float32), (0, 0), 3)
    background = cv2.normalize(noise, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    small = cv2.resize(_face(), (112, 112), interpolation=cv2.INTER_AREA)
    box = [56.0, 56.0, 168.0, 168.0]
    still = [np.stack([_scene(0, background, small)] * 3) for _ in range(4)]
    moving = [np.stack([_scene(2 * k, background, small) for k in range(3)]) for _ in range(4)]
    calm, moved = flow_boundary(still, [box] * 4), flow_boundary(moving, [box] * 4)
    assert calm < 1e-3 and moved > 0.05
    assert np.isnan(flow_boundary([still[0][:1]], [box]))  # a run of one frame has no pair
