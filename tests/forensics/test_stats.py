"""The statistics: Mann-Whitney, effect sizes, Holm, the seed's verdicts, the generated answer."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fakescope.forensics.signals import SIGNALS
from fakescope.forensics.stats import (
    cliffs_delta,
    holm,
    mann_whitney,
    min_p_value,
    signal_stats,
    stats_markdown,
)


def test_mann_whitney_perfect_separation_and_effect_sizes():
    fake, real = [5.0, 6.0, 7.0, 8.0, 9.0, 10.0], [0.0, 1.0, 2.0, 3.0, 4.0, 4.5]
    t = mann_whitney(fake, real)
    assert t["u"] == 36.0
    assert t["p"] == pytest.approx(2 / math.comb(12, 6))  # exact two-sided p
    assert t["p"] == pytest.approx(t["min_p"])
    assert t["rank_biserial"] == 1.0 and t["cliffs_delta"] == 1.0
    assert t["direction"] == "fake>real"
    flipped = mann_whitney(real, fake)
    assert flipped["rank_biserial"] == -1.0 and flipped["direction"] == "fake<real"


def test_rank_biserial_equals_cliffs_delta_with_ties():
    rng = np.random.default_rng(0)
    fake = rng.integers(0, 5, 9).astype(float)
    real = rng.integers(0, 5, 7).astype(float)
    t = mann_whitney(fake, real)
    assert t["rank_biserial"] == pytest.approx(cliffs_delta(fake, real))
    assert -1 <= t["cliffs_delta"] <= 1


def test_all_tied_is_p_one():
    t = mann_whitney([1.0, 1.0, 1.0], [1.0, 1.0])
    assert t["p"] == 1.0 and t["cliffs_delta"] == 0.0


def test_holm_matches_the_step_down_rule():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1, made monotone
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_min_p_value():
    assert min_p_value(1, 3) == 0.5
    assert min_p_value(6, 6) == pytest.approx(2 / 924)
    assert min_p_value(0, 5) == 1.0


def _table(shift: float, n: int = 8, seed: int = 0) -> pd.DataFrame:
    """Reals and two methods; 'Strong' is shifted by ``shift`` on every signal, 'Null' is not."""
    rng = np.random.default_rng(seed)
    rows = []
    for label, method, delta in ((0, "original", 0.0), (1, "Strong", shift), (1, "Null", 0.0)):
        for i in range(n):
            row = {"path": f"{method}/{i}.mp4", "label": label, "method": method}
            row.update({s: rng.normal(delta, 1.0) for s in SIGNALS})
            row.update(dataset="ffpp", compression="c23")
            rows.append(row)
    return pd.DataFrame(rows)


def test_signal_stats_verdicts_follow_the_seed_rule():
    stats = signal_stats(_table(shift=10.0))
    (group,) = stats["groups"]
    assert group["group"] == "ffpp c23" and group["n_real"] == 8 and group["n_fake"] == 16
    by_method = {m["method"]: m for m in group["methods"]}
    for t in by_method["Strong"]["tests"]:
        assert t["verdict"] == "SEPARATES" and t["p_holm"] >= t["p"]
        assert not t["inverted"]
    assert all(t["verdict"] == "FAILS" for t in by_method["Null"]["tests"])
    for sig in SIGNALS:  # one method of two separates: the seed calls that WEAK
        assert group["summary"][sig]["verdict"] == "WEAK"
        assert group["summary"][sig]["separates"] == ["Strong"]
    inverted = signal_stats(_table(shift=-10.0))["groups"][0]
    assert inverted["summary"]["flicker_hll"]["inverted"] == ["Strong"]


def test_groups_are_never_pooled_and_reals_come_from_the_fakes_subset():
    a = _table(shift=10.0)
    b = _table(shift=0.0, seed=1).assign(compression="c40")
    actors = _table(shift=0.0, seed=2)
    actors = actors[actors["label"] == 0].assign(method="original_actors")
    table = pd.concat([a, b, actors.assign(compression="c40", subset="actors")])
    table["subset"] = table.get("subset", pd.Series(index=table.index, dtype=object))
    table.loc[table["method"] != "original_actors", "subset"] = "youtube"
    stats = signal_stats(table)
    names = [g["group"] for g in stats["groups"]]
    assert names == ["ffpp c23", "ffpp c40"]
    c40 = stats["groups"][1]
    assert c40["n_real"] == 16  # both kinds of real video are in the group ...
    assert all(m["n_real"] == 8 for m in c40["methods"])  # ... only youtube ones are compared
    assert stats["groups"][0]["summary"]["srm_sharpness"]["verdict"] == "WEAK"
    assert c40["summary"]["srm_sharpness"]["verdict"] == "FAILS"


def test_missing_values_are_dropped_not_counted():
    table = _table(shift=10.0)
    table.loc[table.index[:3], "flow_boundary"] = np.nan
    group = signal_stats(table)["groups"][0]
    strong = next(m for m in group["methods"] if m["method"] == "Strong")
    flow = next(t for t in strong["tests"] if t["signal"] == "flow_boundary")
    assert flow["n_real"] == 5 and flow["n_fake"] == 8


def test_markdown_answers_per_group_and_flags_tiny_samples():
    text = stats_markdown(signal_stats(_table(shift=10.0)))
    assert "## Answer" in text and "**ffpp c23**" in text
    assert "`srm_sharpness` (WEAK: Strong)" in text
    tiny = _table(shift=10.0, n=2)
    text = stats_markdown(signal_stats(tiny))
    assert "no signal separates any method" in text and "too few videos" in text


def test_a_signal_missing_everywhere_is_untested_not_an_error():
    table = _table(shift=10.0)
    table["flow_boundary"] = np.nan  # e.g. extracted without the context
    group = signal_stats(table)["groups"][0]
    strong = next(m for m in group["methods"] if m["method"] == "Strong")
    flow = next(t for t in strong["tests"] if t["signal"] == "flow_boundary")
    assert flow["p"] is None and flow["verdict"] == "FAILS" and "no real" in flow["note"]
    # Holm runs over the four signals that were tested
    tested = [t for t in strong["tests"] if t["p"] is not None]
    assert len(tested) == 4 and all(t["p_holm"] <= 4 * t["p"] + 1e-12 for t in tested)
    assert "–" in stats_markdown(signal_stats(table))
