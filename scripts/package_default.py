"""Ship a trained checkpoint as the package's default detector, with its model card.

    python scripts/package_default.py --checkpoint runs/default/calibrated --eval runs/default/eval

Copies the weights and card into src/fakescope/weights/default/, records the evaluation's
headline metrics in the card, and writes MODEL_CARD.md from the card and the evaluation's own
metrics.json (figures are generated, never typed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT / "src" / "fakescope" / "weights" / "default"


def _f(v: object) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument(
        "--eval", required=True, help="a `fakescope evaluate` run folder (test split)"
    )
    parser.add_argument("--log", help="the training run's log.csv")
    parser.add_argument(
        "--candidate",
        help="the row of benchmarks/results/generalisation.json that is this model's recipe",
    )
    args = parser.parse_args()
    ckpt, ev = Path(args.checkpoint), Path(args.eval)
    card = json.loads((ckpt / "card.json").read_text())
    metrics = json.loads((ev / "metrics.json").read_text())
    card["name"] = "default"
    card["metrics"] = {**card.get("metrics", {}), "test": {
        "video_level": {k: metrics["video_level"].get(k) for k in ("roc_auc", "average_precision", "eer", "fpr_at_95_tpr", "expected_calibration_error", "brier_score", "bootstrap")}
        if isinstance(metrics["video_level"], dict) else metrics["video_level"],
        "breakdown": metrics["breakdown"], "videos": metrics["videos"]}}  # fmt: skip
    DEST.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ckpt / "model.safetensors", DEST / "model.safetensors")
    from fakescope.models import load_checkpoint
    from fakescope.models.checkpoint import export_onnx

    model, _ = load_checkpoint(ckpt)
    export_onnx(model, DEST / "model.onnx")  # ONNX Runtime on CPUs
    (DEST / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    eval_copy = ROOT / "benchmarks" / "results" / "default_model_eval"
    eval_copy.mkdir(parents=True, exist_ok=True)
    for name in (
        "metrics.json",
        "summary.md",
        "predictions.csv",
        "roc.png",
        "reliability.png",
        "hist.png",
        "failures.png",
    ):
        if (ev / name).is_file():
            shutil.copy2(ev / name, eval_copy / name)
    log_rows = []
    if args.log and Path(args.log).is_file():
        import csv

        with open(args.log) as fh:
            log_rows = list(csv.DictReader(fh))
    (DEST / "MODEL_CARD.md").write_text(render(card, metrics, log_rows))
    generalisation = ROOT / "benchmarks" / "results" / "generalisation.json"
    if args.candidate and generalisation.is_file():
        update_generalisation_section(DEST / "MODEL_CARD.md", generalisation, args.candidate)
    robustness = ROOT / "benchmarks" / "results" / "robustness.json"
    if robustness.is_file():  # kept from the last benchmarks/robustness.py run
        update_robustness_section(DEST / "MODEL_CARD.md", robustness)
    size = (DEST / "model.safetensors").stat().st_size / 1e6
    print(f"shipped {DEST} ({size:.1f} MB)")
    return 0


def _calibration_line(card: dict, cal: dict) -> str:
    if card.get("calibration"):
        c = card["calibration"]
        return (
            f"- Calibration: a video-level {c['method']} map chosen by cross-validated log loss "
            f"on the {cal.get('units')} validation videos (ECE there {_f(cal.get('ece_before'))} -> "
            f"{_f(cal.get('ece_after'))}); threshold {card['threshold']:.3f}, the one that maximises "
            "Youden's J on them."
        )
    return (
        f"- Calibration: temperature {card['temperature']:.3f} fitted on the validation split "
        f"(frame-level ECE {_f(cal.get('ece_before'))} -> {_f(cal.get('ece_after'))}); threshold {card['threshold']}."
    )


def _split_table(manifest: str) -> list[str]:
    """Videos per (collection/source) x split x label of the training manifest."""
    path = ROOT / manifest
    if not path.is_file():
        return [f"  (manifest {manifest} not found when packaging)", ""]
    from fakescope.datasets import read_manifest

    t = read_manifest(path).table
    src = t["source"] if "source" in t else t["dataset"]
    t = t.assign(group=t["dataset"].astype(str) + "/" + src.astype(str))
    lines = ["| source | train | val | test |", "|---|---|---|---|"]
    for g, rows in t.groupby("group"):
        cells = []
        for split in ("train", "val", "test"):
            part = rows[rows["split"] == split]
            n_fake = int(part["label"].sum())
            cells.append(f"{len(part) - n_fake}/{n_fake}" if len(part) else "-")
        lines.append(f"| {g} | " + " | ".join(cells) + " |")
    return [*lines, ""]


GENERALISATION_START = "<!-- generalisation: generated by benchmarks/generalisation.py -->"
GENERALISATION_END = "<!-- /generalisation -->"


def update_generalisation_section(card_md: Path, results: Path, candidate: str) -> None:
    """Write (or replace) the card's leave-one-generator-out section for ``candidate``."""
    from fakescope.evaluation.logo import logo_markdown

    data = json.loads(results.read_text())
    if candidate not in data.get("candidates", {}):
        return
    r = data["candidates"][candidate]
    section = [
        GENERALISATION_START,
        "## Generalisation: leave one generator out",
        "",
        f"From `benchmarks/generalisation.py` ([generalisation.md](../../../../benchmarks/results/generalisation.md)): "
        f"this model's recipe (`{candidate}`) trained once per generator without it, at the benchmark's "
        "screening budget, tested on held-out people's real videos and that generator's fakes, beside "
        "the two shortcut baselines fitted on the same folds.",
        "",
        *logo_markdown(r, candidate).splitlines()[2:],
        GENERALISATION_END,
    ]
    _replace_section(card_md, GENERALISATION_START, GENERALISATION_END, section)


def _replace_section(card_md: Path, start: str, end: str, section: list[str]) -> None:
    text = card_md.read_text()
    if start in text and end in text:
        head, rest = text.split(start, 1)
        tail = rest.split(end, 1)[1]
        text = head + "\n".join(section) + tail
    else:
        text = text.rstrip() + "\n\n" + "\n".join(section) + "\n"
    card_md.write_text(text)


ROBUSTNESS_START = "<!-- robustness: generated by benchmarks/robustness.py -->"
ROBUSTNESS_END = "<!-- /robustness -->"


def update_robustness_section(card_md: Path, results: Path) -> None:
    """Write (or replace) the model card's robustness section from robustness.json."""
    from fakescope.evaluation.protocol import robustness_markdown

    data = json.loads(results.read_text())
    section = [
        ROBUSTNESS_START,
        "## Robustness to re-compression (test split, video level)",
        "",
        "From `benchmarks/robustness.py` ([robustness.md](../../../../benchmarks/results/robustness.md)): "
        "JPEG re-compression of the face crops, H.264 re-encoding and 480p downscaling of the whole "
        "video, 95% bootstrap intervals over videos.",
        "",
        *robustness_markdown(data["robustness"]),
        *_chance_line(data["robustness"]["rows"]),
        ROBUSTNESS_END,
    ]
    _replace_section(card_md, ROBUSTNESS_START, ROBUSTNESS_END, section)


def _chance_line(rows: list[dict]) -> list[str]:
    """Name the perturbations under which the AUC's interval reaches chance (0.5)."""
    weak = [r["label"] for r in rows if r.get("auc_ci") and r["auc_ci"][0] <= 0.5]
    if not weak:
        return []
    return [
        "Weak spot: under " + ", ".join(weak) + " the 95% interval of the AUC reaches 0.5 "
        "(no better than chance); do not trust a verdict on heavily re-compressed video.",
        "",
    ]


def render(card: dict, metrics: dict, log_rows: list[dict]) -> str:
    m = card["model"]
    t = card["training"]
    cal = card.get("metrics", {}).get("calibration", {})
    v = metrics["video_level"]
    lines = [
        "# fakescope default detector",
        "",
        "Generated by `scripts/package_default.py` from the checkpoint's card and the output of",
        "`fakescope evaluate` (`benchmarks/results/default_model_eval/`); reproduce with",
        "`make train-default`.",
        "",
        "## What it is",
        "",
        f"- Network: `{m['backbone']}` ({m['name']}), {m['input_size']} px input, ImageNet initialisation "
        f'({t.get("weights_source")}), one logit of "fake".',
        f"- Preprocessing: faces found by `{card['crop'].get('detector')}`, square crops of "
        f"{card['crop'].get('margin')} x the face box resized to {card['crop'].get('size')} px, "
        f"{card['frames_per_video']} frames per video; video score = {card['aggregation']} "
        "(mean over frames of the most suspicious face).",
        _calibration_line(card, cal),
        "",
        "## Training data and recipe",
        "",
        f"- Data: `{t['data']['manifest']}` built by `scripts/default_data.py` from the project's development",
        "  clips (FF++/DFD/DFDC benchmark samples and talking-head clips of ~60 real identities).",
        "  Splits are by identity group: no identity is both trained on and validated/tested on.",
        "  Videos per source, split and label (real/fake), read from that manifest:",
        "",
        *_split_table(t["data"]["manifest"]),
        f"- SBI mode `{t['data']['sbi']}`: every real training crop also yields a self-blended pseudo-fake;",
        f"  {t['data']['train_crops']} training crops, {t['data']['val_crops']} validation crops per epoch.",
        f"- Recipe: {t['recipe']['optim']['name']} lr {t['recipe']['optim']['lr']} (backbone {t['recipe']['optim']['backbone_lr']}), "
        f"weight decay {t['recipe']['optim']['weight_decay']}, {t['recipe']['optim']['schedule']} "
        f"({t['recipe']['optim']['warmup_epochs']} warmup epochs), {t['recipe']['train']['freeze_backbone_epochs']} epoch(s) "
        f"head-only, label smoothing {t['recipe']['train']['label_smoothing']}, clipping {t['recipe']['train']['grad_clip']}, "
        f"early stopping on validation AUC; best epoch {t['best_epoch']} of {t['recipe']['train']['epochs']}.",
    ]
    if log_rows:
        secs = sum(float(r["seconds"]) for r in log_rows)
        lines.append(
            f"- Training time on this project's CPU machine (2 cores): {secs / 60:.1f} min for {len(log_rows)} epochs."
        )
    lines += ["", "## Test results (identities never seen in training)", ""]
    if isinstance(v, dict):
        b = v.get("bootstrap") or {}
        ci = lambda k: f" [{b[k]['low']:.3f}, {b[k]['high']:.3f}]" if k in b else ""  # noqa: E731
        lines += [
            f"All test videos ({metrics['videos']['scored']} scored): AUC {v['roc_auc']:.3f}{ci('roc_auc')}, "
            f"AP {v['average_precision']:.3f}{ci('average_precision')}, EER {v['eer']:.3f}{ci('eer')}, "
            f"ECE {_f(v.get('expected_calibration_error'))} (95% bootstrap intervals over videos).",
            "",
        ]
    lines += [
        "| group | videos (real/fake) | AUC | AP | accuracy at threshold |",
        "|---|---|---|---|---|",
    ]
    for kind, groups in metrics["breakdown"].items():
        for name, r in groups.items():
            lines.append(
                f"| {kind}: {name} | {r['videos']} ({r['real']}/{r['fake']}) | {_f(r.get('auc'))} | {_f(r.get('ap'))} | {_f(r.get('accuracy'))} |"
            )
    lines += [
        "",
        "`wild` rows are generators with no video in training (AniTalker, SadTalker: audio-driven",
        "talking faces from one photo) against real clips of held-out people. `ffpp` rows are the",
        "four FF++ methods on held-out identities. `dfdc` rows are the four DFDC benchmark sample",
        "videos, all of them in test; DFDC as a generator appears in training only through the",
        "DFDC face-crop clips of `wild/` (see the table above), and not at all when the recipe",
        "trains on real videos only (`sbi: only`). The leave-one-generator-out table below is the",
        "honest measure of unseen generators.",
        "",
        "## Weak spots (read before trusting a verdict)",
        "",
        "- Tiny data: trained on well under a hundred videos; test sets of tens of videos give wide",
        "  intervals. Treat this model as a working default for the pipeline, not as a benchmark result.",
        "- Heavily compressed video (FF++ c40) and low-resolution faces blur the blending traces it looks for.",
        "- Whole-face synthesis and audio-driven animation differ from face swaps; see the `wild` rows.",
        "- It scores faces only: a video without a detectable face gets no verdict.",
    ]
    if isinstance(v, dict):
        at = v["at_threshold"]
        lines += [
            f"- At the threshold ({card['threshold']}) it flags {at['recall']:.0%} of the test fakes with precision "
            f"{at['precision']:.0%}, and {at['fpr']:.0%} of the test reals: it misses most fakes of unseen kinds.",
            f"- Calibration on the test videos: ECE {_f(v.get('expected_calibration_error'))}, against "
            f"{_f(cal.get('ece_after'))} on the {cal.get('level', 'frame')}s of the validation split it was fitted on.",
        ]
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
