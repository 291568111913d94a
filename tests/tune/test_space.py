"""Search spaces: parsing, conditional keys, bad input as one line, and the seed presets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import yaml

from fakescope.errors import ConfigError
from fakescope.training.config import load_train_config
from fakescope.tune.space import load_space, override_strings

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _space(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


def test_types_log_step_and_conditions_sample_through_optuna(tmp_path):
    import optuna

    spec = load_space(
        _space(
            tmp_path,
            """\
sampler: random
space:
  optim.lr: {type: float, low: 1e-5, high: 1e-2, log: true}
  model.drop_rate: {type: float, low: 0.1, high: 0.6, step: 0.1}
  train.batch_size: {type: categorical, choices: [4, 8, 16]}
  optim.schedule: {type: categorical, choices: [plateau, warmup_cosine]}
  optim.warmup_epochs: {type: int, low: 0, high: 3, when: {optim.schedule: warmup_cosine}}
""",
        )
    )
    assert (
        spec.params[0].low == pytest.approx(1e-5) and spec.params[0].log
    )  # "1e-5" as YAML 1.1 text
    base = load_train_config(None)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    seen_warmup, seen_plateau = False, False
    for _ in range(12):
        trial = study.ask()
        values = spec.sample(trial, base)
        assert 1e-5 <= values["optim.lr"] <= 1e-2
        assert round(values["model.drop_rate"] * 10) == pytest.approx(
            values["model.drop_rate"] * 10
        )
        assert values["train.batch_size"] in (4, 8, 16)
        if values["optim.schedule"] == "warmup_cosine":
            assert values["optim.warmup_epochs"] in (0, 1, 2, 3)
            seen_warmup = True
        else:
            assert "optim.warmup_epochs" not in values  # conditional: not sampled
            seen_plateau = True
        config = load_train_config(None, override_strings(values))  # the values apply
        assert config.optim.lr == pytest.approx(values["optim.lr"])
        study.tell(trial, 0.5)
    assert seen_warmup and seen_plateau


def test_a_condition_on_an_unsearched_key_reads_the_base_config(tmp_path):
    spec = load_space(
        _space(
            tmp_path,
            "space:\n  optim.plateau_factor: {type: float, low: 0.1, high: 0.9,"
            " when: {optim.schedule: plateau}}\n",
        )
    )
    import optuna

    trial = optuna.create_study().ask()
    assert spec.sample(trial, load_train_config(None)) == {}  # default schedule: warmup_cosine
    plateau = load_train_config(None, ["optim.schedule=plateau"])
    assert "optim.plateau_factor" in spec.sample(trial, plateau)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("space: {}\n", "non-empty 'space:'"),
        ("space:\n  optim.lr: {type: normal, low: 0, high: 1}\n", "space.optim.lr.type"),
        ("space:\n  optim.lr: {type: float, low: 1, high: 0.1}\n", "must be below high"),
        (
            "space:\n  optim.lr: {type: float, low: 0, high: 1, log: true}\n",
            "log range needs low > 0",
        ),
        (
            "space:\n  optim.lr: {type: float, low: 0, high: 1, stepp: 2}\n",
            "unknown field(s) stepp",
        ),
        ("space:\n  a.b: {type: categorical, choices: []}\n", "non-empty list"),
        (
            "sampler: cmaes\nspace:\n  a.b: {type: categorical, choices: [1]}\n",
            "sampler must be one of",
        ),
        ("space:\n  a.b: {type: int, low: 0.5, high: 3}\n", "whole low and high"),
        ("trails: 3\nspace:\n  a.b: {type: categorical, choices: [1]}\n", "unknown key(s) trails"),
    ],
)
def test_bad_spaces_are_one_line_errors(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_space(_space(tmp_path, text))
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(tmp_path / "space.yaml") in str(err.value)


@pytest.mark.parametrize("seed", ["seed002", "seed003"])
def test_the_seed_presets_load_and_every_key_applies_to_their_recipe(seed):
    path = CONFIGS / seed / "tune.yaml"
    spec = load_space(path)
    recipe = CONFIGS / seed / spec.extra["config"]
    for p in spec.params:
        values = [p.first()] if p.type != "categorical" else list(p.choices)
        values += [] if p.type == "categorical" else [p.high if p.type == "float" else int(p.high)]  # type: ignore[list-item]
        for v in values:
            load_train_config(
                str(recipe), [*override_strings(spec.overrides), *override_strings({p.key: v})]
            )
    data = yaml.safe_load(path.read_text())
    assert data["sampler"] == ("tpe" if seed == "seed002" else "gp")


@pytest.mark.parametrize("sampler", ["tpe", "gp", "random"])
def test_each_sampler_searches_the_seed003_space_past_its_random_start(sampler, tmp_path):
    """The model-based samplers (TPE, the Gaussian process) take over after the random start
    and keep every value inside its range; the same seed draws the same values."""
    from fakescope.tune.runner import TuneJob, _sampler

    spec = dataclasses.replace(load_space(CONFIGS / "seed003" / "tune.yaml"), startup_trials=2)
    job = TuneJob(config="x.yaml", spec=spec, out=str(tmp_path), sampler=sampler, seed=5)
    base = load_train_config(None)

    def search() -> list[dict]:
        import optuna

        study = optuna.create_study(direction="maximize")
        drawn = []
        for n in range(3):
            study.sampler = _sampler(job, n)
            trial = study.ask()
            values = spec.sample(trial, base)
            drawn.append(values)
            study.tell(trial, -abs(np.log10(values["optim.lr"]) + 3.5) - values["model.drop_rate"])
        return drawn

    first = search()
    for values in first:
        assert 3e-5 <= values["optim.lr"] <= 3e-3 and values["train.batch_size"] in (2, 4, 8)
        assert values["model.frames_per_clip"] in (76, 152, 304)
        assert (
            1e-5 <= values["optim.weight_decay"] <= 1e-3 and 0 <= values["model.drop_rate"] <= 0.5
        )
    assert search() == first
