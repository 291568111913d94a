"""STUDY.yaml: schema checks with errors naming the key, paths, overrides, grid and run ids."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fakescope.errors import ConfigError
from fakescope.study import load_study
from fakescope.study.spec import override_strings

RECIPE = "model: {name: efficientnet_lite0}\ntrain: {epochs: 1}\n"


def write(tmp_path: Path, text: str, name: str = "study.yaml") -> Path:
    folder = tmp_path / "cfg"
    folder.mkdir(exist_ok=True)
    for recipe in ("a.yaml", "b.yaml"):
        (folder / recipe).write_text(RECIPE)
    path = folder / name
    path.write_text(text)
    return path


GOOD = """\
name: tiny
seeds: [1, 2]
overrides: {train.epochs: 2}
runs:
  - {id: a, config: a.yaml, label: Model A}
  - id: b
    config: b.yaml
    overrides: {model: {pretrained: none, input_size: 64}, optim.lr: 1e-3}
manifests:
  - {name: ff, manifest: data/ff.parquet, crops: data/crops, where: {dataset: [ffpp, dfd]}}
  - {name: wild, manifest: /abs/wild.parquet, crops: /abs/crops, train_split: tr}
evaluate:
  bootstrap: 50
  cross:
    - {name: cdf, manifest: data/cdf.parquet, crops: data/cdf-crops, split: all}
references:
  - {label: SBI, value: 0.9382}
  - {label: Target, value: 0.90, kind: target, metric: cross_auc, cross: cdf}
"""


def test_a_good_study_expands_to_configs_x_manifests_x_seeds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = load_study(write(tmp_path, GOOD))
    grid = study.grid()
    assert len(grid) == 2 * 2 * 2
    assert [g.key for g in grid[:4]] == ["a__ff__s1", "a__ff__s2", "a__wild__s1", "a__wild__s2"]
    assert len({g.key for g in grid}) == len(grid)
    assert {g.seed for g in grid} == {1, 2}
    # recipes beside the YAML; data relative to the working directory
    assert study.runs[0].config == str(tmp_path / "cfg" / "a.yaml")
    assert study.manifests[0].manifest == str(tmp_path / "data" / "ff.parquet")
    assert study.manifests[1].manifest == "/abs/wild.parquet"
    assert study.manifests[0].where == (("dataset", ("ffpp", "dfd")),)
    assert study.manifests[1].train_split == "tr" and study.manifests[1].val_split == "val"
    assert study.runs[0].label == "Model A" and study.runs[1].label == "b"
    assert study.cross[0].split == "all" and study.split == "test" and study.bootstrap == 50
    assert study.references[0].metric == "cross_auc" and study.references[0].kind == "published"
    assert study.references[1].value == 0.90
    # nested overrides become dotted keys; the study's come first; values parse back
    strings = override_strings(study, study.runs[1])
    assert strings == [
        "train.epochs=2",
        'model.pretrained="none"',
        "model.input_size=64",
        'optim.lr="1e-3"',
    ]
    from fakescope.training.config import load_train_config

    cfg = load_train_config(study.runs[1].config, strings)
    assert cfg.train.epochs == 2 and cfg.model["input_size"] == 64 and cfg.optim.lr == 1e-3


def test_fingerprints_follow_what_training_and_scoring_depend_on(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, GOOD)
    study = load_study(path)
    g = study.grid()[0]
    train_fp, eval_fp = study.train_fingerprint(g), study.eval_fingerprint()
    assert study.train_fingerprint(study.grid()[1]) != train_fp  # another seed
    recipe = Path(g.run.config)
    recipe.write_text("# a comment changes nothing\n" + RECIPE)
    assert load_study(path).train_fingerprint(g) == train_fp
    recipe.write_text(RECIPE.replace("epochs: 1", "epochs: 3"))
    assert load_study(path).train_fingerprint(g) != train_fp
    path.write_text(GOOD.replace("bootstrap: 50", "bootstrap: 60"))
    again = load_study(path)
    assert again.eval_fingerprint() != eval_fp


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("name: tiny", "nmae: tiny"), "unknown key 'nmae'"),
        (("{id: a, config: a.yaml, label: Model A}", "{id: a, config: a.yaml, lable: x}"),
         "unknown key 'runs[0].lable'"),
        (("config: b.yaml", "config: missing.yaml"), "runs[1].config: no such file"),
        (("{id: a,", "{id: b,"), "runs[1].id: 'b' is used twice"),
        (("{id: a,", "{id: 'a b',"), "runs[0].id: 'a b'"),
        (("optim.lr: 1e-3", "optim.lrr: 1e-3"), "runs[1] (b): config: unknown key 'optim.lrr'"),
        (("optim.lr: 1e-3", "data.manifest: x"), "runs[1].overrides.data.manifest: is set by the study"),
        (("train_split: tr", "train_split: tr, wehre: {}"), "unknown key 'manifests[1].wehre'"),
        (("seeds: [1, 2]", "seeds: [1, 1]"), "seeds: lists a seed twice"),
        (("seeds: [1, 2]", "seeds: [one]"), "seeds: expects a list of integers"),
        (("bootstrap: 50", "bootstrap: -1"), "evaluate.bootstrap: must be >= 0"),
        (("bootstrap: 50", "bootsrap: 50"), "unknown key 'evaluate.bootsrap'"),
        (("split: all}", "split: all, manifest2: x}"), "unknown key 'evaluate.cross[0].manifest2'"),
        (("{label: SBI, value: 0.9382}", "{label: SBI}"), "references[0].value: is required"),
        (("{label: SBI, value: 0.9382}", "{label: SBI, value: high}"), "references[0].value: expects float"),
        (("metric: cross_auc, cross: cdf", "metric: auc"), "references[1].metric: 'auc'"),
        (("cross: cdf}", "cross: celebdf}"), "references[1].cross: 'celebdf' is not a name"),
        (("kind: target", "kind: ours"), "references[1].kind: 'ours'"),
        (("{name: wild,", "{name: ff,"), "manifests[1].name: 'ff' is used twice"),
        (("crops: /abs/crops, ", ""), "manifests[1].crops: is required"),
    ],
)  # fmt: skip
def test_bad_keys_and_values_name_the_key(tmp_path, monkeypatch, edit, message):
    monkeypatch.chdir(tmp_path)
    old, new = edit
    assert old in GOOD
    with pytest.raises(ConfigError) as exc:
        load_study(write(tmp_path, GOOD.replace(old, new, 1)))
    text = str(exc.value)
    assert message in text, text
    assert "study.yaml" in text and "\n" not in text


def test_runs_and_manifests_are_required(tmp_path):
    with pytest.raises(ConfigError, match="runs: is required"):
        load_study(write(tmp_path, "name: x\nmanifests: []\n"))
    with pytest.raises(ConfigError, match="runs: lists no run"):
        load_study(write(tmp_path, "runs: []\nmanifests: []\n"))
    with pytest.raises(ConfigError, match="manifests: lists no training manifest"):
        load_study(write(tmp_path, "runs: [{id: a, config: a.yaml}]\nmanifests: []\n"))
    with pytest.raises(ConfigError, match=r"cross_auc needs a set under evaluate\.cross"):
        load_study(
            write(
                tmp_path,
                "runs: [{id: a, config: a.yaml}]\nmanifests: [{name: m, "
                "manifest: m.parquet, crops: c}]\nreferences: [{label: r, value: 0.8}]\n",
            )
        )
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_study(write(tmp_path, "runs: [\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_study(tmp_path / "nope.yaml")


def test_a_single_seed_and_defaults(tmp_path):
    study = load_study(
        write(tmp_path, "runs: [{id: a, config: a.yaml}]\nseeds: 7\n"
              "manifests: [{name: m, manifest: m.parquet, crops: c}]\n")
    )  # fmt: skip
    assert study.seeds == (7,) and study.name == "study" and study.cross == ()
    assert [g.key for g in study.grid()] == ["a__m__s7"]
    assert study.manifests[0].manifest == os.path.abspath("m.parquet")


def test_a_recipe_run_n_times_is_a_study_of_n_seeds(tmp_path):
    from fakescope.study.job import set_metrics
    from fakescope.study.spec import recipe_study

    recipe = tmp_path / "seed 004.yaml"  # a space: the run id is made safe
    recipe.write_text(
        "model: {name: efficientnet_lite0}\ntrain: {seed: 7, epochs: 1}\n"
        "data: {manifest: data/m.parquet, crops: data/crops, val_split: test}\n"
    )
    study = recipe_study(str(recipe), ["train.epochs=3"], str(tmp_path / "split.parquet"), 3,
                         split="val", bootstrap=50)  # fmt: skip
    assert study.seeds == (7, 8, 9) and study.split == "val" and study.bootstrap == 50
    assert [g.key for g in study.grid()] == [f"seed_004__split__s{s}" for s in (7, 8, 9)]
    (run,) = study.runs
    assert run.overrides == (("train.epochs", 3),)
    assert override_strings(study, run) == ["train.epochs=3"]
    (data,) = study.manifests
    assert data.manifest == str(tmp_path / "split.parquet")  # --manifest wins over the recipe's
    assert data.crops == str(Path("data/crops").resolve()) and data.val_split == "test"
    for bad, message in (
        ((["train.epochs=3"], None, 0), "runs: needs N >= 1"),
        ((["train.epochs"], None, 2), "expected KEY=VALUE"),
        ((["data.crops=''"], None, 2), "data.crops"),
    ):
        with pytest.raises(ConfigError, match=message):
            recipe_study(str(recipe), *bad)

    import pandas as pd

    pred = pd.DataFrame({"label": [0, 0, 0, 1, 1, 1], "status": ["ok"] * 6,
                         "probability": [0.1, 0.2, 0.6, 0.4, 0.8, 0.9]})  # fmt: skip
    m = set_metrics(pred, 0.5, n_boot=30)
    assert m["accuracy"] == pytest.approx(4 / 6) and m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3) and m["f1"] == pytest.approx(2 / 3)
    assert m["auc"] == pytest.approx(8 / 9) and m["fpr_at_95_tpr"] == pytest.approx(1 / 3)
    for key in ("auc_ci", "ap_ci", "eer_ci"):
        low, high = m[key]
        assert 0.0 <= low <= high <= 1.0
