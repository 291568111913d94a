import numpy as np
import pytest

from fakescope.errors import ConfigError
from fakescope.inference import VideoScores, aggregate


def scores() -> VideoScores:
    # 3 frames; track 0 in every frame, track 1 in frames 1 and 2
    logit = np.log(np.array([0.2, 0.4, 0.9, 0.6, 0.1]) / (1 - np.array([0.2, 0.4, 0.9, 0.6, 0.1])))
    return VideoScores(
        track=np.array([0, 0, 1, 0, 1]),
        frame=np.array([0, 1, 1, 2, 2]),
        index=np.array([0, 10, 10, 20, 20]),
        timestamp=np.array([0.0, 0.4, 0.4, 0.8, 0.8]),
        logit=logit,
    )


def test_mean_of_max_per_frame():
    agg = aggregate(scores())
    assert [f["max"] for f in agg["frames"]] == pytest.approx([0.2, 0.9, 0.6])
    assert agg["probability"] == pytest.approx((0.2 + 0.9 + 0.6) / 3)
    assert agg["tracks"] == pytest.approx({0: (0.2 + 0.4 + 0.6) / 3, 1: (0.9 + 0.1) / 2})
    assert agg["frames"][1]["faces"] == pytest.approx({0: 0.4, 1: 0.9})


def test_topk_and_max_track():
    assert aggregate(scores(), how="topk", k=2)["probability"] == pytest.approx((0.9 + 0.6) / 2)
    assert aggregate(scores(), how="max_track")["probability"] == pytest.approx(0.5)


def test_temperature_calibrates_before_aggregating():
    hot = aggregate(scores(), temperature=2.0)
    z = scores().logit / 2.0
    p = 1 / (1 + np.exp(-z))
    assert hot["frames"][1]["max"] == pytest.approx(max(p[1], p[2]))


def test_no_face_and_bad_rule():
    empty = VideoScores(*(np.zeros(0) for _ in range(5)))
    assert aggregate(empty)["probability"] is None
    with pytest.raises(ConfigError, match="unknown rule"):
        aggregate(scores(), how="median")
