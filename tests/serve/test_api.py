"""The REST API on the app itself: every status code of issue 15 §1-3."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fakescope.errors import ConfigError
from fakescope.serve import ServeSettings, create_app
from fakescope.serve.store import JobStore
from fakescope.serve.uploads import display_name
from fakescope.serve.worker import Runner, cleanup, run_once

from .conftest import files_under, post_video


def _store(settings: ServeSettings) -> JobStore:
    return JobStore(settings.database_url)


def _assert_one_line_error(response: object, status: int) -> str:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"} and body["error"] and "\n" not in body["error"]
    return str(body["error"])


def test_health_readiness_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    spec = client.get("/openapi.json").json()
    assert {"/v1/scans", "/v1/scans/{job_id}", "/v1/scans/{job_id}/report", "/v1/models"} <= set(
        spec["paths"]
    )
    assert "multipart/form-data" in spec["paths"]["/v1/scans"]["post"]["requestBody"]["content"]
    assert client.get("/docs").status_code == 200


def test_readyz_is_503_when_a_worker_is_missing(
    make_settings: Callable[..., ServeSettings],
) -> None:
    app = create_app(make_settings())
    with TestClient(app) as c:
        object.__setattr__(app.state.fakescope.settings, "workers", 1)  # expects 1, has none
        _assert_one_line_error(c.get("/readyz"), 503)


def test_upload_then_scan_then_report(
    client: TestClient, settings: ServeSettings, clips: list[Path]
) -> None:
    r = post_video(client, clips[0], frames="4", report="yes")
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert r.headers["location"] == f"/v1/scans/{job_id}"
    job = client.get(f"/v1/scans/{job_id}").json()
    assert job["status"] == "queued" and job["progress"] == 0
    assert job["options"] == {"detectors": ["default"], "frames": 4, "report": True}
    _assert_one_line_error(client.get(f"/v1/scans/{job_id}/report"), 409)

    assert run_once(_store(settings), Runner(settings))  # what a worker process does
    job = client.get(f"/v1/scans/{job_id}").json()
    assert job["status"] == "done" and job["progress"] == 1.0 and job["attempts"] == 1
    (entry,) = job["results"]
    assert entry["detector"] == "default"
    result = entry["result"]
    assert result["status"] in ("ok", "no_face")
    assert result["path"] == "clip0.mp4"  # the client's name, not a server path
    assert result["settings"]["sampling"] == "uniform:4"
    report = client.get(entry["report"])
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "<html" in report.text.lower()
    assert report.headers["content-security-policy"] == "sandbox allow-scripts"
    _assert_one_line_error(client.get(f"/v1/scans/{job_id}/report?detector=nope"), 404)
    listing = client.get("/v1/scans").json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == job_id
    (summary,) = listing["items"][0]["summary"]  # the history's one line per detector
    assert summary == {
        "detector": "default",
        **{k: result[k] for k in ("status", "verdict", "probability")},
    }
    assert "results" not in listing["items"][0]


def test_scan_without_report_has_no_report(
    client: TestClient, settings: ServeSettings, clips: list[Path]
) -> None:
    job_id = post_video(client, clips[1], frames="2").json()["id"]
    run_once(_store(settings), Runner(settings))
    assert client.get(f"/v1/scans/{job_id}").json()["status"] == "done"
    assert "report=yes" in _assert_one_line_error(client.get(f"/v1/scans/{job_id}/report"), 404)


def test_second_identical_upload_returns_the_existing_job(
    client: TestClient, settings: ServeSettings, clips: list[Path]
) -> None:
    first = post_video(client, clips[0], frames="4")
    again = post_video(client, clips[0], "renamed.mp4", frames="4")
    assert first.status_code == 202 and again.status_code == 200
    assert again.json() == {"id": first.json()["id"], "status": "queued", "deduplicated": True}
    other = post_video(client, clips[0], frames="8")  # same bytes, other options: a new job
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]
    sha = hashlib.sha256(clips[0].read_bytes()).hexdigest()
    assert [p.name for p in files_under(settings.uploads)] == [sha]  # stored once, by content


def test_failed_job_is_retried_by_an_identical_upload(
    client: TestClient, settings: ServeSettings, clips: list[Path]
) -> None:
    job_id = post_video(client, clips[2]).json()["id"]
    (settings.uploads / hashlib.sha256(clips[2].read_bytes()).hexdigest()).unlink()
    run_once(_store(settings), Runner(settings))
    job = client.get(f"/v1/scans/{job_id}").json()
    assert job["status"] == "failed" and "missing" in job["error"]
    again = post_video(client, clips[2])
    assert again.status_code == 202 and again.json() == {
        "id": job_id,
        "status": "queued",
        "deduplicated": False,
    }


def test_delete_removes_job_and_files(
    client: TestClient, settings: ServeSettings, clips: list[Path]
) -> None:
    job_id = post_video(client, clips[0], frames="2").json()["id"]
    run_once(_store(settings), Runner(settings))
    assert files_under(settings.results) and files_under(settings.uploads)
    sha = hashlib.sha256(clips[0].read_bytes()).hexdigest()
    assert files_under(settings.cache / sha)  # the faces found in the upload ...
    assert client.delete(f"/v1/scans/{job_id}").status_code == 204
    _assert_one_line_error(client.get(f"/v1/scans/{job_id}"), 404)
    _assert_one_line_error(client.delete(f"/v1/scans/{job_id}"), 404)
    assert files_under(settings.data) == []  # ... go with it


def test_a_job_deleted_while_it_runs_leaves_nothing(
    client: TestClient, settings: ServeSettings, clips: list[Path]
) -> None:
    job_id = post_video(client, clips[1], frames="2", report="yes").json()["id"]
    store = _store(settings)
    job = store.claim(worker=7)
    assert job is not None
    # the row goes while the worker scans (DELETE would also remove the upload the worker
    # already has open; it is kept here so that the scan itself runs to its end)
    assert store.delete(job_id) is not None
    assert Runner(settings).run(store, job) is False  # its claim is void: nothing completes
    sha = hashlib.sha256(clips[1].read_bytes()).hexdigest()
    assert files_under(settings.data) == [settings.uploads / sha]  # no results, no crops


def test_delete_keeps_an_upload_another_scan_uses(
    client: TestClient, settings: ServeSettings, clips: list[Path]
) -> None:
    first = post_video(client, clips[0], frames="2").json()["id"]
    second = post_video(client, clips[0], frames="3").json()["id"]
    run_once(_store(settings), Runner(settings))
    assert client.delete(f"/v1/scans/{first}").status_code == 204
    sha = hashlib.sha256(clips[0].read_bytes()).hexdigest()
    assert (settings.uploads / sha).is_file()
    assert client.delete(f"/v1/scans/{second}").status_code == 204
    assert files_under(settings.data) == []


def test_one_server_per_data_folder(client: TestClient, settings: ServeSettings) -> None:
    with (
        pytest.raises(ConfigError, match="another fakescope serve"),
        TestClient(create_app(settings)),
    ):
        pass
    assert client.get("/readyz").status_code == 200  # the first one is unharmed


def test_unknown_ids_and_routes_are_json_errors(client: TestClient) -> None:
    _assert_one_line_error(client.get("/v1/scans/" + "0" * 32), 404)
    _assert_one_line_error(client.get("/v1/scans/..%2F..%2Fetc"), 404)
    _assert_one_line_error(client.get("/nope"), 404)
    _assert_one_line_error(client.put("/v1/scans"), 405)
    _assert_one_line_error(client.get("/v1/scans?limit=0"), 422)


def test_models_lists_shipped_detectors_with_cards_and_the_registry(client: TestClient) -> None:
    body = client.get("/v1/models").json()
    default = next(d for d in body["detectors"] if d["id"] == "default")
    assert default["shipped"] and default["card"]["name"] == "default"
    assert "threshold" in default["card"] and "model" in default["card"]
    names = {a["name"] for a in body["architectures"]}
    assert {"efficientnet_lite0", "resnet18"} <= names


# -- bad requests: each gets its 4xx and leaves nothing on disk --------------------------------


@pytest.fixture
def small_client(make_settings: Callable[..., ServeSettings]) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(max_upload_bytes=20_000))) as c:
        yield c


def _nothing_stored(settings: ServeSettings) -> None:
    assert files_under(settings.data) == []
    assert _store(settings).page(10, 0)[1] == 0


def test_oversized_upload_is_413_and_the_partial_file_is_removed(
    small_client: TestClient, clips: list[Path]
) -> None:
    settings = small_client.app.state.fakescope.settings  # type: ignore[attr-defined]
    big = b"\0" * 30_000
    r = small_client.post("/v1/scans", files={"file": ("big.mp4", big, "video/mp4")})
    assert "limit" in _assert_one_line_error(r, 413)  # stopped while streaming
    huge = b"\0" * (2 << 20)  # refused on its Content-Length, before a byte is read
    r = small_client.post("/v1/scans", files={"file": ("huge.mp4", huge, "video/mp4")})
    assert "limit" in _assert_one_line_error(r, 413)
    boundary = "xyz"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\n'
    ).encode()

    def chunked() -> Iterator[bytes]:  # no Content-Length: the limit applies while streaming
        yield head
        for _ in range(10):
            yield b"\1" * 4096
        yield f"\r\n--{boundary}--\r\n".encode()

    r = small_client.post(
        "/v1/scans",
        content=chunked(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    _assert_one_line_error(r, 413)
    _nothing_stored(settings)


def test_truncated_multipart_is_400(client: TestClient, settings: ServeSettings) -> None:
    body = (
        b'--b0\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n'
        b"Content-Type: video/mp4\r\n\r\n" + b"\0" * 5000
    )
    r = client.post(
        "/v1/scans", content=body, headers={"content-type": "multipart/form-data; boundary=b0"}
    )
    assert "truncated" in _assert_one_line_error(r, 400)
    r = client.post(
        "/v1/scans",
        content=b'--b0\r\nContent-Disposition: form-data; name="frames"\r\n\r\n4\r\n--b0--\r\n',
        headers={"content-type": "multipart/form-data; boundary=b0"},
    )
    assert "field 'file'" in _assert_one_line_error(r, 400)
    _nothing_stored(settings)


def test_non_video_is_415_with_the_reason(client: TestClient, settings: ServeSettings) -> None:
    import cv2
    import numpy as np

    r = client.post("/v1/scans", files={"file": ("notes.mp4", b"hello, world\n" * 50)})
    assert "not a video" in _assert_one_line_error(r, 415)
    _, png = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    r = client.post("/v1/scans", files={"file": ("x.mp4", png.tobytes())})
    assert "image (PNG)" in _assert_one_line_error(r, 415)
    r = client.post("/v1/scans", files={"file": ("empty.mp4", b"")})
    assert "empty" in _assert_one_line_error(r, 415)
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:  # sound without a picture
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * 1600)
    r = client.post("/v1/scans", files={"file": ("voice.mp4", buf.getvalue())})
    assert "no video stream" in _assert_one_line_error(r, 415)
    r = client.post("/v1/scans", json={"file": "x"})
    assert "multipart" in _assert_one_line_error(r, 415)
    _nothing_stored(settings)


def test_path_traversal_filename_never_becomes_a_path(
    client: TestClient, settings: ServeSettings, clips: list[Path], tmp_path: Path
) -> None:
    r = post_video(client, clips[0], "../../x.mp4")
    assert r.status_code == 202
    job = client.get(f"/v1/scans/{r.json()['id']}").json()
    assert job["filename"] == "x.mp4"
    sha = hashlib.sha256(clips[0].read_bytes()).hexdigest()
    assert files_under(settings.data) == [settings.uploads / sha]
    assert not list(tmp_path.rglob("x.mp4")) and not (tmp_path.parent / "x.mp4").exists()
    r = post_video(client, clips[1], "..\\..\\evil.mp4")
    assert r.status_code == 202
    assert client.get(f"/v1/scans/{r.json()['id']}").json()["filename"] == "evil.mp4"
    assert len(files_under(settings.data)) == 2  # both stored by content hash, nothing else


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("../../x.mp4", "x.mp4"),
        ("C:\\Users\\me\\clip.mov", "clip.mov"),
        ("evil\x00\n.mp4", "evil.mp4"),
        ("..", "upload"),
        ("", "upload"),
        (None, "upload"),
        ("a" * 300, "a" * 200),
    ],
)
def test_display_name_is_never_a_path(raw: str | None, shown: str) -> None:
    assert display_name(raw) == shown


def test_bad_options_are_422(
    client: TestClient, settings: ServeSettings, clips: list[Path]
) -> None:
    r = post_video(client, clips[0], detectors="default,../../weights")
    assert "unknown detector '../../weights'" in _assert_one_line_error(r, 422)
    r = post_video(client, clips[0], detectors="efficientnet_lite0")  # architecture, no weights
    assert "GET /v1/models" in _assert_one_line_error(r, 422)
    _assert_one_line_error(post_video(client, clips[0], frames="0"), 422)
    _assert_one_line_error(post_video(client, clips[0], report="maybe"), 422)
    _assert_one_line_error(post_video(client, clips[0], colour="red"), 422)
    _nothing_stored(settings)


def test_token_is_required_everywhere_but_health(
    make_settings: Callable[..., ServeSettings], tmp_path: Path, clips: list[Path]
) -> None:
    token = tmp_path / "token.txt"
    token.write_text("s3cret\n")
    settings = make_settings(token_file=token)
    with TestClient(create_app(settings)) as c:
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200
        for method, url in [("get", "/v1/scans"), ("get", "/v1/models"), ("get", "/docs")]:
            r = getattr(c, method)(url)
            assert "missing bearer token" in _assert_one_line_error(r, 401)
            assert r.headers["www-authenticate"] == "Bearer"
        r = post_video(c, clips[0])
        _assert_one_line_error(r, 401)
        _nothing_stored(settings)
        r = c.get("/v1/scans", headers={"Authorization": "Bearer wrong"})
        assert "wrong" in _assert_one_line_error(r, 401)
        c.headers["Authorization"] = "Bearer s3cret"
        assert c.get("/v1/scans").status_code == 200
        assert post_video(c, clips[0]).status_code == 202


def test_full_queue_is_503_with_retry_after(
    make_settings: Callable[..., ServeSettings], clips: list[Path]
) -> None:
    settings = make_settings(max_queue=1, retry_after_s=7)
    with TestClient(create_app(settings)) as c:
        assert post_video(c, clips[0]).status_code == 202
        r = post_video(c, clips[1])
        assert "queue is full" in _assert_one_line_error(r, 503)
        assert r.headers["retry-after"] == "7"
        assert len(files_under(settings.uploads)) == 1


def test_per_client_limit_is_429_with_retry_after(
    make_settings: Callable[..., ServeSettings], clips: list[Path]
) -> None:
    settings = make_settings(max_per_client=2)
    with TestClient(create_app(settings)) as c:
        assert post_video(c, clips[0]).status_code == 202
        assert post_video(c, clips[1]).status_code == 202
        r = post_video(c, clips[2])
        assert "too many" in _assert_one_line_error(r, 429) and "retry-after" in r.headers
        run_once(_store(settings), Runner(settings))  # one finishes: room again
        assert post_video(c, clips[2]).status_code == 202


def test_no_cors_unless_configured(
    client: TestClient, make_settings: Callable[..., ServeSettings], tmp_path: Path
) -> None:
    origin = {"Origin": "http://example.org"}
    assert "access-control-allow-origin" not in client.get("/healthz", headers=origin).headers
    other = make_settings(data=tmp_path / "other", cors_origins=("http://example.org",))
    with TestClient(create_app(other)) as c:
        r = c.get("/healthz", headers=origin)
        assert r.headers["access-control-allow-origin"] == "http://example.org"


# -- jobs: restart, exactly once, retention -----------------------------------------------------


def test_restart_requeues_running_jobs_and_they_complete_once(
    make_settings: Callable[..., ServeSettings], clips: list[Path]
) -> None:
    settings = make_settings()
    with TestClient(create_app(settings)) as c:
        job_id = post_video(c, clips[0], frames="2").json()["id"]
    store = _store(settings)
    stale = store.claim(worker=12345)  # a worker takes it ... and the server dies
    assert stale is not None and stale["status"] == "running"
    with TestClient(create_app(settings)) as c:  # restart
        assert c.get(f"/v1/scans/{job_id}").json()["status"] == "queued"
        assert not store.complete(job_id, stale["claim"], "x")  # the old claim is void
        assert not store.set_progress(job_id, stale["claim"], 0.5)
        assert run_once(store, Runner(settings))
        assert not run_once(store, Runner(settings))  # nothing left: it ran once
        job = store.get(job_id)
        assert job is not None
        assert (job["status"], job["completions"], job["attempts"]) == ("done", 1, 2)


def test_a_job_that_kills_its_worker_fails_after_max_attempts(
    make_settings: Callable[..., ServeSettings], clips: list[Path]
) -> None:
    settings = make_settings(max_attempts=2)
    with TestClient(create_app(settings)) as c:
        job_id = post_video(c, clips[0]).json()["id"]
    store = _store(settings)
    for _ in range(2):
        assert store.claim(worker=1) is not None
        store.requeue_running(settings.max_attempts, worker=1)
    job = store.get(job_id)
    assert job is not None and job["status"] == "failed" and "2 attempts" in job["error"]


def test_jobs_running_too_long_name_their_worker(
    make_settings: Callable[..., ServeSettings], clips: list[Path]
) -> None:
    settings = make_settings()
    with TestClient(create_app(settings)) as c:
        post_video(c, clips[0])
        post_video(c, clips[1])
    store = _store(settings)
    assert store.claim(worker=41) is not None
    time.sleep(0.05)
    middle = time.time()
    assert store.claim(worker=42) is not None
    assert store.running_since(middle) == [41]  # the supervisor stops that worker
    assert sorted(store.running_since(time.time() + 1)) == [41, 42]


def test_retention_removes_old_jobs_and_their_files(
    client: TestClient, settings: ServeSettings, clips: list[Path]
) -> None:
    job_id = post_video(client, clips[0], frames="2").json()["id"]
    store = _store(settings)
    run_once(store, Runner(settings))
    (settings.partial / "upload-stale").write_bytes(b"x")
    assert cleanup(store, settings)["jobs"] == 0  # young: kept
    assert client.get(f"/v1/scans/{job_id}").status_code == 200
    later = time.time() + settings.retention_s + 7200
    counts = cleanup(store, settings, now=later)
    assert counts["jobs"] == 1 and counts["partial"] == 1
    assert client.get(f"/v1/scans/{job_id}").status_code == 404
    assert files_under(settings.data) == []


def test_a_worker_keeps_a_few_loaded_scanners_not_one_per_option(settings: ServeSettings) -> None:
    from fakescope.serve import worker

    runner = Runner(settings)
    first = runner.scanner("default", 2)
    assert runner.scanner("default", 2) is first  # kept loaded
    for frames in range(3, 3 + worker.MAX_SCANNERS):
        runner.scanner("default", frames)
    assert len(worker._SCANNERS) == worker.MAX_SCANNERS
    assert runner.scanner("default", 2) is not first  # the least recently used went
