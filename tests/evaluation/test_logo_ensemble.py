"""Stacked ensembles on members' LOGO fold logits (evaluation.logo_ensemble), synthetic data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from fakescope.errors import ConfigError
from fakescope.evaluation.logo_ensemble import fold_scores, logo_ensemble, paired_auc_difference
from fakescope.evaluation.logo_run import _logit_rows
from fakescope.inference.video_calibration import VideoCalibrator

GENS = ("genA", "genB")
N_REAL_VAL, N_FAKE_VAL, N_REAL_TEST, N_FAKE_TEST = 24, 24, 20, 12


def _ids() -> dict[str, dict[str, dict[str, int]]]:
    """generator -> part -> video id -> label; the test reals are shared by both folds, as in
    the protocol (held-out people's reals + the held-out generator's fakes)."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for g in GENS:
        val = {f"vr{i}": 0 for i in range(N_REAL_VAL)}
        val |= {f"vf{i}": 1 for i in range(N_FAKE_VAL)}
        test = {f"tr{i}": 0 for i in range(N_REAL_TEST)}
        test |= {f"{g}_{i}": 1 for i in range(N_FAKE_TEST)}
        out[g] = {"val": val, "test": test}
    return out


def _member(
    signal: float, seed: int, missing: float = 0.0, baselines: bool = False
) -> dict[str, Any]:
    """A member's logo.json as run_logo writes it: logit = signal * (2y - 1) + N(0, 1),
    None on a ``missing`` share of the videos."""
    rng = np.random.default_rng(seed)
    fl: dict[str, Any] = {}
    preds = []
    for g, parts in _ids().items():
        fl[g] = {}
        for part, labels in parts.items():
            rows = {}
            for v, y in labels.items():
                z = float(signal * (2 * y - 1) + rng.normal())
                gone = rng.random() < missing
                rows[v] = {
                    "label": y,
                    "raw": None if gone else z,
                    "calibrated": None if gone else z,
                }
                if part == "test" and baselines:
                    preds.append(
                        {"generator": g, "video_id": v, "label": y, "detector": 0.5,
                         "metadata": float(rng.random())}
                    )  # fmt: skip
            fl[g][part] = rows
    return {
        "per_generator": {"genC": {"skipped": "no fake of genC in the test split"}},
        "fold_logits": fl,
        "predictions": preds,
    }


def _auc(result: dict[str, Any]) -> float:
    return float(result["mean"]["detector"]["auc"])


def test_a_stacker_of_an_informative_and_a_noise_member_beats_the_noise_member() -> None:
    members = {"good": _member(1.5, 1), "noise": _member(0.0, 2, baselines=True)}
    noise_alone = logo_ensemble({"noise": members["noise"]}, n_boot=0)
    for method in ("logistic", "gbm"):
        both = logo_ensemble(members, method=method, n_boot=0, name="both")
        assert _auc(both) > _auc(noise_alone) + 0.2
        assert set(both["per_generator"]) == {*GENS, "genC"}
        assert both["per_generator"]["genC"] == {"skipped": "no fake of genC in the test split"}
        fold = both["per_generator"]["genA"]
        assert (fold["real"], fold["fake"]) == (N_REAL_TEST, N_FAKE_TEST)
        assert 0.0 <= fold["detector"]["ece"] <= 1.0 and 0.0 < fold["threshold"] < 1.0
        # the shortcut baselines come from a member's run, on the same test videos
        assert fold["metadata"]["scored"] == N_REAL_TEST + N_FAKE_TEST
        assert both["ensemble"]["members"] == ["good", "noise"]
    weights = both["ensemble"]["folds"]["genA"]["stacker"]
    assert weights["method"] == "gbm"
    logistic = logo_ensemble(members, n_boot=0)["ensemble"]["folds"]["genA"]["stacker"]
    assert logistic["coef_z"][0] > abs(logistic["coef_z"][1])  # the informative member leads


def test_a_member_missing_on_some_videos_is_left_out_there_not_dropped() -> None:
    members = {"good": _member(1.5, 1, missing=0.3), "weak": _member(0.7, 3)}
    out = logo_ensemble(members, n_boot=0)
    answered = out["ensemble"]["folds"]["genA"]["test_answered"]
    assert 0 < answered["good"] < N_REAL_TEST + N_FAKE_TEST
    assert answered["weak"] == N_REAL_TEST + N_FAKE_TEST
    # every test video gets a score, also where the good member said nothing
    assert all(p["detector"] is not None for p in out["predictions"])
    assert _auc(out) > _auc(logo_ensemble({"weak": members["weak"]}, n_boot=0))
    # the ensemble's fold logits have the members' shape, so ensembles compare like members
    scores = fold_scores(out)
    assert set(scores) == set(GENS) and len(scores["genA"]) == N_REAL_TEST + N_FAKE_TEST


def test_paired_check_and_same_dataset_auc_come_from_the_manifest() -> None:
    rows = [{"video_id": v, "label": y, "dataset": "d", "compression": "c23", "path": f"{v}.mp4",
             "target_id": ("tr0" if y == 1 else None)} for v, y in _ids()["genA"]["test"].items()]  # fmt: skip
    out = logo_ensemble({"good": _member(3.0, 1)}, table=pd.DataFrame(rows), n_boot=0)
    # every fake of genA is paired with its source tr0 (genB's fakes are not in the table)
    assert out["paired"]["pairs"] == N_FAKE_TEST
    assert out["paired"]["fake_above_source"] > 0.8
    assert out["per_generator"]["genA"]["detector"]["same_dataset"]["auc"] is not None


def test_paired_auc_difference_sees_a_real_gap_and_no_gap_between_equals() -> None:
    good, noise = fold_scores(_member(1.5, 1)), fold_scores(_member(0.0, 2))
    gap = paired_auc_difference(good, noise, n_boot=200)
    assert gap["folds"] == 2 and gap["low"] > 0.1 and gap["difference"] > gap["low"]
    assert set(gap["per_fold"]) == set(GENS) and gap["fold_sd"] is not None
    same = paired_auc_difference(good, good, n_boot=50)
    assert same["difference"] == 0.0 and same["low"] == same["high"] == 0.0


def test_members_without_fold_logits_and_unknown_inputs_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="fold_logits"):
        logo_ensemble({"old": {"per_generator": {}}})
    with pytest.raises(ConfigError, match="inputs"):
        logo_ensemble({"good": _member(1.0, 1)}, inputs="probabilities")


def test_run_logo_keeps_raw_and_calibrated_logits_per_video() -> None:
    cal = VideoCalibrator().fit(np.array([-2.0, -1.0, 1.0, 2.0]), np.array([0, 0, 1, 1]))
    z = {"a": -1.5, "b": 2.5, "c": float("nan")}
    rows = _logit_rows(["a", "b", "c"], z, {"a": 0, "b": 1, "c": 0}, cal)
    assert rows["a"]["raw"] == -1.5 and rows["a"]["label"] == 0
    p = cal.predict_proba(np.array([2.5]))[0]
    assert rows["b"]["calibrated"] == pytest.approx(np.log(p / (1 - p)))
    assert rows["c"] == {"label": 0, "raw": None, "calibrated": None}
