"""Speed of ``fakescope scan`` with the shipped model, next to the decode limit of each video.

Per sample video, in one run (median of --repeats): the decode limit (every frame decoded,
none converted), a cold scan (empty crop cache: decode + faces + network) and a warm scan (crops
from the cache: network + aggregation), through the CLI verb in-process. Also the default
network's throughput in crops/s on this machine with ONNX Runtime and with eager PyTorch
(batch 32). On a GPU (when one is present) PyTorch fp16 throughput of the default model and of
EfficientNet-B4 at batch 64. Writes benchmarks/results/scan_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, median, require_samples, timed, write_results
from extract_speed import VIDEOS, decode_limit


def scan_once(path: Path, cache: Path, out: Path) -> dict[str, Any]:
    from fakescope.cli.main import main

    code = main(
        ["scan", str(path), "--out", str(out), "--cache", str(cache), "-q", "--device", "cpu"]
    )
    assert code == 0
    return json.loads((out / "results.jsonl").read_text().splitlines()[0])


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
    args = parser.parse_args()
    samples = require_samples()
    import fakescope

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scan_once(
            samples / VIDEOS["FF++ c40 720p"], work / "warmup", work / "o"
        )  # imports, model load
        for label, rel in VIDEOS.items():
            path = samples / rel
            times: dict[str, list[float]] = {"decode_limit": [], "cold": [], "warm": []}
            for _ in range(args.repeats):
                cache = work / "cache"
                shutil.rmtree(cache, ignore_errors=True)
                times["decode_limit"].append(timed(lambda: decode_limit(path))[0])  # noqa: B023
                t, result = timed(lambda: scan_once(path, cache, work / "o"))  # noqa: B023
                times["cold"].append(t)
                times["warm"].append(timed(lambda: scan_once(path, cache, work / "o"))[0])  # noqa: B023
            med = {k: median(v) for k, v in times.items()}
            rows.append({"video": label, "path": rel, "seconds": med, "all_seconds": times,
                         "cold_over_decode_limit": med["cold"] / med["decode_limit"],
                         "probability": result["probability"], "faces": len(result["tracks"])})  # fmt: skip
            print(f"{label}: {med}", file=sys.stderr)
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
        f"(backend on CPU: {net['onnx_backend']}), 32 frames per video.",
        "",
        "| video | decode limit (s) | cold scan (s) | warm scan (s) | cold / decode limit |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        s = r["seconds"]
        lines.append(
            f"| {r['video']} | {s['decode_limit']:.2f} | {s['cold']:.2f} | {s['warm']:.2f} | {r['cold_over_decode_limit']:.2f}x |"
        )
    lines += [
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
        {"machine": machine(), "repeats": args.repeats, "videos": rows, "network": net, "gpu": gpu},
        "\n".join(lines),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
