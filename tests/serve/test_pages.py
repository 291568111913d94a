"""The web page and the dashboard's API, on the app itself (the browser test drives them)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fakescope.serve import ServeSettings, create_app
from fakescope.serve import runs as runs_mod

STATIC = Path(runs_mod.__file__).with_name("static")


def test_page_is_served_offline_with_accessible_controls(client: TestClient) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/ui/"
    page = client.get("/ui/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert 'name="viewport"' in html  # phone width
    for control in ("file", "frames", "upload-progress", "scan-progress", "token"):
        assert f'for="{control}"' in html, control  # every control has a label
    assert 'aria-live="polite"' in html and 'title="Scan report"' in html
    for name in ("app.js", "common.js", "style.css", "dashboard.html", "dashboard.js"):
        assert client.get(f"/ui/{name}").status_code == 200, name
    for file in STATIC.iterdir():  # no CDN, no font service: nothing outside the server
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", file.read_text()), file.name
        assert "@import" not in file.read_text()


def test_api_docs_work_offline(client: TestClient) -> None:
    pytest.importorskip("swagger_ui_bundle")
    docs = client.get("/docs").text
    assert "/docs-assets/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/redoc").status_code == 404


def test_page_is_public_but_the_api_behind_it_is_not(
    make_settings: Callable[..., ServeSettings], tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("t0k3n")
    with TestClient(create_app(make_settings(token_file=token))) as c:
        assert c.get("/ui/").status_code == 200 and c.get("/ui/app.js").status_code == 200
        assert c.get("/", follow_redirects=False).status_code == 307
        assert c.get("/v1/runs").status_code == 401
        assert c.get("/healthzz").status_code == 401  # public paths are exact
        assert c.get("/v1/runs", headers={"Authorization": "Bearer t0k3n"}).status_code == 200


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    """An evaluate run, a train run and a study, as those commands lay them out."""
    root = tmp_path / "runs"
    ev = root / "eval-a"
    ev.mkdir(parents=True)
    metrics = {
        "model": {"name": "default", "temperature": 0.3, "threshold": 0.5},
        "video_level": {"n": 64, "roc_auc": 0.70, "eer": 0.28, "bootstrap": {"n_boot": 1000}},
    }
    (ev / "metrics.json").write_text(json.dumps(metrics))
    (ev / "roc.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    (ev / "summary.md").write_text("# eval\n\n| metric | value |\n|---|---|\n| AUC | 0.70 |\n")
    (ev / "predictions.csv").write_text("path,label,probability\n/secret/x.mp4,1,0.9\n")
    train = root / "train-b"
    train.mkdir()
    (train / "log.csv").write_text(
        "epoch,phase,train_loss,val_auc\n1,head,0.69,0.61\n2,all,0.55,nan\n3,all,0.41,0.74\n"
    )
    (train / "metrics.json").write_text(json.dumps({"video_level": {"roc_auc": 0.74}}))
    study = root / "deep" / "study-c"
    study.mkdir(parents=True)
    (study / "ablation.json").write_text(json.dumps({"grid": {"total": 5, "finished": 5}}))
    (study / "figures").mkdir()
    (study / "figures" / "curves.png").write_bytes(b"\x89PNG\r\n\x1a\ncurves")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "metrics.json").write_text("{}")
    return root


def test_dashboard_lists_runs_with_metrics_tables_figures_and_curves(
    make_settings: Callable[..., ServeSettings], runs_dir: Path
) -> None:
    with TestClient(create_app(make_settings(runs=runs_dir))) as c:
        listing = c.get("/v1/runs").json()
        by_name = {r["name"]: r for r in listing["items"]}
        assert set(by_name) == {"eval-a", "train-b", "deep/study-c"}
        assert by_name["train-b"]["kinds"] == ["train", "evaluate"]
        ev = c.get(f"/v1/runs/{by_name['eval-a']['id']}").json()
        assert ev["metrics"]["video_level.roc_auc"] == 0.70
        assert ev["metrics"]["model.temperature"] == 0.3
        assert not any("bootstrap" in k for k in ev["metrics"])
        assert ev["figures"] == ["roc.png"] and ev["tables"][0]["name"] == "summary.md"
        png = c.get(f"/v1/runs/{ev['id']}/files/roc.png")
        assert png.status_code == 200 and png.content.endswith(b"fake")
        train = c.get(f"/v1/runs/{by_name['train-b']['id']}").json()
        assert train["curves"]["epoch"] == [1.0, 2.0, 3.0]
        assert train["curves"]["val_auc"] == [0.61, None, 0.74]
        assert "phase" not in train["curves"]
        study = c.get(f"/v1/runs/{by_name['deep/study-c']['id']}").json()
        assert study["metrics"] == {"grid.total": 5.0, "grid.finished": 5.0}
        assert study["figures"] == ["figures/curves.png"]
        assert c.get(f"/v1/runs/{study['id']}/files/figures/curves.png").status_code == 200
        for bad in ("predictions.csv", "metrics.json", "../eval-a/roc.png", "/etc/passwd"):
            r = c.get(f"/v1/runs/{ev['id']}/files/{bad}")
            assert r.status_code == 404 and set(r.json()) == {"error"}, bad
        assert c.get("/v1/runs/" + "0" * 16).status_code == 404


def test_dashboard_without_runs_folder_is_empty(client: TestClient) -> None:
    assert client.get("/v1/runs").json() == {"root": None, "items": []}
