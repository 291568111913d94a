"""``python -m fakescope.demo``: the main job on a clip built at run time (or your own video).

Without ``--video`` it renders a short talking-head-like clip from the astronaut photo that
ships inside scikit-image (a real face, no download), then runs fakescope on it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

__all__ = ["make_demo_clip"]


def make_demo_clip(
    path: str | os.PathLike[str], seconds: float = 4.0, fps: int = 25, size: int = 384
) -> Path:
    """Write an H.264 clip: a slow pan and zoom over ``skimage.data.astronaut()``."""
    import av
    import cv2
    from skimage import data

    photo = data.astronaut()  # 512x512 RGB, one face
    n = round(seconds * fps)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "18"})
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(n):
            t = i / max(1, n - 1)
            zoom = 1.0 + 0.25 * np.sin(np.pi * t)  # in and out again
            cx = 256 + 40 * np.sin(2 * np.pi * t)
            cy = 250 + 20 * np.cos(2 * np.pi * t)
            half = 256 / zoom
            m = np.array(
                [
                    [size / (2 * half), 0, -(cx - half) * size / (2 * half)],
                    [0, size / (2 * half), -(cy - half) * size / (2 * half)],
                ],
                np.float32,
            )
            frame: np.ndarray = cv2.warpAffine(
                photo, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
            )
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakescope.demo", description=__doc__)
    parser.add_argument("--video", help="your own video (default: a clip built now)")
    parser.add_argument("--out", default="demo-output", help="output folder")
    parser.add_argument("--model", default="default", help="detector (default: the shipped one)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    video = Path(args.video) if args.video else make_demo_clip(out / "astronaut-demo.mp4")
    if not args.video:
        print(f"built a demo clip from scikit-image's astronaut photo (a real face): {video}")
    from .cli.main import main as cli

    report = out / "report.html"
    code = cli(
        [
            "scan",
            str(video),
            "--model",
            args.model,
            "--report",
            str(report),
            "--cache",
            str(out / "cache"),
        ]
    )
    if code == 0:
        print(f"open the report in a browser: {report.resolve()}")
    return code


if __name__ == "__main__":
    sys.exit(main())
