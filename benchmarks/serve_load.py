"""The service under load on loopback: N concurrent uploads of the sample clips.

Starts ``fakescope serve`` in a subprocess (a fresh data folder, K workers), sends N uploads at
once (httpx, asyncio), follows every job to its end, then scans the same files with
``fakescope scan`` and compares each result with the service's (all fields but the file's
name and the timing). Records the HTTP statuses (target: no 5xx), every job done, the upload
latency, the job latency seen by the client (upload sent -> result seen done) and by the
server (job created -> finished), p50/p95, and the throughput in jobs/s.

Clips beyond the number of distinct samples repeat: those uploads hit the service's dedupe
(same bytes and options -> the existing job, HTTP 200).

    python benchmarks/serve_load.py                      # 50 uploads, 2 workers, 8 frames
    python benchmarks/serve_load.py --uploads 20 --workers 1

Writes benchmarks/results/serve_load.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, require_samples, write_results


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _comparable(result: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in result.items() if k not in ("path", "timing", "report")}
    out["video"] = {k: v for k, v in result.get("video", {}).items() if k != "path"}
    return out


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def start_server(data: Path, workers: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = _port()
    cmd = [sys.executable, "-m", "fakescope", "serve", "--data", str(data), "--port", str(port)]
    cmd += ["--workers", str(workers), "--max-queue", "1000", "--max-per-client", "1000", "-q"]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    sys.exit("the server did not become ready in 120 s")


async def upload_and_follow(
    client: Any, url: str, clip: Path, frames: int, timeout: float
) -> dict[str, Any]:
    start = time.perf_counter()
    with open(clip, "rb") as fh:
        r = await client.post(
            url + "/v1/scans",
            files={"file": (clip.name, fh.read(), "video/mp4")},
            data={"frames": str(frames)},
        )
    row: dict[str, Any] = {
        "clip": clip.name,
        "status_code": r.status_code,
        "upload_s": time.perf_counter() - start,
    }
    if r.status_code not in (200, 202):
        row["error"] = r.text[:300]
        return row
    job_id = r.json()["id"]
    row["id"], row["deduplicated"] = job_id, r.json().get("deduplicated", False)
    while time.perf_counter() - start < timeout:
        job = (await client.get(f"{url}/v1/scans/{job_id}")).json()
        if job["status"] in ("done", "failed"):
            row["job_s"] = time.perf_counter() - start
            row["done_at"] = time.perf_counter()
            row["job"] = job
            return row
        await asyncio.sleep(0.2)
    row["error"] = f"not done after {timeout} s"
    return row


async def load(url: str, clips: list[Path], frames: int, timeout: float) -> list[dict[str, Any]]:
    import httpx

    limits = httpx.Limits(max_connections=len(clips) + 10)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        return list(
            await asyncio.gather(
                *(upload_and_follow(client, url, c, frames, timeout) for c in clips)
            )
        )


def cli_scan(clips: list[Path], frames: int, out: Path) -> dict[str, dict[str, Any]]:
    """``fakescope scan`` on the same files: result rows by the file's SHA-256."""
    cmd = [sys.executable, "-m", "fakescope", "scan", *map(str, clips), "--out", str(out)]
    cmd += ["--frames", str(frames), "--device", "cpu", "--cache", str(out / "cache"), "-q"]
    subprocess.run(cmd, check=False, capture_output=True)
    rows = {}
    for line in (out / "results.jsonl").read_text().splitlines():
        row = json.loads(line)
        rows[hashlib.sha256(Path(row["path"]).read_bytes()).hexdigest()] = row
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=50, help="concurrent uploads (50)")
    parser.add_argument("--workers", type=int, default=2, help="scan processes (2)")
    parser.add_argument("--frames", type=int, default=8, help="frames sampled per video (8)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per job at most")
    args = parser.parse_args()

    samples = require_samples()
    load_before = [round(x, 2) for x in os.getloadavg()]  # other work on the machine skews timing
    distinct = sorted(samples.rglob("*.mp4"))
    clips = [distinct[i % len(distinct)] for i in range(args.uploads)]
    with tempfile.TemporaryDirectory(prefix="fakescope-load-") as tmp:
        data = Path(tmp) / "data"
        proc, url = start_server(data, args.workers, Path(tmp) / "server.log")
        try:
            t0 = time.perf_counter()
            rows = asyncio.run(load(url, clips, args.frames, args.timeout))
            wall = time.perf_counter() - t0
        finally:
            proc.terminate()
            proc.wait(30)
        print(f"service done in {wall:.1f} s; scanning the same files with fakescope scan ...")
        unique = sorted(set(clips))
        reference = cli_scan(unique, args.frames, Path(tmp) / "scan")

    codes: dict[str, int] = {}
    for row in rows:
        codes[str(row["status_code"])] = codes.get(str(row["status_code"]), 0) + 1
    done = [r for r in rows if r.get("job", {}).get("status") == "done"]
    identical, differing = 0, []
    for row in done:
        job = row["job"]
        (entry,) = job["results"]
        ref = reference.get(job["sha256"])
        if ref is not None and _comparable(entry["result"]) == _comparable(ref):
            identical += 1
        else:
            differing.append(row["clip"])
    jobs_done = sorted({r["id"] for r in done})
    server_s = [
        r["job"]["finished"] - r["job"]["created"] for r in done if not r.get("deduplicated")
    ]
    first_done = min((r["done_at"] for r in done), default=t0)
    last_done = max((r["done_at"] for r in done), default=t0)
    result = {
        "benchmark": "serve_load",
        "machine": machine(),
        "load_average_at_start": load_before,
        "settings": {
            "uploads": args.uploads,
            "distinct_clips": len(set(clips)),
            "workers": args.workers,
            "frames": args.frames,
            "model": "default",
            "device": "cpu",
        },
        "status_codes": codes,
        "responses_5xx": sum(n for c, n in codes.items() if c.startswith("5")),
        "uploads_deduplicated": sum(bool(r.get("deduplicated")) for r in rows),
        "jobs": len({r.get("id") for r in rows if r.get("id")}),
        "jobs_done": len(jobs_done),
        "uploads_done": len(done),
        "identical_to_fakescope_scan": identical,
        "differing": differing,
        "upload_s": {
            "p50": _pct([r["upload_s"] for r in rows], 50),
            "p95": _pct([r["upload_s"] for r in rows], 95),
        },
        "job_latency_client_s": {
            "p50": _pct([r["job_s"] for r in done], 50),
            "p95": _pct([r["job_s"] for r in done], 95),
        },
        "job_latency_server_s": {"p50": _pct(server_s, 50), "p95": _pct(server_s, 95)},
        "wall_s": round(wall, 2),
        "throughput_jobs_per_s": round(len(jobs_done) / (last_done - t0), 3) if done else 0.0,
        "first_done_s": round(first_done - t0, 2),
    }
    table = "\n".join(
        [
            "# serve_load: the service under concurrent uploads (loopback)",
            "",
            f"{args.uploads} uploads at once of {len(set(clips))} distinct sample clips, "
            f"{args.workers} worker(s), {args.frames} frames, model `default` on the CPU; "
            f"{result['machine']['cpus']} CPUs, {result['machine']['date']}, load average "
            f"{load_before[0]} at the start (1 min). "
            "Made by `python benchmarks/serve_load.py`.",
            "",
            "| measure | value |",
            "|---|---|",
            f"| HTTP statuses | {', '.join(f'{k}: {v}' for k, v in sorted(codes.items()))} |",
            f"| responses 5xx | {result['responses_5xx']} |",
            f"| jobs done / jobs | {result['jobs_done']} / {result['jobs']} "
            f"({result['uploads_deduplicated']} uploads deduplicated) |",
            f"| results identical to `fakescope scan` | {identical} / {len(done)} |",
            f"| upload p50 / p95 (s) | {result['upload_s']['p50']} / {result['upload_s']['p95']} |",
            f"| job latency, client, p50 / p95 (s) | {result['job_latency_client_s']['p50']} / "
            f"{result['job_latency_client_s']['p95']} |",
            f"| job latency, server, p50 / p95 (s) | {result['job_latency_server_s']['p50']} / "
            f"{result['job_latency_server_s']['p95']} |",
            f"| throughput (jobs/s) | {result['throughput_jobs_per_s']} |",
            f"| wall time (s) | {result['wall_s']} |",
            "",
            "Job latency includes the wait in the queue: with N jobs and K workers the last job",
            "waits for the N-1 before it, so p95 grows with N/K; throughput is the measure of",
            "the workers, latency p50 the measure of the queue.",
            "",
        ]
    )
    write_results("serve_load", result, table)


if __name__ == "__main__":
    main()
