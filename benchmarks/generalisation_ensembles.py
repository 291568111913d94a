"""Ensemble candidates of benchmarks/generalisation.py (``kind: ensemble``) and the
"Ensembles" section of generalisation.md: members alone, leave-one-member-out ensembles, the
full ensemble, the decision rule of issue 14 §2 and each member's CPU scan time.

An ensemble is judged on its members' LOGO folds without retraining any member: the members'
run folders (``runs/generalisation/<member>/logo.json``) keep every val and test video's video
logit per fold, and ``fakescope.evaluation.logo_ensemble`` stacks them (fitted on each fold's
val videos) and scores the fold's test videos.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

NOISE = (
    "95% paired bootstrap interval over test videos of the difference in LOGO mean AUC "
    "(each replicate resamples the held-out reals, shared by every fold, once and each fold's "
    "fakes within the fold, and recomputes both means on the same draw)"
)


def shippable(name: str, spec: dict[str, Any]) -> bool:
    """A candidate the shipped product may use: no published (../shared) weights in it."""
    c = spec["candidates"][name]
    if c.get("kind") == "published":
        return False
    if c.get("kind") == "ensemble":
        return all(shippable(m, spec) for m in c["members"])
    return True


def run_ensemble(
    name: str, spec: dict[str, Any], out: Path, manifest: Path, results: dict[str, Any],
    n_boot: int,
) -> dict[str, Any]:  # fmt: skip
    """Stack the members' fold logits; write OUT/NAME/logo.{json,md}; the result beside its
    comparison with its best single member (``versus_best_member``)."""
    from fakescope._atomic import atomic_write_json, atomic_write_text
    from fakescope.datasets import read_manifest
    from fakescope.evaluation.logo import logo_markdown
    from fakescope.evaluation.logo_ensemble import fold_scores, logo_ensemble, paired_auc_difference

    c = spec["candidates"][name]
    members: dict[str, Any] = {}
    for m in c["members"]:
        path = out / m / "logo.json"
        if not path.is_file():
            raise SystemExit(f"{name}: member {m} has no LOGO run ({path}); run it first")
        members[m] = json.loads(path.read_text())
    table = read_manifest(str(manifest)).table.reset_index(drop=True)
    table["video_id"] = table["video_id"].astype(str)
    result = logo_ensemble(
        members, method=c.get("stacker", "logistic"), inputs=c.get("inputs", "calibrated"),
        table=table, baselines_from=c.get("baselines_from"), n_boot=n_boot, seed=0,
        C=float(c.get("C", 1.0)), name=name, description=c.get("description"),
    )  # fmt: skip
    result["manifest"] = str(manifest)
    (out / name).mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / name / "logo.json", result, indent=2)
    atomic_write_text(out / name / "logo.md", logo_markdown(result))

    def mean_auc(m: str) -> float:
        return float(members[m]["mean"].get("detector", {}).get("auc") or 0.0)

    best = max(members, key=mean_auc)
    result["versus_best_member"] = {
        "member": best,
        "member_auc": mean_auc(best),
        **paired_auc_difference(fold_scores(result), fold_scores(members[best]), n_boot=2000),
        "noise": NOISE,
    }
    result["ensemble"]["shippable"] = shippable(name, spec)
    method = dict(zip(table["video_id"], table["method"].astype(str)))
    for g, fold in result["ensemble"]["folds"].items():  # what the stacker was fitted on
        fakes = [
            v
            for v, row in members[c["members"][0]]["fold_logits"][g]["val"].items()
            if row["label"]
        ]
        fold["val_fake_generators"] = sorted({method.get(v, "?") for v in fakes})
    mins = [results.get(m, {}).get("train_minutes") for m in c["members"]]
    result["train_minutes"] = None if None in mins else float(sum(mins))
    result["ensemble"]["members_published"] = [
        m for m in c["members"] if spec["candidates"][m].get("kind") == "published"
    ]
    return result


# -- scan time ---------------------------------------------------------------------------------


def member_checkpoint(name: str, out: Path) -> Path | None:
    """A checkpoint of the candidate for timing (any fold's: speed does not depend on weights)."""
    fixed = out / name / "checkpoint"
    if (fixed / "card.json").is_file():
        return fixed
    cards = sorted((out / name / "models").glob("*/best/card.json"))
    return cards[0].parent if cards else None


def scan_times(names: list[str], out: Path, video: Path, repeats: int = 3) -> dict[str, Any]:
    """Per candidate, on one clip: ``extract`` (decode + faces + crops, and the context windows
    or frame runs the family reads, into an empty cache) and ``score`` (the detector on the
    cached extraction: crop reads, network or signals, aggregation), median of ``repeats``,
    the model loaded once (the per-video cost inside a batch)."""
    from fakescope.evaluation.protocol import score_row
    from fakescope.extraction import Extractor
    from fakescope.inference.pipeline import extract_settings_for
    from fakescope.models import load_detector
    from fakescope.models.checkpoint import read_card

    rows: dict[str, Any] = {}
    for name in names:
        ckpt = member_checkpoint(name, out)
        if ckpt is None:
            rows[name] = {"note": "no checkpoint in its run folder"}
            continue
        card = read_card(str(ckpt))
        settings = extract_settings_for(card)
        detector = load_detector(str(ckpt), "cpu")
        extract, score = [], []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as tmp:
                extractor = Extractor(settings, tmp)
                t0 = time.perf_counter()
                res = extractor(str(video))
                t1 = time.perf_counter()
                score_row(extractor(str(video)), detector)  # from the cache
                t2 = time.perf_counter()
                extract.append(t1 - t0)
                score.append(t2 - t1)
            del res
        rows[name] = {
            "extract_s": statistics.median(extract),
            "score_s": statistics.median(score),
            "context": settings.context is not None,
            "frames": settings.sampling,
        }
    return rows


# -- markdown ----------------------------------------------------------------------------------


def _auc_cell(r: dict[str, Any] | None) -> str:
    from fakescope.evaluation.logo import _fmt_auc

    return _fmt_auc(r)


def _row(name: str, r: dict[str, Any], gens: list[str], scan: str, label: str) -> str:
    from fakescope.evaluation.logo import ece_cell

    m = r["mean"].get("detector", {})
    p = r.get("paired") or {}
    share = p.get("fake_above_source")
    cells = [_auc_cell(r["per_generator"].get(g, {}).get("detector")) for g in gens]
    return (
        f"| {label} | " + " | ".join(cells)
        + f" | **{m.get('auc') or 0.0:.3f}** | {'-' if share is None else f'{share:.0%}'} "
        f"| {ece_cell(m)} | {scan} |"
    )  # fmt: skip


def _val_note(ens: dict[str, Any]) -> list[str]:
    """What the stackers were fitted on: the val videos per fold, and their fakes' generators."""
    folds = next(iter(ens.values()))["ensemble"]["folds"]
    if not folds or "val_fakes" not in next(iter(folds.values())):
        return []
    n = sorted({f["val_videos"] for f in folds.values()})
    k = sorted({f["val_fakes"] for f in folds.values()})
    gens = sorted({g for f in folds.values() for g in f.get("val_fake_generators", [])})
    return [
        f"The stacker of each fold is fitted on {n[0]}-{n[-1]} val videos, of which only",
        f"{k[0]}-{k[-1]} are fakes, all from {', '.join(gens)}: the val split of these data holds",
        "no fake of the other generators, so in the DFDC and talking-head folds the stacker",
        "learns from FF++ fakes against mostly talking-head reals, and a member that tells the",
        "datasets apart can earn weight there (the weights per fold are below).",
    ]


def ensembles_markdown(data: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    """The "Ensembles" section; empty without an ensemble result."""
    cands = data["candidates"]
    ens = {n: r for n, r in cands.items() if r.get("ensemble")}
    if not ens:
        return []
    scan = data.get("scan_time", {})
    rows_scan = scan.get("members", {})

    limit = scan.get("decode_limit_s")

    def scan_of(name: str) -> str:
        r = cands[name]
        if r.get("ensemble"):
            parts = [rows_scan.get(m) for m in r["ensemble"]["members"]]
            if any(p is None or "score_s" not in p for p in parts):
                return "-"
            total = max(p["extract_s"] for p in parts) + sum(p["score_s"] for p in parts)
            text = f"{total:.1f} s (est.)"
        else:
            p = rows_scan.get(name)
            if not p or "score_s" not in p:
                return "-"
            total = p["extract_s"] + p["score_s"]
            text = f"{total:.1f} s"
        return text + (f", {total / limit:.0f}x decode" if limit else "")

    members = sorted({m for r in ens.values() for m in r["ensemble"]["members"] if m in cands})
    first = next(iter(ens.values()))
    gens = [g for g, r in first["per_generator"].items() if "skipped" not in r]
    head = (
        "| configuration | "
        + " | ".join(gens)
        + " | LOGO mean | fake above source | ECE (floor) | CPU scan, 10-s clip |"
    )
    sep = "|---" * (len(gens) + 5) + "|"
    lines = [
        "## Ensembles",
        "",
        "`python benchmarks/generalisation.py --candidates <ensemble>` (issue 14 §2). An",
        "ensemble candidate (`kind: ensemble` in `configs/generalisation/candidates.yaml`) stacks",
        "its members' video logits on the members' own LOGO folds; no member is retrained. Per",
        "fold: each member's video logit after that member's fold calibration (NaN where it could",
        "not score a video; the stacker has a missing indicator per member), a stacker",
        "(`fakescope.models.stacking`: `logistic` or `gbm`) fitted on the fold's **val** videos,",
        "which the members used only for early stopping and calibration, never for their weights,",
        "and which hold no fake of the held-out generator; the ensemble's calibration and",
        "threshold are fitted on cross-fitted stacker decisions of the same val videos; then the",
        "fold's test videos are scored. AUC with 95% bootstrap intervals over test videos, as above.",
        *_val_note(ens),
        "*Shippable*: no member uses published weights from ../shared (MesoNet is a comparison",
        "only).",
        "",
        head,
        sep,
    ]
    for m in members:
        lines.append(_row(m, cands[m], gens, scan_of(m), f"{m} (alone)"))
    for n, r in sorted(ens.items(), key=lambda kv: (-len(kv[1]["ensemble"]["members"]), kv[0])):
        e = r["ensemble"]
        tag = "" if e.get("shippable") else ", not shippable"
        lines.append(
            _row(
                n,
                r,
                gens,
                scan_of(n),
                f"**{n}** ({e['stacker']}, {len(e['members'])} members{tag})",
            )
        )
    lines += ["", "Members of each ensemble, and its LOGO mean against its best single member", ""]
    lines += [
        "| ensemble | members | best member (mean) | difference in LOGO mean AUC [95% paired bootstrap] | across-fold SD of the difference |",
        "|---|---|---|---|---|",
    ]
    for n, r in ens.items():
        v = r.get("versus_best_member") or {}
        diff = v.get("difference")
        lines.append(
            f"| {n} | {', '.join(r['ensemble']['members'])} | {v.get('member', '-')} "
            f"({v.get('member_auc', 0):.3f}) | "
            + ("-" if diff is None else f"{diff:+.3f} [{v['low']:+.3f}, {v['high']:+.3f}]")
            + f" | {'-' if v.get('fold_sd') is None else format(v['fold_sd'], '.3f')} |"
        )  # fmt: skip
    for n, r in ens.items():
        if (
            r["ensemble"]["stacker"] != "logistic"
            or spec["candidates"].get(n, {}).get("role") != "full"
        ):
            continue
        names = r["ensemble"]["members"]
        lines += [
            "",
            f"{n}: the stacker's weight on each member's calibrated logit, per fold",
            "",
            "| held-out generator | " + " | ".join(names) + " | intercept |",
            "|---" * (len(names) + 2) + "|",
        ]
        for g, f in r["ensemble"]["folds"].items():
            st = f["stacker"]
            lines.append(
                f"| {g} | "
                + " | ".join(f"{w:+.2f}" for w in st["coef_z"])
                + f" | {st['intercept']:+.2f} |"
            )
    if rows_scan:
        lines += [
            "",
            "CPU scan time: `python benchmarks/generalisation.py --scan-time NAMES` on",
            f"`{scan.get('video', '?')}` ({scan.get('note', '')}). Per member, the median of",
            f"{scan.get('repeats', '?')} runs of its extraction into an empty cache (decode, faces,",
            "crops and the context windows or frame runs it reads) plus its scoring of the cached",
            "extraction, the model loaded once (the per-video cost inside a batch). An ensemble's",
            "figure is an estimate: one shared extraction (the members' slowest, the context",
            "extraction, which holds what the others read) plus every member's scoring.",
        ]
        if limit:
            lines += [
                "The clip's decode limit (every frame decoded, none converted; median of 3, same",
                f"conditions) is {limit:.2f} s; issue 14 §3 asks for the whole ensemble within 4x.",
            ]
        lines += [
            "",
            "| member | extraction (s) | scoring (s) | frames |",
            "|---|---|---|---|",
        ]
        for m, p in rows_scan.items():
            if "score_s" in p:
                lines.append(
                    f"| {m} | {p['extract_s']:.2f} | {p['score_s']:.2f} | {p['frames']}{' + context' if p['context'] else ''} |"
                )
    verdict = decision(data, spec)
    if verdict:
        lines += ["", "### The decision (issue 14 §2)", "", *verdict["text"]]
    lines.append("")
    return lines


TARGETS = {"auc": 0.85, "margin": 0.15, "ece": 0.10, "paired": 0.90}


def targets(r: dict[str, Any]) -> dict[str, Any]:
    """Issue 14 §3's targets on the LOGO mean, against one result."""
    m = r["mean"]
    auc = m.get("detector", {}).get("auc")
    meta = m.get("metadata", {}).get("auc")
    probe = m.get("linear_probe", {}).get("auc")
    ece = m.get("detector", {}).get("ece")
    paired = (r.get("paired") or {}).get("fake_above_source")
    return {
        "auc": {"value": auc, "target": TARGETS["auc"], "met": auc is not None and auc >= TARGETS["auc"]},
        "margin_metadata": {"value": None if auc is None or meta is None else auc - meta, "target": TARGETS["margin"],
                            "met": auc is not None and meta is not None and auc - meta >= TARGETS["margin"]},
        "margin_linear_probe": {"value": None if auc is None or probe is None else auc - probe, "target": TARGETS["margin"],
                                "met": auc is not None and probe is not None and auc - probe >= TARGETS["margin"]},
        "ece": {"value": ece, "target": TARGETS["ece"], "met": ece is not None and ece <= TARGETS["ece"],
                "floor": m.get("detector", {}).get("ece_floor")},
        "paired": {"value": paired, "target": TARGETS["paired"], "met": paired is not None and paired >= TARGETS["paired"]},
    }  # fmt: skip


def shipped_default_note(cands: dict[str, Any], best: str) -> list[str]:
    """Where the shipped default stands beside the protocol's best single detector."""

    def auc(name: str) -> float | None:
        c = cands.get(name) or {}
        return (c.get("mean") or {}).get("detector", {}).get("auc")

    v1, top, track = auc("v1-mix-lite0"), auc(best), auc("signals-gbm-track-only")
    if v1 is None or top is None:
        return []
    lead = f"{best} leads v1-mix-lite0 by {top - v1:+.3f} on the LOGO mean"
    if best == "signals-gbm" and track is not None:
        lead += (
            f", and the face-track statistics alone (signals-gbm-track-only), a framing cue "
            f"rather than evidence of manipulation, reach {track:.3f}"
        )
    return [
        "- The shipped default (`fakescope scan` without `--model`) is still the v1 frame "
        f"recipe (its screening run is v1-mix-lite0 above: {v1:.3f}): {lead}. Whether "
        "that lead is more than the noise needs the paired bootstrap above on v1-mix-lite0's "
        "fold logits, which its run predates."
    ]


def decision(data: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any] | None:
    """Issue 14 §2's rule, computed: among the full shippable ensembles (``role: full``) the
    protocol picks the stacker with the higher LOGO mean; that ensemble ships as the default
    only where its paired-bootstrap interval against its best single member lies above 0."""
    cands = data["candidates"]
    full = {
        n: r for n, r in cands.items()
        if r.get("ensemble") and spec["candidates"].get(n, {}).get("role") == "full"
        and r["ensemble"].get("shippable")
    }  # fmt: skip
    if not full:
        return None
    name = max(full, key=lambda n: full[n]["mean"]["detector"]["auc"] or 0.0)
    r = full[name]
    v = r["versus_best_member"]
    wins = v.get("low") is not None and v["low"] > 0
    ships = name if wins else v["member"]
    others = ", ".join(
        f"{n} {full[n]['mean']['detector']['auc']:.3f}" for n in full if n != name
    )  # fmt: skip
    t = targets(cands[ships])
    text = [
        f"- Stacker chosen by the protocol: **{r['ensemble']['stacker']}** ({name}: LOGO mean "
        f"{r['mean']['detector']['auc']:.3f}" + (f"; {others}" if others else "") + ").",
        f"- Best single member: **{v['member']}** ({v['member_auc']:.3f}).",
        f"- Difference in LOGO mean AUC, ensemble minus best member: **{v['difference']:+.3f}** "
        f"[{v['low']:+.3f}, {v['high']:+.3f}] ({NOISE}; {v['n_boot']} replicates, "
        f"{v['folds']} folds; the across-fold SD of the per-fold differences is "
        f"{v.get('fold_sd') or 0.0:.3f}).",
        (
            f"- Verdict: the interval lies above 0, so **{name} ships as the default**."
            if wins
            else f"- Verdict: the interval {'lies below' if v['high'] < 0 else 'includes'} 0: the ensemble does not "
            f"beat its best member by more than the noise, so the ensemble does not ship as "
            f"the default; the best single detector on this protocol is **{ships}**."
        ),
        *shipped_default_note(cands, ships),
        "",
        f"Issue 14 §3 targets (LOGO mean) for {ships}:",
        "",
        "| target | figure | met |",
        "|---|---|---|",
    ]
    labels = {
        "auc": ("video AUC >= 0.85", ".3f"),
        "margin_metadata": ("above the metadata baseline by >= 0.15", "+.3f"),
        "margin_linear_probe": ("above the linear probe by >= 0.15", "+.3f"),
        "ece": ("ECE <= 0.10", ".3f"),
        "paired": ("fake above its own source in >= 90 % of pairs", ".0%"),
    }
    for k, (label, fmt) in labels.items():
        val, floor = t[k]["value"], t[k].get("floor")
        figure = "-" if val is None else format(val, fmt)
        if floor is not None:  # what perfect calibration would read on these test videos
            figure += f" (floor {floor:{fmt}})"
        text.append(f"| {label} | {figure} | {'yes' if t[k]['met'] else 'no'} |")
    return {"ensemble": name, "ships": ships, "ensemble_wins": wins, "targets": t, "text": text}
