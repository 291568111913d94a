"""Tests for fakescope.evaluation.metrics: hand-checked values, scikit-learn parity, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from fakescope.errors import FakescopeError
from fakescope.evaluation import (
    MetricError,
    aggregate_by_video,
    average_precision,
    bootstrap_ci,
    brier_score,
    ece_floor,
    eer,
    expected_calibration_error,
    fpr_at_tpr,
    reliability_curve,
    roc_auc,
    summary,
    threshold_metrics,
)

# Hand-checked example: 4 real, 4 fake.
#   real scores: 0.1 0.2 0.3 0.6      fake scores: 0.4 0.7 0.8 0.9
# ROC, thresholds descending (predict fake when score >= t):
#   t=0.9 TPR .25 FPR 0 | 0.8 .50/0 | 0.7 .75/0 | 0.6 .75/.25 | 0.4 1/.25 | 0.3 1/.5 | ...
#   |FNR - FPR| is 0 only at t=0.6 (FNR .25 = FPR .25)  ->  EER 0.25 at threshold 0.6.
# AUC: the fake 0.4 beats 3 of 4 reals, the other fakes beat all 4: 15/16.
# AP: ranking F F F R F, precision at each fake 1, 1, 1, 4/5 -> (3 + 0.8) / 4 = 0.95.
# FPR@TPR>=0.95: TPR first reaches 1 at t=0.4 where FPR = 1/4.
# At threshold 0.35: predicted fake = {0.4, 0.6, 0.7, 0.8, 0.9}
#   tp 4, fp 1 (the real 0.6), tn 3, fn 0
#   accuracy 7/8, precision 4/5, recall 1, F1 = 2*.8*1/1.8 = 8/9, FPR 1/4, TNR 3/4.
Y_HAND = np.array([0, 0, 0, 0, 1, 1, 1, 1])
S_HAND = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9])


def random_tied(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores rounded to 1 decimal, so that many scores tie across classes."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = np.round(np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1), 1)
    return y, s


def brute_force_roc(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(FPR, TPR, threshold) at 'nothing fake' and at every distinct score, descending."""
    thresholds = np.concatenate(([np.inf], np.unique(s)[::-1]))
    fpr = np.array([np.mean(s[y == 0] >= t) for t in thresholds])
    tpr = np.array([np.mean(s[y == 1] >= t) for t in thresholds])
    return fpr, tpr, thresholds


# ------------------------------------------------------------------------------ hand cases


def test_hand_example_ranking_metrics() -> None:
    assert roc_auc(Y_HAND, S_HAND) == pytest.approx(15 / 16)
    assert average_precision(Y_HAND, S_HAND) == pytest.approx(0.95)
    value, threshold = eer(Y_HAND, S_HAND)
    assert value == pytest.approx(0.25)
    assert threshold == pytest.approx(0.6)
    assert fpr_at_tpr(Y_HAND, S_HAND, 0.95) == pytest.approx(0.25)
    assert fpr_at_tpr(Y_HAND, S_HAND, 0.75) == pytest.approx(0.0)


def test_hand_example_threshold_metrics() -> None:
    m = threshold_metrics(Y_HAND, S_HAND, 0.35)
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (4, 1, 3, 0)
    assert m["accuracy"] == pytest.approx(7 / 8)
    assert m["precision"] == pytest.approx(4 / 5)
    assert m["recall"] == pytest.approx(1.0)
    assert m["tpr"] == pytest.approx(1.0)
    assert m["f1"] == pytest.approx(8 / 9)
    assert m["fpr"] == pytest.approx(1 / 4)
    assert m["tnr"] == pytest.approx(3 / 4)
    assert m["threshold"] == 0.35


def test_threshold_is_inclusive_and_precision_zero_when_nothing_predicted() -> None:
    at = threshold_metrics([1, 0], [0.5, 0.2], 0.5)
    assert at["tp"] == 1  # score == threshold counts as fake
    none = threshold_metrics([1, 0, 1], [0.1, 0.2, 0.3], 0.9)
    assert (none["tp"], none["fp"]) == (0, 0)
    assert none["precision"] == 0.0
    assert none["f1"] == 0.0
    assert none["accuracy"] == pytest.approx(1 / 3)


def test_perfect_separation() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    assert roc_auc(y, s) == 1.0
    assert average_precision(y, s) == 1.0
    value, threshold = eer(y, s)
    assert value == 0.0
    assert 0.3 < threshold <= 0.7
    assert threshold_metrics(y, s, threshold)["accuracy"] == 1.0
    assert fpr_at_tpr(y, s) == 0.0


def test_inverted_and_all_ties() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    assert roc_auc(y, -s) == 0.0
    assert eer(y, -s)[0] == 1.0
    ties = np.full(6, 0.5)
    assert roc_auc(y, ties) == 0.5
    assert average_precision(y, ties) == pytest.approx(0.5)  # = prevalence
    assert fpr_at_tpr(y, ties) == 1.0


# ------------------------------------------------------------------------------ parity


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_scikit_learn_with_ties(seed: int) -> None:
    y, s = random_tied(seed)
    assert len(np.unique(s)) < 15  # really tied
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    ys, ss = y[:60], np.random.default_rng(seed).random(60)  # no ties
    assert roc_auc(ys, ss) == pytest.approx(roc_auc_score(ys, ss), abs=1e-12)
    assert average_precision(ys, ss) == pytest.approx(average_precision_score(ys, ss), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_eer_and_fpr_at_tpr_match_brute_force(seed: int) -> None:
    y, s = random_tied(seed, n=150)
    fpr, tpr, thresholds = brute_force_roc(y, s)
    gap = np.abs((1 - tpr) - fpr)
    i = int(np.flatnonzero(gap == gap.min())[0])
    value, threshold = eer(y, s)
    assert value == pytest.approx((fpr[i] + 1 - tpr[i]) / 2)
    assert threshold == pytest.approx(thresholds[i])
    # the threshold reproduces the EER operating point
    at = threshold_metrics(y, s, threshold)
    assert (at["fpr"] + 1 - at["tpr"]) / 2 == pytest.approx(value)
    for target in (0.5, 0.9, 0.95):
        assert fpr_at_tpr(y, s, target) == pytest.approx(fpr[tpr >= target].min())


def test_eer_threshold_is_finite_when_nothing_predicted_fake() -> None:
    value, threshold = eer([1, 0], [0.5, 0.5])  # constant scores: first ROC point
    assert value == 0.5  # a constant predictor is at chance, not perfect
    assert np.isfinite(threshold) and threshold > 0.5
    assert threshold_metrics([1, 0], [0.5, 0.5], threshold)["tp"] == 0


# ------------------------------------------------------------------------------ calibration


def test_ece_constant_prediction_on_balanced_labels() -> None:
    y = np.array([0, 1] * 50)
    assert expected_calibration_error(y, np.full(100, 0.9)) == pytest.approx(0.4)
    assert brier_score(y, np.full(100, 0.9)) == pytest.approx((0.81 + 0.01) / 2)


def test_ece_floor_is_what_perfect_calibration_reads_at_this_size() -> None:
    rng = np.random.default_rng(3)
    p = rng.random(20)
    # labels drawn from the probabilities themselves: calibrated by construction, yet on 20
    # videos the ECE is far from 0, and the floor predicts how far
    observed = np.mean([expected_calibration_error(rng.random(20) < p, p) for _ in range(400)])
    floor = ece_floor(p)
    assert floor > 0.15
    assert floor == pytest.approx(observed, abs=0.015)
    # it shrinks with the test set: about 1/sqrt(n)
    assert ece_floor(rng.random(20000)) < 0.02
    # certain probabilities have no sampling noise; the same seed gives the same floor
    assert ece_floor(np.array([0.0, 1.0, 1.0])) == 0.0
    assert ece_floor(p, seed=1) == ece_floor(p, seed=1)
    with pytest.raises(MetricError, match="probabilities"):
        ece_floor(np.array([0.5, 1.5]))


def test_ece_hand_two_bins_and_brier() -> None:
    # bin [0, 0.5): p 0.2, 0.2 vs labels 0, 1 -> |0.2 - 0.5| = 0.3, weight 2/4
    # bin [0.5, 1]: p 0.8, 1.0 vs labels 1, 1 -> |0.9 - 1.0| = 0.1, weight 2/4
    y = np.array([0, 1, 1, 1])
    p = np.array([0.2, 0.2, 0.8, 1.0])
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.2)
    assert brier_score(y, p) == pytest.approx((0.04 + 0.64 + 0.04 + 0.0) / 4)


def test_ece_of_calibrated_data_is_small_and_miscalibrated_is_not() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(20000)
    y = (rng.random(p.size) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.02
    assert expected_calibration_error(y, p**3) > 0.1


def test_reliability_curve() -> None:
    y = np.array([0, 1, 1, 0, 1])
    p = np.array([0.0, 0.05, 0.95, 1.0, 1.0])
    curve = reliability_curve(y, p, n_bins=10)
    assert curve["counts"].tolist() == [2, 0, 0, 0, 0, 0, 0, 0, 0, 3]
    assert curve["bin_centers"][0] == pytest.approx(0.05)
    assert curve["bin_edges"].shape == (11,)
    assert curve["mean_predicted"][0] == pytest.approx(0.025)
    assert curve["observed_frequency"][0] == pytest.approx(0.5)
    assert curve["observed_frequency"][9] == pytest.approx(2 / 3)
    assert np.isnan(curve["mean_predicted"][1])
    assert expected_calibration_error(y, p, n_bins=10) == pytest.approx(
        (abs(0.05 - 1) + abs(2.95 - 2)) / 5
    )


def test_probabilities_outside_unit_interval_raise() -> None:
    with pytest.raises(MetricError, match=r"\[0, 1\]"):
        expected_calibration_error([0, 1], [0.5, 1.5])


# ------------------------------------------------------------------------------ aggregation


def test_aggregate_rules() -> None:
    ids = np.array(["b", "a", "b", "a", "b", "a", "c"])
    scores = np.array([0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.4])
    labels = np.array([1, 0, 1, 0, 1, 0, 0])
    vid, mean, lab = aggregate_by_video(ids, scores, labels, "mean")
    assert vid.tolist() == ["b", "a", "c"]  # order of first appearance
    assert lab.tolist() == [1, 0, 0]
    assert mean == pytest.approx([0.7, 0.2, 0.4])
    assert aggregate_by_video(ids, scores, labels, "max")[1] == pytest.approx([0.9, 0.3, 0.4])
    assert aggregate_by_video(ids, scores, labels, "median")[1] == pytest.approx([0.7, 0.2, 0.4])
    top2 = aggregate_by_video(ids, scores, labels, "topk-mean", k=2)[1]
    assert top2 == pytest.approx([0.8, 0.25, 0.4])  # 'c' has one frame: its mean
    top1 = aggregate_by_video(ids, scores, labels, "topk-mean", k=1)[1]
    assert top1 == pytest.approx([0.9, 0.3, 0.4])


def test_aggregate_even_median_and_integer_ids() -> None:
    vid, med, _ = aggregate_by_video([7, 7, 7, 7, 3], [0.4, 0.1, 0.9, 0.2, 0.5], [1] * 5, "median")
    assert vid.tolist() == [7, 3]
    assert med == pytest.approx([0.3, 0.5])


def test_aggregate_errors() -> None:
    with pytest.raises(MetricError, match=r"'v2'.*both real and fake"):
        aggregate_by_video(["v1", "v2", "v2"], [0.1, 0.2, 0.3], [0, 1, 0])
    with pytest.raises(MetricError, match="how must be one of"):
        aggregate_by_video(["v1"], [0.1], [0], "sum")
    with pytest.raises(MetricError, match="differ in length"):
        aggregate_by_video(["v1", "v2"], [0.1], [0])
    with pytest.raises(MetricError, match="k must be"):
        aggregate_by_video(["v1"], [0.1], [0], "topk-mean", k=0)


# ------------------------------------------------------------------------------ bootstrap


def test_bootstrap_reproducible_and_seed_dependent() -> None:
    y, s = random_tied(0)
    a = bootstrap_ci(roc_auc, y, s, n_boot=300, seed=1)
    b = bootstrap_ci(roc_auc, y, s, n_boot=300, seed=1)
    c = bootstrap_ci(roc_auc, y, s, n_boot=300, seed=2)
    assert a == b
    assert a[1:] != c[1:]
    point, low, high = a
    assert point == roc_auc(y, s)
    assert low < point < high
    assert 0.01 < high - low < 0.3


@pytest.mark.parametrize("metric", [roc_auc, average_precision, eer])
@pytest.mark.parametrize("grouped", [False, True])
def test_bootstrap_fast_path_equals_generic(metric: object, grouped: bool) -> None:
    """The vectorised path for known metrics equals calling the metric on each resample."""
    y, s = random_tied(3, n=120)
    groups = np.arange(120) // 3 if grouped else None

    def generic(yy: np.ndarray, ss: np.ndarray) -> float:
        out = metric(yy, ss)  # type: ignore[operator]
        return float(out[0] if isinstance(out, tuple) else out)

    fast = bootstrap_ci(metric, y, s, groups=groups, n_boot=150, seed=5)  # type: ignore[arg-type]
    slow = bootstrap_ci(generic, y, s, groups=groups, n_boot=150, seed=5)
    assert fast == pytest.approx(slow, abs=1e-12)


def test_bootstrap_interval_has_the_normal_width_for_a_mean() -> None:
    """For the mean of n scores the 95% percentile interval is about ±1.96 sd / sqrt(n)."""
    rng = np.random.default_rng(0)
    s = rng.normal(0.0, 1.0, 400)
    y = np.arange(400) % 2
    point, low, high = bootstrap_ci(lambda yy, ss: float(ss.mean()), y, s, n_boot=2000)
    expected = 2 * 1.96 * s.std() / np.sqrt(s.size)
    assert point == pytest.approx(s.mean())
    assert high - low == pytest.approx(expected, rel=0.08)
    _, low90, high90 = bootstrap_ci(lambda yy, ss: float(ss.mean()), y, s, n_boot=2000, alpha=0.1)
    assert high90 - low90 == pytest.approx(expected * 1.645 / 1.96, rel=0.08)


def test_group_bootstrap_is_wider_for_correlated_groups() -> None:
    # 40 videos of 25 identical frames: rows are not independent, groups are.
    rng = np.random.default_rng(0)
    video_label = np.repeat([0, 1], 20)
    video_score = rng.normal(video_label * 1.0, 1.0)
    groups = np.repeat(np.arange(40), 25)
    y = video_label[groups]
    s = video_score[groups]
    p_row, lo_row, hi_row = bootstrap_ci(roc_auc, y, s, n_boot=400)
    p_grp, lo_grp, hi_grp = bootstrap_ci(roc_auc, y, s, groups=groups, n_boot=400)
    assert p_row == p_grp
    assert (hi_grp - lo_grp) > 2.5 * (hi_row - lo_row)


def test_bootstrap_single_class_resamples_skipped_or_error() -> None:
    y = np.array([1] + [0] * 19)
    s = np.linspace(0, 1, 20)
    # about (19/20)^20 = 36% of resamples hold no fake: too many
    with pytest.raises(MetricError, match="resamples held a single class"):
        bootstrap_ci(roc_auc, y, s, n_boot=200)
    point, low, high = bootstrap_ci(roc_auc, y, s, n_boot=200, max_skipped=0.6)
    assert low <= point <= high


def test_bootstrap_large_input_is_fast() -> None:
    import time

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 10_000)
    s = rng.random(10_000) + 0.2 * y
    start = time.perf_counter()
    bootstrap_ci(roc_auc, y, s, n_boot=1000)
    bootstrap_ci(eer, y, s, groups=np.arange(10_000) // 20, n_boot=1000)
    assert time.perf_counter() - start < 10.0  # about 0.5 s on an idle laptop


def test_bootstrap_bad_arguments() -> None:
    y, s = random_tied(0, n=50)
    with pytest.raises(MetricError, match="metric name"):
        bootstrap_ci("accuracy", y, s)
    with pytest.raises(MetricError, match="alpha"):
        bootstrap_ci(roc_auc, y, s, alpha=1.5)
    with pytest.raises(MetricError, match="groups and labels differ"):
        bootstrap_ci(roc_auc, y, s, groups=[1, 2])


# ------------------------------------------------------------------------------ summary


def test_summary_is_json_ready_and_consistent() -> None:
    y, s = random_tied(4)
    groups = np.arange(y.size) // 4
    out = summary(y, s, threshold=0.3, n_boot=200, seed=3, groups=groups)
    json.dumps(out, allow_nan=False)  # plain floats, no numpy types, no NaN
    assert out["roc_auc"] == roc_auc(y, s)
    assert out["average_precision"] == average_precision(y, s)
    assert (out["eer"], out["eer_threshold"]) == eer(y, s)
    assert out["fpr_at_95_tpr"] == fpr_at_tpr(y, s, 0.95)
    assert out["brier_score"] == brier_score(y, s)
    assert out["expected_calibration_error"] == expected_calibration_error(y, s)
    assert out["at_threshold"] == threshold_metrics(y, s, 0.3)
    assert out["eer_threshold"] != 0.3
    assert out["at_eer_threshold"] == threshold_metrics(y, s, out["eer_threshold"])
    at = out["at_eer_threshold"]
    assert (at["fpr"] + 1 - at["tpr"]) / 2 == pytest.approx(out["eer"])
    assert (out["n"], out["n_fake"], out["n_groups"]) == (y.size, int(y.sum()), y.size // 4)
    boot = out["bootstrap"]
    assert boot["resampled"] == "groups"
    for name in ("roc_auc", "average_precision", "eer"):
        low, high = boot[name]["low"], boot[name]["high"]
        assert type(low) is float and low <= out[name] <= high
    _, low, high = bootstrap_ci(roc_auc, y, s, groups=groups, n_boot=200, seed=3)
    assert (boot["roc_auc"]["low"], boot["roc_auc"]["high"]) == (low, high)


def test_summary_with_logit_scores_and_no_bootstrap() -> None:
    y, s = random_tied(5)
    out = summary(y, (s - 0.5) * 10, threshold=0.0, n_boot=0)
    json.dumps(out, allow_nan=False)
    assert out["brier_score"] is None and out["expected_calibration_error"] is None
    assert out["bootstrap"] is None
    assert out["roc_auc"] == pytest.approx(roc_auc(y, s))


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("func", [roc_auc, average_precision, eer, fpr_at_tpr])
@pytest.mark.parametrize("label", [0, 1])
def test_single_class_raises_one_line(func: object, label: int) -> None:
    with pytest.raises(MetricError) as info:
        func(np.full(5, label), np.linspace(0, 1, 5))  # type: ignore[operator]
    message = str(info.value)
    assert "\n" not in message
    assert "needs both real (0) and fake (1)" in message
    assert ("fake (1)" if label else "real (0)") in message.split(";")[0]
    assert isinstance(info.value, FakescopeError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("y", "s", "pattern"),
    [
        ([], [], "empty"),
        ([0, 1, 1], [0.2, 0.4], r"differ in length \(3 vs 2\)"),
        ([0, 1], [0.2, np.nan], "1 NaN"),
        ([0, 1], [0.2, np.inf], "infinite"),
        ([0, 2], [0.2, 0.4], "labels must be 0"),
        ([[0, 1]], [[0.2, 0.4]], "1-D"),
    ],
)
def test_invalid_input_raises(y: list[object], s: list[object], pattern: str) -> None:
    for func in (roc_auc, eer, threshold_metrics, brier_score):
        args = (y, s, 0.5) if func is threshold_metrics else (y, s)
        with pytest.raises(MetricError, match=pattern):
            func(*args)


def test_boolean_labels_accepted() -> None:
    assert roc_auc(Y_HAND.astype(bool), S_HAND) == pytest.approx(15 / 16)
