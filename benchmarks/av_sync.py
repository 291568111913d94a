"""``avsync`` on real identities it never saw, against their own shifted and swapped versions
(issue 13 §6), and the audio-visual scan cost against the frame scan (§7).

Videos: the avsync manifest (``scripts/avsync_data.py``: the real talking heads with speech of
../shared/data/wild), extracted at the model's FPS (`make train-avsync`: 10). Every video is
scored as a scan scores it (``inference.av.score_av`` on its cache entry, aggregated by the
card's rule) in versions whose audio is changed on the video's timeline:

- ``real``: its own audio;
- ``shift``: its audio moved by d seconds, ``|d|`` in 0.2-1.5 (``--shifts`` draws, seeded,
  both signs): the whole track is out of sync by d;
- ``swap``: the speech of another identity (``--swaps`` videos drawn from the other identity
  groups of the manifest, seeded; from their start, looped);
- ``replace``: one 1-s segment's audio replaced by another identity's (``--replaces`` draws):
  scored at the segment level (localisation), since one second in several barely moves a
  video's score.

Cross-validation (``--folds K``, the recipe's figure). The identity groups of the whole
manifest are dealt to K folds (largest first, each to the fold with the fewest crops; seeded
ties); fold k is held out once: the recipe (``--config``, configs/avsync.yaml) trains on the
other folds but one, which selects its epoch (validation), and its model scores fold k's
videos. Every identity is held out exactly once and never trained on by the model that scores
it. The swapped-in speech may be of an identity that model trained on: it has ~150
parameters that read correlations, and holds no voice. The scores of all
folds are pooled: video AUC (real vs shift + swap; the issue's target >= 0.9) with a
bootstrap interval that resamples whole source videos (``evaluation.metrics.bootstrap_ci``
with groups), per kind, the same at the level of 3-s windows, and the replaced segments'
localisation.

Shipped model (``--model``): the same versions of the manifest's test split, identities the
shipped weights never saw (4 videos: a check, the cross-validation is the estimate).

Cost. One test video, cache warm and cold: the avsync scan (crops at its FPS, audio decode,
VAD, network) against the frame default's scan of the same video (32 crops), medians of
``--repeats``; target <= 3x.

    python benchmarks/av_sync.py                       # folds + the shipped model + cost
    python benchmarks/av_sync.py --model runs/avsync/best --folds 0   # one checkpoint only
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine, median, write_results

TARGET_AUC = 0.9
TARGET_COST = 3.0
KINDS = ("shift+swap", "shift", "swap", "replace (video score)")


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


def score_versions(
    detector: Any,
    items: list[tuple[str, str, Any]],
    speakers: dict[str, tuple[str, Any]],
    args: argparse.Namespace,
    seed: int,
) -> dict[str, list[Any]]:
    """Every video of ``items`` (video id, identity group, cache entry) in its real, shifted,
    swapped and replaced versions, scored as a scan does; the swapped-in and replacing speech
    is drawn from ``speakers`` (video id -> (identity group, audio)) of other identity groups.
    Returns the video rows, the 3-s window rows and the (replaced?, probability) segments."""
    from fakescope.inference.av import score_av
    from fakescope.inference.pipeline import aggregate
    from fakescope.training.av_data import entry_audio

    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    windows: list[dict[str, Any]] = []
    seg_rows: list[tuple[int, float]] = []
    temperature = detector.card.temperature
    for vid, group, entry in items:
        own = entry_audio(entry)
        pool = sorted(v for v, (g, a) in speakers.items() if g != group and a is not None)
        picks = rng.choice(len(pool), min(args.swaps, len(pool)), replace=False) if pool else []
        others = [(pool[int(i)], speakers[pool[int(i)]][1]) for i in picks]
        versions: list[tuple[str, Any, float | None]] = [("real", own, None)]
        for _ in range(args.shifts):
            d = float(rng.uniform(0.2, 1.5)) * float(rng.choice([-1.0, 1.0]))
            versions.append((f"shift{d:+.2f}", replace(own, start=own.start + d), None))
        versions += [(f"swap:{v}", _swap_audio(own, a), None) for v, a in others]
        tracks = entry.tracks[:1]
        times = np.asarray(tracks[0]["timestamps"]) if tracks else np.zeros(0)
        for _ in range(args.replaces if others and len(times) else 0):
            t0 = float(times[rng.integers(max(1, len(times) - 5))])
            src = others[int(rng.integers(len(others)))][1]
            versions.append((f"replace@{t0:.2f}", _replace_audio(own, src, t0), t0))
        for name, audio, t_rep in versions:
            scores = score_av(cast(Any, AudioOverride(entry, audio)), tracks, detector)
            if not len(scores):
                continue
            prob = aggregate(scores, temperature, detector.card.aggregation)["probability"]
            kind = "shift" if name.startswith("shift") else name.split(":")[0].split("@")[0]
            rows.append({"video": vid, "group": group, "version": name, "kind": kind,
                         "probability": round(float(prob), 5)})  # fmt: skip
            segs = scores.segments or []
            for sg in segs:
                z = 1 / (1 + np.exp(-sg["logit"] / temperature))
                if kind == "replace":
                    assert t_rep is not None
                    overlap = min(sg["end"], t_rep + 1) - max(sg["start"], t_rep)
                    if overlap >= 0.6 or overlap <= 0:  # skip segments half-covered
                        seg_rows.append((int(overlap >= 0.6), float(z)))
                elif kind == "real":
                    seg_rows.append((0, float(z)))
            # 3-s windows: the segments of each window alone (mean probability)
            by_start = sorted(segs, key=lambda sg: sg["start"])
            for w in range(0, max(0, len(by_start) - 2), 3):
                chunk = by_start[w : w + 3]
                p = float(np.mean([1 / (1 + np.exp(-c["logit"] / temperature)) for c in chunk]))
                windows.append({"video": vid, "kind": kind, "probability": p})
        print(f"  {vid}: {len(versions)} versions scored", file=sys.stderr, flush=True)
    return {"rows": rows, "windows": windows, "segments": seg_rows}


def _speakers(args: argparse.Namespace) -> dict[str, tuple[str, Any]]:
    """Video id -> (identity group, audio) of every extracted video of the manifest: the
    speech a swapped or replaced version takes from another identity."""
    from fakescope.training.av_data import entry_audio

    out: dict[str, tuple[str, Any]] = {}
    for split in ("train", "val", "test"):
        for vid, group, entry in _entries(args.manifest, args.crops, split):
            out[vid] = (group, entry_audio(entry))
    return out


def auc_block(data: list[dict[str, Any]], kinds: tuple[str, ...], seed: int) -> dict[str, Any]:
    """AUC of real vs ``kinds`` with a bootstrap interval over whole source videos."""
    from fakescope.evaluation.metrics import bootstrap_ci, roc_auc

    sel = [r for r in data if r["kind"] == "real" or r["kind"] in kinds]
    y = np.asarray([r["kind"] != "real" for r in sel], int)
    p = np.asarray([r["probability"] for r in sel], float)
    g = np.asarray([r["video"] for r in sel])
    if len(set(y.tolist())) < 2:
        return {"n_real": int((y == 0).sum()), "n_fake": int(y.sum()), "auc": None}
    point, lo, hi = bootstrap_ci(roc_auc, y, p, groups=g, n_boot=2000, seed=seed)
    return {"n_real": int((y == 0).sum()), "n_fake": int(y.sum()),
            "auc": round(point, 4), "ci95": [round(lo, 4), round(hi, 4)]}  # fmt: skip


def summarise(scored: dict[str, list[Any]], seed: int) -> dict[str, Any]:
    from fakescope.evaluation.metrics import roc_auc

    rows, windows = scored["rows"], scored["windows"]
    kinds = {"shift+swap": ("shift", "swap"), "shift": ("shift",), "swap": ("swap",),
             "replace (video score)": ("replace",)}  # fmt: skip
    seg_y = np.asarray([a for a, _ in scored["segments"]], int)
    seg_p = np.asarray([b for _, b in scored["segments"]], float)
    real = [r for r in rows if r["kind"] == "real"]
    return {
        "videos": len(real),
        "identity_groups": len({r["group"] for r in real}),
        "video": {k: auc_block(rows, v, seed) for k, v in kinds.items()},
        "window_3s": {k: auc_block(windows, v, seed) for k, v in list(kinds.items())[:3]},
        "segment_replace": {
            "n_real": int((seg_y == 0).sum()),
            "n_fake": int(seg_y.sum()),
            "auc": round(roc_auc(seg_y, seg_p), 4) if len(set(seg_y.tolist())) == 2 else None,
        },
    }


def shipped(args: argparse.Namespace) -> dict[str, Any]:
    """The checkpoint ``--model`` on the manifest's ``--split`` (identities it never saw)."""
    from fakescope.models import load_detector

    print(f"{args.model} on the {args.split} split", file=sys.stderr, flush=True)
    detector = load_detector(args.model, onnx=False)
    items = _entries(args.manifest, args.crops, args.split)
    scored = score_versions(detector, items, _speakers(args), args, args.seed)
    return {
        "model": str(args.model),
        "card": {"name": detector.card.name, "metrics": detector.card.metrics},
        **summarise(scored, args.seed),
        "rows": scored["rows"],
    }


def assign_folds(table: Any, k: int, seed: int) -> dict[str, int]:
    """Identity group -> fold: largest groups (by ``size``: crops) first, each to the fold that
    holds the least so far; ties broken by a seeded shuffle."""
    sizes = table.groupby("identity_group")["size"].sum().to_dict()
    groups = sorted(sizes)
    order = np.random.default_rng(seed).permutation(len(groups))
    ranked = sorted((groups[i] for i in order), key=lambda g: -sizes[g])
    load, out = [0.0] * k, {}
    for g in ranked:
        f = int(np.argmin(load))
        out[g] = f
        load[f] += sizes[g]
    return out


def cross_validate(args: argparse.Namespace) -> dict[str, Any]:
    """Train the recipe ``--folds`` times, each identity group held out once (module
    docstring), and score every held-out video with the model that never saw it."""
    from fakescope.datasets import read_manifest, write_manifest
    from fakescope.models import load_detector
    from fakescope.training.config import load_train_config
    from fakescope.training.data import _extract_rows
    from fakescope.training.trainer import train

    manifest = read_manifest(args.manifest)
    table = manifest.table.copy()
    rows, _ = _extract_rows(Path(args.crops))
    # a group's weight: its crops (the extraction's frames with a face), 1 for a missing video
    table["size"] = [
        float((rows.get(os.path.realpath(p)) or {}).get("frames_with_face") or 1)
        for p in manifest.absolute_paths_of(table)
    ]
    folds = assign_folds(table, args.folds, args.seed)
    speakers = _speakers(args)
    out_dir = Path(args.cv_dir)
    scored: dict[str, list[Any]] = {"rows": [], "windows": [], "segments": []}
    per_fold = []
    for k in range(args.folds):
        held = sorted(g for g, f in folds.items() if f == k)
        val = sorted(g for g, f in folds.items() if f == (k + 1) % args.folds)
        split = table["identity_group"].map(
            lambda g, k=k: (
                "test" if folds[g] == k else "val" if folds[g] == (k + 1) % args.folds else "train"
            )
        )
        shutil.rmtree(out_dir / f"fold{k}", ignore_errors=True)  # a fresh run (log.csv appends)
        fold_table = manifest.table.assign(split=split.to_numpy())
        fm = write_manifest(
            fold_table, out_dir / f"fold{k}" / "manifest.parquet", manifest.root,
            {**manifest.info, "fold": k, "folds": args.folds},
        )  # fmt: skip
        print(f"fold {k + 1}/{args.folds}: held out {held}; val {val}", file=sys.stderr, flush=True)
        config = load_train_config(
            args.config,
            [f"name=fold{k}", f"out={out_dir}", f"data.manifest={fm}", f"data.crops={args.crops}",
             f"train.seed={args.seed}"],
        )  # fmt: skip
        best = train(config)
        detector = load_detector(best, onnx=False)
        items = _entries(str(fm), args.crops, "test")
        fold_scored = score_versions(detector, items, speakers, args, args.seed + k)
        for key in scored:
            scored[key] += fold_scored[key]
        per_fold.append({
            "fold": k, "held_out": held, "val": val,
            "videos": len({r["video"] for r in fold_scored["rows"]}),
            "val_auc": detector.card.metrics.get("val_auc_video"),
            "video_auc": summarise(fold_scored, args.seed)["video"]["shift+swap"].get("auc"),
        })  # fmt: skip
    return {
        "folds": args.folds,
        "config": os.path.relpath(args.config, ROOT),
        "fold_of_group": folds,
        "per_fold": per_fold,
        **summarise(scored, args.seed),
        "rows": scored["rows"],
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


def _table_rows(block: dict[str, Any]) -> list[str]:
    lines = ["| level | fakes | real | fake | AUC | 95% CI |", "|---|---|---|---|---|---|"]
    for level in ("video", "window_3s"):
        for kind, b in block[level].items():
            ci = "-" if b.get("auc") is None else f"{b['ci95'][0]:.3f}-{b['ci95'][1]:.3f}"
            auc = "-" if b.get("auc") is None else f"{b['auc']:.3f}"
            lines.append(f"| {level} | {kind} | {b['n_real']} | {b['n_fake']} | {auc} | {ci} |")
    s = block["segment_replace"]
    lines += [
        "",
        f"Localisation (one 1-s segment's audio replaced): segment AUC {s['auc']} "
        f"({s['n_fake']} replaced vs {s['n_real']} untouched segments).",
    ]
    return lines


def _verdict(auc: float | None) -> str:
    if auc is None:
        return "not measured"
    return "reached" if auc >= TARGET_AUC else "**not reached**"


def table(data: dict[str, Any]) -> str:
    lines = [
        "# avsync: real identities it never saw, against their own shifted and swapped audio",
        "",
    ]
    cv = data.get("cv")
    if cv:
        v = cv["video"]["shift+swap"]
        lines += [
            f"## Cross-validation: {cv['folds']} identity-grouped folds (`{cv['config']}`)",
            "",
            f"{cv['videos']} real videos of {cv['identity_groups']} identity groups, each held "
            f"out once and scored by the model trained without it. Pooled video AUC "
            f"**{v.get('auc')}** (95% CI {v.get('ci95')}); target >= {TARGET_AUC}: "
            f"{_verdict(v.get('auc'))}.",
            "",
            *_table_rows(cv),
            "",
            "| fold | held out | videos | val AUC (its epoch) | video AUC |",
            "|---|---|---|---|---|",
        ]
        for f in cv["per_fold"]:
            val = "-" if f["val_auc"] is None else f"{f['val_auc']:.3f}"
            auc = "-" if f["video_auc"] is None else f"{f['video_auc']:.3f}"
            lines.append(
                f"| {f['fold']} | {', '.join(g.split(':', 1)[-1] for g in f['held_out'])} | "
                f"{f['videos']} | {val} | {auc} |"
            )
        lines.append("")
    acc = data.get("accuracy")
    if acc:
        v = acc["video"]["shift+swap"]
        lines += [
            f"## The shipped checkpoint on its own held-out split (`{acc['model']}`)",
            "",
            f"{acc['videos']} test videos ({acc['identity_groups']} identity groups, never "
            f"trained on): video AUC {v.get('auc')} (95% CI {v.get('ci95')}).",
            "",
            *_table_rows(acc),
            "",
        ]
    c = data.get("cost")
    if c:
        lines += [
            f"## Scan cost on {c['video']} (median of {data['repeats']})",
            "",
            "| scan | sampling | cold s | warm s |",
            "|---|---|---|---|",
            f"| frame default | {c['frame']['sampling']} | {c['frame']['cold_s']} | {c['frame']['warm_s']} |",
            f"| avsync | {c['av']['sampling']} | {c['av']['cold_s']} | {c['av']['warm_s']} |",
            "",
            f"avsync / frame: cold **{c['ratio_cold']}x**, warm {c['ratio_warm']}x "
            f"(target <= {TARGET_COST}x).",
            "",
        ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="avsync", help="the checkpoint checked on --split")
    parser.add_argument("--config", default=str(ROOT / "configs" / "avsync.yaml"))
    parser.add_argument("--manifest", default="runs/avsync/data/manifest.parquet")
    parser.add_argument("--crops", default="runs/avsync/crops10")
    parser.add_argument("--split", default="test")
    parser.add_argument("--folds", type=int, default=5, help="0: no cross-validation")
    parser.add_argument("--cv-dir", default="runs/avsync-cv")
    parser.add_argument("--shifts", type=int, default=4)
    parser.add_argument("--swaps", type=int, default=4, help="swapped versions per video")
    parser.add_argument("--replaces", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-cost", action="store_true")
    args = parser.parse_args()
    if not Path(args.manifest).is_file():
        sys.exit(f"{args.manifest}: run `make train-avsync` (or scripts/avsync_data.py) first")
    import torch

    torch.manual_seed(args.seed)
    data: dict[str, Any] = {"machine": machine(), "repeats": args.repeats, "seed": args.seed}
    if args.folds:
        data["cv"] = cross_validate(args)
    data["accuracy"] = shipped(args)
    if not args.skip_cost:
        from fakescope.datasets import read_manifest

        m = read_manifest(args.manifest)
        test = m.table[m.table["split"] == args.split]
        data["cost"] = cost(args, str(m.absolute_paths_of(test.head(1))[0]))
    write_results("av_sync", data, table(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
