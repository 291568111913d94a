"""Speed of ``fakescope scan`` with the shipped model, next to the decode limit of each video.

Per sample video, in one run (median of --repeats): the decode limit (every frame decoded,
none converted); a cold scan (empty crop cache: decode + faces + network) and a warm scan (crops
from the cache: network + aggregation) with the model loaded, i.e. the per-video cost inside a
batch; and one whole ``fakescope scan VIDEO`` command in a new process with an empty cache
(interpreter start, imports and model load included). Then a batch of sample videos, cold,
scanned one after the other vs. through the staged pipeline (``Scanner.scan_many``: the next
video's decoding and face detection overlap the current one's network pass). Also the default
network's throughput in crops/s with ONNX Runtime and with eager PyTorch (batch 32), and on a
GPU (when one is present) PyTorch fp16 throughput of the default model and of EfficientNet-B4
at batch 64. Writes benchmarks/results/scan_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, median, require_samples, timed, write_results
from extract_speed import VIDEOS, decode_limit


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


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=12, help="videos in the batch comparison")
    args = parser.parse_args()
    samples = require_samples()
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
    lines = [
        "# fakescope scan speed",
        "",
        f"`benchmarks/scan_speed.py`, one run, median of {args.repeats}, {machine()['cpus']} CPU cores, default model",
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
        "",
    ]  # fmt: skip
    write_results(
        "scan_speed",
        {
            "machine": machine(),
            "repeats": args.repeats,
            "videos": rows,
            "batch": batch_row,
            "network": net,
            "gpu": gpu,
        },
        "\n".join(lines),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
