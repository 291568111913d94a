"""Training clips of flow images (seed 003's optical-flow CNN-LSTM, ``ModelConfig.inputs ==
"flow"``): a clip is ``T`` consecutive frame pairs of one face track, read from the flow cache
(``forensics.flow``) that the crop cache's runs of consecutive frames feed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from ..forensics.flow import FlowSettings, entry_flow
from .data import ClipSample, _entries, video_clips

__all__ = ["flow_card", "load_flow_clips"]


def load_flow_clips(
    manifest_path: str,
    crops_dir: str,
    split: str,
    *,
    clip_frames: int,
    clips_per_video: int = 1,
    tracks: int = 1,
    labels: tuple[int, ...] = (0, 1),
    max_videos: int = 0,
    seed: int = 0,
    settings: FlowSettings | None = None,
) -> list[ClipSample]:
    """Clips of ``clip_frames`` flow images (pairs in time order) of each of the first
    ``tracks`` tracks, up to ``clips_per_video`` per video spread evenly over the windows
    (stride 1); a track with fewer pairs than a clip is padded with its last pair (flagged),
    and one with fewer than ``min_track_frames(clip_frames)`` pairs is skipped. The flow of
    each video is computed once and cached beside the crop cache."""
    from ..models.registry import min_track_frames

    shortest = min_track_frames(clip_frames)
    s = settings or FlowSettings()
    clips: list[ClipSample] = []
    found = with_runs = 0
    for vid, label, entry in _entries(manifest_path, crops_dir, split, labels, max_videos, seed):
        found += 1
        flows = entry_flow(entry, s)
        if flows:
            with_runs += 1
        found_flows = [flows.get(int(t["track_id"])) for t in entry.tracks[:tracks]]
        per_track = [[str(p) for p in tf.files] for tf in found_flows if tf is not None]
        per_track = [files for files in per_track if len(files) >= shortest]
        clips += video_clips(per_track, int(label), str(vid), clip_frames, clips_per_video)
    if found and not with_runs:
        raise DatasetError(
            f"{crops_dir}: the extraction kept no runs of consecutive frames; a flow model needs "
            f"them: run 'fakescope extract {manifest_path} --out {crops_dir} --context' "
            "(with --context-run R for runs of R frames)"
        )
    if not clips:
        raise DatasetError(
            f"no flow clips for split '{split}' ({found} videos extracted, {with_runs} with runs "
            f"of consecutive frames; a track needs at least {shortest} frame pairs): extract "
            f"more frames or longer runs, or train with a shorter model.frames_per_clip"
        )
    return clips


def flow_card(crops_dir: str | Path, settings: FlowSettings) -> dict[str, Any]:
    """The card's ``flow`` section: the flow settings and the extraction's context (window
    margin and size, run length), so scans extract and compute exactly what training read."""
    summary = Path(crops_dir) / "summary.json"
    context = None
    if summary.is_file():
        context = json.loads(summary.read_text()).get("settings", {}).get("context")
    if not context:
        raise DatasetError(
            f"{crops_dir}: no context settings in summary.json; a flow model needs an "
            "extraction made with 'fakescope extract ... --context'"
        )
    return {**settings.to_dict(), "context": dict(context)}
