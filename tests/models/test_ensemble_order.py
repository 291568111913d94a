"""An ensemble scores its flow members first (their flow cache then serves a signals member's
``flow_boundary``: one Farneback pass per entry), and still reports members in its card's
order."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from fakescope.inference.pipeline import _columns, _scores
from fakescope.models.ensemble import EnsembleDetector, EnsembleMember
from fakescope.models.stacking import Stacker


class _Member:
    """A member that records when it scores and never answers (no face scored)."""

    family = "clip"

    def __init__(self, name: str, inputs: str, calls: list[str]) -> None:
        self.card = SimpleNamespace(name=name, calibration=None, aggregation="mean_of_max")
        self.config = SimpleNamespace(inputs=inputs)
        self.calls = calls

    def score(self, entry: Any, tracks: Any, **_: Any) -> Any:
        self.calls.append(self.card.name)
        return _scores(_columns(), [], reason=f"{self.card.name} saw nothing")


def test_flow_members_score_first_and_results_keep_the_card_order() -> None:
    calls: list[str] = []
    spec = [("frame", "crops"), ("signals", "crops"), ("flow", "flow"), ("flow2", "flow")]
    members = [EnsembleMember(n, _Member(n, inputs, calls)) for n, inputs in spec]
    names = [n for n, _ in spec]
    y = np.arange(8) % 2
    z = np.random.default_rng(0).normal(size=(8, len(names))) + y[:, None]
    det = EnsembleDetector(
        SimpleNamespace(name="ens", model_config=None),
        members,
        Stacker(names, "logistic", seed=0).fit(z, y),
    )
    assert det.scoring_order() == [2, 3, 0, 1]
    scores = det.score(SimpleNamespace(tracks=[]), [])
    assert calls == ["flow", "flow2", "frame", "signals"]
    assert [m["name"] for m in scores.members] == names
    assert [m["reason"] for m in scores.members] == [f"{n} saw nothing" for n in names]
    assert list(scores.member_scores) == names
    calls.clear()
    answers = det.answers(SimpleNamespace(tracks=[]))
    assert calls == ["flow", "flow2", "frame", "signals"]
    assert [a["name"] for a in answers] == names
