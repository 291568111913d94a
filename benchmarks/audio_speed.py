"""Cost of the audio side per video against the video decode limit (issue 13, section 7).

Per video with an audio track (``../shared/data/wild`` rows with ``has_audio=1`` and the DFDC
clips of ``samples/`` that have one), in one run; within each repeat the steps run one after
the other on the same video, so load on the machine hits them alike (median of --repeats):

- decode limit: every video frame decoded with PyAV (frame threads on), none converted to RGB
  (the denominator, as in ``extract_speed.py``);
- audio decode: ``io.audio.load_audio`` (PyAV decode, mono, placement by timestamp, PyAV
  resampler to 16 kHz float32);
- VAD: ``io.audio.speech_segments`` on that track (silero VAD, TorchScript, model already
  loaded; its one-off load per process is reported apart);
- audio total = decode + VAD, and its ratio to the decode limit;
- leading silence: ``io.audio.leading_silence`` on the same track (VAD on a growing prefix
  only: what ``evaluate``'s shortcut baseline pays per video besides decoding).

Wall seconds (one video's latency) and process CPU seconds (all threads: what a batch on busy
cores pays); ratios are medians of the per-repeat ratios. Also the load average before and
after. Writes benchmarks/results/audio_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, machine, median, write_results
from extract_speed import decode_limit


def videos_with_audio(limit: int | None) -> list[tuple[str, str, Path]]:
    """(source, name, path) of every shared clip with an audio track."""
    import av

    out: list[tuple[str, str, Path]] = []
    labels = SHARED_DATA / "wild" / "labels.csv"
    if labels.is_file():
        with open(labels) as fh:
            for row in csv.DictReader(fh):
                if row["has_audio"] == "1":
                    out.append(
                        (f"wild/{row['source']}", row["path"], SHARED_DATA / "wild" / row["path"])
                    )
    for path in sorted((SHARED_DATA / "samples" / "DFDC").rglob("*.mp4")):
        with av.open(str(path)) as c:
            if c.streams.audio:
                out.append(("samples/DFDC", path.name, path))
    if not out:
        sys.exit(f"no clip with audio found in {SHARED_DATA} (set FAKESCOPE_SHARED_DATA)")
    return out[:limit] if limit else out


def clock(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, process CPU seconds, result)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, help="first N videos only (a quick check)")
    args = parser.parse_args()

    from fakescope.io.audio import _vad_model, leading_silence, load_audio, speech_segments

    clips = videos_with_audio(args.limit)
    load_before = os.getloadavg()
    vad_load, _, _ = clock(_vad_model)
    rows: list[dict[str, Any]] = []
    for source, name, path in clips:
        steps: dict[str, dict[str, list[float]]] = {
            k: {"wall": [], "cpu": []}
            for k in ("decode_limit", "audio_decode", "vad", "leading_silence")
        }
        info: dict[str, Any] = {}
        for _ in range(args.repeats):
            w, c, frames = clock(lambda: decode_limit(path))  # noqa: B023
            steps["decode_limit"]["wall"].append(w)
            steps["decode_limit"]["cpu"].append(c)
            w, c, track = clock(lambda: load_audio(path))  # noqa: B023
            steps["audio_decode"]["wall"].append(w)
            steps["audio_decode"]["cpu"].append(c)
            w, c, segments = clock(lambda: speech_segments(track))  # noqa: B023
            steps["vad"]["wall"].append(w)
            steps["vad"]["cpu"].append(c)
            w, c, _ = clock(lambda: leading_silence(track))  # noqa: B023
            steps["leading_silence"]["wall"].append(w)
            steps["leading_silence"]["cpu"].append(c)
            info = {"frames": frames, "audio_seconds": round(track.duration, 3),
                    "speech_segments": len(segments),
                    "leading_silence": round(segments[0][0], 3) if segments else None}  # fmt: skip
        ratio: dict[str, float] = {}
        for unit in ("wall", "cpu"):
            per_repeat = [
                (a + v) / d
                for a, v, d in zip(
                    steps["audio_decode"][unit], steps["vad"][unit], steps["decode_limit"][unit]
                )
            ]
            ratio[unit] = median(per_repeat)
        seconds = {k: {u: median(v[u]) for u in v} for k, v in steps.items()}
        rows.append({"source": source, "video": name, **info, "seconds": seconds,
                     "audio_over_decode_limit": ratio})  # fmt: skip
        print(f"{source} {name}: audio {ratio['wall']:.2f}x decode limit (wall)", file=sys.stderr)
    load_after = os.getloadavg()

    by_source: dict[str, dict[str, Any]] = {}
    for src in dict.fromkeys(r["source"] for r in rows):
        sub = [r for r in rows if r["source"] == src]
        by_source[src] = {
            "videos": len(sub),
            "audio_seconds": median([r["audio_seconds"] for r in sub]),
            **{
                f"{k}_{u}": median([r["seconds"][k][u] for r in sub])
                for k in ("decode_limit", "audio_decode", "vad", "leading_silence")
                for u in ("wall", "cpu")
            },
            "ratio_wall": median([r["audio_over_decode_limit"]["wall"] for r in sub]),
            "ratio_cpu": median([r["audio_over_decode_limit"]["cpu"] for r in sub]),
        }
    overall = {
        "videos": len(rows),
        "ratio_wall_median": median([r["audio_over_decode_limit"]["wall"] for r in rows]),
        "ratio_cpu_median": median([r["audio_over_decode_limit"]["cpu"] for r in rows]),
        "ratio_wall_max": max(r["audio_over_decode_limit"]["wall"] for r in rows),
        "audio_decode_per_audio_second_ms": 1000
        * median([r["seconds"]["audio_decode"]["wall"] / r["audio_seconds"] for r in rows]),
        "vad_per_audio_second_ms": 1000
        * median([r["seconds"]["vad"]["wall"] / r["audio_seconds"] for r in rows]),
        "leading_silence_over_vad_median": median(
            [r["seconds"]["leading_silence"]["wall"] / r["seconds"]["vad"]["wall"] for r in rows]
        ),
    }
    data = {
        "machine": machine(),
        "repeats": args.repeats,
        "vad_model_load_seconds": vad_load,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "overall": overall,
        "by_source": by_source,
        "videos": rows,
    }
    lines = [
        "# Audio decode + VAD cost against the video decode limit",
        "",
        f"{len(rows)} clips with audio from the shared data, median of {args.repeats} repeats; "
        "decode limit = every video frame decoded with PyAV (threads on), no RGB conversion. "
        "Audio = `load_audio` (PyAV decode + resample to 16 kHz mono) + `speech_segments` "
        f"(silero VAD; its one-off model load: {vad_load:.2f} s per process). Machine: "
        f"{data['machine']['cpus']} CPUs shared, load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after.",
        "",
        "| source | videos | audio (s) | decode limit (s) | audio decode (s) | VAD (s) "
        "| audio / decode limit (wall) | (CPU) | leading silence (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for src, r in by_source.items():
        lines.append(
            f"| {src} | {r['videos']} | {r['audio_seconds']:.1f} | {r['decode_limit_wall']:.3f} "
            f"| {r['audio_decode_wall']:.3f} | {r['vad_wall']:.3f} | {r['ratio_wall']:.2f}x "
            f"| {r['ratio_cpu']:.2f}x | {r['leading_silence_wall']:.3f} |"
        )
    lines += [
        "",
        f"All {overall['videos']} clips: audio / decode limit median "
        f"**{overall['ratio_wall_median']:.2f}x** wall ({overall['ratio_cpu_median']:.2f}x CPU), "
        f"worst {overall['ratio_wall_max']:.2f}x; per second of audio "
        f"{overall['audio_decode_per_audio_second_ms']:.1f} ms decoding and "
        f"{overall['vad_per_audio_second_ms']:.1f} ms VAD (medians). `leading_silence` (VAD "
        "on a growing prefix until the first speech) costs a median "
        f"{overall['leading_silence_over_vad_median']:.2f} of the whole-track VAD. Per-source "
        "values are medians over the source's clips.",
        "",
    ]
    write_results("audio_speed", data, "\n".join(lines))


if __name__ == "__main__":
    main()
