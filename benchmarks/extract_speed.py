"""Speed of ``fakescope extract`` against the decode limit and a DeepfakeBench-style pipeline.

Per video, in one run (methods interleaved, median of --repeats):

- decode limit: every frame decoded with PyAV (frame threads on), none converted to RGB;
- fakescope extract: the CLI verb in-process, 32 frames, default detector, a cold cache;
- DeepfakeBench-style: OpenCV reads every frame (decode + colour conversion), dlib HOG
  (upsample 1) + 68 landmarks on 32 evenly spaced frames, 1.3x crop resized to 256.

Face recall = sampled frames with at least one face / sampled frames, for both pipelines.
Writes benchmarks/results/extract_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, median, require_samples, timed, write_results

VIDEOS = {
    "FF++ c40 720p": "FaceForensics++/original_sequences/youtube/c40/videos/183.mp4",
    "FF++ c23 720p": "FaceForensics++/original_sequences/youtube/c23/videos/634.mp4",
    "DFDC 1080p": "DFDC/dfdc_train_part_10/widuwuoiur.mp4",
}


def decode_limit(path: Path) -> int:
    import av

    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in c.decode(stream))


def fakescope_extract(path: Path, workdir: Path) -> dict[str, Any]:
    import json

    from fakescope.cli.main import main

    out = workdir / "out"
    shutil.rmtree(out, ignore_errors=True)
    code = main(["extract", str(path), "--out", str(out), "--frames", "32", "-q"])
    assert code == 0
    row = json.loads((out / "summary.json").read_text())["videos"][0]
    return {
        "recall": row["frames_with_face"] / row["frames_sampled"],
        "frames": row["frames_sampled"],
    }


class DeepfakeBenchStyle:
    """The usual research preprocessing, re-created from DeepfakeBench's preprocess.py."""

    def __init__(self) -> None:
        from fakescope.faces import create_detector

        # same dlib HOG detector + 68-point predictor, upsample 1, largest face
        self.detector = create_detector("dlib", upsample=1)

    def __call__(self, path: Path) -> dict[str, Any]:
        import cv2

        from fakescope.faces import CropSettings, crop_face

        cap = cv2.VideoCapture(str(path))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        wanted = set(np.linspace(0, n - 1, 32, endpoint=True, dtype=int).tolist())
        found = 0
        for i in range(n):
            ok, frame = cap.read()
            if not ok:
                break
            if i not in wanted:
                continue
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            faces = self.detector.detect(rgb)
            if faces:
                found += 1
                crop_face(rgb, faces[0], CropSettings(margin=1.3, size=256, align=True))
        cap.release()
        return {"recall": found / len(wanted), "frames": len(wanted)}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    samples = require_samples()
    dfb = DeepfakeBenchStyle()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        fakescope_extract(samples / VIDEOS["FF++ c40 720p"], work)  # warm-up: imports, model load
        for label, rel in VIDEOS.items():
            path = samples / rel
            times: dict[str, list[float]] = {
                "decode_limit": [],
                "fakescope": [],
                "deepfakebench": [],
            }
            result: dict[str, Any] = {}
            for _ in range(args.repeats):
                t, frames = timed(lambda: decode_limit(path))  # noqa: B023
                times["decode_limit"].append(t)
                t, result["fakescope"] = timed(lambda: fakescope_extract(path, work))  # noqa: B023
                times["fakescope"].append(t)
                t, result["deepfakebench"] = timed(lambda: dfb(path))  # noqa: B023
                times["deepfakebench"].append(t)
            med = {k: median(v) for k, v in times.items()}
            rows.append(
                {
                    "video": label,
                    "path": rel,
                    "frames_in_video": frames,
                    "seconds": med,
                    "all_seconds": times,
                    "fakescope_over_decode_limit": med["fakescope"] / med["decode_limit"],
                    "deepfakebench_over_fakescope": med["deepfakebench"] / med["fakescope"],
                    "recall_fakescope": result["fakescope"]["recall"],
                    "recall_deepfakebench": result["deepfakebench"]["recall"],
                }
            )
            print(f"{label}: {med}", file=sys.stderr)
    lines = [
        "# fakescope extract speed",
        "",
        f"One run, median of {args.repeats}, on {machine()['cpus']} CPU cores "
        "(`benchmarks/extract_speed.py`). 32 frames per video, default detector, cold cache.",
        "",
        "| video | frames | decode limit (s) | fakescope extract (s) | DeepfakeBench-style (s) "
        "| extract / decode limit | DeepfakeBench / extract | face recall fakescope | face recall DeepfakeBench |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s = r["seconds"]
        lines.append(
            f"| {r['video']} | {r['frames_in_video']} | {s['decode_limit']:.2f} | {s['fakescope']:.2f} "
            f"| {s['deepfakebench']:.2f} | {r['fakescope_over_decode_limit']:.2f}x "
            f"| {r['deepfakebench_over_fakescope']:.1f}x | {r['recall_fakescope']:.0%} "
            f"| {r['recall_deepfakebench']:.0%} |"
        )
    lines += [
        "",
        "Targets: extract at least 10x faster than the DeepfakeBench-style pipeline and within",
        "1.5x of the decode limit, with equal or better face recall.",
        "",
    ]
    write_results(
        "extract_speed",
        {"machine": machine(), "repeats": args.repeats, "videos": rows},
        "\n".join(lines),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
