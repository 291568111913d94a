"""The report's ensemble section: each member's score for this video, its weight and its
contribution to the stacked logit, and whether it answered (and why not), so a person sees
which evidence drove the verdict."""

from __future__ import annotations

import html
from typing import Any

__all__ = ["ensemble_section", "ensemble_sections", "members_of"]

_FAKE, _REAL = "#c0392b", "#27865f"


def members_of(result: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(the members' dicts, the stacking summary) of a ``ScanResult``: its ``members`` field
    (the scan copies them from its scored faces) and its scored faces' (``VideoScores``)
    ``ensemble`` summary; empty for other families and for a result without its faces."""
    summary = getattr(getattr(result, "faces", None), "ensemble", None)
    return list(getattr(result, "members", None) or []), dict(summary or {})


def _bar(v: float, scale: float, width: int = 200) -> str:
    half = width / 2
    w = min(abs(v) / scale, 1.0) * half
    x = half if v >= 0 else half - w
    c = _FAKE if v >= 0 else _REAL
    return (
        f"<svg width='{width}' height='14' role='img' aria-label='contribution {v:+.3f}'>"
        f"<line x1='{half}' y1='0' x2='{half}' y2='14' stroke='#98a2b3'/>"
        f"<rect x='{x:.1f}' y='2' width='{w:.1f}' height='10' fill='{c}'/></svg>"
    )


def _num(v: Any, fmt: str) -> str:
    return "–" if v is None else format(float(v), fmt)


def ensemble_section(result: Any, detector: Any = None, top: int = 6) -> list[str]:
    """HTML of the ensemble section of a ``ScanResult`` (empty when it has no members)."""
    members, summary = members_of(result)
    if not members:
        return []
    contrib = [abs(float(m["contribution"])) for m in members if m.get("contribution") is not None]
    scale = max([*contrib, 1e-9])
    order = sorted(
        members,
        key=lambda m: -abs(float(m["contribution"])) if m.get("contribution") is not None else 1.0,
    )
    rows = []
    for m in order:
        answered = bool(m.get("answered"))
        state = "yes" if answered else f"no: {m.get('reason') or 'no score'}"
        if m.get("dropped"):
            state += " (not read by the stacker: it scored no fitting video)"
        c = m.get("contribution")
        rows.append(
            f"<tr data-member='{html.escape(str(m['name']))}' data-answered='{str(answered).lower()}'>"
            f"<th>{html.escape(str(m['name']))}</th><td>{html.escape(str(m.get('family')))}</td>"
            f"<td>{html.escape(state)}</td><td>{_num(m.get('probability'), '.1%')}</td>"
            f"<td>{_num(m.get('logit'), '+.3f')}</td><td>{_num(m.get('weight'), '.3f')}</td>"
            f"<td>{_bar(float(c), scale) if c is not None else ''}</td><td>{_num(c, '+.3f')}</td></tr>"
        )
    answered_n = sum(bool(m.get("answered")) for m in members)
    stacked = summary.get("stacked_logit")
    base = summary.get("base_value")
    how = summary.get("method")
    total = (
        f"the base value {base:+.3f} plus the contributions give the stacked logit "
        f"{stacked:+.3f}, which the ensemble's calibration maps to the probability above"
        if stacked is not None and base is not None
        else "no member answered, so there is no stacked score"
    )
    explain = (
        "a member's contribution is its stacker coefficient times its logit (or the learnt "
        "term for a missing member)"
        if how == "logistic"
        else "contributions are SHAP values of the stacker's trees (exact)"
    )
    return [
        "<h2>Ensemble members</h2><div class='card ensemble'>",
        f"<p>{answered_n} of {len(members)} members answered for this video.</p>",
        "<table class='members'><tr><th>member</th><th>family</th><th>answered</th>"
        "<th>its probability</th><th>its logit</th><th>weight</th>"
        "<th>contribution to the stacked logit</th><th></th></tr>",
        *rows,
        "</table>",
        f"<p class='muted'>Each member's probability is its own calibrated score of the video; "
        f"weight is the member's mean absolute contribution over the videos the stacker "
        f"({html.escape(str(how))}) was fitted on; {explain}. Red bars push towards fake, green "
        f"towards real; rows are sorted by the size of the contribution. For this video {total}. "
        "A member that could not score the video is left out and says why.</p></div>",
    ]


def strongest_member_section(result: Any, r: dict[str, Any], detector: Any, top: int) -> str:
    """The report sections of the answered member that moved the stacked logit most, drawn by
    its own family's renderer on its own scores (its faces by its probability, its signals
    with SHAP, its motion); empty when the scores or the loaded members are not at hand."""
    from dataclasses import replace

    from .sections import section_for

    members, _ = members_of(result)
    own = getattr(getattr(result, "faces", None), "member_scores", None) or {}
    loaded = {m.name: m for m in getattr(detector, "members", [])}
    answered = [m for m in members if m.get("answered") and m.get("contribution") is not None]
    if not answered or not own:
        return ""
    best = max(answered, key=lambda m: abs(float(m["contribution"])))
    member, scores = loaded.get(best["name"]), own.get(best["name"])
    if member is None or scores is None or not len(scores):
        return ""
    agg = member.aggregate(scores)
    probs = {(t, f["index"]): p for f in agg["frames"] for t, p in f["faces"].items()}
    tracks = [
        {**t, "probability": agg["tracks"].get(t["track_id"]),
         "boxes": [{**b, "probability": probs.get((t["track_id"], b["frame_index"]))}
                   for b in t["boxes"]]}
        for t in r.get("tracks") or [] if t["track_id"] in agg["tracks"]
    ]  # fmt: skip
    signals = getattr(scores, "signals", None)
    sub_r = {**r, "tracks": tracks, "signals": signals, "motion": getattr(scores, "motion", None),
             "audio": None, "segments": None,
             "model": {**r.get("model", {}), "family": member.family,
                       "temperature": float(member.card.temperature)}}  # fmt: skip
    sub = replace(result, faces=scores, signals=signals, members=None)
    body = section_for(member.family)(sub, sub_r, member.detector, top)
    if not body:
        return ""
    name = html.escape(str(best["name"]))
    return (
        f"<h2>Strongest member: {name} ({html.escape(member.family)})</h2>"
        f"<p class='muted'>{name} moved the stacked logit most for this video "
        f"({float(best['contribution']):+.3f}); below, its own evidence as its family's report "
        f"shows it, at its own probability {float(best['probability']):.1%}.</p>{body}"
    )


def ensemble_sections(result: Any, r: dict[str, Any], detector: Any, top: int) -> str:
    """The ensemble's report sections (``reporting.sections`` registry): the members table,
    then the strongest member's own sections."""
    return "".join(ensemble_section(result, detector, top)) + strongest_member_section(
        result, r, detector, top
    )


try:  # the report's family sections (reporting.sections), where that registry exists
    from .sections import register_section
except ImportError:  # pragma: no cover - before the registry lands, html calls this directly
    pass
else:
    register_section("ensemble")(ensemble_sections)
