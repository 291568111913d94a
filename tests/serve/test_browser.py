"""The web page in a real browser (Playwright driving Debian's chromium): drop a sample clip,
watch the upload and the scan, read the verdict, open the report, open the dashboard and
compare two runs. Screenshots go to the test's folder (or ``$FAKESCOPE_SCREENSHOTS``)."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLES

from .conftest import ServerProcess

pytestmark = pytest.mark.slow


def _chromium() -> str:
    pytest.importorskip("playwright.sync_api", reason="needs playwright (the dev extra)")
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no chromium here: apt-get install chromium (make setup does)")


def _clip(clips: list[Path]) -> Path:
    """An FF++ sample clip when the shared samples are here, else a synthetic face clip."""
    found = sorted(SAMPLES.glob("FaceForensics++/**/*.mp4"))
    return found[0] if found else clips[0]


def test_upload_scan_verdict_report_history_and_dashboard(
    tmp_path: Path, clips: list[Path]
) -> None:
    browser_path = _chromium()
    from playwright.sync_api import expect, sync_playwright

    shots = Path(os.environ.get("FAKESCOPE_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    clip = _clip(clips)
    runs = ROOT / "benchmarks" / "results"  # real evaluate and study outputs of this repo
    with (
        ServerProcess(tmp_path / "data", "--workers", "1", "-q", "--runs", str(runs)) as server,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        page.goto(server.url + "/")
        expect(page.get_by_role("checkbox", name="default")).to_be_checked()

        # drag and drop: a File built from the clip's bytes, dropped on the drop zone
        data = base64.b64encode(clip.read_bytes()).decode()
        page.evaluate(
            """([name, b64]) => {
                const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                const dt = new DataTransfer();
                dt.items.add(new File([bytes], name, { type: "video/mp4" }));
                const zone = document.getElementById("drop");
                for (const type of ["dragenter", "dragover", "drop"]) {
                    zone.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true }));
                }
            }""",
            [clip.name, data],
        )
        expect(page.locator("#file-name")).to_contain_text(clip.name)
        page.get_by_label("Frames sampled").fill("4")
        expect(page.get_by_label("HTML report")).to_be_checked()
        page.get_by_role("button", name="Upload and scan").click()
        expect(page.get_by_label("Upload", exact=True)).to_have_attribute("value", "100")
        page.screenshot(path=str(shots / "1-progress.png"))
        verdict = page.locator(".verdict").first
        expect(verdict).to_contain_text("probability of a deepfake", timeout=120_000)
        expect(page.get_by_label("Scan", exact=True)).to_have_attribute("value", "100")
        report = page.frame_locator("#report-frame")
        expect(report.locator("body")).to_contain_text("fakescope", timeout=30_000)
        page.screenshot(path=str(shots / "2-verdict.png"), full_page=True)
        page.locator("#report-frame").screenshot(path=str(shots / "3-report.png"))
        history = page.locator("#history")
        expect(history).to_contain_text(clip.name)
        expect(history).to_contain_text("done")

        # the file picker: choosing a file shows it, ready to upload
        page.get_by_label("Drop a video here, or choose a file").set_input_files(str(clips[1]))
        expect(page.locator("#file-name")).to_contain_text(clips[1].name)

        page.get_by_role("link", name="Dashboard").click()
        first = page.get_by_role("checkbox", name="Pick run default_model_eval")
        second = page.get_by_role("checkbox", name="Pick run robustness_eval")
        first.check()
        second.check()
        table = page.locator("#compare")
        expect(table).to_contain_text("difference")
        expect(table).to_contain_text("video_level.roc_auc")
        expect(page.locator("#details figure")).not_to_have_count(0)
        page.wait_for_function(
            "() => [...document.querySelectorAll('#details img')].some(i => i.naturalWidth > 0)"
        )
        page.screenshot(path=str(shots / "4-dashboard.png"), full_page=True)
        browser.close()
    for name in ("1-progress.png", "2-verdict.png", "3-report.png", "4-dashboard.png"):
        assert (shots / name).stat().st_size > 1000, name
