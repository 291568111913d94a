"""The ensemble's stackers: fit on members' calibrated logits with missing members, additive
contributions, JSON round trip, edge cases."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from fakescope.errors import ConfigError, ModelError
from fakescope.models.stacking import STACKERS, Stacker

MEMBERS = ("frame", "clip", "avsync")


def _data(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Member 0 informative, member 1 weakly, member 2 noise and missing on ~40 % of videos
    (more often on fakes, so missingness itself carries a little evidence)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = 2 * y - 1
    z = np.stack(
        [2.0 * s + rng.normal(0, 1, n), 0.5 * s + rng.normal(0, 1, n), rng.normal(0, 1, n)], 1
    )
    z[rng.random(n) < np.where(y == 1, 0.6, 0.2), 2] = np.nan
    return z, y


@pytest.mark.parametrize("method", STACKERS)
def test_fit_separates_and_ranks_the_informative_member_first(method: str) -> None:
    from sklearn.metrics import roc_auc_score

    z, y = _data()
    st = Stacker(MEMBERS, method=method, seed=0).fit(z, y)
    zt, yt = _data(seed=1)
    p = st.predict_proba(zt)
    assert p.shape == (len(yt),) and ((p > 0) & (p < 1)).all()
    assert roc_auc_score(yt, p) > 0.9
    w = st.weights()
    assert w["frame"] > w["clip"] and w["frame"] > w["avsync"]
    np.testing.assert_allclose(st.decision(zt), np.log(p / (1 - p)), atol=1e-9)


@pytest.mark.parametrize("method", STACKERS)
def test_contributions_add_up_to_the_stacked_logit(method: str) -> None:
    z, y = _data()
    st = Stacker(MEMBERS, method=method).fit(z, y)
    for row in z[:5]:
        c = st.contributions(row)
        assert list(c) == list(MEMBERS)
        assert st.base_value() + sum(c.values()) == pytest.approx(
            st.decision(row[None])[0], abs=1e-6
        )


def test_logistic_contribution_is_the_coefficient_term_and_missing_uses_the_indicator() -> None:
    z, y = _data()
    st = Stacker(MEMBERS).fit(z, y)
    assert st.coef_z is not None and st.coef_missing is not None
    row = np.array([1.5, -0.5, np.nan])
    c = st.contributions(row)
    assert c["frame"] == pytest.approx(st.coef_z[0] * 1.5)
    assert c["avsync"] == pytest.approx(st.coef_missing[2])
    # missing on more fakes than reals in training -> a missing avsync pushes towards fake
    assert st.coef_missing[2] > 0


@pytest.mark.parametrize("method", STACKERS)
def test_round_trip_through_json_gives_identical_scores(method: str) -> None:
    z, y = _data()
    st = Stacker(MEMBERS, method=method, seed=3).fit(z, y)
    back = Stacker.from_dict(json.loads(json.dumps(st.to_dict())))
    np.testing.assert_array_equal(back.decision(z), st.decision(z))
    assert back.contributions(z[0]) == pytest.approx(st.contributions(z[0]))
    assert back.weights() == pytest.approx(st.weights())


@pytest.mark.parametrize("method", STACKERS)
def test_fit_is_seeded(method: str) -> None:
    z, y = _data()
    a = Stacker(MEMBERS, method=method, seed=5).fit(z, y).decision(z)
    b = Stacker(MEMBERS, method=method, seed=5).fit(z, y).decision(z)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("method", STACKERS)
def test_a_member_with_no_training_score_is_dropped_with_a_warning(
    method: str, caplog: pytest.LogCaptureFixture
) -> None:
    z, y = _data()
    z[:, 1] = np.nan
    with caplog.at_level(logging.WARNING, logger="fakescope.models.stacking"):
        st = Stacker(MEMBERS, method=method).fit(z, y)
    assert st.dropped == ["clip"] and "'clip'" in caplog.text
    assert st.weights()["clip"] == 0.0
    row = z[0].copy()
    row[1] = 5.0  # a value at scan time changes nothing: the member is not read
    assert st.decision(row[None])[0] == pytest.approx(st.decision(z[:1])[0])
    assert st.contributions(row)["clip"] == 0.0
    back = Stacker.from_dict(json.loads(json.dumps(st.to_dict())))
    assert back.dropped == ["clip"]
    np.testing.assert_allclose(back.decision(z), st.decision(z))


def test_bad_inputs_are_one_line_config_errors() -> None:
    z, y = _data(20)
    with pytest.raises(ConfigError, match="only class 1"):
        Stacker(MEMBERS).fit(z, np.ones(20, int))
    with pytest.raises(ConfigError, match=r"\(n_videos, 3\)"):
        Stacker(MEMBERS).fit(z[:, :2], y)
    with pytest.raises(ConfigError, match=r"stacker\.method"):
        Stacker(MEMBERS, method="forest")
    with pytest.raises(ConfigError, match="repeated"):
        Stacker(["a", "a"])
    with pytest.raises(ConfigError, match="no member scored"):
        Stacker(MEMBERS).fit(np.full((20, 3), np.nan), y)
    with pytest.raises(ConfigError, match=r"0 \(real\) or 1"):
        Stacker(MEMBERS).fit(z, y * 2)
    with pytest.raises(ModelError, match="not fitted"):
        Stacker(MEMBERS).decision(z)
    with pytest.raises(ModelError, match="lacks"):
        Stacker.from_dict({"members": ["a"], "method": "logistic"})
