import numpy as np
import pytest

from fakescope.faces import TrackingSettings, box_iou, build_tracks
from fakescope.types import FaceBox


def box(x: float, y: float, s: float = 100.0, score: float = 0.9) -> FaceBox:
    kp = np.array(
        [
            [x + 0.3 * s, y + 0.4 * s],
            [x + 0.7 * s, y + 0.4 * s],
            [x + 0.5 * s, y + 0.6 * s],
            [x + 0.35 * s, y + 0.8 * s],
            [x + 0.65 * s, y + 0.8 * s],
        ]
    )
    return FaceBox(x, y, x + s, y + s, score, kp)


def test_iou():
    assert box_iou(box(0, 0), box(0, 0)) == 1.0
    assert box_iou(box(0, 0), box(200, 0)) == 0.0
    assert abs(box_iou(box(0, 0), box(50, 0)) - 1 / 3) < 1e-9


def test_two_people_stay_apart_and_are_ordered_by_size_times_persistence():
    frames = []
    for t in range(10):
        faces = [box(100 + 5 * t, 100, 150)]  # big, drifting right, always there
        if t % 2 == 0:
            faces.append(box(600 - 5 * t, 120, 60))  # small, seen every other frame
        frames.append(faces)
    tracks = build_tracks(frames)
    assert len(tracks) == 2
    assert [t.track_id for t in tracks] == [0, 1]
    assert tracks[0].frames == tuple(range(10))
    assert tracks[1].frames == (0, 2, 4, 6, 8)  # gaps tolerated
    assert all(b.width == 60 for b in tracks[1].boxes)


def test_crossing_order_does_not_swap_identities_when_boxes_overlap_well():
    frames = [
        [box(100, 100), box(400, 100)],
        [box(402, 101), box(103, 99)],
    ]  # listed in other order
    tracks = build_tracks(frames)
    assert len(tracks) == 2
    left = next(t for t in tracks if t.boxes[0].x1 == 100)
    assert left.boxes[1].x1 == 103


def test_fast_motion_links_within_max_shift_not_beyond():
    frames = [[box(100, 100)], [box(220, 100)]]  # moved 1.2 face sizes
    assert len(build_tracks(frames)) == 1
    assert len(build_tracks(frames, TrackingSettings(max_shift=1.0))) == 2


def test_long_gap_starts_a_new_track():
    frames = [[box(100, 100)]] + [[] for _ in range(6)] + [[box(100, 100)]]
    assert len(build_tracks(frames, TrackingSettings(max_gap=4))) == 2
    assert len(build_tracks(frames, TrackingSettings(max_gap=6))) == 1


def test_min_frames_drops_short_tracks():
    frames = [[box(100, 100), box(500, 500)]] + [[box(100, 100)] for _ in range(4)]
    assert len(build_tracks(frames)) == 2
    tracks = build_tracks(frames, TrackingSettings(min_frames=2))
    assert len(tracks) == 1 and len(tracks[0]) == 5


def test_empty_input():
    assert build_tracks([]) == []
    assert build_tracks([[], []]) == []


def test_assignment_matches_scipy_on_every_shape():
    from scipy.optimize import linear_sum_assignment

    from fakescope.faces.tracking import _assign

    rng = np.random.default_rng(0)
    for shape in [(1, 1), (1, 5), (4, 1), (2, 3), (3, 3), (5, 2)]:
        for _ in range(20):
            cost = rng.random(shape)
            rows, cols = _assign(cost)
            ref_rows, ref_cols = linear_sum_assignment(cost)
            assert cost[rows, cols].sum() == pytest.approx(cost[ref_rows, ref_cols].sum())
            assert len(set(rows)) == len(rows) and len(set(cols)) == len(cols)
