"""The ablation table of a study: one row per (run, training manifest), the mean ± std over
seeds (one seed: the value with its bootstrap interval), published references beside it
(never as rows); ``ablation.json`` and ``ablation.md``."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .. import __version__
from .._atomic import atomic_write_json, atomic_write_text, relative_paths
from .spec import Study

__all__ = ["build_report", "report_markdown", "stats", "write_report"]

GAP_NOTE = "gap = in-domain AUC − cross-dataset AUC (higher: the model transfers worse)"
# every video-level metric of a scored set (``job.set_metrics``): key -> (column, interval key)
METRICS: dict[str, tuple[str, str | None]] = {
    "auc": ("AUC", "auc_ci"),
    "ap": ("AP", "ap_ci"),
    "eer": ("EER", "eer_ci"),
    "accuracy": ("ACC", None),
    "precision": ("Precision", None),
    "recall": ("Recall", None),
    "f1": ("F1", None),
    "fpr_at_95_tpr": ("FPR@95%TPR", None),
}


def stats(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean and sample standard deviation (None for one value) of the values that exist."""
    v = [float(x) for x in values if x is not None and not math.isnan(float(x))]
    mean = sum(v) / len(v) if v else None
    std = None
    if len(v) > 1 and mean is not None:
        std = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1))
    return {"mean": mean, "std": std, "n": len(v), "values": list(values)}


def _with_ci(values: list[float | None], cis: list[Any]) -> dict[str, Any]:
    out = stats(values)
    out["ci"] = cis[0] if len(values) == 1 else None
    return out


def _row(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One table row from the seeds of a (run, manifest)."""
    first = results[0]
    model = first.get("model") or {}
    row: dict[str, Any] = {
        "run": first["run"],
        "label": first.get("label", first["run"]),
        "note": first.get("note", ""),
        "manifest": first["manifest"],
        "config": first.get("config"),
        "model": model,
        "kind": model.get("kind"),
        "temporal": model.get("kind") == "clip",
        "trainable_params": (first.get("params") or {}).get("trainable"),
        "total_params": (first.get("params") or {}).get("total"),
        "seeds": [r["seed"] for r in results],
        "in_domain_auc": _with_ci(
            [r["in_domain"].get("auc") for r in results],
            [r["in_domain"].get("auc_ci") for r in results],
        ),
        "accuracy": stats([r["in_domain"].get("accuracy") for r in results]),
        "minutes": stats([r["minutes"]["train"] for r in results]),
        "metrics": _every_metric([r["in_domain"] for r in results]),
        "cross": {},
    }
    for name in first.get("cross", {}):
        sets = [r["cross"].get(name, {}) for r in results]
        row["cross"][name] = {
            "auc": _with_ci([s.get("auc") for s in sets], [s.get("auc_ci") for s in sets]),
            "gap": stats([s.get("gap") for s in sets]),
            "metrics": _every_metric(sets),
        }
    return row


def _every_metric(sets: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std over seeds of every metric of one scored set (one seed: with its interval)."""
    return {
        key: _with_ci([m.get(key) for m in sets], [m.get(ci) if ci else None for m in sets])
        for key, (_, ci) in METRICS.items()
    }


def build_report(
    study: Study,
    results: list[dict[str, Any]],
    failed: list[dict[str, Any]],
    pending: list[str] | None = None,
) -> dict[str, Any]:
    """The report's data: rows (seed-aggregated), every run, references, failures."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["run"], r["manifest"]), []).append(r)
    rows = [
        _row(sorted(groups[(run.id, m.name)], key=lambda r: r["seed"]))
        for run in study.runs
        for m in study.manifests
        if (run.id, m.name) in groups
    ]
    return {
        "name": study.name,
        "description": study.description,
        "study": study.path,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "fakescope": __version__,
        "grid": {
            "runs": [r.id for r in study.runs],
            "manifests": [m.name for m in study.manifests],
            "seeds": list(study.seeds),
            "total": len(study.grid()),
            "finished": len(results),
            "failed": len(failed),
            "pending": len(pending or []),
        },
        "protocol": {
            "in_domain_split": study.split,
            "bootstrap": study.bootstrap,
            "frames": study.frames,
            "train": [asdict(m) for m in study.manifests],
            "cross": [asdict(c) for c in study.cross],
        },
        "primary_cross": study.cross[0].name if study.cross else None,
        "rows": rows,
        "references": [asdict(r) for r in study.references],
        "notes": [GAP_NOTE],
        "runs": results,
        "failed": failed,
        "pending": list(pending or []),
        "figures": [],
    }


def _num(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def cell(s: dict[str, Any], digits: int = 3) -> str:
    """``0.712 [0.601, 0.811]`` (one seed, with its interval), ``0.712 ± 0.021`` (seeds)."""
    if s["n"] == 0:
        return "n/a"
    if s["n"] > 1:
        return f"{_num(s['mean'], digits)} ± {_num(s['std'], digits)}"
    ci = s.get("ci")
    if ci:
        return f"{_num(s['mean'], digits)} [{_num(ci[0], digits)}, {_num(ci[1], digits)}]"
    return _num(s["mean"], digits)


def _temporal(model: dict[str, Any]) -> str:
    if model.get("kind") != "clip":
        return "none"
    return f"{model.get('temporal')} (T={model.get('frames_per_clip')})"


def _params(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 1e6:.2f} M"


def report_markdown(report: dict[str, Any]) -> str:
    """``ablation.md``: the table, the references, the seeds, failures and figures."""
    rows = report["rows"]
    cross = [c["name"] for c in report["protocol"]["cross"]]
    many_data = len(report["grid"]["manifests"]) > 1
    seeds = report["grid"]["seeds"]
    lines = [f"# Ablation: {report['name']}", ""]
    if report.get("description"):
        lines += [report["description"].strip(), ""]
    g = report["grid"]
    lines += [
        f"{len(g['runs'])} configurations × {len(g['manifests'])} training manifest(s) × "
        f"{len(seeds)} seed(s) ({', '.join(map(str, seeds))}) = {g['total']} runs; "
        f"{g['finished']} finished, {g['failed']} failed"
        + (f", {g['pending']} not run yet" if g.get("pending") else "")
        + ". In-domain: split "
        f"'{report['protocol']['in_domain_split']}' of the training manifest"
        + (f"; cross-dataset: {', '.join(cross)}" if cross else "")
        + ". Video-level AUC with 95% bootstrap intervals over videos "
        f"({report['protocol']['bootstrap']} resamples)"
        + ("; mean ± std over seeds." if len(seeds) > 1 else "."),
        "",
    ]
    head = ["#", "Configuration", "Backbone", "Temporal", "Trainable params", "In-domain AUC"]
    for name in cross:
        head += [f"{name} AUC", f"Gap ({name})"]
    head += ["Accuracy", "Minutes"]
    if many_data:
        head.insert(2, "Trained on")
    notes = any(r.get("note") for r in rows)
    if notes:
        head.append("Note")
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, r in enumerate(rows, 1):
        cells = [
            str(i),
            r["label"],
            str(r["model"].get("backbone")),
            _temporal(r["model"]),
            _params(r["trainable_params"]),
            cell(r["in_domain_auc"]),
        ]
        for name in cross:
            c = r["cross"].get(name)
            cells += [cell(c["auc"]), cell(c["gap"])] if c else ["n/a", "n/a"]
        cells += [cell(r["accuracy"]), cell(r["minutes"], 1)]
        if many_data:
            cells.insert(2, r["manifest"])
        if notes:
            cells.append(r.get("note") or "")
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    lines += ["", GAP_NOTE + "; accuracy on the in-domain split at the checkpoint's threshold.", ""]
    refs = report["references"]
    if refs:
        lines += [
            "## Published references",
            "",
            "Declared in the study file: published values and targets, not runs of this "
            "study (dashed lines in the figures, never rows of the table).",
            "",
            "| Reference | Kind | Metric | Value | Note |",
            "|---|---|---|---|---|",
        ]
        for ref in refs:
            metric = ref["metric"] + (f" ({ref['cross']})" if ref.get("cross") else "")
            lines.append(
                f"| {ref['label']} | {ref['kind']} | {metric} | {ref['value']:.4f} | {ref['note']} |"
            )
        lines.append("")
    if len(seeds) > 1 and report["runs"]:
        lines += _every_metric_table(rows, cross)
        lines += _per_seed(report["runs"], cross)
    if report["failed"]:
        lines += ["## Failed runs", ""]
        lines += [f"- `{f['key']}`: {f['error']}" for f in report["failed"]]
        lines.append("")
    if report["figures"]:
        lines += ["## Figures", ""]
        lines += [f"![{Path(f).stem}]({f})" for f in report["figures"]]
        lines.append("")
    return "\n".join(lines)


def _every_metric_table(rows: list[dict[str, Any]], cross: list[str]) -> list[str]:
    """Mean ± std over seeds of every metric, per configuration and test set."""
    head = ["Configuration", "Trained on", "Test set", *[c for c, _ in METRICS.values()]]
    lines = [
        "## Every metric, mean ± std over seeds",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        sets = [("in-domain", r.get("metrics"))]
        sets += [(n, (r["cross"].get(n) or {}).get("metrics")) for n in cross]
        for name, m in sets:
            if m:
                cells = [r["label"], r["manifest"], name, *[cell(m[k]) for k in METRICS]]
                lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return [*lines, ""]


def _per_seed(runs: list[dict[str, Any]], cross: list[str]) -> list[str]:
    head = ["Run", "Trained on", "Seed", "Test set", *[c for c, _ in METRICS.values()], "Minutes"]
    lines = [
        "## Per seed",
        "",
        "Each run's value; AUC, AP and EER with their 95% bootstrap interval over videos.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in runs:
        sets = [("in-domain", r["in_domain"]), *[(n, r["cross"].get(n, {})) for n in cross]]
        for name, m in sets:
            cells = [r["label"], r["manifest"], str(r["seed"]), name]
            cells += [
                _value_ci(m.get(k), m.get(ci) if ci else None) for k, (_, ci) in METRICS.items()
            ]
            cells.append(f"{r['minutes']['train']:.1f}")
            lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _value_ci(value: float | None, ci: list[float] | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def write_report(report: dict[str, Any], out: Path) -> None:
    """Figures under ``out/figures/``, then ``ablation.json`` and ``ablation.md``."""
    from .figures import write_figures

    report["figures"] = [str(p.relative_to(out)) for p in write_figures(report, out / "figures")]
    atomic_write_json(out / "ablation.json", relative_paths(report, Path.cwd()), indent=2)
    atomic_write_text(out / "ablation.md", report_markdown(report))
