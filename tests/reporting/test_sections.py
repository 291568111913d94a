"""The report's family sections come from a registry (``reporting.sections``): each built-in
family has its renderer, a new family registers one (in its own module, imported on first
use), an unknown family is drawn as a frame model, and a name is registered once."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from fakescope.inference.scan import ScanResult
from fakescope.reporting import render_report
from fakescope.reporting import sections as sections_module
from fakescope.reporting.sections import register_section, render_sections, section_for


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A copy of the registry and plug-in table for the test (left as it was afterwards)."""
    monkeypatch.setattr(sections_module, "SECTIONS", dict(sections_module.SECTIONS))
    monkeypatch.setattr(sections_module, "PLUGINS", dict(sections_module.PLUGINS))
    return sections_module.SECTIONS


def _result(family: str) -> ScanResult:
    return ScanResult(
        "v.mp4",
        "ok",
        probability=0.7,
        verdict="fake",
        model={"name": "m", "family": family},
        signals={"values": {"flicker_hll": 1.0}, "shap": {"flicker_hll": 0.5}, "base_value": 0.0},
    )


def test_every_built_in_family_has_its_renderer() -> None:
    names = {"frame": "frame_sections", "clip": "clip_sections", "signals": "signals_sections",
             "av": "av_sections"}  # fmt: skip
    for family, fn in names.items():
        assert section_for(family).__name__ == fn


def test_a_registered_family_draws_its_own_sections(registry: dict[str, Any]) -> None:
    @register_section("custom")
    def custom(result: Any, r: dict[str, Any], detector: Any, top: int) -> str:
        return f"<h2>Custom {r['probability']:.2f} {top}</h2>"

    page = render_report(_result("custom"), None, top=2)
    assert "<h2>Custom 0.70 2</h2>" in page
    assert "Forensic signals" not in page  # the signals renderer is the signals family's
    assert "Forensic signals" in render_report(_result("signals"), None)


def test_an_unknown_family_is_drawn_as_a_frame_model(registry: dict[str, Any]) -> None:
    registry["frame"] = lambda result, r, detector, top: "<p>frame sections</p>"
    assert render_sections("nobody", _result("nobody"), {}, None, 6) == "<p>frame sections</p>"
    assert "<p>frame sections</p>" in render_report(_result("nobody"), None)


def test_a_family_is_registered_once(registry: dict[str, Any]) -> None:
    def again(result: Any, r: dict[str, Any], detector: Any, top: int) -> str:
        return ""

    with pytest.raises(ValueError, match="'clip' are already registered"):
        register_section("clip")(again)


def test_a_plugin_module_is_imported_on_first_use(
    registry: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fs_plugin_sections.py").write_text(
        "from fakescope.reporting.sections import register_section\n\n\n"
        "@register_section('plugged')\n"
        "def plugged(result, r, detector, top):\n"
        "    return '<h2>Plugged in</h2>'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "fs_plugin_sections", raising=False)
    sections_module.PLUGINS["plugged"] = "fs_plugin_sections"
    sections_module.PLUGINS["missing"] = "fs_no_such_module"
    assert "plugged" not in registry
    assert "<h2>Plugged in</h2>" in render_report(_result("plugged"), None)
    assert "fs_plugin_sections" in sys.modules and "plugged" in registry
    # a plug-in module that is not installed leaves the frame renderer
    assert section_for("missing") is registry["frame"]
