"""What a search leaves in its folder: ``trials.csv``, ``best.yaml`` (a complete training
config), ``figures/`` (optimisation history, parameter importances, parallel coordinates:
PNG, and HTML when plotly is installed), ``tune.json`` and ``summary.md``; and the one test
evaluation of the best trial, when asked."""

from __future__ import annotations

import csv
import io
import logging
import math
import warnings
from pathlib import Path
from typing import Any

import yaml

from .._atomic import atomic_write_json, atomic_write_text
from ..errors import ConfigError
from .claims import counts
from .runner import TuneJob

__all__ = ["evaluate_best", "write_report"]

log = logging.getLogger(__name__)


def _best(study: Any) -> Any | None:
    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not done:
        return None
    return study.best_trial


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """One row per trial: number, state, value, the params (prefixed ``param:``), timing."""
    trials = study.get_trials(deepcopy=False)
    keys = sorted({k for t in trials for k in t.params})
    retried = {t.user_attrs.get("retry_of"): t.number for t in trials if "retry_of" in t.user_attrs}
    rows = []
    for t in trials:
        state = t.state.name
        if state == "FAIL" and t.number in retried:
            state = "REQUEUED"
        last = max(t.intermediate_values) if t.intermediate_values else None
        rows.append(
            {
                "number": t.number,
                "state": state,
                "value": t.value if t.value is not None else "",
                "best_epoch": t.user_attrs.get("best_epoch", ""),
                "epochs": t.user_attrs.get("epochs", last or ""),
                "pruned_at_epoch": t.user_attrs.get("pruned_at_epoch", ""),
                **{f"param:{k}": t.params.get(k, "") for k in keys},
                "seconds": t.user_attrs.get("seconds", ""),
                "retry_of": t.user_attrs.get("retry_of", ""),
                "retried_as": retried.get(t.number, ""),
                "run": t.user_attrs.get("run", ""),
                "worker": t.user_attrs.get("worker", ""),
                "error": t.user_attrs.get("error", ""),
            }
        )
    return rows


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


def best_config(job: TuneJob, trial: Any) -> str:
    """The best trial's resolved config as YAML, named ``NAME-best`` in the recipe's own
    ``out``: ``fakescope train best.yaml`` retrains the winner."""
    from ..training.config import load_train_config
    from .space import override_strings

    base = load_train_config(job.config, job.fixed_overrides())
    config = load_train_config(
        job.config,
        [*job.fixed_overrides(), *override_strings(dict(trial.params)),
         f"name={base.name}-best", f"out={base.out}"],
    )  # fmt: skip
    params = ", ".join(f"{k}={v!r}" for k, v in trial.params.items())
    header = (
        f"# fakescope tune: the best of the trials in {job.out} (trial {trial.number}, "
        f"{job.metric} {trial.value:.6g} on split '{config.data.val_split}')\n"
        f"# recipe {job.config}; sampled: {params}\n"
        f"# retrain: fakescope train THIS_FILE\n"
    )
    return header + yaml.safe_dump(config.to_dict(), sort_keys=False)


def _importances(study: Any) -> dict[str, float]:
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(done) < 2:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            imp = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
    except (ValueError, RuntimeError) as exc:
        log.info("no parameter importances: %s", exc)
        return {}
    return {k: float(v) for k, v in imp.items()}


def write_figures(study: Any, folder: Path, importances: dict[str, float]) -> dict[str, str]:
    """PNG (matplotlib) and, with plotly, HTML of the optimisation history, the parameter
    importances and the parallel coordinates; returns name -> file, or why it was skipped."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as vm

    folder.mkdir(parents=True, exist_ok=True)
    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    out: dict[str, str] = {}
    plots: dict[str, Any] = {"history": vm.plot_optimization_history,
             "parallel_coordinate": vm.plot_parallel_coordinate}  # fmt: skip
    for name, plot in plots.items():
        if not done:
            out[name] = "skipped: no completed trial"
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax = plot(study)
            fig = ax.figure
            fig.set_size_inches(8, 5)
            fig.tight_layout()
            fig.savefig(folder / f"{name}.png", dpi=110)
            out[name] = f"figures/{name}.png"
        except (ValueError, RuntimeError, IndexError) as exc:
            out[name] = f"skipped: {' '.join(str(exc).split())[:160]}"
        plt.close("all")
    if importances:  # drawn from the numbers in tune.json (fANOVA, seed 0)
        fig, ax = plt.subplots(figsize=(7, 0.6 + 0.45 * len(importances)))
        names = list(importances)[::-1]
        ax.barh(names, [importances[k] for k in names], color="tab:blue")
        ax.set_xlabel("importance (fANOVA, share of the objective's variance)")
        ax.set_title(f"Parameter importances over {len(done)} completed trials")
        fig.tight_layout()
        fig.savefig(folder / "importances.png", dpi=110)
        plt.close(fig)
        out["importances"] = "figures/importances.png"
    else:
        out["importances"] = "skipped: needs 2 completed trials whose values differ"
    _html(study, folder, out)
    return out


def _html(study: Any, folder: Path, out: dict[str, str]) -> None:
    """Optuna's interactive figures, where plotly is installed."""
    try:
        import plotly  # noqa: F401
    except ImportError:
        return
    import optuna.visualization as vp

    for name, plot in (("history", vp.plot_optimization_history),
                       ("importances", vp.plot_param_importances),
                       ("parallel_coordinate", vp.plot_parallel_coordinate)):  # fmt: skip
        if not str(out.get(name, "")).endswith(".png"):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                kwargs = {"evaluator": _seeded_fanova()} if name == "importances" else {}
                plot(study, **kwargs).write_html(str(folder / f"{name}.html"))
        except (ValueError, RuntimeError) as exc:
            log.info("no %s.html: %s", name, exc)


def _seeded_fanova() -> Any:
    from optuna.importance import FanovaImportanceEvaluator

    return FanovaImportanceEvaluator(seed=0)


def evaluate_best(job: TuneJob, study: Any, split: str, say: Any = None) -> dict[str, Any]:
    """The test split, scored once with the best trial's checkpoint (``OUT/test.json``; a
    rerun reuses it while the best trial is the same)."""
    from ..study.job import read_json

    best = _best(study)
    if best is None:
        raise ConfigError("--test: no trial completed, nothing to evaluate")
    path = Path(job.out) / "test.json"
    done = read_json(path)
    if done and done.get("trial") == best.number and done.get("split") == split:
        return done
    run = Path(best.user_attrs["run"])
    config_path = run / "config.yaml"
    from ..training.config import load_train_config

    config = load_train_config(str(config_path))
    if split in (config.data.train_split, config.data.val_split):
        raise ConfigError(
            f"--test {split}: that split trained or selected the model; name a held-out split"
        )
    if say:
        say(
            f"evaluating trial {best.number} (the best on '{config.data.val_split}') on '{split}', once"
        )
    metrics = score_split(run / "best", config, split, Path(job.out) / "test")
    result = {"trial": best.number, "split": split, "selected_on": config.data.val_split,
              "checkpoint": str(run / "best"), "metrics": metrics}  # fmt: skip
    atomic_write_json(path, result, indent=2)
    return result


def score_split(best: Path, config: Any, split: str, out: Path) -> dict[str, Any]:
    """Video-level metrics of a checkpoint on a manifest split, scored through the crops'
    cache as ``fakescope study`` scores its runs (``OUT/predictions.csv``)."""
    from .._atomic import atomic_write_bytes
    from ..datasets import read_manifest
    from ..engines import create_engine
    from ..evaluation.protocol import score_videos, video_predictions
    from ..inference.pipeline import extract_settings_for
    from ..models import resolve_device
    from ..models.checkpoint import read_card
    from ..study.job import crops_cache, set_metrics

    card = read_card(str(best))
    manifest = read_manifest(config.data.manifest)
    table = manifest.table
    table = table[table["split"] == split].reset_index(drop=True)
    if not len(table):
        raise ConfigError(f"--test {split}: no videos in that split of {config.data.manifest}")
    paths = manifest.absolute_paths_of(table)
    cache, frames = crops_cache(config.data.crops)
    settings = extract_settings_for(card, frames)
    device = resolve_device(config.train.device)
    scored = score_videos(
        paths, str(best), settings, cache, create_engine("local", 1), None, device
    )
    pred, _ = video_predictions(table, scored, paths, card)
    atomic_write_bytes(out / "predictions.csv", pred.to_csv(index=False).encode())
    return set_metrics(pred, float(card.threshold), 1000)


def write_report(job: TuneJob, study: Any, test: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write every output of the tune folder; returns the machine-readable summary."""
    out = Path(job.out)
    rows = trial_rows(study)
    atomic_write_text(out / "trials.csv", _csv(rows))
    best = _best(study)
    c = counts(study)
    importances = _importances(study)
    state = [[t.number, t.state.name, t.value] for t in study.get_trials(deepcopy=False)]
    from ..study.job import read_json

    before = read_json(out / "tune.json") or {}
    figures = before.get("figures") or {}
    if before.get("trial_states") != state or not all(
        (out / v).is_file() for v in figures.values() if v.endswith(".png")
    ):  # a rerun with nothing new keeps the figures
        figures = write_figures(study, out / "figures", importances)
    report: dict[str, Any] = {
        "out": str(out),
        "config": job.config,
        "space": job.spec.path,
        "storage": job.storage_url,
        "study": job.study_name,
        "sampler": job.sampler,
        "pruner": job.pruner,
        "metric": job.metric,
        "direction": job.direction,
        "seed": job.seed,
        "trials": job.trials,
        "counts": c,
        "best": None,
        "importances": importances,
        "figures": figures,
        "test": test,
        "trial_states": state,
    }
    if best is not None:
        atomic_write_text(out / "best.yaml", best_config(job, best))
        report["best"] = {
            "trial": best.number,
            "value": best.value,
            "params": dict(best.params),
            "best_epoch": best.user_attrs.get("best_epoch"),
            "run": best.user_attrs.get("run"),
            "config": str(out / "best.yaml"),
        }
    atomic_write_json(out / "tune.json", report, indent=2)
    atomic_write_text(out / "summary.md", summary_markdown(report, rows, job))
    return report


def _f(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.4g}"
    return "" if v is None else str(v)


def summary_markdown(report: dict[str, Any], rows: list[dict[str, Any]], job: TuneJob) -> str:
    c = report["counts"]
    from ..training.config import load_train_config

    val_split = load_train_config(job.config, job.fixed_overrides()).data.val_split
    lines = [
        f"# Tune: {Path(job.config).name} over {Path(job.spec.path).name}",
        "",
        f"- {c['finished']} of {job.trials} trials finished: {c['COMPLETE']} complete, "
        f"{c['PRUNED']} pruned, {c['FAIL']} failed"
        + (f"; {c['REQUEUED']} killed and run again" if c["REQUEUED"] else "")
        + (f"; {c['RUNNING']} still running" if c["RUNNING"] else ""),
        f"- sampler {job.sampler} (seed {job.seed}), pruner {job.pruner}; "
        f"objective: {job.direction} {job.metric} (best epoch of each trial)",
        f"- selection: on the '{val_split}' split only; no trial read a test split.",
    ]
    test = report.get("test")
    if test:
        m = test["metrics"]
        ci = m.get("auc_ci")
        ci_text = f" (95% CI {ci[0]:.3f}-{ci[1]:.3f})" if ci else ""
        lines.append(
            f"- test: split '{test['split']}' evaluated once, for the best trial "
            f"({test['trial']}) only, after the selection: AUC {_f(m.get('auc'))}{ci_text}, "
            f"accuracy {_f(m.get('accuracy'))}, {m.get('scored')} of {m.get('videos')} videos scored."
        )
    else:
        lines.append("- test: not evaluated (add --test SPLIT to score the best trial once).")
    best = report["best"]
    lines += ["", "## Best trial", ""]
    if best is None:
        lines.append("No trial completed.")
    else:
        lines += [
            f"Trial {best['trial']}: {job.metric} = {_f(best['value'])} at epoch {best['best_epoch']}"
            f" ({best['run']}).",
            "",
            "| key | value |",
            "|---|---|",
            *[f"| {k} | {_f(v)} |" for k, v in best["params"].items()],
            "",
            "Retrain it: `fakescope train " + str(Path(job.out) / "best.yaml") + "`",
        ]
    imp = report["importances"]
    if imp:
        lines += ["", "## Parameter importances (fANOVA)", "", "| key | importance |", "|---|---|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in imp.items()]
    lines += ["", "## Trials", ""]
    params = [k for k in (rows[0] if rows else {}) if k.startswith("param:")]
    head = ["#", "state", job.metric, *[p[6:] for p in params], "epochs", "s"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [str(r["number"]), r["state"], _f(r["value"]) if r["value"] != "" else "",
                 *[_f(r[p]) for p in params], _f(r["epochs"]), _f(r["seconds"])]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    figs = [f"![{k}]({v})" for k, v in report["figures"].items() if v.endswith(".png")]
    if figs:
        lines += ["", "## Figures", "", *figs]
    return "\n".join(lines) + "\n"
