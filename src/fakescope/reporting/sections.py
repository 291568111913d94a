"""The family sections of the HTML report, chosen through a registry (no branch on the family).

``SECTIONS[family](result, r, detector, top) -> str`` renders what a family adds between the
timeline and the tracks table (``result`` the ``ScanResult`` with its scored faces, ``r`` its
``to_dict()``, ``detector`` the loaded detector or None, ``top`` how many faces to show).
``render_sections`` picks the scan's family (``frame`` for an unknown one). A family defined
outside this module registers its renderer with ``@register_section("name")``; the ensemble's
(``fakescope.reporting.ensemble``) is imported the first time an ensemble report is drawn
(``PLUGINS``), so importing the report loads nothing it does not draw.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from .._registry import register_into

__all__ = [
    "PLUGINS",
    "SECTIONS",
    "Section",
    "register_section",
    "render_sections",
    "section_for",
    "suspicious_faces",
]

Section = Callable[[Any, dict[str, Any], Any, int], str]

SECTIONS: dict[str, Section] = {}
# families whose renderer lives in another module, imported on first use
PLUGINS = {"ensemble": "fakescope.reporting.ensemble"}


def register_section(family: str) -> Callable[[Section], Section]:
    """Decorator: ``fn`` renders the report sections of ``family`` (one renderer a family)."""

    def deco(fn: Section) -> Section:
        return register_into(SECTIONS, family, fn, "report sections for family", plural=True)

    return deco


def section_for(family: str) -> Section:
    """The renderer of ``family`` (importing its ``PLUGINS`` module first when it has one),
    else the frame models'."""
    if family not in SECTIONS and family in PLUGINS:
        module = PLUGINS[family]
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # the plug-in exists but something it imports does not
                raise
    return SECTIONS.get(family, SECTIONS["frame"])


def render_sections(family: str, result: Any, r: dict[str, Any], detector: Any, top: int) -> str:
    """HTML of ``family``'s report sections (``section_for``)."""
    return section_for(family)(result, r, detector, top)


def suspicious_faces(
    result: Any,
    r: dict[str, Any],
    detector: Any,
    top: int,
    note: str,
    *,
    by_box: bool = True,
    gradcam: bool = False,
) -> str:
    """Tiles of the ``top`` most suspicious face crops with ``note`` under them. ``by_box``
    ranks them by the per-face probability of the timeline (a figure shared by a clip, a
    segment or the whole video), else by the face's own calibrated logit; ``gradcam`` puts a
    Grad-CAM heatmap under each crop (frame models: one crop, one decision)."""
    faces = result.faces
    if faces is None or not len(faces) or detector is None:
        return ""
    import cv2

    from .html import _png, _read
    from .saliency import overlay

    if by_box:
        box = {
            (t["track_id"], b["frame_index"]): b.get("probability")
            for t in r["tracks"]
            for b in t["boxes"]
        }
        probs = np.array(
            [box.get((int(t), int(i))) or 0.0 for t, i in zip(faces.track, faces.index)]
        )
    else:
        from ..inference.pipeline import video_calibrator

        calibration = video_calibrator(getattr(detector, "card", None))
        if calibration is not None:  # the same map as the verdict's
            probs = calibration.predict_proba(faces.logit)
        else:
            probs = faces.probabilities(r["model"].get("temperature", 1.0))
    order = np.argsort(-probs, kind="stable")[:top]
    crops = np.stack([cv2.cvtColor(_read(faces.files[i]), cv2.COLOR_BGR2RGB) for i in order])
    heat = None
    if gradcam:
        from .saliency import gradcam as grad_cam

        heat = grad_cam(detector, crops)
    tiles = []
    for k, i in enumerate(order):
        under = (
            "" if heat is None else f"<img alt='heatmap' src='{_png(overlay(crops[k], heat[k]))}'>"
        )
        tiles.append(
            f"<div class='face'><img alt='face crop' src='{_png(crops[k])}'>{under}"
            f"face {int(faces.track[i])} at {faces.timestamp[i]:.2f}s: <b>{probs[i]:.1%}</b></div>"
        )
    head = "<h2>Most suspicious faces</h2><div class='card'><div class='faces'>"
    return "".join([head, *tiles, f"</div><p class='muted'>{note}</p></div>"])


@register_section("frame")
def frame_sections(result: Any, r: dict[str, Any], detector: Any, top: int) -> str:
    """Frame models: each suspicious crop over its Grad-CAM heatmap; RFFR models (seed 004)
    add residual maps beside the Grad-CAM heatmaps."""
    from .residual import residual_section

    note = (
        "Each face crop above its Grad-CAM heatmap: the regions that raised the &quot;fake&quot; "
        "score most."
    )
    faces = suspicious_faces(result, r, detector, top, note, by_box=False, gradcam=True)
    return faces + "".join(residual_section(result, detector, top))


@register_section("clip")
def clip_sections(result: Any, r: dict[str, Any], detector: Any, top: int) -> str:
    """Clip models: flow models' motion (anomaly per frame pair, flow heatmaps; seed 003),
    then the crops by the mean probability of the clips covering each (no heatmap: a clip
    model scores T crops together)."""
    motion = ""
    if r.get("motion"):
        from .flow import motion_section

        motion = "".join(motion_section(result))
    note = "The most suspicious face crops, by the mean probability of the clips covering each."
    return motion + suspicious_faces(result, r, detector, top, note)


@register_section("signals")
def signals_sections(result: Any, r: dict[str, Any], detector: Any, top: int) -> str:
    """Signals models: each feature against its training distribution with its SHAP bar,
    then the crops of the track the signals describe."""
    from .signals import signals_section

    features = "".join(signals_section(r["signals"])) if r.get("signals") else ""
    note = (
        "Face crops of the track the forensic signals describe; a signals model scores the "
        "whole video at once, so every crop carries the video's probability."
    )
    return features + suspicious_faces(result, r, detector, top, note)


@register_section("av")
def av_sections(result: Any, r: dict[str, Any], detector: Any, top: int) -> str:
    """Audio-visual models: the sound (waveform, speech, 1-s segment scores), then the crops
    by the probability of their segment."""
    sound = ""
    if r.get("audio") is not None or r.get("segments"):
        from .audio import audio_section

        sound = "".join(audio_section(r))
    note = "The most suspicious face crops, by the probability of their 1-s segment."
    return sound + suspicious_faces(result, r, detector, top, note)
