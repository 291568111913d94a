"""How the shipped default detector holds up under re-compression, and across benchmarks.

Runs ``fakescope evaluate --robustness`` (JPEG quality 100/90/75/50/30 on the face crops;
H.264 CRF 23/32/40 and downscaling to 480p on the whole video) on the test split of
``scripts/default_data.py`` (identities the model never trained on), with the same bootstrap
intervals as every other figure. The evaluation also carries the calibration (ECE at T = 1 and
at the card's temperature) and the cross-dataset table (training benchmarks vs. the others).
Writes benchmarks/results/robustness.{json,md} and the evaluation folder
benchmarks/results/robustness_eval/ (metrics, plots, robustness.png).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, ROOT, default_manifest, default_model_parser, machine, write_results


def main() -> int:
    parser = default_model_parser(__doc__)
    parser.add_argument("--perturbations", default="default", help="as --robustness takes them")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    run = ROOT / args.run
    manifest = default_manifest(run)
    from fakescope.cli.main import main as cli
    from fakescope.evaluation.protocol import robustness_markdown

    out = RESULTS / "robustness_eval"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    code = cli(
        ["evaluate", "--model", args.model, "--manifest", str(manifest), "--split", "test",
         "--out", str(out), "--cache", str(run / "crops" / "cache"), "--robustness",
         args.perturbations, "--workers", str(args.workers), "--bootstrap", "2000", "-q"]
    )  # fmt: skip
    if code != 0:
        return code
    seconds = time.perf_counter() - started
    for bulky in ("predictions.csv", "frames.csv"):  # per-video rows: not needed beside the table
        (out / bulky).unlink(missing_ok=True)
    metrics = json.loads((out / "metrics.json").read_text())
    cal, cross = metrics["calibration"], metrics["cross_dataset"]
    lines = [
        "# Robustness of the default detector (video level)",
        "",
        f"`benchmarks/robustness.py`: `fakescope evaluate --robustness` on the {metrics['videos']['total']} "
        f"test videos of `scripts/default_data.py` (identities not seen in training), "
        f"95% bootstrap intervals over videos (2000 resamples); {seconds / 60:.1f} min on "
        f"{machine()['cpus']} CPU cores.",
        "",
        *robustness_markdown(metrics["robustness"]),
        "## Calibration on this test split",
        "",
        f"Video-level ECE {cal['video_level']['ece_uncalibrated']:.3f} at T = 1 and "
        f"{cal['video_level']['ece_calibrated']:.3f} with the card's calibration ({cal.get('method', 'temperature')}); "
        f"frame-level {cal['frame_level']['ece_uncalibrated']:.3f} -> {cal['frame_level']['ece_calibrated']:.3f}.",
        "",
        "## Cross-dataset",
        "",
        f"Trained on {', '.join(cross['train_datasets'] or ['?'])}; in-domain video AUC "
        f"{cross['in_domain_auc']:.3f}." if cross.get("in_domain_auc") is not None else "",
        "",
        "| test dataset | videos | AUC | seen in training | gap to in-domain |",
        "|---|---|---|---|---|",
    ]  # fmt: skip
    for name, r in cross["test_datasets"].items():
        gap = r.get("gap_to_in_domain")
        auc = "-" if r.get("auc") is None else f"{r['auc']:.3f}"
        lines.append(
            f"| {name} | {r['videos']} | {auc} | {'yes' if r['in_domain'] else 'no'} | "
            f"{'-' if gap is None else f'{gap:+.3f}'} |"
        )
    lines += ["", "Plot: robustness_eval/robustness.png.", ""]
    results = {"machine": machine(), "seconds": seconds, "robustness": metrics["robustness"],
               "calibration": cal, "cross_dataset": cross, "videos": metrics["videos"]}  # fmt: skip
    write_results("robustness", results, "\n".join(lines))
    if args.model == "default":  # the shipped model's card quotes this table
        sys.path.insert(0, str(ROOT / "scripts"))
        from package_default import DEST, update_robustness_section

        update_robustness_section(DEST / "MODEL_CARD.md", RESULTS / "robustness.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
