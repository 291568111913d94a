"""``avsync`` on held-out real identities against their own shifted and swapped versions
(issue 13 §6), and the audio-visual scan cost against the frame scan (§7).

Accuracy. The test split of the avsync manifest (``scripts/avsync_data.py``: real talking
heads with speech from ../shared/data/wild, identities never trained on), extracted at the
model's FPS (`make train-avsync`: 10).
Every test video is scored as a scan scores it (``inference.av.score_av`` on its cache entry,
aggregated by the card's rule) in versions whose audio is changed on the video's timeline:

- ``real``: its own audio;
- ``shift``: its audio moved by d seconds, ``|d|`` in 0.2-1.5 (``--shifts`` draws, seeded,
  both signs): the whole track is out of sync by d;
- ``swap``: the speech of another held-out identity (each other test video, from its start);
- ``replace``: one 1-s segment's audio replaced by another identity's (``--replaces`` draws):
  scored at the segment level (localisation), since one second in several barely moves a
  video's score.

Video AUC (real vs shift + swap, the issue's target >= 0.9) with a bootstrap interval that
resamples whole source videos (``evaluation.metrics.bootstrap_ci`` with groups), per kind, and
the same at the level of 3-s windows (many more units; each window scored alone).

Cost. One test video, cache warm and cold: the avsync scan (crops at its FPS, audio decode,
VAD, network) against the frame default's scan of the same video (32 crops), medians of
``--repeats``; target <= 3x.

    python benchmarks/av_sync.py --model runs/avsync/best   # or the shipped: --model avsync
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, median, write_results

TARGET_AUC = 0.9
TARGET_COST = 3.0


class AudioOverride:
    """A cache entry whose audio is replaced (the rest is the entry's)."""

    def __init__(self, entry: Any, audio: Any) -> None:
        self._entry, self._audio = entry, audio

    def __getattr__(self, name: str) -> Any:
        return getattr(self._entry, name)

    def load_audio(self) -> Any:
        return self._audio


def _entries(manifest: str, crops: str, split: str) -> list[tuple[str, str, Any]]:
    from fakescope.training.data import _entries as entries
    from fakescope.training.data import _split_rows

    table, _ = _split_rows(manifest, split, (0,), 0, 0)
    groups = dict(zip(table["video_id"].astype(str), table["identity_group"].astype(str)))
    return [(vid, groups[vid], e) for vid, _, e in entries(manifest, crops, split, (0,), 0, 0)]


def _swap_audio(own: Any, other: Any) -> Any:
    """``other``'s speech from its start, placed at ``own``'s start (looped to cover it)."""
    from fakescope.io.audio import AudioTrack

    n = len(own.samples)
    reps = -(-n // max(1, len(other.samples)))
    return AudioTrack(np.tile(other.samples, reps)[:n].copy(), own.sample_rate, own.start)


def _replace_audio(own: Any, other: Any, t0: float) -> Any:
    from fakescope.io.audio import AudioTrack

    sr = own.sample_rate
    samples = own.samples.copy()
    i0 = round((t0 - own.start) * sr)
    piece = other.samples[sr : 2 * sr] if len(other.samples) >= 2 * sr else other.samples[:sr]
    samples[i0 : i0 + len(piece)] = piece[: max(0, len(samples) - i0)]
    return AudioTrack(samples, sr, own.start)


def accuracy(args: argparse.Namespace) -> dict[str, Any]:
    from fakescope.evaluation.metrics import bootstrap_ci, roc_auc
    from fakescope.inference.av import score_av
    from fakescope.inference.pipeline import aggregate
    from fakescope.models import load_detector
    from fakescope.training.av_data import entry_audio

    detector = load_detector(args.model)
    rng = np.random.default_rng(args.seed)
    items = _entries(args.manifest, args.crops, args.split)
    audios = {vid: entry_audio(e) for vid, _, e in items}
    rows: list[dict[str, Any]] = []
    windows: list[dict[str, Any]] = []
    seg_rows: list[tuple[int, float]] = []
    n_tracks = 1
    for vid, group, entry in items:
        own = audios[vid]
        others = [(v, audios[v]) for v, g, _ in items if g != group and audios[v] is not None]
        versions: list[tuple[str, Any, float | None]] = [("real", own, None)]
        for _ in range(args.shifts):
            d = float(rng.uniform(0.2, 1.5)) * float(rng.choice([-1.0, 1.0]))
            versions.append((f"shift{d:+.2f}", replace(own, start=own.start + d), None))
        versions += [(f"swap:{v}", _swap_audio(own, a), None) for v, a in others]
        tracks = entry.tracks[:n_tracks]
        times = np.asarray(tracks[0]["timestamps"]) if tracks else np.zeros(0)
        for _ in range(args.replaces if others and len(times) else 0):
            t0 = float(times[rng.integers(max(1, len(times) - 5))])
            src = others[int(rng.integers(len(others)))][1]
            versions.append((f"replace@{t0:.2f}", _replace_audio(own, src, t0), t0))
        for name, audio, t_rep in versions:
            scores = score_av(cast(Any, AudioOverride(entry, audio)), tracks, detector)
            if not len(scores):
                continue
            prob = aggregate(scores, detector.card.temperature, detector.card.aggregation)[
                "probability"
            ]
            kind = "shift" if name.startswith("shift") else name.split(":")[0].split("@")[0]
            rows.append({"video": vid, "version": name, "kind": kind, "probability": prob})
            segs = scores.segments or []
            for s in segs:
                z = 1 / (1 + np.exp(-s["logit"] / detector.card.temperature))
                if kind == "replace":
                    assert t_rep is not None
                    overlap = min(s["end"], t_rep + 1) - max(s["start"], t_rep)
                    if overlap >= 0.6 or overlap <= 0:  # skip segments half-covered
                        seg_rows.append((int(overlap >= 0.6), float(z)))
                elif kind == "real":
                    seg_rows.append((0, float(z)))
            # 3-s windows: the segments of each window alone (mean probability)
            by_start = sorted(segs, key=lambda s: s["start"])
            for w in range(0, max(0, len(by_start) - 2), 3):
                chunk = by_start[w : w + 3]
                p = float(np.mean([1 / (1 + np.exp(-c["logit"])) for c in chunk]))
                windows.append({"video": vid, "kind": kind, "probability": p})
        print(f"{vid}: {len(versions)} versions scored", file=sys.stderr, flush=True)

    def auc_block(data: list[dict[str, Any]], kinds: tuple[str, ...]) -> dict[str, Any]:
        sel = [r for r in data if r["kind"] == "real" or r["kind"] in kinds]
        y = np.asarray([r["kind"] != "real" for r in sel], int)
        p = np.asarray([r["probability"] for r in sel], float)
        g = np.asarray([r["video"] for r in sel])
        if len(set(y.tolist())) < 2:
            return {"n_real": int((y == 0).sum()), "n_fake": int(y.sum()), "auc": None}
        point, lo, hi = bootstrap_ci(roc_auc, y, p, groups=g, n_boot=2000, seed=args.seed)
        return {"n_real": int((y == 0).sum()), "n_fake": int(y.sum()),
                "auc": round(point, 4), "ci95": [round(lo, 4), round(hi, 4)]}  # fmt: skip

    seg_y = np.asarray([a for a, _ in seg_rows], int)
    seg_p = np.asarray([b for _, b in seg_rows], float)
    return {
        "model": str(args.model),
        "card": {"name": detector.card.name, "metrics": detector.card.metrics},
        "videos": len(items),
        "identity_groups": len({g for _, g, _ in items}),
        "video": {
            "shift+swap": auc_block(rows, ("shift", "swap")),
            "shift": auc_block(rows, ("shift",)),
            "swap": auc_block(rows, ("swap",)),
            "replace (video score)": auc_block(rows, ("replace",)),
        },
        "window_3s": {
            "shift+swap": auc_block(windows, ("shift", "swap")),
            "shift": auc_block(windows, ("shift",)),
            "swap": auc_block(windows, ("swap",)),
        },
        "segment_replace": {
            "n_real": int((seg_y == 0).sum()),
            "n_fake": int(seg_y.sum()),
            "auc": round(roc_auc(seg_y, seg_p), 4) if len(set(seg_y.tolist())) == 2 else None,
        },
        "rows": rows,
    }


def cost(args: argparse.Namespace, video: str) -> dict[str, Any]:
    from fakescope.inference.scan import Scanner

    out: dict[str, Any] = {"video": Path(video).name}
    for label, model in (("frame", "default"), ("av", args.model)):
        cold, warm = [], []
        for _ in range(args.repeats):
            cache = tempfile.mkdtemp(prefix="fs-avcost-")
            try:
                scanner = Scanner(model, cache=cache, device="cpu")
                t = time.perf_counter()
                r = scanner(video)
                cold.append(time.perf_counter() - t)
                t = time.perf_counter()
                scanner(video)
                warm.append(time.perf_counter() - t)
                assert r.status == "ok", r.error or r.reason
            finally:
                shutil.rmtree(cache, ignore_errors=True)
        out[label] = {"cold_s": round(median(cold), 3), "warm_s": round(median(warm), 3),
                      "sampling": scanner.settings.sampling}  # fmt: skip
    out["ratio_cold"] = round(out["av"]["cold_s"] / out["frame"]["cold_s"], 2)
    out["ratio_warm"] = round(out["av"]["warm_s"] / out["frame"]["warm_s"], 2)
    return out


def table(data: dict[str, Any]) -> str:
    lines = [
        "# avsync: held-out real identities against their own shifted and swapped versions",
        "",
        f"Model `{data['accuracy']['model']}`; {data['accuracy']['videos']} held-out videos "
        f"({data['accuracy']['identity_groups']} identity groups, never trained on). "
        f"Target: video AUC >= {TARGET_AUC}.",
        "",
        "| level | fakes | real | fake | AUC | 95% CI |",
        "|---|---|---|---|---|---|",
    ]
    for level in ("video", "window_3s"):
        for kind, b in data["accuracy"][level].items():
            ci = "-" if b.get("auc") is None else f"{b['ci95'][0]:.3f}-{b['ci95'][1]:.3f}"
            auc = "-" if b.get("auc") is None else f"{b['auc']:.3f}"
            lines.append(f"| {level} | {kind} | {b['n_real']} | {b['n_fake']} | {auc} | {ci} |")
    s = data["accuracy"]["segment_replace"]
    lines += [
        "",
        f"Localisation (one 1-s segment's audio replaced): segment AUC {s['auc']} "
        f"({s['n_fake']} replaced vs {s['n_real']} untouched segments).",
    ]
    c = data.get("cost")
    if c:
        lines += [
            "",
            f"## Scan cost on {c['video']} (median of {data['repeats']})",
            "",
            "| scan | sampling | cold s | warm s |",
            "|---|---|---|---|",
            f"| frame default | {c['frame']['sampling']} | {c['frame']['cold_s']} | {c['frame']['warm_s']} |",
            f"| avsync | {c['av']['sampling']} | {c['av']['cold_s']} | {c['av']['warm_s']} |",
            "",
            f"avsync / frame: cold **{c['ratio_cold']}x**, warm {c['ratio_warm']}x "
            f"(target <= {TARGET_COST}x).",
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="avsync")
    parser.add_argument("--manifest", default="runs/avsync/data/manifest.parquet")
    parser.add_argument("--crops", default="runs/avsync/crops")
    parser.add_argument("--split", default="test")
    parser.add_argument("--shifts", type=int, default=4)
    parser.add_argument("--replaces", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-cost", action="store_true")
    args = parser.parse_args()
    if not Path(args.manifest).is_file():
        sys.exit(f"{args.manifest}: run `make train-avsync` (or scripts/avsync_data.py) first")
    data: dict[str, Any] = {"machine": machine(), "repeats": args.repeats}
    data["accuracy"] = accuracy(args)
    if not args.skip_cost:
        from fakescope.datasets import read_manifest

        m = read_manifest(args.manifest)
        test = m.table[m.table["split"] == args.split]
        data["cost"] = cost(args, str(m.absolute_paths_of(test.head(1))[0]))
    write_results("av_sync", data, table(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
