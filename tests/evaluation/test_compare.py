"""Cross-dataset table of one run and the comparison of several runs (gaps checked by hand)."""

import json

import pandas as pd
import pytest

from fakescope.errors import ConfigError
from fakescope.evaluation.compare import compare_markdown, compare_runs
from fakescope.evaluation.protocol import cross_dataset


def _ok(rows):
    return pd.DataFrame(rows, columns=["dataset", "label", "probability"])


def test_cross_dataset_gap_is_against_the_pooled_in_domain_auc():
    ffpp = [("ffpp", 0, 0.1), ("ffpp", 1, 0.9), ("ffpp", 0, 0.2), ("ffpp", 1, 0.8)]  # AUC 1
    celebdf = [("celebdf", 0, 0.6), ("celebdf", 1, 0.4), ("celebdf", 0, 0.3), ("celebdf", 1, 0.7)]
    ok = _ok([*ffpp, *celebdf])  # celebdf: AUC 0.5
    per = {"ffpp": {"videos": 4, "auc": 1.0}, "celebdf": {"videos": 4, "auc": 0.5}}
    out = cross_dataset(per, ok, ["ffpp"])
    assert out["in_domain_auc"] == 1.0
    assert out["test_datasets"]["celebdf"] == {
        "videos": 4,
        "auc": 0.5,
        "in_domain": False,
        "gap_to_in_domain": -0.5,
    }
    assert out["test_datasets"]["ffpp"]["in_domain"] is True
    assert out["test_datasets"]["ffpp"]["gap_to_in_domain"] is None
    unknown = cross_dataset(per, ok, None)  # the card does not say: no claim either way
    assert (
        unknown["in_domain_auc"] is None and unknown["test_datasets"]["ffpp"]["in_domain"] is None
    )


def _metrics(path, name, trained, per, in_domain_auc, auc=0.8):
    path.mkdir(parents=True)
    m = {
        "model": {"name": name, "train_datasets": trained},
        "videos": {"scored": sum(r["videos"] for r in per.values())},
        "video_level": {"roc_auc": auc, "average_precision": 0.7, "eer": 0.2,
                        "expected_calibration_error": 0.1,
                        "bootstrap": {"roc_auc": {"low": auc - 0.1, "high": auc + 0.1}}},
        "frame_level": {"roc_auc": 0.75},
        "cross_dataset": {"train_datasets": trained, "in_domain_auc": in_domain_auc,
                          "test_datasets": {k: {**v, "in_domain": k in trained} for k, v in per.items()}},
    }  # fmt: skip
    (path / "metrics.json").write_text(json.dumps(m))
    return path


def test_compare_merges_runs_of_a_model_into_one_matrix_row(tmp_path):
    a = _metrics(tmp_path / "a", "sbi", ["ffpp"], {"ffpp": {"videos": 10, "auc": 0.95}}, 0.95)
    b = _metrics(tmp_path / "b", "sbi", ["ffpp"], {"celebdf": {"videos": 20, "auc": 0.75}}, None)
    c = _metrics(tmp_path / "c", "frame", ["celebdf"], {"celebdf": {"videos": 20, "auc": 0.9},
                                                        "ffpp": {"videos": 10, "auc": 0.6}}, 0.9)  # fmt: skip
    result = compare_runs([a, b, c])
    assert [r["run"] for r in result["runs"]] == [str(a), str(b), str(c)]
    assert result["runs"][0]["video_auc_ci"] == pytest.approx([0.7, 0.9])
    cross = result["cross_dataset"]
    assert cross["test_datasets"] == ["celebdf", "ffpp"]
    sbi, frame = cross["rows"]
    assert sbi["in_domain_auc"] == 0.95
    assert sbi["cells"]["celebdf"]["gap_to_in_domain"] == pytest.approx(
        -0.2
    )  # from run b, gap from run a
    assert sbi["cells"]["ffpp"]["in_domain"] is True
    assert frame["cells"]["ffpp"]["gap_to_in_domain"] == pytest.approx(-0.3)
    text = compare_markdown(result)
    assert "| sbi (ffpp) | 0.950 | 0.750 (-0.200) | *0.950* |" in text
    assert "| frame (celebdf) | 0.900 | *0.900* | 0.600 (-0.300) |" in text


def test_compare_rejects_what_is_not_an_evaluation(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "metrics.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a fakescope metrics file"):
        compare_runs([tmp_path / "x"])
    with pytest.raises(ConfigError, match="at least one"):
        compare_runs([])
