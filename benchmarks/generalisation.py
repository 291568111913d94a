"""Does a detector generalise? The leave-one-generator-out yardstick, candidate by candidate.

On the identity-level splits of ``scripts/default_data.py`` (FF++/DFD/DFDC benchmark samples
and the talking-head clips of ../shared/data/wild), every candidate recipe of
``configs/generalisation/candidates.yaml`` goes through ``fakescope evaluate --protocol logo``:
for each generator, train without it, calibrate on validation videos without it, and test on
held-out people's real videos and its fakes; beside the two shortcut baselines (file metadata
only; linear probe on frozen ImageNet features) and the paired fake-above-own-source check.

Candidates are compared at one screening budget (the file's ``screening:`` overrides); the
winner is then trained with the full recipe (``make train-default``). A ``kind: published``
candidate is a published detector (``fakescope weights import``, e.g. MesoNet from
../shared/weights): it is not retrained per fold; its fixed checkpoint scores every held-out
generator, with calibration and threshold still fitted per fold on validation videos.

A ``kind: ensemble`` candidate (issue 14) stacks the video logits of its ``members`` (other
candidates, whose runs must exist: their logo.json keep every fold's val and test logits) with
a ``stacker`` (``logistic`` or ``gbm``) fitted per fold on the val videos; no member is
retrained (``fakescope.evaluation.logo_ensemble``). Its result says whether it beats its best
single member by more than a paired bootstrap's noise; the "Ensembles" section of the markdown
puts members alone, leave-one-member-out ensembles and the full ensemble side by side and
computes the decision rule. ``--scan-time`` measures each member's CPU scan of one 10-s clip.

    python benchmarks/generalisation.py                          # every candidate
    python benchmarks/generalisation.py --candidates sbi-only-lite0,v1-mix-lite0
    python benchmarks/generalisation.py --candidates ens-full-logistic,ens-full-gbm
    python benchmarks/generalisation.py --scan-time signals-gbm,lite0-bigru-frozen

Results merge into benchmarks/results/generalisation.{json,md} (one entry per candidate, so
candidates can be run one at a time); the run folders go to runs/generalisation/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, ROOT, SHARED_DATA, default_manifest, machine, timed
from generalisation_ensembles import decision, ensembles_markdown, run_ensemble, scan_times

CANDIDATES = ROOT / "configs" / "generalisation" / "candidates.yaml"
NAME = "generalisation"
SCAN_CLIP = "FaceForensics++/original_sequences/youtube/c40/videos/585.mp4"
SCAN_NOTE = "FF++ c40 1280x720, 12 s; 2 shared vCPUs with other jobs running"


def crops_for(manifest: Path, out: Path, context: bool = False) -> Path:
    """``fakescope extract`` over the manifest (32 frames a video, resumable); ``context``
    also keeps the background windows and frame runs that signals models read."""
    cli = str(Path(sys.executable).with_name("fakescope"))
    subprocess.run(
        [cli, "extract", str(manifest), "--out", str(out), "--frames", "32", "--workers", "2",
         "-q", *(["--context"] if context else [])], check=False,
    )  # fmt: skip
    return out


def load_results() -> dict[str, Any]:
    import json

    path = RESULTS / f"{NAME}.json"
    return json.loads(path.read_text()) if path.is_file() else {"candidates": {}}


def backfill_floors(data: dict[str, Any], out: Path) -> None:
    """Results saved before the ECE floor was recorded get it from their run folder's
    ``logo.json`` (which keeps the per-video probabilities); in place."""
    import json

    from fakescope.evaluation.logo import backfill_ece_floor

    for name, r in data["candidates"].items():
        path = out / name / "logo.json"
        if r["mean"].get("detector", {}).get("ece_floor") is not None or not path.is_file():
            continue
        full = backfill_ece_floor(json.loads(path.read_text()))
        if full["mean"].get("detector", {}).get("ece") != r["mean"].get("detector", {}).get("ece"):
            continue  # the run folder holds another run than the saved result
        for g, fold in full["per_generator"].items():
            floor = fold.get("detector", {}).get("ece_floor")
            if floor is not None and "detector" in r["per_generator"].get(g, {}):
                r["per_generator"][g]["detector"]["ece_floor"] = floor
        r["mean"]["detector"]["ece_floor"] = full["mean"]["detector"]["ece_floor"]


def save_result(
    name: str | None, result: dict[str, Any] | None, screening: dict[str, Any], out: Path
) -> dict[str, Any]:
    """Merge one candidate into the results files (none: only re-render them). Re-read under
    a lock at write time, so runs of different candidates at the same time keep each other's
    entries."""
    import fcntl

    from fakescope._atomic import atomic_write_json, atomic_write_text, relative_paths

    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(RESULTS / f".{NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = load_results()
        data["screening"] = screening
        if name is not None:
            data["candidates"][name] = result
            data["machine"] = machine()
        backfill_floors(data, out)
        data = relative_paths(data, ROOT)
        verdict = decision(data, yaml.safe_load(CANDIDATES.read_text()))
        if verdict is not None:
            data["ensemble_decision"] = verdict
        atomic_write_json(RESULTS / f"{NAME}.json", data, indent=2)
        atomic_write_text(RESULTS / f"{NAME}.md", markdown(data))
    return data


def markdown(data: dict[str, Any]) -> str:
    from fakescope.evaluation.logo import ece_cell, logo_markdown

    lines = [
        "# Generalisation: leave one generator out",
        "",
        "`benchmarks/generalisation.py` (`fakescope evaluate --protocol logo` per candidate).",
        "For each generator: train without it, calibrate and pick the threshold on validation",
        "videos without it, test on held-out people's real videos and its fakes. Video-level AUC",
        "with 95% bootstrap intervals over videos; ECE after video-level calibration, and in",
        "brackets its floor: the ECE a perfectly calibrated detector would read with the same",
        "probabilities on the same few test videos (labels drawn from the probabilities; 20",
        "videos in 15 bins read 0.1-0.2 by chance alone), so only the excess over the floor is",
        "miscalibration. The two",
        "shortcut baselines are fitted on the same fold's train split. The paired check is the",
        "share of fakes that score above their own pristine source video (same person, same",
        "encoding). Candidates share one screening budget: "
        + ", ".join(f"`{k}={v}`" for k, v in data.get("screening", {}).items())
        + ".",
        "Rows whose train time reads *published weights* are published detectors imported with",
        "`fakescope weights import` and scored as they are, never retrained per fold (their",
        "calibration and threshold are still fitted per fold on validation videos).",
        "",
        "| candidate | LOGO mean AUC | margin over metadata | margin over linear probe | ECE (floor) | fake above its source | train time |",
        "|---|---|---|---|---|---|---|",
    ]

    def f(v: Any, spec: str = ".3f") -> str:
        return "-" if v is None else format(v, spec)

    ranked = sorted(
        data["candidates"].items(),
        key=lambda kv: -(kv[1]["mean"].get("detector", {}).get("auc") or 0.0),
    )
    for name, r in ranked:
        m = r["mean"]
        det = m.get("detector", {}).get("auc")
        meta = m.get("metadata", {}).get("auc")
        probe = m.get("linear_probe", {}).get("auc")
        p = r.get("paired") or {}
        lines.append(
            f"| {name} | {f(det)} | {f(None if det is None or meta is None else det - meta, '+.3f')} | "
            f"{f(None if det is None or probe is None else det - probe, '+.3f')} | "
            f"{ece_cell(m.get('detector'))} | "
            f"{f(p.get('fake_above_source'), '.0%')} ({p.get('pairs', 0)} pairs) | "
            + ("published weights, not retrained |" if r.get("published")
               else f"ensemble of {len(r['ensemble']['members'])}, no retraining |"
               if r.get("ensemble") else f"{f(r.get('train_minutes'), '.1f')} min |")
        )  # fmt: skip
    lines += [
        "",
        "Train times are those of each candidate's latest run, on 2 vCPUs shared with other",
        "jobs: they vary with the machine's load (a run that reused its models keeps the times",
        "of the run that trained them).",
        "",
    ]
    lines += ensembles_markdown(data, yaml.safe_load(CANDIDATES.read_text()))
    lines += ["", "Rows are sorted by the LOGO mean. Per candidate:", ""]
    for name, r in ranked:
        lines.append(logo_markdown(r, name))
    return "\n".join(lines)


def published_checkpoint(name: str, c: dict[str, Any], out: Path) -> Path | None:
    """Import a ``kind: published`` candidate's weights once (``c["import"]``: importer name
    and source file, relative to the repository); None when the file is absent."""
    from fakescope.importers import import_weights

    source = (ROOT / c["import"]["source"]).resolve()
    if not source.is_file():
        print(f"{name}: skipped ({c['import']['source']} is not available)")
        return None
    checkpoint = out / name / "checkpoint"
    if not (checkpoint / "card.json").is_file():
        import_weights(c["import"]["name"], str(source), checkpoint)
    return checkpoint


def published_summary(c: dict[str, Any], checkpoint: Path) -> dict[str, Any]:
    from fakescope.models.checkpoint import read_card

    card = read_card(checkpoint)
    origin = card.origin or {}
    return {
        "importer": c["import"]["name"], "source": c["import"]["source"],
        "sha256": origin.get("sha256"), "licence": card.licence, "label_sense": card.label_sense,
        "retrained": False,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--candidates", help="comma list (default: every candidate)")
    parser.add_argument("--run", default="runs/default", help="default-model data folder")
    parser.add_argument("--out", default="runs/generalisation", help="run folders")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument(
        "--scan-time", metavar="NAMES",
        help="instead of LOGO runs: time each candidate's CPU scan of one 10-s clip (comma list;"
        " a checkpoint from its run folder), into the results' scan_time",
    )  # fmt: skip
    parser.add_argument(
        "--render", action="store_true",
        help="run nothing: re-render the results files (and add what older results lack)",
    )  # fmt: skip
    args = parser.parse_args()
    spec = yaml.safe_load(CANDIDATES.read_text())
    if args.render:
        save_result(None, None, spec.get("screening", {}), ROOT / args.out)
        print((RESULTS / f"{NAME}.md").read_text())
        return 0
    if args.scan_time:
        return scan_time(args.scan_time.split(","), ROOT / args.out, spec)
    names = args.candidates.split(",") if args.candidates else list(spec["candidates"])
    unknown = [n for n in names if n not in spec["candidates"]]
    if unknown:
        sys.exit(f"unknown candidate(s): {', '.join(unknown)}")

    from fakescope.evaluation.logo_run import run_logo
    from fakescope.training.config import load_train_config

    run = ROOT / args.run
    manifest = default_manifest(run)
    needs_crops = any(spec["candidates"][n].get("kind") != "ensemble" for n in names)
    crops = crops_for(manifest, run / "crops") if needs_crops else run / "crops"
    for name in names:
        c = spec["candidates"][name]
        m = manifest
        if c.get("kind") == "ensemble":
            done = load_results()["candidates"]
            result = run_ensemble(name, spec, ROOT / args.out, m, done, args.bootstrap)
            result.pop("predictions", None)
            result.pop("fold_logits", None)
            save_result(name, result, spec.get("screening", {}), ROOT / args.out)
            print(f"{name}: LOGO mean AUC {result['mean'].get('detector', {}).get('auc')}")
            continue
        fixed = None
        if c.get("kind") == "published":
            fixed = published_checkpoint(name, c, ROOT / args.out)
            if fixed is None:
                continue
        context = bool(c.get("context"))  # a signals model: crops with context windows
        c_crops = crops_for(manifest, run / "crops-context", context=True) if context else crops
        overrides = {**spec.get("screening", {}), **c.get("set", {})}
        config = load_train_config(
            str(ROOT / c["config"]),
            [
                f"{k}={yaml.safe_dump(v, default_flow_style=True).strip()}"
                for k, v in overrides.items()
            ]
            + [f"data.manifest={m}", f"data.crops={c_crops}"],
        )
        started = time.perf_counter()
        result = run_logo(
            config, str(m), ROOT / args.out / name, name=name, description=c.get("description"),
            n_boot=args.bootstrap, cache_dir=str(c_crops / "cache"),
            baseline_cache=str(crops / "cache"), progress=print, fixed_model=fixed,
        )  # fmt: skip
        secs = [
            r.get("train_seconds") for r in result["per_generator"].values() if "skipped" not in r
        ]
        result.pop("predictions", None)  # per-video rows stay in the run folder's logo.json
        result.pop("fold_logits", None)
        result["train_minutes"] = (
            None if fixed else float(np.nansum([s or 0.0 for s in secs]) / 60.0)
        )
        if fixed is not None:
            result["published"] = published_summary(c, fixed)
        result["wall_minutes"] = (time.perf_counter() - started) / 60.0
        result["overrides"] = overrides
        save_result(name, result, spec.get("screening", {}), ROOT / args.out)
        print(f"{name}: LOGO mean AUC {result['mean'].get('detector', {}).get('auc')}")
    print((RESULTS / f"{NAME}.md").read_text())
    return 0


def scan_time(names: list[str], out: Path, spec: dict[str, Any]) -> int:
    """Time each candidate's scan of one 10-s clip; merge into the results' ``scan_time``."""
    import fcntl

    from fakescope._atomic import atomic_write_json, atomic_write_text, relative_paths

    video = SHARED_DATA / "samples" / SCAN_CLIP
    if not video.is_file():
        sys.exit(f"{video}: the timing clip is not there (set FAKESCOPE_SHARED_DATA)")
    rows = scan_times(names, out, video)
    from extract_speed import decode_limit

    limit = statistics.median(timed(lambda: decode_limit(video))[0] for _ in range(3))
    with open(RESULTS / f".{NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = load_results()
        st = data.setdefault("scan_time", {})
        st.update(
            video=f"samples/{SCAN_CLIP}", repeats=3, note=SCAN_NOTE, date=time.strftime("%Y-%m-%d")
        )
        st["decode_limit_s"] = limit  # every frame decoded, none converted (extract_speed)
        st.setdefault("members", {}).update(rows)
        data = relative_paths(data, ROOT)
        atomic_write_json(RESULTS / f"{NAME}.json", data, indent=2)
        atomic_write_text(RESULTS / f"{NAME}.md", markdown(data))
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
