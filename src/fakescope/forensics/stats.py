"""Does a signal separate real from fake videos? Seed 000's Exp1 test, with effect sizes and
a multiple-testing correction.

Videos are compared within a *group* (same dataset and compression: c23 and c40 are never
pooled). In a group, each manipulation method's fakes are compared with the group's real
videos (when the table has a ``subset`` column, only the reals of the fakes' subsets: FF++
fakes against YouTube originals, not DFD actors). Per signal and method:

- two-sided Mann-Whitney U (SciPy; exact p for small samples without ties), as the seed;
- rank-biserial r = 2 U_fake / (n_fake n_real) - 1 and Cliff's delta = P(fake > real) -
  P(fake < real), both positive when fakes score higher (for two samples they are the same
  number; both are reported, computed independently);
- the seed's own effect size |median_fake - median_real| / std(pooled);
- Holm's step-down correction over the five signals tested on one method (one family per
  method and group);
- the verdict by the seed's rule, SEPARATES when p < 0.05 (after Holm; the uncorrected
  verdict is kept beside it), FAILS otherwise; a separation against the seed's hypothesis
  (every signal higher on fakes) is flagged ``inverted``;
- per signal, the seed's summary over methods: SIGNAL (>= 2 methods separate), WEAK (1),
  FAILS (0).

With n_real and n_fake videos the smallest two-sided p the exact test can give is
2 / C(n_real + n_fake, n_fake); it is reported so that a FAILS on a tiny sample reads as "too
few videos to tell", not as "no difference".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .signals import HYPOTHESIS, SIGNALS

__all__ = [
    "ALPHA",
    "cliffs_delta",
    "holm",
    "mann_whitney",
    "min_p_value",
    "signal_stats",
    "stats_markdown",
]

ALPHA = 0.05


def cliffs_delta(fake: Sequence[float] | np.ndarray, real: Sequence[float] | np.ndarray) -> float:
    """P(fake > real) - P(fake < real) over all pairs."""
    f = np.asarray(fake, np.float64)[:, None]
    r = np.asarray(real, np.float64)[None, :]
    return float(np.mean(np.sign(f - r)))


def min_p_value(n_fake: int, n_real: int) -> float:
    """The smallest two-sided p an exact Mann-Whitney test can reach at these sizes."""
    if n_fake < 1 or n_real < 1:
        return 1.0
    return min(1.0, 2.0 / math.comb(n_fake + n_real, n_fake))


def mann_whitney(
    fake: Sequence[float] | np.ndarray, real: Sequence[float] | np.ndarray
) -> dict[str, Any]:
    """Two-sided Mann-Whitney U of fakes against reals, with effect sizes."""
    from scipy.stats import mannwhitneyu

    f = np.asarray(fake, np.float64)
    r = np.asarray(real, np.float64)
    n_f, n_r = len(f), len(r)
    u, p = mannwhitneyu(f, r, alternative="two-sided")
    p = float(p) if np.isfinite(p) else 1.0  # every value tied: nothing to tell apart
    pooled = np.concatenate([f, r])
    med_f, med_r = float(np.median(f)), float(np.median(r))
    return {
        "n_real": n_r,
        "n_fake": n_f,
        "median_real": med_r,
        "median_fake": med_f,
        "u": float(u),
        "p": p,
        "rank_biserial": float(2.0 * u / (n_f * n_r) - 1.0),
        "cliffs_delta": cliffs_delta(f, r),
        "seed_effect": abs(med_f - med_r) / (float(np.std(pooled)) + 1e-10),
        "min_p": min_p_value(n_f, n_r),
        "direction": "fake>real" if med_f > med_r else ("fake<real" if med_f < med_r else "="),
    }


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (same order as given)."""
    p = np.asarray(pvalues, np.float64)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def _group_keys(table: Any) -> list[str]:
    return [c for c in ("dataset", "compression") if c in table.columns]


def _group_name(keys: list[str], values: tuple[Any, ...]) -> str:
    parts = [str(v) for v in values if v is not None and str(v) not in ("", "nan", "None")]
    return " ".join(parts) or "all"


def _seed_summary(n_separating: int) -> str:
    return "SIGNAL" if n_separating >= 2 else ("WEAK" if n_separating == 1 else "FAILS")


def signal_stats(
    table: Any, signals: Sequence[str] = SIGNALS, alpha: float = ALPHA
) -> dict[str, Any]:
    """Per group, per method and signal: the test, effect sizes, Holm p and verdicts.

    ``table`` has one row per video with ``label`` (0 real, 1 fake), ``method``, the signal
    columns (NaN where a signal is missing) and optionally ``dataset``, ``compression``,
    ``subset``.
    """
    df = table.copy()
    keys = _group_keys(df)
    for k in keys:
        df[k] = df[k].astype(object).where(df[k].notna(), None)
    grouped = df.groupby(keys, dropna=False, sort=True) if keys else [((), df)]
    groups = []
    for raw_values, sub in grouped:
        values = tuple(
            None if v is None or (isinstance(v, float) and math.isnan(v)) else v
            for v in (raw_values if isinstance(raw_values, tuple) else (raw_values,))
        )
        groups.append(_group_stats(sub, _group_name(keys, values), keys, values, signals, alpha))
    return {
        "alpha": alpha,
        "test": "Mann-Whitney U, two-sided (scipy.stats.mannwhitneyu)",
        "correction": "Holm over the signals tested on one method within one group",
        "verdict_rule": "SEPARATES when Holm-adjusted p < alpha, else FAILS (seed 000)",
        "summary_rule": "per signal: SIGNAL if >= 2 methods separate, WEAK if 1, FAILS if 0",
        "hypothesis": dict(HYPOTHESIS),
        "signals": list(signals),
        "groups": groups,
    }


def _untested(signal: str, n_real: int, n_fake: int) -> dict[str, Any]:
    return {
        "signal": signal,
        "n_real": n_real,
        "n_fake": n_fake,
        "p": None,
        "p_holm": None,
        "verdict": "FAILS",
        "verdict_raw": "FAILS",
        "inverted": False,
        "note": "no real or no fake video with this signal",
    }


def _group_stats(
    sub: Any,
    name: str,
    keys: list[str],
    values: tuple[Any, ...],
    signals: Sequence[str],
    alpha: float,
) -> dict[str, Any]:
    reals_all = sub[sub["label"] == 0]
    fakes = sub[sub["label"] == 1]
    methods = []
    for method in sorted(fakes["method"].dropna().astype(str).unique()):
        f = fakes[fakes["method"].astype(str) == method]
        reals = reals_all
        if "subset" in sub.columns and f["subset"].notna().any():
            reals = reals_all[reals_all["subset"].isin(set(f["subset"].dropna()))]
        tests: list[dict[str, Any]] = []
        for sig in signals:
            fv = f[sig].astype(float).dropna().to_numpy()
            rv = reals[sig].astype(float).dropna().to_numpy()
            if len(fv) == 0 or len(rv) == 0:
                tests.append(_untested(sig, len(rv), len(fv)))
                continue
            tests.append({"signal": sig, **mann_whitney(fv, rv)})
        tested = [t for t in tests if t.get("p") is not None]
        for t, adj in zip(tested, holm([t["p"] for t in tested])):
            t["p_holm"] = adj
            t["verdict"] = "SEPARATES" if adj < alpha else "FAILS"
            t["verdict_raw"] = "SEPARATES" if t["p"] < alpha else "FAILS"
            t["inverted"] = t["verdict"] == "SEPARATES" and t["direction"] != HYPOTHESIS.get(
                t["signal"], t["direction"]
            )
        methods.append({"method": method, "n_real": len(reals), "n_fake": len(f), "tests": tests})
    summary = {}
    for sig in signals:
        rows = [(m["method"], t) for m in methods for t in m["tests"] if t["signal"] == sig]
        sep = [m for m, t in rows if t["verdict"] == "SEPARATES"]
        raw = [m for m, t in rows if t["verdict_raw"] == "SEPARATES"]
        summary[sig] = {
            "separates": sep,
            "separates_raw": raw,
            "inverted": [m for m, t in rows if t.get("inverted")],
            "verdict": _seed_summary(len(sep)),
            "verdict_raw": _seed_summary(len(raw)),
        }
    return {
        "group": name,
        **{k: v for k, v in zip(keys, values)},
        "n_real": len(reals_all),
        "n_fake": len(fakes),
        "methods": methods,
        "summary": summary,
    }


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, float):
        if v != 0 and (abs(v) < 10 ** (-digits) or abs(v) >= 10**4):
            return f"{v:.2e}"
        return f"{v:.{digits}f}"
    return str(v)


def _answer(group: dict[str, Any], alpha: float) -> str:
    summary = group["summary"]
    found = {s: v["separates"] for s, v in summary.items() if v["separates"]}
    raw = {s: v["separates_raw"] for s, v in summary.items() if v["separates_raw"]}
    sizes = sorted({(m["n_real"], m["n_fake"]) for m in group["methods"]})
    size_text = ", ".join(f"{r} real vs {f} fake" for r, f in sizes) or "no comparison"
    best = min(
        (t["min_p"] for m in group["methods"] for t in m["tests"] if "min_p" in t), default=1.0
    )
    n_tests = max((len(m["tests"]) for m in group["methods"]), default=0)
    lines = [f"- **{group['group']}** ({size_text} per method): "]
    if found:
        parts = [
            f"`{s}` ({summary[s]['verdict']}: {', '.join(ms)}"
            + (
                f"; inverted for {', '.join(summary[s]['inverted'])}"
                if summary[s]["inverted"]
                else ""
            )
            + ")"
            for s, ms in found.items()
        ]
        lines[0] += "after Holm, " + "; ".join(parts) + " separate(s) real from fake."
    else:
        lines[0] += "no signal separates any method after Holm correction."
    if raw and raw != found:
        lines.append(
            "  Uncorrected (the seed's own p < 0.05): "
            + "; ".join(f"`{s}` ({', '.join(ms)})" for s, ms in raw.items())
            + "."
        )
    observed = [
        (t["p"], t["signal"], m["method"])
        for m in group["methods"]
        for t in m["tests"]
        if t.get("p") is not None
    ]
    if observed:
        p, sig, method = min(observed)
        lines.append(f"  Smallest observed p: {_fmt(p)} (`{sig}`, {method}).")
    holm_first = alpha / n_tests if n_tests else alpha
    if best >= holm_first:
        lines.append(
            f"  At these sizes no test can reach Holm's first threshold ({_fmt(holm_first)}): "
            f"the smallest possible p is {_fmt(best)}, so FAILS here means too few videos."
        )
    else:
        lines.append(
            f"  The smallest possible p at these sizes is {_fmt(best)} (a perfect separation); "
            f"Holm's first threshold is {_fmt(holm_first)}."
        )
    return "\n".join(lines)


def stats_markdown(stats: dict[str, Any], title: str = "Forensic signals: real vs fake") -> str:
    """The tables of ``signal_stats`` and a generated answer per group."""
    alpha = stats["alpha"]
    out = [f"# {title}", ""]
    out.append(
        f"Two-sided Mann-Whitney U per signal and manipulation method against the real videos "
        f"of the same group (dataset and compression; where the manifest has a subset column, "
        f"only the reals of the fakes' subset: FF++ fakes against YouTube originals, not DFD "
        f"actors); Holm correction over the {len(stats['signals'])} signals of one "
        f"method; SEPARATES when the Holm p < {alpha} (seed 000's rule, which it applies "
        "without correction: column *raw*). r = rank-biserial, δ = Cliff's delta (positive: "
        "fakes higher; the seed expects every signal higher on fakes, a separation the other "
        "way is marked *inverted*). min p = the smallest p the exact test can give at these "
        "sizes."
    )
    out += ["", "## Answer", ""]
    out += [_answer(g, alpha) for g in stats["groups"]]
    out += ["", "## Per signal (seed 000's summary: SIGNAL >= 2 methods, WEAK 1, FAILS 0)", ""]
    groups = stats["groups"]
    out.append("| signal | " + " | ".join(g["group"] for g in groups) + " |")
    out.append("|---|" + "---|" * len(groups))
    for sig in stats["signals"]:
        cells = []
        for g in groups:
            s = g["summary"][sig]
            n = len(g["methods"])
            cell = f"{s['verdict']} ({len(s['separates'])}/{n}; raw {len(s['separates_raw'])}/{n})"
            cells.append(cell)
        out.append(f"| `{sig}` | " + " | ".join(cells) + " |")
    for g in groups:
        out += ["", f"## {g['group']}", ""]
        if not g["methods"]:
            out.append("No fake videos in this group.")
            continue
        out.append(
            "| signal | method | n real | n fake | median real | median fake | U | p | "
            "p Holm | r | δ | min p | verdict | raw |"
        )
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for sig in stats["signals"]:
            for m in g["methods"]:
                t = next(t for t in m["tests"] if t["signal"] == sig)
                verdict = t["verdict"] + (" (inverted)" if t.get("inverted") else "")
                out.append(
                    f"| `{sig}` | {m['method']} | {t['n_real']} | {t['n_fake']} | "
                    f"{_fmt(t.get('median_real'), 4)} | {_fmt(t.get('median_fake'), 4)} | "
                    f"{_fmt(t.get('u'), 1)} | {_fmt(t.get('p'))} | {_fmt(t.get('p_holm'))} | "
                    f"{_fmt(t.get('rank_biserial'), 2)} | {_fmt(t.get('cliffs_delta'), 2)} | "
                    f"{_fmt(t.get('min_p'))} | {verdict} | {t['verdict_raw']} |"
                )
    return "\n".join(out) + "\n"
