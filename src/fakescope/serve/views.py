"""The API's requests and answers: the upload's form options and a job as clients see it."""

from __future__ import annotations

import json
from typing import Any

from . import catalog
from .settings import ServeSettings
from .uploads import UploadRejected

__all__ = ["MAX_FRAMES", "UPLOAD_SCHEMA", "job_results", "job_view", "parse_options"]

MAX_FRAMES = 1024
_YES = {
    "yes": True,
    "true": True,
    "1": True,
    "on": True,
    "no": False,
    "false": False,
    "0": False,
    "off": False,
    "": False,
}

UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "detectors": {
                            "type": "string",
                            "description": "comma-separated detector ids (GET /v1/models); "
                            "default: default",
                        },
                        "frames": {"type": "integer", "minimum": 1, "maximum": MAX_FRAMES},
                        "report": {"type": "string", "enum": ["yes", "no"]},
                    },
                }
            }
        },
    }
}


def parse_options(fields: dict[str, str], settings: ServeSettings) -> dict[str, Any]:
    """The form options, validated (``UploadRejected`` 422 names the bad one)."""
    unknown = sorted(set(fields) - {"detectors", "frames", "report"})
    if unknown:
        raise UploadRejected(
            422, f"unknown form field '{unknown[0]}' (known: detectors, frames, report)"
        )
    names = [d.strip() for d in fields.get("detectors", "default").split(",") if d.strip()]
    names = list(dict.fromkeys(names)) or ["default"]
    offered = catalog.detector_ids(settings)
    for name in names:
        if name not in offered:
            raise UploadRejected(
                422,
                f"unknown detector '{name[:100]}' (offered: {', '.join(offered)}; see GET /v1/models)",
            )
    frames: int | None = None
    raw = fields.get("frames", "").strip()
    if raw:
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_FRAMES:
            raise UploadRejected(
                422, f"frames must be an integer from 1 to {MAX_FRAMES}, got '{raw[:20]}'"
            )
        frames = int(raw)
    report = fields.get("report", "no").strip().lower()
    if report not in _YES:
        raise UploadRejected(422, f"report must be yes or no, got '{report[:20]}'")
    return {"detectors": names, "frames": frames, "report": _YES[report]}


def job_results(job: dict[str, Any], settings: ServeSettings) -> list[dict[str, Any]]:
    """A done job's results file (under the data folder, wherever that is now)."""
    with open(settings.results / job["id"] / "results.json") as fh:
        return list(json.load(fh)["results"])


def job_view(job: dict[str, Any], settings: ServeSettings, full: bool) -> dict[str, Any]:
    """A job as the API shows it: with every result (``full``) or a one-line verdict each."""
    view = {
        k: job[k]
        for k in (
            "id",
            "status",
            "progress",
            "attempts",
            "created",
            "started",
            "finished",
            "error",
            "sha256",
            "filename",
            "options",
        )
    }
    view["progress"] = round(float(view["progress"]), 4)
    if job["status"] != "done":
        return view
    try:
        entries = job_results(job, settings)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        view["error"] = f"the results cannot be read ({exc.__class__.__name__})"
        return view
    if full:
        view["results"] = [
            {**e, "report": f"/v1/scans/{job['id']}/report?detector={e['detector']}"}
            if e.get("report")
            else e
            for e in entries
        ]
    else:
        view["summary"] = [
            {
                "detector": e["detector"],
                **{k: e["result"].get(k) for k in ("status", "verdict", "probability")},
            }
            for e in entries
        ]
    return view
