"""CPU scan time of the issue-14 ensemble and of its members, next to the decode limit.

One clip (default: the generalisation benchmark's timing clip, FF++ c40 585, 1280x720, 12 s),
in one run, methods interleaved within each repeat so that load drifts hit every method
alike (median of --repeats):

- decode limit: every frame decoded with PyAV (frame threads on), none converted
  (``extract_speed.decode_limit``);
- a cold scan (empty crop cache: decode + faces + crops, plus the context windows and frame
  runs a family reads; then the detector and aggregation) of each member alone, and of the
  3-member ensemble (frame + signals + flow: one shared extraction, every member scoring it),
  with the models loaded once (the per-video cost inside a batch; a first scan per model
  warms imports, ONNX Runtime and SHAP up and is reported apart);
- with ``--unshared``, the ensemble again with its members scored in the card's order
  (frame, signals, flow), as before issue 14's speed work: the signals member then computes
  the Farneback flow of its runs itself, and the flow member a second time;
- each figure over the decode limit of the same repeat (issue 14's target: the ensemble
  within 4x).

Members: the LOGO fold checkpoints of ``runs/generalisation/<candidate>/models/*/best``
(speed does not depend on the weights; the first fold found) unless given. The ensemble is
built in a temporary folder from copies of them with a logistic stacker fitted on seeded
synthetic logits (its weights do not change the cost). Writes
benchmarks/results/ensemble_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, SHARED_DATA, machine, median, write_results
from extract_speed import decode_limit

CLIP = "samples/FaceForensics++/original_sequences/youtube/c40/videos/585.mp4"
CANDIDATES = {
    "frame": "sbi-only-lite0-compress",
    "signals": "signals-gbm",
    "flow": "flow-cnn-lstm",
}
TARGET = 4.0  # issue 14: the whole ensemble within 4x the decode limit


def fold_checkpoint(candidate: str, runs: Path) -> Path | None:
    """The first fold's best checkpoint of a generalisation candidate (read only)."""
    cards = sorted((runs / candidate / "models").glob("*/best/card.json"))
    return cards[0].parent if cards else None


def build_ensemble_folder(members: dict[str, Path], out: Path) -> Path:
    """An ensemble checkpoint of copies of ``members`` with a logistic stacker fitted on
    seeded synthetic logits (the cost of a scan does not depend on the stacker's weights)."""
    from fakescope._atomic import atomic_write_json
    from fakescope.models import ModelCard
    from fakescope.models.checkpoint import read_card
    from fakescope.models.ensemble import MEMBERS_DIR, member_facts
    from fakescope.models.stacking import Stacker

    facts = []
    for name, folder in members.items():
        dest = out / MEMBERS_DIR / name
        shutil.copytree(folder, dest)
        facts.append(member_facts(name, read_card(str(dest))))
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    z = rng.normal(size=(40, len(members))) + y[:, None]
    stacker = Stacker(list(members), "logistic", seed=0).fit(z, y)
    first = read_card(str(out / MEMBERS_DIR / next(iter(members))))
    card = ModelCard(
        name="bench-ensemble",
        model={"name": "bench-ensemble", "kind": "ensemble", "backbone": "logistic"},
        crop=dict(first.crop),
        frames_per_video=int(first.frames_per_video),
        aggregation="mean_of_max",
        ensemble={"members": facts, "stacker": stacker.to_dict()},
    )
    atomic_write_json(out / "card.json", card.to_dict(), indent=2)
    return out


def with_cpu(fn: Any) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process, all threads, result) of ``fn()``: under a
    shared machine's load the wall time swings, the CPU time much less."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def _load() -> dict[str, float]:
    load1, load5, _ = os.getloadavg()
    return {"load1": round(load1, 2), "load5": round(load5, 2)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from fakescope.cache import CropCache
    from fakescope.inference.scan import Scanner

    video = Path(args.video) if Path(args.video).is_absolute() else SHARED_DATA / args.video
    if not video.is_file():
        sys.exit(f"{video}: the timing clip is not there (set FAKESCOPE_SHARED_DATA)")
    runs = ROOT / args.runs
    members: dict[str, Path] = {}
    for key, candidate in CANDIDATES.items():
        given = getattr(args, key)
        ckpt = Path(given) if given else fold_checkpoint(candidate, runs)
        if ckpt is None or not (ckpt / "card.json").is_file():
            sys.exit(f"no {key} checkpoint (give --{key} DIR, or train {candidate})")
        members[key] = ckpt
    load_start = _load()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folders = {**{k: str(v) for k, v in members.items()}}
        folders["ensemble"] = str(build_ensemble_folder(members, work / "ensemble"))
        scanners = {k: Scanner(f, device="cpu", cache=work / "cache") for k, f in folders.items()}
        if args.unshared:  # the ensemble as before the flow was shared: card order, so the
            # signals member computes the Farneback flow of its runs before the flow member
            folders["ensemble-unshared"] = folders["ensemble"]
            unshared = Scanner(folders["ensemble"], device="cpu", cache=work / "cache")
            det: Any = unshared.detector
            det.scoring_order = lambda: list(range(len(det.members)))
            scanners["ensemble-unshared"] = unshared

        def cold(key: str) -> tuple[float, float, Any]:
            """(wall s, CPU s of the process, result) of a scan into an empty cache."""
            shutil.rmtree(work / "cache", ignore_errors=True)  # the flow cache lies inside it
            scanners[key].extractor.cache = CropCache(work / "cache")
            return with_cpu(lambda: scanners[key](video))

        first = {}
        for key in scanners:  # warm-up: imports, face detector, ONNX Runtime, SHAP
            first[key], _, result = cold(key)
            assert result.status == "ok", f"{key}: {result.status} {result.error}"
        times: dict[str, dict[str, list[float]]] = {
            k: {"total": [], "extract": [], "score": [], "cpu": []} for k in scanners
        }
        limits: list[float] = []
        limits_cpu: list[float] = []
        answered: dict[str, Any] = {}
        for r in range(args.repeats):
            t, cpu, _ = with_cpu(lambda: decode_limit(video))
            limits.append(t)
            limits_cpu.append(cpu)
            for key in scanners:
                t, cpu, result = cold(key)
                times[key]["total"].append(t)
                times[key]["cpu"].append(cpu)
                times[key]["extract"].append(float(result.timing.get("extract_s", 0.0)))
                times[key]["score"].append(float(result.timing.get("score_s", 0.0)))
                if key == "ensemble":
                    answered = {m["name"]: m["answered"] for m in result.to_dict()["members"]}
            print(
                f"repeat {r + 1}: decode {limits[-1]:.2f} s, "
                + ", ".join(f"{k} {v['total'][-1]:.2f} s" for k, v in times.items()),
                file=sys.stderr,
            )
    limit = median(limits)
    rows: dict[str, Any] = {}
    for key, tk in times.items():
        med = {part: median(v) for part, v in tk.items()}
        ratios = [tot / lim for tot, lim in zip(tk["total"], limits)]
        cpu_ratios = [c / lim for c, lim in zip(tk["cpu"], limits_cpu)]
        rows[key] = {
            "checkpoint": "(temp)"
            if key.startswith("ensemble")
            else os.path.relpath(folders[key], ROOT),
            "seconds": med,
            "all_seconds": tk,
            "first_scan_s": first[key],
            "over_decode_limit": median(ratios),
            "cpu_over_decode_limit_cpu": median(cpu_ratios),
        }
    ens = rows["ensemble"]
    return {
        "machine": machine(),
        "load_at_start": load_start,
        "load_at_end": _load(),
        "video": args.video,
        "repeats": args.repeats,
        "decode_limit_s": limit,
        "all_decode_limit_s": limits,
        "decode_limit_cpu_s": median(limits_cpu),
        "target": TARGET,
        "meets_target": ens["over_decode_limit"] <= TARGET,
        "members_answered": answered,
        "models": rows,
        "members_alone_sum_s": sum(rows[k]["seconds"]["total"] for k in CANDIDATES),
    }


def markdown(data: dict[str, Any]) -> str:
    start, end = data["load_at_start"], data["load_at_end"]
    lines = [
        "# Ensemble scan speed (issue 14)",
        "",
        f"`benchmarks/ensemble_speed.py`, {data['machine']['date']}, one run, median of "
        f"{data['repeats']} (methods interleaved per repeat), {data['machine']['cpus']} CPU cores "
        f"(1-min load {start['load1']:.1f} at the start, {end['load1']:.1f} at the end). Clip: "
        f"`{data['video']}`. Decode limit (every frame decoded, none converted): "
        f"{data['decode_limit_s']:.2f} s. Cold scans (empty cache) with the model loaded; "
        "*extract*: decode + faces + crops (+ context windows and frame runs for signals, flow "
        "and the ensemble); *score*: the detector(s) on the cached extraction + aggregation. "
        "Ratio: total over the decode limit of the same repeat (median). *CPU*: the process's "
        f"CPU seconds, all threads (decode limit: {data['decode_limit_cpu_s']:.2f} CPU s), "
        "which a loaded machine disturbs much less than the wall time: compare changes there.",
        "",
        "| model | extract (s) | score (s) | total (s) | first scan (s) | total / decode limit "
        "| CPU (s) | CPU / decode limit's CPU |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, r in data["models"].items():
        s = r["seconds"]
        lines.append(
            f"| {key} | {s['extract']:.2f} | {s['score']:.2f} | {s['total']:.2f} "
            f"| {r['first_scan_s']:.2f} | {r['over_decode_limit']:.1f}x | {s['cpu']:.2f} "
            f"| {r['cpu_over_decode_limit_cpu']:.1f}x |"
        )
    base = data.get("baseline")
    if base:
        lines += [
            "",
            f"Baseline ({base['note']}; {base['date']}, another run: decode limit "
            f"{base['decode_limit_s']:.2f} s, 1-min load {base['load_at_start']['load1']:.1f} "
            "at its start). Compare the ratios: seconds move with the load.",
            "",
            "| model | baseline extract (s) | baseline score (s) | baseline total (s) "
            "| baseline / decode limit | this run / decode limit | baseline CPU / decode CPU "
            "| this run CPU / decode CPU |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for key, r in data["models"].items():
            b = base["models"].get(key)
            if b is None:
                continue
            s = b["seconds"]
            cpu = b.get("cpu_over_decode_limit_cpu")
            lines.append(
                f"| {key} | {s['extract']:.2f} | {s['score']:.2f} | {s['total']:.2f} "
                f"| {b['over_decode_limit']:.1f}x | {r['over_decode_limit']:.1f}x "
                f"| {'-' if cpu is None else format(cpu, '.1f') + 'x'} "
                f"| {r['cpu_over_decode_limit_cpu']:.1f}x |"
            )
    ens = data["models"]["ensemble"]
    lines += [
        "",
        f"The three members scanned one by one (three extractions) take "
        f"{data['members_alone_sum_s']:.2f} s; the ensemble (one extraction) "
        f"{ens['seconds']['total']:.2f} s. Members that answered: "
        + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in data["members_answered"].items())
        + ".",
        "",
        f"Target: the ensemble within {data['target']:.0f}x the decode limit: "
        f"{'met' if data['meets_target'] else 'not met'} ({ens['over_decode_limit']:.1f}x).",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", default=CLIP, help="relative to the shared data folder")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", default="runs/generalisation", help="candidates' run folder")
    for key, candidate in CANDIDATES.items():
        parser.add_argument(f"--{key}", help=f"{key} checkpoint (default: a {candidate} fold)")
    parser.add_argument("--name", default="ensemble_speed", help="results file name")
    parser.add_argument(
        "--unshared",
        action="store_true",
        help="also time the ensemble with its members in card order (flow computed twice)",
    )
    parser.add_argument(
        "--baseline", help="an earlier run's JSON (e.g. before a change): shown beside this one"
    )
    parser.add_argument("--baseline-note", default="before", help="what the baseline was")
    parser.add_argument("--dry-run", action="store_true", help="print, write nothing")
    args = parser.parse_args()
    data = run(args)
    if args.baseline:
        import json

        before = json.loads(Path(args.baseline).read_text())
        data["baseline"] = {
            "date": before["machine"]["date"],
            "note": args.baseline_note,
            "decode_limit_s": before["decode_limit_s"],
            "load_at_start": before["load_at_start"],
            "models": {
                k: {
                    "seconds": r["seconds"],
                    "over_decode_limit": r["over_decode_limit"],
                    "cpu_over_decode_limit_cpu": r.get("cpu_over_decode_limit_cpu"),
                }
                for k, r in before["models"].items()
            },
        }
    if args.dry_run:
        print(markdown(data))
        return 0
    write_results(args.name, data, markdown(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
