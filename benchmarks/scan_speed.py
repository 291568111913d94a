"""Speed of ``fakescope scan`` with the shipped model, next to the decode limit of each video;
and the cost of clip models (``--only clips``) next to the frame default.

Frame section (``--only frames``). Per sample video, in one run (median of --repeats): the
decode limit (every frame decoded, none converted); a cold scan (empty crop cache: decode +
faces + network) and a warm scan (crops from the cache: network + aggregation) with the model
loaded, i.e. the per-video cost inside a batch; and one whole ``fakescope scan VIDEO`` command
in a new process with an empty cache (interpreter start, imports and model load included). Then
a batch of sample videos, cold, scanned one after the other vs. through the staged pipeline
(``Scanner.scan_many``: the next video's decoding and face detection overlap the current one's
network pass). Also the default network's throughput in crops/s with ONNX Runtime and with
eager PyTorch (batch 32), and on a GPU (when one is present) PyTorch fp16 throughput of the
default model and of EfficientNet-B4 at batch 64.

Clip section (``--only clips``). One video and its 32 sampled frames, extracted once: every
model's card has the default's crop settings, so all share one cache entry. Models: the frame
default, EfficientNet-Lite0 + BiGRU (seed 000 Exp3 on Lite0), STF-Mamba as the seed has it
(DINOv2 ViT-B/14 at 224 px) and STF-Mamba on Lite0. The clip models are checkpoints built here
in a temporary folder with random weights (speed does not depend on them), exported to ONNX
where the export works (else PyTorch, and the reason is recorded). Per model: the network pass
alone (the detector call ``score_entry`` makes, crops already in memory), a warm scan (crops
from the cache: PNG read + network + aggregation), a cold scan (empty cache: decode + faces +
crops too), and each scan over the frame default's in the same run (target <= 2x). On a GPU
also clips/s at batch 32 (PyTorch fp16, inputs on the device).

Each run merges its sections into benchmarks/results/scan_speed.{json,md}, keeping the others.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, median, require_samples, timed, write_results
from extract_speed import VIDEOS, decode_limit

CLIP_MODELS = ("effnet_lite0_bigru", "stf_mamba", "stf_mamba_lite0")
CLIP_TARGET = 2.0  # a clip model's scan within 2x the frame default's


def command_once(path: Path, cache: Path) -> float:
    """Wall time of one ``fakescope scan`` command in a new process."""
    cmd = [sys.executable, "-m", "fakescope", "scan", str(path), "--cache", str(cache), "-q"]
    t, _ = timed(lambda: subprocess.run(cmd, check=True, capture_output=True))
    return t


def throughput(detector: Any, n: int = 96, batch: int = 32) -> float:
    crops = np.random.default_rng(0).integers(0, 256, (n, 256, 256, 3), dtype=np.uint8)
    detector.logits(crops[:batch], batch)  # warm-up
    t, _ = timed(lambda: detector.logits(crops, batch))
    return n / t


# ── frame section ────────────────────────────────────────────────────────────


def run_frames(args: argparse.Namespace, samples: Path) -> dict[str, Any]:
    import fakescope
    from fakescope.cache import CropCache
    from fakescope.inference.scan import Scanner

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scanner = Scanner("default", device="cpu", cache=work / "cache")
        scanner(samples / VIDEOS["FF++ c40 720p"])  # warm-up: imports, model, ORT first run

        def fresh() -> None:
            shutil.rmtree(work / "cache", ignore_errors=True)
            scanner.extractor.cache = CropCache(work / "cache")

        for label, rel in VIDEOS.items():
            path = samples / rel
            times: dict[str, list[float]] = {
                "decode_limit": [],
                "cold": [],
                "warm": [],
                "command": [],
            }
            for _ in range(args.repeats):
                fresh()
                times["decode_limit"].append(timed(lambda: decode_limit(path))[0])  # noqa: B023
                t, result = timed(lambda: scanner(path))  # noqa: B023
                times["cold"].append(t)
                times["warm"].append(timed(lambda: scanner(path))[0])  # noqa: B023
                shutil.rmtree(work / "cmd", ignore_errors=True)
                times["command"].append(command_once(path, work / "cmd"))
            med = {k: median(v) for k, v in times.items()}
            rows.append({"video": label, "path": rel, "seconds": med, "all_seconds": times,
                         "cold_over_decode_limit": med["cold"] / med["decode_limit"],
                         "command_over_decode_limit": med["command"] / med["decode_limit"],
                         "probability": result.probability, "faces": len(result.tracks)})  # fmt: skip
            print(f"{label}: {med}", file=sys.stderr)
        batch_paths = sorted(samples.glob("FaceForensics++/**/*.mp4"))[: args.batch]
        batch: dict[str, list[float]] = {"sequential": [], "staged": []}
        for _ in range(args.repeats):
            fresh()
            batch["sequential"].append(timed(lambda: [scanner(p) for p in batch_paths])[0])
            fresh()
            batch["staged"].append(timed(lambda: list(scanner.scan_many(batch_paths)))[0])
        batch_med = {k: median(v) for k, v in batch.items()}
        batch_row = {"videos": len(batch_paths), "seconds": batch_med, "all_seconds": batch,
                     "speedup": batch_med["sequential"] / batch_med["staged"]}  # fmt: skip
        print(f"batch: {batch_row}", file=sys.stderr)
    ort = fakescope.load_detector("default")
    torch_cpu = fakescope.load_detector("default", onnx=False)
    net = {
        "onnxruntime_crops_per_s": throughput(ort),
        "pytorch_crops_per_s": throughput(torch_cpu),
        "onnx_backend": ort.backend,
    }
    gpu: dict[str, Any] = {"available": False}
    import torch

    if torch.cuda.is_available():
        from fakescope.models import Detector, ModelCard, create_model

        gpu = {"available": True, "device": torch.cuda.get_device_name(0)}
        default_gpu = fakescope.load_detector("default", device="cuda")
        gpu["default_crops_per_s"] = throughput(default_gpu, n=640, batch=64)
        b4 = create_model("efficientnet_b4", pretrained="none").cuda().eval()
        b4_det = Detector(b4, ModelCard(name="b4", model=b4.config.to_dict()), device="cuda")
        gpu["efficientnet_b4_crops_per_s"] = throughput(b4_det, n=640, batch=64)
    return {
        "machine": machine(),
        "repeats": args.repeats,
        "videos": rows,
        "batch": batch_row,
        "network": net,
        "gpu": gpu,
    }


def frames_md(data: dict[str, Any]) -> list[str]:
    rows, batch_row, net, gpu = data["videos"], data["batch"], data["network"], data["gpu"]
    lines = [
        f"`benchmarks/scan_speed.py`, one run, median of {data['repeats']}, {data['machine']['cpus']} CPU cores, default model",
        f"(backend on CPU: {net['onnx_backend']}), 32 frames per video. *In a batch*: the model loaded once, "
        "cache emptied before each cold scan. *Command*: one `fakescope scan VIDEO` in a new process, empty cache "
        "(interpreter start, imports and model load included).",
        "",
        "| video | decode limit (s) | cold scan in a batch (s) | warm scan (s) | command (s) | cold / decode limit | command / decode limit |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s = r["seconds"]
        lines.append(
            f"| {r['video']} | {s['decode_limit']:.2f} | {s['cold']:.2f} | {s['warm']:.2f} | {s['command']:.2f} "
            f"| {r['cold_over_decode_limit']:.2f}x | {r['command_over_decode_limit']:.2f}x |"
        )
    b = batch_row["seconds"]
    lines += [
        "",
        f"Batch of {batch_row['videos']} FF++ sample videos, cold: one after the other {b['sequential']:.2f} s, "
        f"staged pipeline {b['staged']:.2f} s ({batch_row['speedup']:.2f}x).",
        "",
        f"Default network on this CPU, batch 32 of 256 px crops: ONNX Runtime {net['onnxruntime_crops_per_s']:.0f} crops/s, "
        f"eager PyTorch {net['pytorch_crops_per_s']:.0f} crops/s.",
        "",
        (f"GPU ({gpu['device']}), fp16, batch 64: default {gpu['default_crops_per_s']:.0f} crops/s, "
         f"EfficientNet-B4 {gpu['efficientnet_b4_crops_per_s']:.0f} crops/s.") if gpu["available"]
        else "No GPU on the machine that ran this: GPU throughput not measured.",
        "",
        "Target: a cold scan of a 10-s 720p clip within 3x its decode limit.",
    ]  # fmt: skip
    return lines


# ── clip section ─────────────────────────────────────────────────────────────


def build_clip_checkpoint(name: str, folder: Path, like: Any) -> dict[str, Any]:
    """A checkpoint of registry entry ``name`` with random weights and ``like``'s crop and
    sampling settings; ONNX when the export works. Returns what was built and how."""
    import torch

    from fakescope.models import ModelCard, create_model, save_checkpoint

    torch.manual_seed(0)
    model = create_model(name, pretrained="none").eval()
    card = ModelCard(
        name=f"bench-{name}",
        model=model.config.to_dict(),
        crop=dict(like.crop),
        frames_per_video=like.frames_per_video,
        aggregation=like.aggregation,
    )
    info: dict[str, Any] = {"model": name, "folder": str(folder)}
    try:
        info["export_s"], _ = timed(lambda: save_checkpoint(folder, model, card, onnx=True))
        info["onnx"] = "exported"
    except Exception as exc:  # any exporter failure: record it and fall back to PyTorch
        save_checkpoint(folder, model, card)
        info["onnx"] = f"not exported: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    info["backbone_gmacs_per_crop"] = backbone_gmacs(model)
    info["parameters_m"] = sum(p.numel() for p in model.parameters()) / 1e6
    return info


def backbone_gmacs(model: Any) -> float:
    """Multiply-accumulates of the per-frame encoder on one crop (convolutions and linear
    layers, as PyTorch's flop counter sees them; fused attention products are not counted)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    s = model.config.input_size
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.encode(torch.zeros(1, 3, s, s))
    return counter.get_total_flops() / 2e9


def network_inputs(entry: Any, detector: Any) -> np.ndarray:
    """What ``score_entry`` gives the detector for this entry, read beforehand: every crop
    (N, H, W, 3) for a frame model, the windows of every long-enough track (N, T, H, W, 3) for
    a clip model."""
    from fakescope.training.data import track_windows

    tracks = [entry.load_crops(t["track_id"]) for t in entry.tracks]
    if detector.family != "clip":
        return np.concatenate(tracks)
    config = detector.config
    return np.stack(
        [
            images[w]
            for images in tracks
            if len(images) >= config.min_track_frames
            for w, _ in track_windows(len(images), config.frames_per_clip, config.stride)
        ]
    )


def network_pass(detector: Any, x: np.ndarray) -> np.ndarray:
    """The detector call of a scan (``score_entry``'s batch sizes): raw logits."""
    if detector.family == "clip":
        return np.asarray(detector.clip_outputs(x)["logit"])
    return np.asarray(detector.logits(x, 32))


def gpu_clips_per_s(folder: Any, batch: int = 32, steps: int = 5, device: str = "cuda") -> float:
    """Clips/s of a checkpoint's network in PyTorch fp16 (fp32 on a CPU) at ``batch`` clips,
    inputs already normalised on the device (preprocessing excluded)."""
    import torch

    from fakescope.models import load_checkpoint

    model, _ = load_checkpoint(folder, device)
    cfg = model.config
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    model = model.to(dtype)
    s, t = cfg.input_size, max(1, cfg.frames_per_clip)
    shape = (batch, t, 3, s, s) if cfg.kind == "clip" else (batch, 3, s, s)
    x = torch.randn(*shape, device=device, dtype=dtype)

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    with torch.inference_mode():
        model(x)  # warm-up (cuDNN autotuning, allocator)
        sync()
        start = time.perf_counter()
        for _ in range(steps):
            model(x)
        sync()
    return batch * steps / (time.perf_counter() - start)


def torch_cpu(
    models: dict[str, dict[str, Any]], inputs: dict[str, np.ndarray], onnx: dict[str, Any]
) -> None:
    """Eager PyTorch on the CPU next to ONNX Runtime, for the models that have ONNX: the
    network's seconds and the largest logit difference (at a batch of 2 clips or more)."""
    from fakescope.models import load_detector

    for key, m in models.items():
        if m["backend"] != "onnxruntime":
            continue
        det = load_detector(m["folder"], onnx=False)
        x = inputs[key]
        network_pass(det, x)  # warm-up
        m["torch_network_s"], ref = timed(lambda: network_pass(det, x))  # noqa: B023
        if det.family == "clip" and len(x) < 2:  # the export's batch axis must be dynamic
            x = np.concatenate([x, x[:, ::-1]])
            ref = network_pass(det, x)
        m["onnx_max_abs_logit_diff"] = float(np.max(np.abs(ref - network_pass(onnx[key], x))))


def gpu_section(models: dict[str, dict[str, Any]], on_cpu: bool = False) -> dict[str, Any]:
    """Clips/s at batch 32 on a GPU (crops/s for the frame default); ``on_cpu`` runs the same
    code on the CPU at batch 2 (to test it where no GPU is lent)."""
    import torch

    if not torch.cuda.is_available() and not on_cpu:
        return {"available": False, "note": "not measured: no GPU"}
    cuda = torch.cuda.is_available()
    gpu: dict[str, Any] = {
        "available": cuda,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu (test)",
        "batch": 32 if cuda else 2,
        "precision": "fp16" if cuda else "fp32",
        "per_s": {},
    }
    for key, m in models.items():
        per_s = gpu_clips_per_s(m["folder"], batch=gpu["batch"], device="cuda" if cuda else "cpu")
        gpu["per_s"][key] = per_s
        if m["family"] == "clip":
            gpu["per_s"][key + "_crops"] = per_s * m["frames_per_clip"]
    return gpu


def _load() -> dict[str, Any]:
    load1, load5, _ = os.getloadavg()
    busy = subprocess.run(["pgrep", "-f", "fakescope study"], capture_output=True, text=True)
    return {"load1": load1, "load5": load5, "training_job_running": bool(busy.stdout.strip())}


def run_clips(args: argparse.Namespace, samples: Path) -> dict[str, Any]:
    import fakescope
    from fakescope.cache import CropCache
    from fakescope.inference.scan import Scanner

    label = args.clip_video
    path = samples / VIDEOS[label]
    load_start = _load()
    default_card = fakescope.load_detector("default").card
    names = args.clip_models.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        models: dict[str, dict[str, Any]] = {
            "default": {"model": "default", "folder": "default", "onnx": "shipped"}
        }
        for name in names:
            print(f"building {name} ...", file=sys.stderr)
            models[name] = build_clip_checkpoint(name, work / name, default_card)
            print(f"  {name}: ONNX {models[name]['onnx']}", file=sys.stderr)
        scanners = {
            k: Scanner(m["folder"], device="cpu", cache=work / "cache") for k, m in models.items()
        }
        from fakescope.models import load_checkpoint

        models["default"]["backbone_gmacs_per_crop"] = backbone_gmacs(load_checkpoint("default")[0])

        def fresh(scanner: Scanner) -> None:
            shutil.rmtree(work / "cache", ignore_errors=True)
            scanner.extractor.cache = CropCache(work / "cache")

        # warm-up: imports, face detector, each model's first run; the entry every model reads
        extracted = scanners["default"].extract(path)
        entry = extracted.entry
        assert entry is not None and extracted.status == "ok", extracted.error
        inputs: dict[str, np.ndarray] = {}
        for key, scanner in scanners.items():
            result = scanner(path)
            det = scanner.detector
            inputs[key] = x = network_inputs(entry, det)
            network_pass(det, x)
            n_clips = len(x) if det.family == "clip" else 0
            n_crops = int(np.prod(x.shape[:2])) if det.family == "clip" else len(x)
            cfg = det.config
            models[key].update(
                network=cfg.name, family=det.family, backend=det.backend, clips=n_clips,
                crops_encoded=n_crops, frames_per_clip=int(cfg.frames_per_clip),
                stride=int(cfg.stride) if cfg.kind == "clip" else 0,
                probability=result.probability, status=result.status,
                input_size=int(cfg.input_size), backbone=cfg.backbone,
            )  # fmt: skip
        times = {k: {"network": [], "warm": [], "cold": []} for k in models}
        for r in range(args.repeats):
            for key, scanner in scanners.items():  # interleaved: drift hits every model alike
                x = inputs[key]
                times[key]["network"].append(timed(lambda: network_pass(scanner.detector, x))[0])  # noqa: B023
                times[key]["warm"].append(timed(lambda: scanner(path))[0])  # noqa: B023
                fresh(scanner)
                t, result = timed(lambda: scanner(path))  # noqa: B023
                times[key]["cold"].append(t)
                times[key].setdefault("extract", []).append(result.timing.get("extract_s", 0.0))
            print(
                f"repeat {r + 1}: { {k: v['cold'][-1] for k, v in times.items()} }", file=sys.stderr
            )
        if not args.clip_quick:
            torch_cpu(models, inputs, {k: sc.detector for k, sc in scanners.items()})
        gpu = gpu_section(models, args.clip_gpu_on_cpu)
    med = {k: {part: median(v) for part, v in t.items()} for k, t in times.items()}
    base = med["default"]
    for key, m in models.items():
        m["seconds"] = med[key]
        m["all_seconds"] = times[key]
        m["warm_over_default"] = med[key]["warm"] / base["warm"]
        m["cold_over_default"] = med[key]["cold"] / base["cold"]
        m["network_over_default"] = med[key]["network"] / base["network"]
        m["meets_target_cold"] = m["cold_over_default"] <= CLIP_TARGET
        m["meets_target_warm"] = m["warm_over_default"] <= CLIP_TARGET
        m.pop("folder")
    return {
        "machine": machine(),
        "load_at_start": load_start,
        "load_at_end": _load(),
        "repeats": args.repeats,
        "video": label,
        "path": VIDEOS[label],
        "sampled_frames": int(default_card.frames_per_video),
        "tracks": [len(t["frames"]) for t in entry.tracks],
        "target": CLIP_TARGET,
        "models": models,
        "gpu": gpu,
    }


def clips_md(data: dict[str, Any]) -> list[str]:
    models = data["models"]
    start, end = data["load_at_start"], data["load_at_end"]
    busy = start["training_job_running"] or end["training_job_running"]
    lines = [
        "## Clip models",
        "",
        f"`benchmarks/scan_speed.py --only clips`, {data['machine']['date']}, one run, median of "
        f"{data['repeats']}, {data['machine']['cpus']} CPU cores (1-min load {start['load1']:.1f} at the start, "
        f"{end['load1']:.1f} at the end{'; a training job was running' if busy else ''}). Video: {data['video']}, "
        f"{data['sampled_frames']} sampled frames, face tracks of {', '.join(map(str, data['tracks']))} crops; one "
        "extraction shared by every model (same crop settings, one cache entry). Clip models have random "
        "weights (speed does not depend on them). *Network*: the detector call of a scan, crops in memory. "
        "*Warm scan*: crops from the cache (PNG read + network + aggregation). *Cold scan*: empty cache "
        "(decode + faces + crops + the rest). Ratios: over the frame default in the same run; target "
        f"<= {data['target']:.0f}x.",
        "",
        "| model | backbone | T / stride | clips | crops encoded | backbone GMACs/crop | backend | network (s) | warm scan (s) | extraction (s) | cold scan (s) | warm / default | cold / default |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip

    def ratio(m: dict[str, Any], which: str) -> str:
        if m["model"] == "default":
            return "1x"
        ok = m[f"meets_target_{which}"]
        return f"{m[f'{which}_over_default']:.2f}x {'pass' if ok else 'FAIL'}"

    for m in models.values():
        s = m["seconds"]
        shape = f"{m['frames_per_clip']} / {m['stride']}" if m["family"] == "clip" else "frame"
        name = "default (frame)" if m["model"] == "default" else m["model"]
        lines.append(
            f"| {name} | {m['backbone']} {m['input_size']} px | {shape} | {m['clips'] or '-'} "
            f"| {m['crops_encoded']} | {m['backbone_gmacs_per_crop']:.2f} | {m['backend']} "
            f"| {s['network']:.2f} | {s['warm']:.2f} | {s['extract']:.2f} | {s['cold']:.2f} | {ratio(m, 'warm')} | {ratio(m, 'cold')} |"
        )
    lines.append("")
    for m in models.values():
        if m["model"] == "default":
            continue
        note = f"- `{m['model']}`: ONNX {m['onnx']}"
        if "export_s" in m:
            note += f" (export {m['export_s']:.0f} s"
            if "onnx_max_abs_logit_diff" in m:
                note += f"; max |logit ONNX - PyTorch| {m['onnx_max_abs_logit_diff']:.1e}"
            note += ")"
        if "torch_network_s" in m:
            note += f"; eager PyTorch network {m['torch_network_s']:.2f} s"
        lines.append(note + ".")
    base = models["default"]
    for m in models.values():
        if m["model"] == "default" or (m["meets_target_cold"] and m["meets_target_warm"]):
            continue
        flops = m["backbone_gmacs_per_crop"] / base["backbone_gmacs_per_crop"]
        lines.append(
            f"- `{m['model']}` misses the {data['target']:.0f}x target: cold scan "
            f"{m['cold_over_default']:.1f}x, warm {m['warm_over_default']:.1f}x, network alone "
            f"{m['network_over_default']:.1f}x the default's; its encoder ({m['backbone']}) costs "
            f"{flops:.0f}x the default's multiply-accumulates per crop on as many crops "
            f"({m['crops_encoded']} vs {base['crops_encoded']})."
        )
    if "torch_network_s" in models["default"]:
        lines.append(
            f"- default: eager PyTorch network {models['default']['torch_network_s']:.2f} s."
        )
    gpu = data["gpu"]
    lines.append("")
    if gpu["available"]:
        per = gpu["per_s"]
        parts = [
            f"{k} {v:.0f} clips/s ({per[k + '_crops']:.0f} crops/s)"
            for k, v in per.items()
            if not k.endswith("_crops") and k != "default"
        ]
        lines.append(
            f"GPU ({gpu['device']}), PyTorch {gpu['precision']}, batch {gpu['batch']}, inputs on the "
            f"device: {'; '.join(parts)}; frame default {per['default']:.0f} crops/s."
        )
    else:
        lines.append("GPU clips/s at batch 32: not measured: no GPU on the machine that ran this.")
    return lines


# ── main ─────────────────────────────────────────────────────────────────────


def write_merged(new: dict[str, Any]) -> None:
    """Merge ``new`` sections into scan_speed.json (keeping the others) and regenerate the
    Markdown from the merged data."""
    file = RESULTS / "scan_speed.json"
    data = json.loads(file.read_text()) if file.is_file() else {}
    data.update(new)
    lines = ["# fakescope scan speed", ""]
    if "videos" in data:
        lines += [*frames_md(data), ""]
    if "clips" in data:
        lines += [*clips_md(data["clips"]), ""]
    write_results("scan_speed", data, "\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=("all", "frames", "clips"), default="all")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=12, help="videos in the batch comparison")
    parser.add_argument("--clip-video", choices=list(VIDEOS), default="FF++ c23 720p")
    parser.add_argument(
        "--clip-models", default=",".join(CLIP_MODELS), help="registry names, comma-separated"
    )
    parser.add_argument(
        "--clip-quick", action="store_true", help="skip the PyTorch parity/speed pass"
    )
    parser.add_argument("--clip-gpu-on-cpu", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--dry-run", action="store_true", help="print the results, write nothing (development)"
    )
    args = parser.parse_args()
    samples = require_samples()
    new: dict[str, Any] = {}
    if args.only in ("all", "frames"):
        new.update(run_frames(args, samples))
    if args.only in ("all", "clips"):
        new["clips"] = run_clips(args, samples)
    if args.dry_run:
        print("\n".join(clips_md(new["clips"]) if "clips" in new else frames_md(new)))
        return 0
    write_merged(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
