"""``fakescope datasets``: index benchmarks into a manifest, split it, describe it, audit it,
augment it with re-encoded copies."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import (
    EXIT_ITEM_FAILED,
    EXIT_OK,
    UsageError,
    add_common,
    add_engine_args,
    print_json,
    progress,
    setup_logging,
)

EXAMPLES = """\
examples:
  fakescope datasets index ~/data/FaceForensics++ --dataset ffpp --out ffpp.parquet --probe
  fakescope datasets index ~/data/Celeb-DF-v2 --dataset celebdf-v2 --out celebdf.parquet
  fakescope datasets index my_videos/ --dataset generic --out mine.parquet   # real/ and fake/ folders
  fakescope datasets index face_frames/ --dataset generic --out frames.parquet  # images: real/, fake/
      # (PNG/JPEG..., one frame each; a folder of frames = one video, one identity)
  fakescope datasets index /kaggle/input/ff-c23/FaceForensics++_C23 --dataset ffpp --out ff.parquet
  fakescope datasets index ~/data/celeb-df --dataset celebdf-v2 --out cdf.parquet  # Celeb-Real/, Celeb-Fake/
  fakescope datasets index ~/drive --dataset dfd --out dfd.parquet --anonymise  # DFD_REAL/, DFD_FAKE/
      # hashed names; key in dfd.key.json, hash-named links to the videos in dfd.videos/
  fakescope datasets split ffpp.parquet --out ffpp_split.parquet --ratios 0.7,0.15,0.15 --seed 0
  fakescope datasets stats ffpp_split.parquet --out stats/
  fakescope datasets check ffpp.parquet --workers 2 --engine ray
  fakescope datasets augment ffpp_split.parquet --out ffpp_aug.parquet --h264 23,32,40 --workers 2
  fakescope extract ffpp_split.parquet --out faces/          # a manifest is a valid input
"""


AUGMENT_EXAMPLES = """\
examples:
  fakescope datasets augment ffpp_split.parquet --out ffpp_aug.parquet
      # train videos at CRF 23, 32, 40 (veryfast) into reencoded/ beside ffpp_aug.parquet
  fakescope datasets augment ffpp_split.parquet --out aug.parquet --h264 28,36 --workers 4
  fakescope datasets augment ffpp_split.parquet --out aug.parquet --splits train,val \
      --store CACHE/perturbed --preset medium
      # one store with the h264:CRF copies of 'fakescope evaluate --robustness' (same layout)
  fakescope datasets stats aug.parquet          # counts per compression level, copies included

Copies in the dataset root are stored relative to it, others by absolute path. Rerunning the
same command re-encodes nothing; an interrupted run resumes where it stopped.
"""


def register(sub: Any) -> None:
    from ..datasets import list_datasets

    p = sub.add_parser(
        "datasets",
        help="index benchmarks into a manifest, split, describe and audit it",
        description="Dataset tools: one leakage-free manifest table for every benchmark.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = p.add_subparsers(dest="datasets_command", metavar="VERB", required=True)

    ix = verbs.add_parser(
        "index",
        help="read a benchmark folder into a manifest",
        description="Read a benchmark's folders and metadata into a manifest (parquet or CSV). "
        "A known layout (ffpp, celebdf-*, dfd) that indexes only partly (a file in one of its "
        "folders whose name does not parse, a folder it needs) is an error naming what is "
        "missing. Files outside the layout, files named by the metadata but absent and unknown "
        "labels are reported (count and first examples), never dropped silently.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ix.add_argument("root", metavar="ROOT", help="the benchmark's folder (generic: folder or CSV)")
    ix.add_argument("--dataset", required=True, choices=list_datasets(), help="which benchmark")
    ix.add_argument("--out", required=True, metavar="FILE", help="manifest.parquet or manifest.csv")
    ix.add_argument(
        "--probe", action="store_true", help="also read duration, fps, size, audio of every file"
    )
    ix.add_argument(
        "--anonymise",
        "--anonymize",
        action="store_true",
        help="write keyed hashes (HMAC-SHA256) instead of names, ids and paths; the key stays "
        "in a separate key file and the videos are read through hash-named links in "
        "OUT_STEM.videos/ (see fakescope.datasets.anonymise for re-identification)",
    )
    ix.add_argument(
        "--key",
        metavar="FILE",
        help="with --anonymise: the key file (default OUT_STEM.key.json beside --out); an "
        "existing one is reused, so the same key file gives the same hashes",
    )
    add_engine_args(ix)
    add_common(ix)
    ix.set_defaults(run=run_index)

    sp = verbs.add_parser(
        "split",
        help="identity-level train/val/test split with a leakage check",
        description="Assign every video to train/val/test. Official splits are kept and extended "
        "to their identity groups; other groups are dealt whole, label-stratified and seeded. "
        "The leakage check fails when an identity group would span two splits.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sp.add_argument("manifest", metavar="MANIFEST")
    sp.add_argument("--out", required=True, metavar="FILE", help="the split manifest to write")
    sp.add_argument(
        "--ratios", default="0.7,0.15,0.15", help="train,val,test (default 0.7,0.15,0.15)"
    )
    sp.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sp.add_argument(
        "--ignore-official",
        action="store_true",
        help="re-split by identity, ignoring official splits",
    )
    add_common(sp)
    sp.set_defaults(run=run_split)

    st = verbs.add_parser("stats", help="counts, class balance, media summaries (JSON + CSV)")
    st.add_argument("manifest", metavar="MANIFEST")
    st.add_argument("--out", metavar="DIR", help="write stats.json and one CSV per table here")
    add_common(st)
    st.set_defaults(run=run_stats)

    ck = verbs.add_parser(
        "check",
        help="parallel readability audit of every file",
        description="Open every file of a manifest, read all its packets and list the broken ones. "
        "Results stream to a log next to --out, so an interrupted audit resumes.",
    )
    ck.add_argument("manifest", metavar="MANIFEST")
    ck.add_argument(
        "--out", metavar="FILE", help="write the audit as JSON (default MANIFEST.check.json)"
    )
    ck.add_argument(
        "--root", metavar="DIR", help="dataset root, if the manifest moved without its data"
    )
    add_engine_args(ck)
    add_common(ck)
    ck.set_defaults(run=run_check)

    ag = verbs.add_parser(
        "augment",
        help="add H.264 re-encoded copies (CRF 23-40) of the training videos",
        description="Re-encode every video of the chosen splits with H.264 at each CRF and "
        "write a new manifest: the original rows plus one row per copy (video_id ID#h264-CRF, "
        "same label, identities and split, compression h264-CRF, derived_from ID). Every "
        "identity and label then appears at several compression levels, so that a detector "
        "cannot learn 'compressed = fake'. Copies are stored by content under --store; a rerun "
        "re-encodes only what is missing. Videos that fail are listed and left out (exit 1).",
        epilog=AUGMENT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ag.add_argument("manifest", metavar="MANIFEST", help="a split manifest (parquet or CSV)")
    ag.add_argument("--out", required=True, metavar="FILE", help="the augmented manifest to write")
    ag.add_argument(
        "--h264",
        default="23,32,40",
        metavar="CRFS",
        help="comma-separated x264 CRFs, 0-51; higher is lossier (default 23,32,40)",
    )
    ag.add_argument(
        "--splits", default="train", metavar="NAMES", help="splits to augment (default train)"
    )
    ag.add_argument(
        "--store",
        metavar="DIR",
        help="where the copies live (default: reencoded/ beside --out)",
    )
    ag.add_argument(
        "--preset", default="veryfast", help="x264 preset (default veryfast; slower is smaller)"
    )
    ag.add_argument(
        "--root", metavar="DIR", help="dataset root, if the manifest moved without its data"
    )
    add_engine_args(ag)
    add_common(ag)
    ag.set_defaults(run=run_augment)
    p.set_defaults(run=lambda a: p.print_help() or 2)


def _engine(args: argparse.Namespace) -> Any:
    from ..engines import create_engine

    if args.workers < 1:
        raise UsageError("--workers must be >= 1")
    return create_engine(args.engine, args.workers, args.ray_address)


def _quiet(args: argparse.Namespace) -> bool:
    return bool(args.json or args.quiet)


def run_index(args: argparse.Namespace) -> int:
    from ..datasets import Manifest, index_dataset, write_manifest
    from ..datasets.probe import probe_manifest

    setup_logging(args.verbose - args.quiet)
    if args.key and not args.anonymise:
        raise UsageError("--key goes with --anonymise")
    anonymiser, key_file = None, None
    if args.anonymise:
        from ..datasets.anonymise import Anonymiser, key_file_for

        key_file = Path(args.key) if args.key else key_file_for(args.out)
        anonymiser = Anonymiser.load_or_new(key_file)
    table, report, root = index_dataset(args.root, args.dataset, anonymiser=anonymiser)
    if not len(table):
        raise UsageError(
            f"no {args.dataset} videos found in {args.root}"
            + (f" ({'; '.join(report.lines())})" if report else "")
        )
    info: dict[str, Any] = {"dataset": args.dataset, "problems": report.to_dict()}
    if anonymiser is not None and key_file is not None:
        from ..datasets.anonymise import links_folder_for

        anonymiser.save(key_file)  # first: every hash written anywhere can be re-identified
        root = anonymiser.link(Path(root), links_folder_for(args.out))
        # the examples name files: the manifest keeps the counts only
        info["problems"] = {k: {"count": v} for k, v in report.counts.items()}
        info["anonymised"] = {"algorithm": "HMAC-SHA256", "key_file": key_file.name}
    if args.probe:
        engine = _engine(args)
        with progress(len(table), "probe", enabled=not _quiet(args)) as bar:
            table = probe_manifest(Manifest(table, root), engine, progress=bar)
    out = write_manifest(table, args.out, root, info)
    result = {
        "manifest": str(out),
        "root": str(Path(root).resolve()),
        "videos": len(table),
        "real": int((table["label"] == 0).sum()),
        "fake": int((table["label"] == 1).sum()),
        "identity_groups": int(table["identity_group"].nunique()),
        "official_split": int(table["split"].notna().sum()),
        "problems": report.to_dict(),
    }
    if args.probe:
        result["unreadable"] = int((table["readable"] == False).sum())  # noqa: E712
    if key_file is not None:
        result["key_file"] = str(key_file)
    if args.json:
        print_json(result)
    elif not args.quiet:
        print(
            f"{result['videos']} videos ({result['real']} real, {result['fake']} fake) in "
            f"{result['identity_groups']} identity groups -> {out}"
        )
        for line in report.lines():
            print(f"  problem: {line}")
        if key_file is not None:
            print(f"  anonymised: key in {key_file} (keep it private; do not share it)")
    return EXIT_OK


def run_split(args: argparse.Namespace) -> int:
    from ..datasets import assign_splits, parse_ratios, read_manifest, write_manifest
    from ..datasets.stats import stats_tables

    setup_logging(args.verbose - args.quiet)
    manifest = read_manifest(args.manifest)
    table = assign_splits(
        manifest.table, parse_ratios(args.ratios), args.seed, not args.ignore_official
    )
    info = {
        **manifest.info,
        "split": {"ratios": args.ratios, "seed": args.seed, "official": not args.ignore_official},
    }
    info.pop("root", None)
    info.pop("root_relative", None)
    out = write_manifest(table, args.out, manifest.root, info)
    balance = stats_tables(table)["balance"]
    if args.json:
        print_json({"manifest": str(out), "balance": balance.to_dict(orient="records")})
    elif not args.quiet:
        print(balance.to_string(index=False))
        print(f"no identity group spans two splits -> {out}")
    return EXIT_OK


def run_stats(args: argparse.Namespace) -> int:
    from .._atomic import atomic_write_bytes, atomic_write_json
    from ..datasets import dataset_stats, read_manifest, stats_tables

    manifest = read_manifest(args.manifest)
    data = dataset_stats(manifest.table)
    if args.out:
        out = Path(args.out)
        atomic_write_json(out / "stats.json", data)
        for name, df in stats_tables(manifest.table).items():
            atomic_write_bytes(out / f"{name}.csv", df.to_csv(index=False).encode())
    if args.json:
        print_json(data)
    else:
        tables = stats_tables(manifest.table)
        print(
            f"{data['videos']} videos: {data['real']} real, {data['fake']} fake, {data['identity_groups']} identity groups"
        )
        for name, df in tables.items():
            print(f"\n{name}:\n{df.to_string(index=False)}")
    return EXIT_OK


def run_check(args: argparse.Namespace) -> int:
    from .._atomic import atomic_write_json
    from ..datasets import read_manifest
    from ..datasets.probe import probe_manifest

    setup_logging(args.verbose - args.quiet)
    manifest = read_manifest(args.manifest, root=args.root)
    out = Path(args.out) if args.out else Path(args.manifest).with_suffix(".check.json")
    engine = _engine(args)
    with progress(len(manifest), "check", enabled=not _quiet(args)) as bar:
        table = probe_manifest(
            manifest, engine, deep=True, log_path=out.with_suffix(".jsonl"), progress=bar
        )
    broken = table[table["readable"] != True]  # noqa: E712
    broken_rows = [{"path": p, "error": e} for p, e in zip(broken["path"], broken["error"])]
    report: dict[str, Any] = {
        "manifest": str(args.manifest),
        "root": str(manifest.root),
        "videos": len(table),
        "readable": len(table) - len(broken),
        "broken": broken_rows,
    }
    atomic_write_json(out, report)
    if args.json:
        print_json(report)
    elif not args.quiet:
        print(f"{report['readable']}/{len(table)} readable -> {out}")
        for row in broken_rows[:20]:
            print(f"  broken: {row['error']}", file=sys.stderr)
        if len(broken_rows) > 20:
            print(f"  ... and {len(broken_rows) - 20} more (see {out})", file=sys.stderr)
    return EXIT_ITEM_FAILED if len(broken) else EXIT_OK


def run_augment(args: argparse.Namespace) -> int:
    from ..datasets.augment import augment_manifest, parse_crfs, parse_splits

    setup_logging(args.verbose - args.quiet)
    crfs, splits = parse_crfs(args.h264), parse_splits(args.splits)
    engine = _engine(args)
    with progress(0, "augment", enabled=not _quiet(args)) as bar:  # the total is set on start
        summary = augment_manifest(
            args.manifest,
            args.out,
            crfs=crfs,
            splits=splits,
            store=args.store,
            preset=args.preset,
            engine=engine,
            progress=bar,
            root=args.root,
        )
    if args.json:
        print_json(summary.to_dict())
        return EXIT_ITEM_FAILED if summary.failed else EXIT_OK
    if not args.quiet:
        print(
            f"{summary.copies} copies of {summary.sources} videos at CRF "
            f"{','.join(map(str, summary.crfs))} ({summary.encoded} encoded, {summary.reused} "
            f"reused from {summary.store}); {summary.rows} rows -> {summary.manifest}"
        )
    for row in summary.failed[:20]:
        print(f"  failed: {row['error']}", file=sys.stderr)
    if len(summary.failed) > 20:
        print(f"  ... and {len(summary.failed) - 20} more (see --json)", file=sys.stderr)
    return EXIT_ITEM_FAILED if summary.failed else EXIT_OK
