"""The ensemble's report section on a hand-made result: rows by contribution, who answered and
why not (escaped), the sum that gives the stacked logit; nothing for other families."""

from __future__ import annotations

import re
from types import SimpleNamespace

from fakescope.reporting.ensemble import ensemble_section, ensemble_sections, members_of
from fakescope.reporting.sections import section_for

MEMBERS = [
    {"name": "frame", "family": "frame", "answered": True, "reason": None, "probability": 0.8,
     "logit": 1.386, "weight": 0.5, "contribution": 0.7, "dropped": False},
    {"name": "avsync", "family": "av", "answered": False,
     "reason": "no audio track: <avsync> compares the lips with the speech",
     "probability": None, "logit": None, "weight": 0.2, "contribution": -0.1, "dropped": False},
    {"name": "signals", "family": "signals", "answered": True, "reason": None,
     "probability": 0.1, "logit": -2.197, "weight": 1.1, "contribution": -1.5, "dropped": False},
]  # fmt: skip


def _result(members=MEMBERS, stacked=-0.4, base=0.5):
    faces = SimpleNamespace(
        members=members,
        ensemble={"stacked_logit": stacked, "base_value": base, "method": "logistic"},
    )
    return SimpleNamespace(members=members, faces=faces)


def test_rows_are_sorted_by_contribution_and_say_who_answered() -> None:
    page = "".join(ensemble_section(_result()))
    order = re.findall(r"data-member='(\w+)' data-answered='(\w+)'", page)
    assert order == [("signals", "true"), ("frame", "true"), ("avsync", "false")]
    assert "2 of 3 members answered" in page
    assert "no: no audio track: &lt;avsync&gt; compares" in page  # escaped, never raw HTML
    assert "base value +0.500" in page and "stacked logit -0.400" in page
    assert "10.0%" in page and "80.0%" in page  # each member's own probability


def test_no_members_no_section_and_the_registry_finds_it() -> None:
    assert ensemble_section(SimpleNamespace(members=None, faces=None)) == []
    assert members_of(SimpleNamespace(members=MEMBERS, faces=None)) == (MEMBERS, {})
    assert members_of(_result()) == (MEMBERS, _result().faces.ensemble)
    assert section_for("ensemble") is ensemble_sections
    none_answered = [dict(m, answered=False, contribution=None) for m in MEMBERS]
    page = "".join(ensemble_section(_result(none_answered, None, None)))
    assert "0 of 3 members answered" in page and "no member answered" in page
