"""Per-video cost of the five forensic signals and of optical flow, against ``fakescope extract``
on the same video (issue 12, section 6; targets: signals <= 1x extract, flow <= 2x extract).

Per video, in one run; within each repeat every step runs once, one after the other, so load
on the machine hits them alike (median of --repeats):

- (a) extract: ``fakescope extract VIDEO --frames 32`` in-process, default settings (YuNet),
  cold crop cache; the denominator of both targets;
- (a') the same extraction through the library (``Extractor``, detector loaded once), and
- (b) the same with the context option on (``ExtractSettings(context=ContextSettings())``:
  a background window of twice the face box at 224 px and runs of 3 truly consecutive frames
  per sampled frame); (b) - (a') is the extra cost of keeping windows and runs;
- (c) the five signals from the cached entry of (b) (``forensics.video_signals``, as
  ``fakescope forensics`` computes them); also the breakdown: reading the evidence from the
  cache (PNG decode + resize) and each signal alone;
- (d) flow: the input of seed 003's flow CNN-LSTM (``flow_cnn_lstm``) as the product makes it,
  ``forensics.flow.entry_flow``: dense Farneback flow with seed 003's parameters (pyr_scale
  0.5, 3 levels, window 15, 3 iterations, poly_n 5, poly_sigma 1.2, grey frames) between the
  truly consecutive frames that (b) keeps, for every run of every track, each pair's flow image
  (magnitude + direction) written as a PNG and its motion-anomaly statistics, into a fresh flow
  cache; the split table times reading the runs and a bare Farneback + maps pass apart. The
  network's forward pass is not part of (d).

Each step is timed in wall seconds (one video's latency) and in process CPU seconds (all
threads: what a batch on busy cores pays); ratios are medians of the per-repeat ratios. Also
the load average before and after the run and at the start of each repeat. Writes benchmarks/results/forensics_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, median, require_samples, timed, write_results
from extract_speed import VIDEOS

SIGNALS_TARGET = 1.0  # signals within 1x extract
FLOW_TARGET = 2.0  # flow within 2x extract
# seed 003: cv2.calcOpticalFlowFarneback(prev, next, None, 0.5, 3, 15, 3, 5, 1.2, 0)
SEED003_FARNEBACK = (0.5, 3, 15, 3, 5, 1.2, 0)
FRAMES = 32


def cli_extract(path: Path, out: Path) -> None:
    from fakescope.cli.main import main

    shutil.rmtree(out, ignore_errors=True)
    # --cache explicit: a $FAKESCOPE_CACHE in the environment would make it warm
    argv = ["extract", str(path), "--out", str(out), "--cache", str(out / "cache")]
    code = main([*argv, "--frames", str(FRAMES), "-q"])
    assert code == 0


def lib_extract(extractor: Any, path: Path, cache: Path) -> Any:
    from fakescope.cache import CropCache

    shutil.rmtree(cache, ignore_errors=True)
    extractor.cache = CropCache(cache)
    result = extractor(path)
    assert result.status == "ok", result.error
    return result.entry


def signal_parts(entry: Any, settings: Any) -> dict[str, float]:
    """Seconds of reading the evidence and of each signal alone (same calls as video_signals)."""
    from fakescope.forensics import signals as sg
    from fakescope.forensics.video import load_evidence

    t: dict[str, float] = {}
    t["load_evidence"], ev = timed(lambda: load_evidence(entry, settings))
    t["flicker_hll"], _ = timed(
        lambda: sg.flicker_hll(ev.faces, settings.wavelet, settings.wavelet_mode)
    )
    t["srm_sharpness"], _ = timed(lambda: sg.srm_sharpness(ev.faces))
    t["noise_autocorr"], _ = timed(lambda: sg.noise_autocorr(ev.faces, settings.blur))
    t["color_wasserstein"], _ = timed(
        lambda: sg.color_wasserstein(ev.windows, ev.face_masks, ev.valid_masks, settings.bins)
    )
    t["flow_boundary"], _ = timed(
        lambda: sg.flow_boundary(ev.runs, ev.run_boxes, settings.ring, settings.farneback)
    )
    return t


def read_runs(entry: Any) -> list[list[np.ndarray]]:
    """The consecutive-frame windows of the main track, grey, as stored (224 px)."""
    import cv2

    from fakescope.forensics.video import main_track

    track = entry.tracks[main_track(entry)]
    folder = entry.root / "context"
    return [
        [cv2.imread(str(folder / name), cv2.IMREAD_GRAYSCALE) for name in names]
        for names in track["context"]["files"]
    ]


def seed003_flow(runs: list[list[np.ndarray]]) -> int:
    """Seed 003's flow maps for every consecutive pair of every run; returns the pair count."""
    import cv2

    pyr, levels, win, iters, poly_n, poly_sigma, flags = SEED003_FARNEBACK
    maps = []
    for run in runs:
        for g0, g1 in itertools.pairwise(run):
            flow = cv2.calcOpticalFlowFarneback(
                g0, g1, None, pyr, levels, win, iters, poly_n, poly_sigma, flags
            )
            mag, ang = cv2.cartToPolar(flow[..., 0], flow[..., 1])
            mag = cv2.normalize(mag, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
            ang = (ang * (255.0 / (2 * np.pi))).astype(np.uint8)  # direction map
            maps.append(np.stack([mag, ang]))
    return len(maps)


def model_flow(entry: Any, root: Path) -> dict[int, Any]:
    """The flow model's input through the library, into an empty flow cache (a cold run)."""
    import shutil

    from fakescope.forensics.flow import FlowSettings, entry_flow

    shutil.rmtree(root, ignore_errors=True)
    return entry_flow(entry, FlowSettings(), root=root)


def load() -> dict[str, float]:
    load1, load5, load15 = os.getloadavg()
    return {"load1": load1, "load5": load5, "load15": load15, "time": time.time()}


def run_video(
    path: Path, work: Path, repeats: int, plain: Any, context: Any, settings: Any
) -> dict[str, Any]:
    from fakescope.forensics.video import video_signals

    wall: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    parts: dict[str, list[float]] = {}
    loads: list[float] = []
    facts: dict[str, Any] = {}

    def step(name: str, fn: Callable[[], Any]) -> Any:
        c0 = time.process_time()  # all threads of the process: decoder and crop threads too
        t, out = timed(fn)
        wall.setdefault(name, []).append(t)
        cpu.setdefault(name, []).append(time.process_time() - c0)
        return out

    for _ in range(repeats):
        loads.append(os.getloadavg()[0])
        step("extract", partial(cli_extract, path, work / "cli"))
        step("extract_lib", partial(lib_extract, plain, path, work / "plain"))
        entry = step("extract_context", partial(lib_extract, context, path, work / "context"))
        values = step("signals", partial(video_signals, entry, settings))
        for k, v in signal_parts(entry, settings).items():
            parts.setdefault(k, []).append(v)
        flows = step("flow", partial(model_flow, entry, work / "flow"))
        runs = step("flow_read", partial(read_runs, entry))
        step("flow_farneback", partial(seed003_flow, runs))
        pairs = sum(len(f) for f in flows.values())
        facts = {
            "frames": values["frames"],
            "signal_pairs": values["pairs"],
            "flow_pairs": pairs,
            "window_px": int(runs[0][0].shape[0]),
            "notes": values["notes"],
        }

    def ratios(d: dict[str, list[float]], num: str, den: str) -> list[float]:
        return [n / a for n, a in zip(d[num], d[den])]  # within one repeat

    med = {k: median(v) for k, v in wall.items()}
    med_cpu = {k: median(v) for k, v in cpu.items()}
    r = {
        "signals_over_extract": median(ratios(wall, "signals", "extract")),
        "flow_over_extract": median(ratios(wall, "flow", "extract")),
        "signals_over_extract_cpu": median(ratios(cpu, "signals", "extract")),
        "flow_over_extract_cpu": median(ratios(cpu, "flow", "extract")),
        "context_over_plain": median(ratios(wall, "extract_context", "extract_lib")),
    }
    overhead = median([c - p for c, p in zip(wall["extract_context"], wall["extract_lib"])])
    return {
        **facts,
        "seconds": med,
        "cpu_seconds": med_cpu,
        "signal_parts_seconds": {k: median(v) for k, v in parts.items()},
        "load1_per_repeat": loads,
        "all_seconds": wall,
        "all_cpu_seconds": cpu,
        "all_signal_parts_seconds": parts,
        "context_overhead_seconds": overhead,
        **r,
        "signals_pass": r["signals_over_extract"] <= SIGNALS_TARGET,
        "flow_pass": r["flow_over_extract"] <= FLOW_TARGET,
        "signals_pass_cpu": r["signals_over_extract_cpu"] <= SIGNALS_TARGET,
        "flow_pass_cpu": r["flow_over_extract_cpu"] <= FLOW_TARGET,
        # everything the two need beyond a plain extract: the context's extra extraction too
        "signals_all_in_over_extract": (overhead + med["signals"]) / med["extract"],
        "flow_all_in_over_extract": (overhead + med["flow"]) / med["extract"],
    }


def per_repeat(row: dict[str, Any], name: str) -> str:
    a = row["all_seconds"]
    return " ".join(f"{n / d:.2f}" for n, d in zip(a[name], a["extract"]))


def markdown(rows: list[dict[str, Any]], repeats: int, before: dict, after: dict) -> str:
    cpus = os.cpu_count()
    lines = [
        "# Forensic signals and flow: cost per video against extract",
        "",
        f"One run, median of {repeats}, on {cpus} CPU cores (`benchmarks/forensics_speed.py`); "
        f"load average (1 min) {before['load1']:.2f} at the start, {after['load1']:.2f} at the "
        "end; other jobs ran on the machine. Every step of a repeat runs back to back and each "
        "ratio is the median of the per-repeat ratios, so drift hits both sides. "
        f"{FRAMES} sampled frames, default detector, cold crop cache. (a) `fakescope extract`; "
        "(b) the same with the context on (windows of 2x the face box at 224 px, runs of 3 "
        "consecutive frames); (c) the five signals from (b)'s cache entry "
        "(`forensics.video_signals`); (d) the flow CNN-LSTM's input (`forensics.flow.entry_flow`: "
        "seed 003's Farneback flow between the consecutive frames (b) keeps, flow images "
        "written as PNG and per-pair motion anomaly, into a cold flow cache; the network's "
        "forward pass is not part of it).",
        "",
        "Two views of the same run. *Wall*: one video's latency. *CPU*: process CPU seconds "
        "(all threads), what a batch on busy cores pays. Extraction decodes on two threads; the "
        "Farneback runs of the signals and of (d) go through up to OpenCV's thread count (2 "
        "here; `cv2.setNumThreads(1)` keeps them serial, same values). Contention from other "
        "jobs pushes the wall ratio towards the CPU ratio, so read the wall verdict with the "
        "load of its repeats (last table).",
        "",
        "| video | flow pairs | (a) extract (s) | (b) extract + context (s) | context extra (s) "
        "| (c) signals (s) | (c)/(a) wall | ≤ 1x | (c)/(a) CPU | ≤ 1x "
        "| (d) flow (s) | (d)/(a) wall | ≤ 2x | (d)/(a) CPU | ≤ 2x |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def verdict(ok: bool) -> str:
        return "pass" if ok else "FAIL"

    for r in rows:
        s = r["seconds"]
        lines.append(
            f"| {r['video']} | {r['flow_pairs']} | {s['extract']:.2f} "
            f"| {s['extract_context']:.2f} | {r['context_overhead_seconds']:+.2f} "
            f"({r['context_over_plain']:.2f}x) | {s['signals']:.2f} "
            f"| {r['signals_over_extract']:.2f}x | {verdict(r['signals_pass'])} "
            f"| {r['signals_over_extract_cpu']:.2f}x | {verdict(r['signals_pass_cpu'])} "
            f"| {s['flow']:.2f} | {r['flow_over_extract']:.2f}x | {verdict(r['flow_pass'])} "
            f"| {r['flow_over_extract_cpu']:.2f}x | {verdict(r['flow_pass_cpu'])} |"
        )
    names = list(rows[0]["signal_parts_seconds"])
    lines += [
        "",
        "Where the signals' time goes (seconds, each part alone; the parts add up to about (c)):",
        "",
        "| video | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for r in rows:
        p = r["signal_parts_seconds"]
        lines.append(f"| {r['video']} | " + " | ".join(f"{p[n]:.3f}" for n in names) + " |")
    lines += [
        "",
        "Flow beside (d) (seconds): reading the runs from the cache and a bare Farneback + "
        "magnitude/direction pass over them (no PNG written), each on one thread, and "
        "(d) itself:",
        "",
        "| video | read | Farneback + maps | per pair (ms) | (d) | (d) per pair (ms) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        s = r["seconds"]
        n = max(1, r["flow_pairs"])
        lines.append(
            f"| {r['video']} | {s['flow_read']:.3f} | {s['flow_farneback']:.3f} | "
            f"{1000 * s['flow_farneback'] / n:.1f} | {s['flow']:.3f} | {1000 * s['flow'] / n:.1f} |"
        )
    lines += [
        "",
        "All-in (the context's extra extraction counted too): "
        + "; ".join(
            f"{r['video']} signals {r['signals_all_in_over_extract']:.2f}x, "
            f"flow {r['flow_all_in_over_extract']:.2f}x"
            for r in rows
        )
        + ".",
        "",
        "Load average (1 min) at the start of each repeat, and the per-repeat wall ratios:",
        "",
        "| video | load | (c)/(a) | (d)/(a) |",
        "|---|---|---|---|",
        *(
            f"| {r['video']} | {' '.join(f'{x:.1f}' for x in r['load1_per_repeat'])} "
            f"| {per_repeat(r, 'signals')} | {per_repeat(r, 'flow')} |"
            for r in rows
        ),
        "",
        f"Targets (issue 12): signals ≤ {SIGNALS_TARGET:g}x extract, "
        f"flow ≤ {FLOW_TARGET:g}x extract, on the same video.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    samples = require_samples()

    import cv2

    from fakescope.extraction import ContextSettings, Extractor, ExtractSettings
    from fakescope.forensics.signals import ForensicSettings

    settings = ForensicSettings()
    rows = []
    before = load()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        plain = Extractor(ExtractSettings(sampling=f"uniform:{FRAMES}"), work / "plain")
        context = Extractor(
            ExtractSettings(sampling=f"uniform:{FRAMES}", context=ContextSettings()),
            work / "context",
        )
        # warm-up: imports (CLI, SciPy, PyWavelets), detector load, first runs
        run_video(samples / VIDEOS["FF++ c40 720p"], work, 1, plain, context, settings)
        for label, rel in VIDEOS.items():
            row = run_video(samples / rel, work, args.repeats, plain, context, settings)
            rows.append({"video": label, "path": rel, **row})
            s = row["seconds"]
            print(
                f"{label}: extract {s['extract']:.2f}s signals {s['signals']:.2f}s "
                f"({row['signals_over_extract']:.2f}x) flow {s['flow']:.2f}s "
                f"({row['flow_over_extract']:.2f}x)",
                file=sys.stderr,
            )
    after = load()
    data = {
        "machine": {**machine(), "opencv_threads": cv2.getNumThreads()},
        "repeats": args.repeats,
        "frames": FRAMES,
        "load_start": before,
        "load_end": after,
        "extract_settings": {"sampling": f"uniform:{FRAMES}", "detector": "yunet"},
        "context": ContextSettings().to_dict(),
        "forensic_settings": settings.to_dict(),
        "flow": {
            "farneback": list(SEED003_FARNEBACK),
            "input": "grey context windows of the main track as cached (consecutive frames)",
            "maps": "magnitude (cartToPolar, NORM_MINMAX to uint8) and direction (uint8)",
            "model": "not built yet: flow_cnn_lstm (issue 12 section 4) does not exist; "
            "this is the cost of its input flow only",
        },
        "targets": {"signals_over_extract": SIGNALS_TARGET, "flow_over_extract": FLOW_TARGET},
        "videos": rows,
    }
    write_results("forensics_speed", data, markdown(rows, args.repeats, before, after))
    return 0


if __name__ == "__main__":
    sys.exit(main())
