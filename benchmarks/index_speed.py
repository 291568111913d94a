"""Index + probe throughput on a generated FF++-layout tree of N entries, local vs Ray.

The tree's files are symbolic links to the sample videos (cycled), laid out as FF++:
``original_sequences/youtube/c23/videos/NNNN.mp4`` and
``manipulated_sequences/<method>/<comp>/videos/A_B.mp4``. In one run it measures:

- index: the adapter walking the tree + the manifest table with identity groups;
- probe: every file opened and its first frame decoded, with the local engine (process pool)
  and with the Ray engine (a local Ray instance), both with ``--workers`` workers.

Writes benchmarks/results/index_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, require_samples, timed, write_results

METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")


def build_tree(root: Path, n: int, samples: Path) -> int:
    sources = sorted((samples / "FaceForensics++").rglob("*.mp4"))
    made = 0
    ident = 0
    while made < n:
        a, b = f"{ident:04d}", f"{ident + 1:04d}"
        names = [
            f"original_sequences/youtube/c23/videos/{a}.mp4",
            f"original_sequences/youtube/c23/videos/{b}.mp4",
        ]
        for method in METHODS:
            names += [
                f"manipulated_sequences/{method}/c23/videos/{a}_{b}.mp4",
                f"manipulated_sequences/{method}/c23/videos/{b}_{a}.mp4",
            ]
        for name in names[: n - made]:
            dest = root / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(sources[made % len(sources)], dest)
            made += 1
        ident += 2
    return made


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    samples = require_samples()

    from fakescope.datasets import Manifest, index_dataset
    from fakescope.datasets.probe import probe_manifest
    from fakescope.engines import create_engine

    tmp = Path(tempfile.mkdtemp(prefix="fsidx", dir="/tmp"))
    try:
        n = build_tree(tmp / "ffpp", args.entries, samples)
        t_index, (table, report, root) = timed(lambda: index_dataset(tmp / "ffpp", "ffpp"))
        assert len(table) == n and not report, report.lines()
        manifest = Manifest(table, root)
        results = {}
        for name in ("local", "ray"):
            engine = create_engine(name, args.workers)
            if name == "ray":
                import ray

                ray.init(
                    num_cpus=args.workers,
                    include_dashboard=False,
                    log_to_driver=False,
                    _temp_dir=str(tmp / "r"),
                )
            t, probed = timed(lambda: probe_manifest(manifest, engine))  # noqa: B023
            assert bool(probed["readable"].all())
            results[name] = {"seconds": t, "videos_per_second": n / t}
            if name == "ray":
                ray.shutdown()
            print(f"probe {name}: {t:.1f} s", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    data = {
        "machine": machine(),
        "entries": n,
        "workers": args.workers,
        "index": {
            "seconds": t_index,
            "videos_per_second": n / t_index,
            "identity_groups": int(table["identity_group"].nunique()),
        },
        "probe": results,
        "ray_over_local": results["ray"]["seconds"] / results["local"]["seconds"],
    }
    md = "\n".join(
        [
            "# Index and probe throughput",
            "",
            f"`benchmarks/index_speed.py`: a generated FF++-layout tree of {n:,} entries (links to the",
            f"sample videos), {args.workers} workers, {machine()['cpus']} CPU cores, one run.",
            "",
            "| step | engine | seconds | videos/s |",
            "|---|---|---|---|",
            f"| index (walk + manifest + identity groups) | - | {t_index:.2f} | {n / t_index:,.0f} |",
            f"| probe (open + first frame) | local | {results['local']['seconds']:.1f} | {results['local']['videos_per_second']:,.0f} |",
            f"| probe (open + first frame) | ray | {results['ray']['seconds']:.1f} | {results['ray']['videos_per_second']:,.0f} |",
            "",
            f"Ray / local time: {data['ray_over_local']:.2f}x (on one machine Ray adds scheduling overhead;",
            "its use is spreading a 100k-video job over a cluster).",
            "",
        ]
    )
    write_results("index_speed", data, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
