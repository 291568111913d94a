"""Training-step throughput on this machine: the v1 trainer's settings against channels-last
batches and glibc keeping freed memory (what ``fakescope train`` now does on CPUs).

Each setting runs in a fresh process (glibc's allocator state is per process): EfficientNet-
Lite0 at 224 px, batch 32, AdamW, 2 warm-up steps then the median of 5 timed steps. Writes
benchmarks/results/train_speed.{json,md}.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_results

STEP = r"""
import json, sys, time, torch
from fakescope.models import create_model
from fakescope.training.trainer import _as_input, _keep_freed_memory
channels_last, keep = sys.argv[1] == "1", sys.argv[2] == "1"
if keep:
    _keep_freed_memory()
torch.manual_seed(0)
model = create_model("efficientnet_lite0", pretrained="none")
if channels_last:
    model = model.to(memory_format=torch.channels_last)
opt = torch.optim.AdamW(model.parameters(), 1e-4)
x, y = torch.randn(32, 3, 224, 224), torch.randint(0, 2, (32,)).float()
times = []
for i in range(7):
    t = time.perf_counter()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        model(_as_input(x, "cpu", channels_last)).squeeze(-1), y)
    opt.zero_grad(); loss.backward(); opt.step()
    times.append(time.perf_counter() - t)
print(json.dumps(sorted(times[2:])[2]))
"""

SETTINGS = {
    "v1 (contiguous, default allocator)": ("0", "0"),
    "channels-last": ("1", "0"),
    "keep freed memory": ("0", "1"),
    "both (fakescope train on CPUs)": ("1", "1"),
}


def main() -> int:
    rows = {}
    for name, flags in SETTINGS.items():
        out = subprocess.run(
            [sys.executable, "-c", STEP, *flags], check=True, capture_output=True, text=True
        )
        seconds = json.loads(out.stdout.strip().splitlines()[-1])
        rows[name] = {"step_s": seconds, "crops_per_s": 32 / seconds}
    base = rows["v1 (contiguous, default allocator)"]["crops_per_s"]
    lines = [
        "# Training-step throughput (EfficientNet-Lite0, 224 px, batch 32, CPU)",
        "",
        "`benchmarks/train_speed.py`: median of 5 steps after 2 warm-up steps, each setting in a",
        "fresh process.",
        "",
        "| setting | crops/s | vs v1 |",
        "|---|---|---|",
    ]
    for name, r in rows.items():
        r["speedup"] = r["crops_per_s"] / base
        lines.append(f"| {name} | {r['crops_per_s']:.1f} | {r['speedup']:.2f}x |")
    write_results("train_speed", {"machine": machine(), "settings": rows}, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
