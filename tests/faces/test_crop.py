import numpy as np
import pytest

from fakescope.errors import ConfigError
from fakescope.faces import CropSettings, create_detector, crop_face
from fakescope.types import FaceBox
from tests.conftest import face_photo


def make_box(x1, y1, x2, y2, angle_deg=0.0):
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    r = (x2 - x1) / 4
    a = np.radians(angle_deg)
    left = (cx - r * np.cos(a), cy - 10 - r * np.sin(a))
    right = (cx + r * np.cos(a), cy - 10 + r * np.sin(a))
    kp = np.array([left, right, (cx, cy + 5), (cx - r, cy + 20), (cx + r, cy + 20)])
    lm = np.array([[x1, y1], [x2, y2], [cx, cy]], np.float32)
    return FaceBox(x1, y1, x2, y2, 0.9, kp, lm)


def test_square_crop_geometry_and_landmarks():
    image = np.zeros((400, 600, 3), np.uint8)
    image[100:200, 250:350] = 255  # the "face"
    b = make_box(250, 100, 350, 200)
    crop = crop_face(image, b, CropSettings(margin=2.0, size=100))
    assert crop.image.shape == (100, 100, 3)
    # the box (100 px) fills the middle half of a 200 px window
    assert crop.image[50, 50].tolist() == [255, 255, 255]
    assert crop.image[10, 10].tolist() == [0, 0, 0]
    assert np.allclose(crop.landmarks, [[25, 25], [75, 75], [50, 50]], atol=0.6)
    assert np.allclose(crop.keypoints[2], [50, 52.5], atol=0.6)


def test_crop_pads_outside_the_frame_with_black():
    image = np.full((100, 100, 3), 200, np.uint8)
    crop = crop_face(image, make_box(0, 0, 50, 50), CropSettings(margin=2.0, size=100))
    assert crop.image[0, 0].tolist() == [0, 0, 0]  # outside the frame
    assert crop.image[99, 99].tolist() == [200, 200, 200]


def test_alignment_levels_the_eyes():
    import cv2

    photo = face_photo()
    m = cv2.getRotationMatrix2D((256, 256), -30, 1.0)
    tilted = cv2.warpAffine(photo, m, (512, 512))
    tface = create_detector("dlib").detect(tilted)[0]  # 68-point landmarks: precise eyes
    plain = crop_face(tilted, tface, CropSettings(align=False))
    aligned = crop_face(tilted, tface, CropSettings(align=True))
    tilt = lambda kp: abs(np.degrees(np.arctan2(kp[1, 1] - kp[0, 1], kp[1, 0] - kp[0, 0])))  # noqa: E731
    assert tilt(plain.keypoints) > 15
    assert tilt(aligned.keypoints) < 1.0
    # the aligned crop is still centred on the face: nose tip near the middle
    assert np.allclose(aligned.keypoints[2], [128, 128], atol=40)


@pytest.mark.parametrize(("margin", "size"), [(0.1, 256), (5.0, 256), (1.3, 8), (1.3, 5000)])
def test_bad_settings(margin, size):
    with pytest.raises(ConfigError):
        CropSettings(margin=margin, size=size)
