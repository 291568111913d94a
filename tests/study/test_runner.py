"""The study runner with training and scoring faked: grid, resume, re-scoring, failures,
conflicts, data checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fakescope.errors import ConfigError
from fakescope.study import load_study, run_study
from fakescope.study.runner import grid_status


class Fakes:
    """Counts train and score calls; training writes a checkpoint card and a log."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import fakescope.study.job as job
        import fakescope.training.trainer as trainer

        self.trained: list[tuple[str, int]] = []
        self.scored: list[str] = []
        self.fail: set[tuple[str, int]] = set()
        self.configs: list[Any] = []
        monkeypatch.setattr(trainer, "train", self.train)
        monkeypatch.setattr(job, "_score_set", self.score)
        monkeypatch.setattr(job, "_params", lambda model, history: (1000, 5000))

    def train(self, config: Any, *, resume: bool = False, progress: bool = False) -> Path:
        from fakescope.models import ModelCard
        from fakescope.models.registry import get_config

        key = (Path(config.out).name.split("__")[0], config.train.seed)
        if key in self.fail:
            raise RuntimeError(f"boom in {key[0]}")
        self.trained.append(key)
        self.configs.append(config)
        best = config.run_dir / "best"
        best.mkdir(parents=True, exist_ok=True)
        card = ModelCard(name=config.name, model=get_config(**config.model).to_dict())
        (best / "card.json").write_text(json.dumps(card.to_dict()))
        (best / "model.safetensors").write_bytes(b"")
        (config.run_dir / "log.csv").write_text(
            "epoch,train_loss,val_loss,val_auc,seconds\n1,0.7,0.69,0.6,3.0\n2,0.6,0.65,0.7,3.0\n"
        )
        return best

    def score(self, name, manifest_file, split, crops, best, card, device, study, rdir):
        from fakescope.datasets import read_manifest

        table = read_manifest(manifest_file).table
        rows = table if split == "all" else table[table["split"] == split]
        self.scored.append(name)
        seed = int(Path(rdir).name.rsplit("__s", 1)[1])
        auc = 0.8 if name == "in_domain" else 0.6
        return {"name": name, "split": split, "videos": len(rows), "datasets": sorted(set(rows["dataset"])),
                "auc": auc + 0.01 * seed, "auc_ci": [auc - 0.1, auc + 0.1], "accuracy": 0.75}  # fmt: skip


def test_runs_the_grid_then_skips_finished_runs(tiny_study, tmp_path, monkeypatch):
    fakes = Fakes(monkeypatch)
    study = load_study(tiny_study)
    out = tmp_path / "out"
    report = run_study(study, out)
    assert sorted(fakes.trained) == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]
    assert not report["failed"] and not report["pending"]
    for g in study.grid():
        result = json.loads((out / "runs" / g.key / "result.json").read_text())
        assert result["run"] == g.run.id and result["seed"] == g.seed
        assert result["in_domain"]["datasets"] == ["ffpp"]  # the where filter
        assert result["in_domain"]["videos"] == 2  # test split of the filtered manifest
        assert result["cross"]["other"]["videos"] == 6  # split: all
        assert result["cross"]["other"]["gap"] == pytest.approx(0.2)
        assert result["minutes"]["train"] == pytest.approx(0.1)
        assert [h["epoch"] for h in result["history"]] == [1, 2]
    # every run trained on the filtered manifest, with the study's seed and folder
    from fakescope.datasets import read_manifest

    cfg = fakes.configs[0]
    assert set(read_manifest(cfg.data.manifest).table["dataset"]) == {"ffpp"}
    assert cfg.data.crops == str(tmp_path / "crops") and cfg.name == "train"
    assert {c.train.seed for c in fakes.configs} == {1, 2}
    assert (out / "ablation.md").is_file() and (out / "ablation.json").is_file()
    assert [r["run"] for r in report["rows"]] == ["a", "b"]

    # a rerun trains and scores nothing
    fakes.trained.clear()
    fakes.scored.clear()
    run_study(study, out)
    assert fakes.trained == [] and fakes.scored == []
    assert {s for _, s in grid_status(study, out)} == {"done"}

    # a changed evaluation re-scores every run without training
    text = tiny_study.read_text().replace("bootstrap: 20", "bootstrap: 30")
    tiny_study.write_text(text)
    study = load_study(tiny_study)
    assert {s for _, s in grid_status(study, out)} == {"score"}
    run_study(study, out)
    assert fakes.trained == [] and len(fakes.scored) == 4 * 2

    # a lost result with its training marker: that run alone trains again
    key = study.grid()[3].key
    (out / "runs" / key / "result.json").unlink()
    (out / "runs" / key / "trained.json").unlink()
    run_study(study, out)
    assert fakes.trained == [("b", 2)]


def test_a_failed_run_is_recorded_and_retried(tiny_study, tmp_path, monkeypatch):
    fakes = Fakes(monkeypatch)
    fakes.fail = {("b", 2)}
    study = load_study(tiny_study)
    out = tmp_path / "out"
    report = run_study(study, out)
    assert [f["key"] for f in report["failed"]] == ["b__ff__s2"]
    assert "boom in b" in report["failed"][0]["error"]
    failure = json.loads((out / "runs" / "b__ff__s2" / "failed.json").read_text())
    assert "Traceback" in failure["traceback"]
    assert "b__ff__s2" in (out / "ablation.md").read_text()
    assert [r["seeds"] for r in report["rows"]] == [[1, 2], [1]]
    fakes.fail = set()
    fakes.trained.clear()
    report = run_study(study, out)
    assert fakes.trained == [("b", 2)] and not report["failed"]
    assert not (out / "runs" / "b__ff__s2" / "failed.json").exists()


def test_a_changed_recipe_is_not_mixed_with_old_runs(tiny_study, tmp_path, monkeypatch):
    Fakes(monkeypatch)
    out = tmp_path / "out"
    run_study(load_study(tiny_study), out)
    recipe = tmp_path / "a.yaml"
    recipe.write_text(recipe.read_text().replace("epochs: 2", "epochs: 3"))
    with pytest.raises(ConfigError, match="a__ff__s1: trained from another recipe"):
        run_study(load_study(tiny_study), out)


def test_report_only_trains_nothing_and_lists_pending_runs(tiny_study, tmp_path, monkeypatch):
    fakes = Fakes(monkeypatch)
    report = run_study(load_study(tiny_study), tmp_path / "out", report_only=True)
    assert fakes.trained == [] and len(report["pending"]) == 4 and report["rows"] == []
    assert (tmp_path / "out" / "ablation.md").is_file()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("where: {dataset: ffpp}", "where: {datasett: ffpp}", "manifests[0].where.datasett: "),
        ("where: {dataset: ffpp}", "where: {dataset: none}", "manifests[0].where: no row"),
        ("split: all", "split: nosuch", "evaluate.cross[0]: no videos in split 'nosuch'"),
        ("bootstrap: 20", "bootstrap: 20\n  split: holdout", "manifests[0]: no videos in split 'holdout'"),
        ("crops: ", "crops: /nonexistent/", "manifests[0].crops: /nonexistent/"),
    ],
)  # fmt: skip
def test_data_problems_stop_the_study_before_any_training(
    tiny_study, tmp_path, monkeypatch, old, new, message
):
    fakes = Fakes(monkeypatch)
    tiny_study.write_text(tiny_study.read_text().replace(old, new, 1))
    with pytest.raises(ConfigError) as exc:
        run_study(load_study(tiny_study), tmp_path / "out")
    assert message in str(exc.value)
    assert fakes.trained == []


def test_several_cpu_workers_share_the_cores(tmp_path, monkeypatch):
    import torch

    from fakescope.study.job import _claim_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    before = torch.get_num_threads()
    try:
        assert _claim_device(tmp_path, 1) == "auto"
        assert _claim_device(tmp_path, 2) == "cpu"
        assert torch.get_num_threads() == max(1, (__import__("os").cpu_count() or 1) // 2)
    finally:
        torch.set_num_threads(before)
