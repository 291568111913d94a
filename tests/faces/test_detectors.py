import numpy as np
import pytest

from fakescope.errors import ConfigError
from fakescope.faces import (
    FaceDetector,
    create_detector,
    detector_config,
    list_detectors,
    register_detector,
)
from tests.conftest import face_photo

# the astronaut's face in skimage.data.astronaut(), checked by eye
FACE = (175, 60, 270, 180)


def test_registry_lists_backends():
    assert {"yunet", "dlib"} <= set(list_detectors())


def test_duplicate_name_is_an_error():
    with pytest.raises(ValueError, match="already registered"):
        register_detector("yunet")(object)  # type: ignore[arg-type]


def test_unknown_name_and_bad_option():
    with pytest.raises(ConfigError, match="unknown face detector 'nope'"):
        create_detector("nope")
    with pytest.raises(ConfigError, match="bad option"):
        create_detector("yunet", colour="blue")


@pytest.mark.parametrize("name", list_detectors())
def test_every_detector_finds_the_face_with_keypoints(name):
    detector = create_detector(name)
    assert isinstance(detector, FaceDetector)
    config = detector_config(detector)
    assert config["name"] == name
    faces = detector.detect(face_photo())
    assert faces, f"{name} found no face"
    face = faces[0]
    x1, y1, x2, y2 = FACE
    cx, cy = face.center
    assert x1 < cx < x2 and y1 < cy < y2
    assert 0 < face.score <= 1
    kp = face.keypoints
    assert kp.shape == (5, 2)
    # every keypoint inside the box, eyes above nose above mouth, left eye left of right eye
    assert np.all((kp[:, 0] >= face.x1) & (kp[:, 0] <= face.x2))
    assert np.all((kp[:, 1] >= face.y1 - 5) & (kp[:, 1] <= face.y2 + 5))
    assert kp[0, 0] < kp[1, 0] and kp[3, 0] < kp[4, 0]
    assert max(kp[0, 1], kp[1, 1]) < kp[2, 1] < min(kp[3, 1], kp[4, 1])


def test_dlib_gives_68_landmarks():
    face = create_detector("dlib").detect(face_photo())[0]
    assert face.landmarks is not None and face.landmarks.shape == (68, 2)


@pytest.mark.parametrize("name", list_detectors())
def test_no_face_in_a_flat_image(name):
    assert create_detector(name).detect(np.full((240, 320, 3), 128, np.uint8)) == []


def test_all_faces_not_only_the_largest():
    photo = face_photo()
    canvas = np.zeros((512, 1024, 3), np.uint8)
    canvas[:, :512] = photo
    canvas[128:384, 640:896] = photo[::2, ::2]  # a second, smaller copy of the face
    faces = create_detector("yunet").detect(canvas)
    assert len(faces) == 2
    assert faces[0].area > faces[1].area  # largest first
    assert faces[1].x1 > 600


def test_yunet_downscaling_keeps_coordinates_in_the_full_frame():
    photo = face_photo()
    big = np.kron(photo, np.ones((3, 3, 1), np.uint8))  # 1536 x 1536
    small_faces = create_detector("yunet", max_side=0).detect(photo)
    big_faces = create_detector("yunet", max_side=480).detect(big)
    assert np.allclose(big_faces[0].as_array() / 3, small_faces[0].as_array(), atol=6)
