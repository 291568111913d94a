"""The ``ensemble`` family: members' calibrated video scores stacked into one verdict.

An ensemble checkpoint is a folder::

    card.json            model.kind: ensemble; card.ensemble: the members (each one's folder,
                         family and own card), the stacker (``Stacker.to_dict``) and the
                         extraction every member shares; threshold and calibration as any card
    MODEL_CARD.md        the members with their cards, for people
    members/<name>/      each member's own checkpoint (card.json + its weights)

Scoring one cache entry (``EnsembleDetector.score``): every member scores the same entry with
its own ``score``; its faces are aggregated to its calibrated video probability with the
shared code (``inference.pipeline.aggregate`` under the member card's aggregation,
temperature and video calibration) and turned into a logit; the stacker maps the members'
logits (NaN for a member that could not answer) to one stacked logit, which every face of the
entry's tracks carries (the signals family's precedent), so aggregation, the ensemble card's
calibration and the verdict stay shared code. ``VideoScores.members`` says, per member,
whether it answered, why not, its probability and logit and its contribution to the stacked
logit.

A member that cannot score a video (an empty ``VideoScores`` with a reason such as no audio
or no track long enough, or a ``FakescopeError`` such as a broken audio stream) is left out of
that video (NaN for the stacker, which was fitted expecting it) and recorded with its reason.
When no member answers, the result is empty with the reasons.

One extraction serves every member: ``ensemble_extract_settings`` is the union of the members'
settings (see its docstring for the rules). This module imports the inference layer lazily (the
ensemble is a detector made of detectors, scored with the pipeline's own aggregation).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, FakescopeError, ModelError
from ..types import VideoScores
from .stacking import Stacker

__all__ = [
    "EnsembleDetector",
    "EnsembleMember",
    "ensemble_extract_settings",
    "load_ensemble",
    "member_facts",
    "merge_extract_settings",
]

MEMBERS_DIR = "members"
_NOMINAL_SECONDS = 10.0  # a 10-s video decides which sampling is the densest


def member_facts(name: str, card: Any) -> dict[str, Any]:
    """What the ensemble card keeps of a member: its folder, family, network and whole card
    (so the shared extraction can be worked out before any weights load)."""
    return {
        "name": name,
        "folder": f"{MEMBERS_DIR}/{name}",
        "family": str((card.model or {}).get("kind", "frame")),
        "network": (card.model or {}).get("name"),
        "card": card.to_dict(),
    }


def _sampling_density(text: str) -> float:
    """Frames a sampling takes from a nominal 10-s, 25-fps video (to compare strategies)."""
    from ..io.sampling import parse_sampling

    s = parse_sampling(text)
    if s.kind == "uniform":
        return float(s.value)
    if s.kind == "fps":
        return float(s.value) * _NOMINAL_SECONDS
    if s.kind == "segments":
        per = s.per_segment or 25.0 * float(s.value)
        return _NOMINAL_SECONDS / float(s.value) * per
    return 25.0 * _NOMINAL_SECONDS  # all


def merge_extract_settings(named: Sequence[tuple[str, Any]]) -> Any:
    """One ``ExtractSettings`` for members' own settings (``(name, settings)`` pairs).

    - crop geometry (face detector, crop margin and size) must agree: a member whose crops
      differ would see other faces than it learnt on (``ConfigError`` naming both);
    - context windows and frame runs (signals and flow members) are on when any member needs
      them, and members that need them must agree on them (they are in the cache key and the
      signal values depend on them);
    - sampling: the densest member's (frames a nominal 10-s video gets; ties: the first
      member's). A member whose own sampling differs reads the shared frames as they are: a
      frame or signals member just sees more (or other) frames; a clip member sees clips of
      the shared spacing; an av member sampled at its own FPS (``fps:5``) but served
      ``uniform:N`` finds no run of consecutive crops and does not answer (its reason says
      so). The stacker is fitted on the same shared extraction, so it expects exactly that.
    """
    if not named:
        raise ConfigError("ensemble: no member")
    first_name, first = named[0]
    for name, s in named[1:]:
        for what, a, b in (
            ("face detector", first.detector, s.detector),
            ("detector options", first.detector_options, s.detector_options),
            ("crop", first.crop.to_dict(), s.crop.to_dict()),
            ("tracking", first.tracking.to_dict(), s.tracking.to_dict()),
            ("max_faces", first.max_faces, s.max_faces),
        ):
            if a != b:
                raise ConfigError(
                    f"ensemble: members '{first_name}' and '{name}' disagree on the {what} "
                    f"({a} vs {b}); one extraction serves every member, so their crops must match"
                )
    contexts = [(n, s.context) for n, s in named if s.context is not None]
    for name, ctx in contexts[1:]:
        if ctx != contexts[0][1]:
            raise ConfigError(
                f"ensemble: members '{contexts[0][0]}' and '{name}' need different context "
                f"windows ({contexts[0][1].to_dict()} vs {ctx.to_dict()})"
            )
    densest = max(named, key=lambda ns: _sampling_density(ns[1].sampling))[1].sampling
    from dataclasses import replace

    return replace(first, sampling=densest, context=contexts[0][1] if contexts else None)


def ensemble_extract_settings(card: Any, frames: int | None = None) -> Any:
    """The shared extraction of an ensemble card (``merge_extract_settings`` of each member
    card's own ``extract_settings_for``); ``frames`` is passed to every member."""
    from ..inference.pipeline import extract_settings_for
    from .checkpoint import ModelCard

    named = []
    for m in _members_of(card):
        member_card = ModelCard.from_dict(m["card"])
        named.append((str(m["name"]), extract_settings_for(member_card, frames)))
    return merge_extract_settings(named)


def _members_of(card: Any) -> list[dict[str, Any]]:
    section = getattr(card, "ensemble", None) or {}
    members = section.get("members")
    if not members or not all(isinstance(m, dict) and "card" in m for m in members):
        raise ModelError(f"{card.name}: an ensemble card needs its 'ensemble.members' list")
    return list(members)


class EnsembleMember:
    """A loaded member: its detector, card and video calibration."""

    def __init__(self, name: str, detector: Any) -> None:
        from ..inference.pipeline import video_calibrator

        self.name = name
        self.detector = detector
        self.card = detector.card
        self.family = str(getattr(detector, "family", "frame"))
        self.calibrator = video_calibrator(self.card)

    def answer(
        self,
        entry: Any,
        tracks: list[dict[str, Any]],
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        batch_size: int = 32,
    ) -> dict[str, Any]:
        """``{"name", "family", "answered", "reason", "probability", "logit"}`` for one entry:
        the member's calibrated video probability (the shared aggregation and the member
        card's calibration) and its logit, or why it could not answer."""
        return self.answer_with_scores(entry, tracks, transform, batch_size)[0]

    def answer_with_scores(
        self,
        entry: Any,
        tracks: list[dict[str, Any]],
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        batch_size: int = 32,
    ) -> tuple[dict[str, Any], Any]:
        """``answer`` and the member's ``VideoScores`` (None when it raised)."""
        from ..inference.calibration import logit

        out: dict[str, Any] = {"name": self.name, "family": self.family, "answered": False,
                               "reason": None, "probability": None, "logit": None}  # fmt: skip
        try:
            scores = self.detector.score(entry, tracks, transform=transform, batch_size=batch_size)
        except FakescopeError as exc:
            out["reason"] = " ".join(str(exc).split())
            return out, None
        p = self.aggregate(scores)["probability"] if len(scores) else None
        if p is None:
            out["reason"] = scores.reason or "no face scored"
            return out, scores
        out.update(answered=True, probability=float(p), logit=float(logit(p)))
        return out, scores

    def aggregate(self, scores: Any) -> dict[str, Any]:
        """The shared aggregation of the member's scores under its own card."""
        from ..inference.pipeline import AGGREGATIONS, aggregate

        how = self.card.aggregation if self.card.aggregation in AGGREGATIONS else "mean_of_max"
        return aggregate(scores, self.card.temperature, how, calibration=self.calibrator)


class EnsembleDetector:
    """A loaded ensemble checkpoint: members + stacker, behind the detector contract
    (``family``, ``score``, ``shape``)."""

    family = "ensemble"
    backend = "ensemble"

    def __init__(
        self, card: Any, members: Sequence[EnsembleMember], stacker: Stacker, device: str = "cpu"
    ) -> None:
        self.card = card
        self.config = card.model_config
        self.members = list(members)
        self.stacker = stacker
        self.device = device
        names = [m.name for m in self.members]
        if names != list(stacker.members):
            raise ModelError(
                f"{card.name}: the stacker's members ({', '.join(stacker.members)}) differ from "
                f"the card's ({', '.join(names)})"
            )

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.members]

    def logits(self, crops: np.ndarray, batch_size: int = 32) -> np.ndarray:
        raise ModelError(
            f"{self.card.name} is an ensemble: it scores whole videos from their cache entry "
            "(detector.score), not single crops"
        )

    def clip_outputs(self, clips: np.ndarray, batch_size: int = 4) -> dict[str, Any]:
        return {"logit": self.logits(clips)}

    def answers(
        self,
        entry: Any,
        tracks: list[dict[str, Any]] | None = None,
        *,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        batch_size: int = 32,
    ) -> list[dict[str, Any]]:
        """Each member's answer for one entry (``EnsembleMember.answer``)."""
        tracks = entry.tracks if tracks is None else tracks
        return [a for a, _ in self._answer_all(entry, tracks, transform, batch_size)]

    def scoring_order(self) -> list[int]:
        """The order the members score an entry in (their results keep the card's order):
        flow models first, so that the flow they write to the entry's flow cache serves a
        signals member's ``flow_boundary`` too (the same Farneback flow, computed once)."""
        first = [i for i, m in enumerate(self.members) if _reads_flow(m.detector)]
        return first + [i for i in range(len(self.members)) if i not in first]

    def _answer_all(
        self,
        entry: Any,
        tracks: list[dict[str, Any]],
        transform: Callable[[np.ndarray], np.ndarray] | None,
        batch_size: int,
    ) -> list[tuple[dict[str, Any], Any]]:
        """Every member's ``answer_with_scores``, in the card's order."""
        out: dict[int, tuple[dict[str, Any], Any]] = {}
        for i in self.scoring_order():
            out[i] = self.members[i].answer_with_scores(entry, tracks, transform, batch_size)
        return [out[i] for i in range(len(self.members))]

    def stack(self, answers: Sequence[dict[str, Any]]) -> tuple[float | None, list[dict[str, Any]]]:
        """(stacked logit or None when no member answered, the members' dicts with their
        contribution and weight)."""
        z = np.array([np.nan if a["logit"] is None else a["logit"] for a in answers], np.float64)
        weights = self.stacker.weights()
        members = [dict(a) for a in answers]
        if not np.isfinite(z).any():
            for m in members:
                m.update(contribution=None, weight=weights.get(m["name"]))
            return None, members
        stacked = float(self.stacker.decision(z[None])[0])
        contrib = self.stacker.contributions(z)
        for m in members:
            m.update(
                contribution=contrib[m["name"]],
                weight=weights.get(m["name"]),
                dropped=m["name"] in self.stacker.dropped,
            )
        return stacked, members

    def score(
        self,
        entry: Any,
        tracks: list[dict[str, Any]] | None = None,
        *,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        batch_size: int = 32,
    ) -> VideoScores:
        """``VideoScores`` whose every face (of ``tracks``) carries the stacked video logit,
        with ``members`` filled; empty with the members' reasons when none answered."""
        from ..inference.pipeline import _add_track, _columns, _scores

        tracks = entry.tracks if tracks is None else tracks
        pairs = self._answer_all(entry, tracks, transform, batch_size)
        stacked, members = self.stack([a for a, _ in pairs])
        cols = _columns()
        if stacked is not None:
            for t in tracks:
                _add_track(cols, entry, t)
        reason = None
        if stacked is None:
            reason = "no ensemble member could score the video: " + "; ".join(
                f"{m['name']}: {m['reason']}" for m in members
            )
        elif not cols["track"]:
            reason = "no face track to give the ensemble's score to"
        summary = {
            "stacked_logit": stacked,
            "base_value": self.stacker.base_value() if stacked is not None else None,
            "method": self.stacker.method,
            "answered": sum(bool(m["answered"]) for m in members),
        }
        scores = _scores(
            cols,
            np.full(len(cols["track"]), stacked if stacked is not None else 0.0),
            reason=reason,
            members=members,
            ensemble=summary,
            member_scores={m.name: vs for m, (_, vs) in zip(self.members, pairs)},
        )
        return scores

    def shape(self) -> dict[str, Any]:
        """The family block of a scan result's ``model`` section."""
        return {
            "family": "ensemble",
            "stacker": self.stacker.method,
            "members": [
                {"name": m.name, "family": m.family, "network": (m.card.model or {}).get("name"),
                 "dropped": m.name in self.stacker.dropped}
                for m in self.members
            ],
        }  # fmt: skip


def _reads_flow(detector: Any) -> bool:
    """Whether a member is a flow model (``ModelConfig.inputs == "flow"``, seed 003)."""
    return getattr(getattr(detector, "config", None), "inputs", None) == "flow"


def read_member_card(folder: Path) -> Any:
    """A member folder's card, or a one-line ``ConfigError`` naming the folder."""
    from .checkpoint import read_card

    try:
        return read_card(folder)
    except (ModelError, OSError) as exc:
        raise ConfigError(f"ensemble member {folder}: {' '.join(str(exc).split())}") from None


def load_ensemble(
    folder: str | os.PathLike[str], card: Any, device: str = "cpu"
) -> EnsembleDetector:
    """``EnsembleDetector`` of an ensemble checkpoint folder (each member loaded with
    ``load_detector`` from ``members/<name>/``)."""
    from .checkpoint import load_detector

    folder = Path(folder)
    members = []
    for m in _members_of(card):
        sub = folder / str(m.get("folder") or f"{MEMBERS_DIR}/{m['name']}")
        if not (sub / "card.json").is_file():
            raise ModelError(f"{folder}: ensemble member '{m['name']}' is missing ({sub})")
        try:
            detector = load_detector(sub, device)
        except ModelError as exc:
            raise ModelError(
                f"{folder}: ensemble member '{m['name']}': {' '.join(str(exc).split())}"
            ) from None
        members.append(EnsembleMember(str(m["name"]), detector))
    stacker = Stacker.from_dict((card.ensemble or {}).get("stacker") or {})
    return EnsembleDetector(card, members, stacker, device)


def is_ensemble_folder(folder: Path) -> bool:
    """Whether a folder holds an ensemble card (for checkpoint resolution)."""
    try:
        data = json.loads((folder / "card.json").read_text())
        return bool(data["model"]["kind"] == "ensemble")
    except (OSError, ValueError, KeyError, TypeError):
        return False
