"""The ``ensemble`` family: build from tiny real members on a small manifest, load, score
(members that cannot answer are left out with their reason), round trip, bad inputs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fakescope.errors import ConfigError, ModelError
from fakescope.evaluation.ensemble_build import build_ensemble
from fakescope.models import load_detector
from fakescope.models.ensemble import EnsembleDetector, merge_extract_settings
from tests.models.ensemble_members import build_manifest_file, build_members


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("ensemble")
    members = build_members(root)
    manifest = build_manifest_file(root)
    summary = build_ensemble(
        [members["frame"], members["clip"], members["longclip"]], manifest, "val",
        root / "ens", stacker="logistic", name="tiny-ens", cache=root / "cache",
    )  # fmt: skip
    return {"root": root, "members": members, "manifest": manifest, "summary": summary}


def _entry(root: Path, detector: EnsembleDetector, video: str):
    from fakescope.extraction import Extractor
    from fakescope.inference.pipeline import extract_settings_for

    result = Extractor(extract_settings_for(detector.card), root / "cache")(str(video))
    assert result.status == "ok" and result.entry is not None
    return result.entry


def test_build_writes_one_folder_with_members_card_and_stacker(built) -> None:
    out, s = built["root"] / "ens", built["summary"]
    card = json.loads((out / "card.json").read_text())
    assert card["model"]["kind"] == "ensemble" and card["name"] == "tiny-ens"
    names = [m["name"] for m in card["ensemble"]["members"]]
    assert names == ["frame", "clip", "longclip"]
    for m in card["ensemble"]["members"]:
        assert (out / m["folder"] / "card.json").is_file()
        assert (out / m["folder"] / "model.safetensors").is_file()
        assert m["card"]["name"] == m["name"]
    assert card["ensemble"]["stacker"]["method"] == "logistic"
    assert card["ensemble"]["extract"]["sampling"] == "uniform:6"
    assert 0 < card["threshold"] < 1 and card["calibration"]["level"] == "video"
    # longclip cannot score the two 3-frame videos (v2, v5); the others score all 8
    assert s["videos"] == 8
    assert s["answered"] == {"frame": 8, "clip": 8, "longclip": 6}
    text = (out / "MODEL_CARD.md").read_text()
    assert all(f"| {n} |" in text for n in names)
    rows = list(csv.DictReader((out / "stacking.csv").open()))
    assert len(rows) == 8 and sum(r["longclip"] == "" for r in rows) == 2


def test_load_detector_gives_an_ensemble_behind_the_contract(built) -> None:
    det = load_detector(built["root"] / "ens")
    assert isinstance(det, EnsembleDetector) and det.family == "ensemble"
    shape = det.shape()
    assert shape["family"] == "ensemble" and shape["stacker"] == "logistic"
    assert [m["family"] for m in shape["members"]] == ["frame", "clip", "clip"]
    with pytest.raises(ModelError, match="ensemble"):
        det.logits(np.zeros((1, 8, 8, 3), np.uint8))


def test_scores_match_the_build_and_every_face_carries_the_stacked_logit(built) -> None:
    from fakescope.inference.pipeline import aggregate, video_calibrator

    root = built["root"]
    det = load_detector(root / "ens")
    rows = {r["video_id"]: r for r in csv.DictReader((root / "ens" / "stacking.csv").open())}
    entry = _entry(root, det, root / "data" / "fake" / "v1.mp4")
    scores = det.score(entry, entry.tracks)
    members = {m["name"]: m for m in scores.members}
    assert all(m["answered"] for m in members.values())
    for name in ("frame", "clip", "longclip"):  # the same member logits as at build time
        assert members[name]["logit"] == pytest.approx(float(rows["x/1"][name]), abs=1e-5)
        assert 0 < members[name]["probability"] < 1
    stacked = scores.ensemble["stacked_logit"]
    assert np.allclose(scores.logit, stacked) and len(scores) == sum(
        len(t["frames"]) for t in entry.tracks
    )
    total = scores.ensemble["base_value"] + sum(m["contribution"] for m in members.values())
    assert total == pytest.approx(stacked, abs=1e-9)
    z = [members[n]["logit"] for n in det.names]
    assert stacked == pytest.approx(det.stacker.decision(np.array([z]))[0])
    agg = aggregate(scores, 1.0, det.card.aggregation, calibration=video_calibrator(det.card))
    expected = video_calibrator(det.card).predict_proba(np.array([stacked]))[0]
    assert agg["probability"] == pytest.approx(expected)


def test_a_member_that_cannot_score_is_left_out_with_its_reason(built) -> None:
    root = built["root"]
    det = load_detector(root / "ens")
    entry = _entry(root, det, root / "data" / "fake" / "v5.mp4")  # 3 frames: too short for T=16
    scores = det.score(entry, entry.tracks)
    members = {m["name"]: m for m in scores.members}
    assert members["longclip"]["answered"] is False
    assert "no face track of at least 4 sampled frames" in members["longclip"]["reason"]
    assert members["longclip"]["probability"] is None and members["longclip"]["logit"] is None
    assert members["frame"]["answered"] and members["clip"]["answered"]
    assert scores.reason is None and len(scores) > 0
    assert scores.ensemble["answered"] == 2
    # the stacker reads the missing member through its indicator, as it was fitted
    z = np.array([[members["frame"]["logit"], members["clip"]["logit"], np.nan]])
    assert scores.ensemble["stacked_logit"] == pytest.approx(det.stacker.decision(z)[0])
    assert members["longclip"]["contribution"] == pytest.approx(det.stacker.coef_missing[2])


def test_no_member_answering_gives_an_empty_result_with_the_reasons(built) -> None:
    root = built["root"]
    det = load_detector(root / "ens")
    entry = _entry(root, det, root / "data" / "fake" / "v1.mp4")
    scores = det.score(entry, [])  # no track to score
    assert len(scores) == 0 and scores.ensemble["stacked_logit"] is None
    assert scores.reason.startswith("no ensemble member could score the video: frame:")
    assert "\n" not in scores.reason and not any(m["answered"] for m in scores.members)


def test_save_load_round_trip_gives_identical_scores(built, tmp_path) -> None:
    root = built["root"]
    moved = tmp_path / "moved"
    shutil.copytree(root / "ens", moved, ignore=shutil.ignore_patterns("cache"))
    a, b = load_detector(root / "ens"), load_detector(moved)
    entry = _entry(root, a, root / "data" / "real" / "v0.mp4")
    sa, sb = a.score(entry, entry.tracks), b.score(entry, entry.tracks)
    np.testing.assert_array_equal(sa.logit, sb.logit)
    assert sa.members == sb.members


@pytest.mark.slow
def test_gbm_stacker_builds_and_its_contributions_add_up(built, tmp_path) -> None:
    m = built["members"]
    s = build_ensemble(
        [m["frame"], m["longclip"]], built["manifest"], "val", tmp_path / "gbm",
        stacker="gbm", cache=built["root"] / "cache",
    )  # fmt: skip
    assert s["stacker"] == "gbm" and s["videos"] == 8
    det = load_detector(tmp_path / "gbm")
    entry = _entry(built["root"], det, built["root"] / "data" / "fake" / "v5.mp4")
    scores = det.score(entry, entry.tracks)
    total = scores.ensemble["base_value"] + sum(x["contribution"] for x in scores.members)
    assert total == pytest.approx(scores.ensemble["stacked_logit"], abs=1e-6)


def test_mismatched_crop_geometry_is_a_one_line_config_error(built, tmp_path) -> None:
    m = built["members"]
    other = tmp_path / "bigcrop"
    shutil.copytree(m["clip"], other)
    card = json.loads((other / "card.json").read_text())
    card["crop"]["size"] = 96
    (other / "card.json").write_text(json.dumps(card))
    with pytest.raises(ConfigError) as err:
        build_ensemble([m["frame"], other], built["manifest"], "val", tmp_path / "x")
    msg = str(err.value)
    assert "\n" not in msg and "'frame'" in msg and "'clip'" in msg and "crop" in msg
    assert not (tmp_path / "x").exists()  # refused before any work


def test_bad_member_folders_are_one_line_errors(built, tmp_path) -> None:
    m = built["members"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError) as err:
        build_ensemble([m["frame"], tmp_path / "empty"], built["manifest"], "val", tmp_path / "x")
    assert "\n" not in str(err.value) and "empty" in str(err.value)
    with pytest.raises(ConfigError, match="ensemble stacker"):
        build_ensemble([m["frame"]], built["manifest"], "val", tmp_path / "x", stacker="forest")
    # an ensemble folder whose member was removed: a one-line ModelError on load
    broken = tmp_path / "broken"
    shutil.copytree(built["root"] / "ens", broken, ignore=shutil.ignore_patterns("cache"))
    shutil.rmtree(broken / "members" / "clip")
    with pytest.raises(ModelError) as err2:
        load_detector(broken)
    assert "\n" not in str(err2.value) and "'clip' is missing" in str(err2.value)


def test_a_split_with_one_class_is_a_dataset_error(built, tmp_path) -> None:
    from fakescope.errors import DatasetError

    m = built["members"]
    with pytest.raises(DatasetError, match="no videos in split 'train'"):
        build_ensemble([m["frame"]], built["manifest"], "train", tmp_path / "x")
    # the 2 test videos: the real one has 3 frames, which longclip cannot score
    with pytest.raises(DatasetError, match="one class"):
        build_ensemble(
            [m["longclip"]],
            built["manifest"],
            "test",
            tmp_path / "y",
            cache=built["root"] / "cache",
        )


def test_shared_extraction_rules() -> None:
    from fakescope.context import ContextSettings
    from fakescope.extraction import ExtractSettings
    from fakescope.faces import CropSettings

    plain = ExtractSettings(sampling="uniform:32")
    signals = ExtractSettings(sampling="uniform:16", context=ContextSettings())
    av = ExtractSettings(sampling="fps:5")
    merged = merge_extract_settings([("frame", plain), ("signals", signals), ("avsync", av)])
    assert merged.context == ContextSettings()  # on when any member needs it
    assert merged.sampling == "fps:5"  # the densest: 50 frames of a 10-s video against 32
    assert merge_extract_settings([("a", plain), ("b", signals)]).sampling == "uniform:32"
    other_ctx = ExtractSettings(context=ContextSettings(run=5))
    with pytest.raises(ConfigError, match="different context windows"):
        merge_extract_settings([("signals", signals), ("flow", other_ctx)])
    margin = ExtractSettings(crop=CropSettings(margin=1.5))
    with pytest.raises(ConfigError, match="disagree on the crop"):
        merge_extract_settings([("a", plain), ("b", margin)])
    yunet_dlib = ExtractSettings(detector="dlib")
    with pytest.raises(ConfigError, match="face detector"):
        merge_extract_settings([("a", plain), ("b", yunet_dlib)])
