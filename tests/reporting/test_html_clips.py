"""The HTML report draws clip spans and identity-inconsistency curves for clip models, and
nothing of the kind for frame models; the synthetic results follow the JSON schema."""

import dataclasses
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import fakescope
from fakescope.inference.scan import ScanResult
from fakescope.reporting import render_report

SCHEMA = json.loads(
    (Path(fakescope.__file__).parent / "schemas" / "scan_result.schema.json").read_text()
)
HAS_CLIPS = "clips" in {f.name for f in dataclasses.fields(ScanResult)}
needs_clips = pytest.mark.skipif(not HAS_CLIPS, reason="ScanResult.clips is not in scan.py yet")

FPS = 25.0
INDICES = list(range(0, 128, 4))  # 32 sampled frames, every 4th of a 5.1-s video


class _Svg(HTMLParser):
    """Elements by class inside the report's SVGs, headings, external references."""

    def __init__(self) -> None:
        super().__init__()
        self.by_class: dict[str, list[dict[str, Any]]] = {}
        self.h2: list[str] = []
        self.external: list[str] = []
        self.cells: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for c in (a.get("class") or "").split():
            self.by_class.setdefault(c, []).append({"tag": tag, **a})
        for k in ("src", "href"):
            if a.get(k) and not str(a[k]).startswith(("data:", "#")):
                self.external.append(str(a[k]))
        self._in = tag if tag in ("h2", "th", "td") else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "h2":
            self.h2.append(data)
        elif self._in in ("th", "td"):
            self.cells.append(data)


def _parse(page: str) -> _Svg:
    p = _Svg()
    p.feed(page)
    return p


def _base(model: dict[str, Any], per_frame: dict[int, list[float]]) -> dict[str, Any]:
    """A scanned video with one face track per key of ``per_frame`` over the 32 samples."""
    timeline = [
        {
            "time": i / FPS,
            "frame_index": i,
            "faces": {str(t): v[k] for t, v in per_frame.items()},
            "max": max(v[k] for v in per_frame.values()),
        }
        for k, i in enumerate(INDICES)
    ]
    tracks = [
        {
            "track_id": t,
            "probability": sum(v) / len(v),
            "frames": len(v),
            "start": 0.0,
            "end": INDICES[-1] / FPS,
            "boxes": [
                {
                    "frame_index": i,
                    "time": i / FPS,
                    "box": [10.0, 10.0, 90.0, 90.0],
                    "probability": v[k],
                }
                for k, i in enumerate(INDICES)
            ],
        }
        for t, v in per_frame.items()
    ]
    return {
        "path": "/videos/clip.mp4",
        "status": "ok",
        "probability": 0.7,
        "verdict": "fake",
        "threshold": 0.5,
        "tracks": tracks,
        "timeline": timeline,
        "video": {"fps": FPS, "duration": 5.12, "frame_count": 128},
        "model": {"name": "synthetic", "temperature": 1.0, **model},
        "settings": {"sampling": "uniform:32", "aggregation": "mean_of_max"},
    }


def _clip(track: int, first: int, n: int, p: float, padded: bool = False) -> dict[str, Any]:
    """A clip over samples first .. first + n - 1 (n real crops)."""
    idx = INDICES[first : first + n]
    return {
        "track_id": track,
        "start": idx[0] / FPS,
        "end": idx[-1] / FPS,
        "first_index": idx[0],
        "last_index": idx[-1],
        "probability": p,
        "padded": padded,
        "frames": n,
    }


def _clip_result() -> ScanResult:
    # face 0: four 8-frame clips over all 32 samples (stride 8); face 1: a short track of
    # 5 samples, one clip padded with its last crop
    clips = [_clip(0, 8 * k, 8, p) for k, p in enumerate((0.2, 0.4, 0.9, 0.6))]
    clips.append(_clip(1, 10, 5, 0.8, padded=True))
    data = _base(
        {"family": "clip", "frames_per_clip": 8, "stride": 8},
        {0: [0.2] * 8 + [0.4] * 8 + [0.9] * 8 + [0.6] * 8},
    )
    data["tracks"].append(
        {
            "track_id": 1,
            "probability": 0.8,
            "frames": 5,
            "start": INDICES[10] / FPS,
            "end": INDICES[14] / FPS,
            "boxes": [
                {
                    "frame_index": i,
                    "time": i / FPS,
                    "box": [100.0, 10.0, 180.0, 90.0],
                    "probability": 0.8,
                }
                for i in INDICES[10:15]
            ],
        }
    )
    for point in data["timeline"][10:15]:
        point["faces"]["1"] = 0.8
        point["max"] = max(point["faces"].values())
    data["tracks"][0]["inconsistency"] = [
        {"time": i / FPS, "frame_index": i, "value": 0.05 + 0.01 * k} for k, i in enumerate(INDICES)
    ]
    return ScanResult(**data, clips=clips)


@needs_clips
def test_clip_result_draws_one_bar_per_clip_and_the_curve():
    result = _clip_result()
    jsonschema.validate(result.to_dict(), SCHEMA)
    page = render_report(result, detector=None)
    svg = _parse(page)
    bars = svg.by_class.get("fs-clip", [])
    assert len(bars) == 5 and all(b["tag"] == "rect" for b in bars)
    assert len(svg.by_class.get("fs-padded", [])) == 1
    assert len(svg.by_class.get("fs-hatch", [])) == 1  # the padded clip is hatched
    curves = svg.by_class.get("fs-inconsistency", [])
    assert len(curves) == 1 and len(curves[0]["points"].split()) == 32
    # face 0's bars: on the time axis in order, height rising with probability
    face0 = bars[:4]
    xs = [float(b["x"]) for b in face0]
    assert xs == sorted(xs) and xs[0] == pytest.approx(64.0)  # t = 0 at the left edge
    end = float(face0[-1]["x"]) + float(face0[-1]["width"])
    assert end == pytest.approx(890.0)  # the last clip ends at the last sample, the right edge
    heights = [float(b["height"]) for b in face0]
    assert heights.index(max(heights)) == 2 and heights.index(min(heights)) == 0
    # the curve spans the same axis as the bars
    curve_x = [float(p.split(",")[0]) for p in curves[0]["points"].split()]
    assert curve_x[0] == pytest.approx(xs[0]) and curve_x[-1] == pytest.approx(end)
    assert svg.external == [] and "padded with its last crop" in page
    cells = svg.cells
    assert cells[cells.index("family") + 1] == "clip"
    assert cells[cells.index("frames per clip (T)") + 1] == "8"
    assert cells[cells.index("stride") + 1] == "8"
    assert "clips (padded)" in cells and "1 (1)" in cells and "4 (0)" in cells


def test_frame_result_renders_without_clips_or_curves():
    data = _base({"family": "frame", "frames_per_clip": 1, "stride": 1}, {0: [0.3] * 32})
    result = ScanResult(**data)
    jsonschema.validate(result.to_dict(), SCHEMA)
    page = render_report(result, detector=None)
    svg = _parse(page)
    for cls in ("fs-clip", "fs-padded", "fs-hatch", "fs-inconsistency"):
        assert cls not in svg.by_class
    assert page.count("<svg") >= 1 and "clips (padded)" not in svg.cells
    assert svg.h2 == ["Timeline", "Faces (tracks)", "Video", "Model and settings"]
    assert svg.cells[svg.cells.index("family") + 1] == "frame"
    assert "padded with its last crop" not in page  # the legend names only what is drawn


def test_older_results_without_family_still_validate_and_render():
    data = _base({}, {0: [0.6] * 32})
    result = ScanResult(**data)
    jsonschema.validate(result.to_dict(), SCHEMA)
    svg = _parse(render_report(result))
    assert "fs-clip" not in svg.by_class
    assert svg.cells[svg.cells.index("family") + 1] == "frame"
    assert "frames per clip (T)" not in svg.cells


def test_schema_rejects_a_malformed_clip_or_curve():
    data = _base({"family": "clip", "frames_per_clip": 8, "stride": 8}, {0: [0.5] * 32})
    payload = ScanResult(**data).to_dict()
    payload["clips"] = [_clip(0, 0, 8, 0.5)]
    jsonschema.validate(payload, SCHEMA)
    bad = dict(payload["clips"][0])
    del bad["padded"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**payload, "clips": [bad]}, SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {**payload, "clips": [{**payload["clips"][0], "probability": 1.5}]}, SCHEMA
        )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**payload, "model": {**payload["model"], "family": "audio"}}, SCHEMA)
    track = {**payload["tracks"][0], "inconsistency": [{"time": 0.0, "value": 0.1}]}
    with pytest.raises(jsonschema.ValidationError):  # frame_index missing
        jsonschema.validate({**payload, "tracks": [track]}, SCHEMA)
