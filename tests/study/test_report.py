"""The ablation table and figures from fake run results."""

from __future__ import annotations

import json

import pytest

from fakescope.study import load_study
from fakescope.study.figures import phase_boundaries
from fakescope.study.report import build_report, cell, report_markdown, stats, write_report
from tests.study.conftest import fake_result


@pytest.fixture
def study(tiny_study):
    return load_study(tiny_study)


def results():
    return [
        fake_result("a", 1, 0.80, 0.60, label="Frame A"),
        fake_result("a", 2, 0.90, 0.70, label="Frame A"),
        fake_result("b", 1, 0.70, 0.65, kind="clip", label="Frame B"),
        fake_result("b", 2, 0.74, 0.61, kind="clip", label="Frame B"),
    ]


def test_stats_and_cells():
    s = stats([0.8, 0.9, None])
    assert s["mean"] == pytest.approx(0.85) and s["std"] == pytest.approx(0.0707107, abs=1e-6)
    assert s["n"] == 2 and s["values"] == [0.8, 0.9, None]
    assert stats([0.5])["std"] is None and stats([None])["mean"] is None
    assert cell(s) == "0.850 ± 0.071"
    assert cell({**stats([0.8]), "ci": [0.7, 0.9]}) == "0.800 [0.700, 0.900]"
    assert cell(stats([])) == "n/a"


def test_rows_are_mean_and_std_over_seeds_and_references_are_not_rows(study, tmp_path):
    report = build_report(study, results(), [])
    rows = report["rows"]
    assert [r["run"] for r in rows] == ["a", "b"]
    a, b = rows
    assert a["seeds"] == [1, 2] and a["in_domain_auc"]["mean"] == pytest.approx(0.85)
    assert a["in_domain_auc"]["std"] == pytest.approx(0.0707107, abs=1e-6)
    assert a["in_domain_auc"]["ci"] is None  # several seeds: the spread, not one interval
    assert a["cross"]["other"]["auc"]["mean"] == pytest.approx(0.65)
    assert a["cross"]["other"]["gap"]["mean"] == pytest.approx(0.20)
    assert b["temporal"] and not a["temporal"] and a["trainable_params"] == 4_000_000
    assert report["references"][0]["label"] == "Published X"
    assert all(r["label"] != "Published X" for r in rows)

    write_report(report, tmp_path)
    md = (tmp_path / "ablation.md").read_text()
    table = md.split("## Published references")[0]
    assert (
        "| 1 | Frame A | a_net | none | 4.00 M | 0.850 ± 0.071 | 0.650 ± 0.071 | 0.200 ± 0.000"
        in md
    )
    assert "gru (T=8)" in table
    assert "Published X" not in table  # a reference is never a row
    refs = md.split("## Published references")[1]
    assert "| Published X | published | cross_auc | 0.8210 |" in refs
    assert "## Per seed" in md and "0.900 [0.800, 1.000]" in md
    data = json.loads((tmp_path / "ablation.json").read_text())
    assert [r["run"] for r in data["rows"]] == ["a", "b"] and len(data["runs"]) == 4
    assert data["grid"]["total"] == 4 and data["grid"]["finished"] == 4
    assert data["primary_cross"] == "other"
    names = {f.split("/")[-1] for f in data["figures"]}
    assert names == {"backbones.png", "curves.png", "params.png", "phases.png", "summary.png"}
    for f in data["figures"]:
        png = (tmp_path / f).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
        assert f"({f})" in md


def test_one_seed_shows_the_bootstrap_interval(tiny_study, tmp_path):
    tiny_study.write_text(tiny_study.read_text().replace("seeds: [1, 2]", "seeds: [1]"))
    study = load_study(tiny_study)
    failed = [{"key": "b__ff__s1", "run": "b", "error": "RuntimeError: boom"}]
    write_report(build_report(study, [fake_result("a", 1, 0.80, 0.60)], failed), tmp_path)
    md = (tmp_path / "ablation.md").read_text()
    assert "| 0.800 [0.700, 0.900] | 0.600 [0.500, 0.700] | 0.200 |" in md
    assert "## Failed runs" in md and "`b__ff__s1`: RuntimeError: boom" in md
    assert "## Per seed" not in md and "1 failed" in md


def test_missing_values_do_not_break_the_table_or_figures(study, tmp_path):
    r = fake_result("a", 1, 0.8, 0.6)
    r["cross"]["other"].update(auc=None, auc_ci=None, gap=None)
    r["params"]["trainable"] = None
    report = build_report(study, [r], [])
    write_report(report, tmp_path)
    assert "n/a" in (tmp_path / "ablation.md").read_text()
    assert (tmp_path / "figures" / "summary.png").stat().st_size > 0


def test_phase_boundaries_from_the_log_or_the_recipe():
    r = fake_result("a", 1, 0.8, 0.6)
    assert phase_boundaries(r) == [1.5]  # the log's phase column
    for h in r["history"]:
        del h["phase"]
    r["phases"] = [{"name": "p1", "epochs": 8}, {"name": "p2", "epochs": 17}]
    assert phase_boundaries(r) == [8.5]


def test_every_metric_gets_its_mean_and_std_beside_each_runs_intervals(study, tmp_path):
    def full(run: str, seed: int, auc: float, acc: float) -> dict:
        r = fake_result(run, seed, auc, 0.6, label=f"Frame {run.upper()}")
        r["in_domain"].update(
            ap=auc - 0.05, ap_ci=[auc - 0.15, auc], eer=1 - auc, eer_ci=[0.0, 0.4],
            accuracy=acc, precision=acc + 0.05, recall=acc - 0.05, f1=acc, fpr_at_95_tpr=0.3,
        )  # fmt: skip
        return r

    runs = [full("a", 1, 0.80, 0.70), full("a", 2, 0.90, 0.80), full("a", 3, 0.85, 0.90)]
    report = build_report(study, runs, [])
    m = report["rows"][0]["metrics"]
    assert set(m) == {"auc", "ap", "eer", "accuracy", "precision", "recall", "f1",
                      "fpr_at_95_tpr"}  # fmt: skip
    assert m["accuracy"]["n"] == 3 and m["accuracy"]["mean"] == pytest.approx(0.8)
    assert m["accuracy"]["std"] == pytest.approx(0.1)
    assert m["eer"]["mean"] == pytest.approx(0.15) and m["eer"]["std"] == pytest.approx(0.05)
    assert m["fpr_at_95_tpr"]["std"] == pytest.approx(0.0)
    assert report["rows"][0]["cross"]["other"]["metrics"]["auc"]["n"] == 3
    md = report_markdown(report)
    every = md.split("## Every metric, mean ± std over seeds")[1].split("## Per seed")[0]
    assert (
        "| Frame A | ff | in-domain | 0.850 ± 0.050 | 0.800 ± 0.050 | 0.150 ± 0.050 | "
        "0.800 ± 0.100 | 0.850 ± 0.100 | 0.750 ± 0.100 | 0.800 ± 0.100 | 0.300 ± 0.000 |"
    ) in every
    assert "| Frame A | ff | other | 0.600 ± 0.000 | n/a |" in every  # old results: n/a
    per_seed = md.split("## Per seed")[1]
    assert (
        "| Frame A | ff | 2 | in-domain | 0.900 [0.800, 1.000] | 0.850 [0.750, 0.900] | "
        "0.100 [0.000, 0.400] | 0.800 | 0.850 | 0.750 | 0.800 | 0.300 |"
    ) in per_seed
