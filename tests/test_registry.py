"""The one registry rule shared by every ``register_*`` decorator."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from fakescope._registry import register_into
from fakescope.datasets.base import _REGISTRY as DATASETS
from fakescope.datasets.base import list_datasets, register_dataset
from fakescope.faces.base import _REGISTRY as DETECTORS
from fakescope.faces.base import list_detectors, register_detector
from fakescope.importers.base import list_importers, register_importer
from fakescope.models.registry import _REGISTRY as MODELS
from fakescope.models.registry import list_models, register_model


def test_same_object_again_is_a_no_op_and_another_object_is_an_error() -> None:
    table: dict[str, Any] = {}
    a, b = object(), object()
    assert register_into(table, "x", a, "thing") is a
    assert register_into(table, "x", a, "thing") is a and table == {"x": a}
    with pytest.raises(ValueError, match=r"^thing 'x' is already registered$"):
        register_into(table, "x", b, "thing")
    with pytest.raises(ValueError, match=r"^things of 'x' are already registered$"):
        register_into(table, "x", b, "things of", plural=True)
    assert table == {"x": a}


def test_every_decorator_follows_the_rule() -> None:
    (detector,) = [DETECTORS[n] for n in list_detectors() if n == "yunet"]
    assert register_detector("yunet")(detector) is detector  # re-import: no-op
    with pytest.raises(ValueError, match="face detector 'yunet' is already registered"):
        register_detector("yunet")(object)  # type: ignore[arg-type]
    model = MODELS[list_models()[0]]
    assert register_model(model) is model
    name = model().name
    with pytest.raises(ValueError, match=f"model '{name}' is already registered"):
        register_model(lambda: model())
    spec = list_importers()[0]
    assert register_importer(spec) is spec
    with pytest.raises(ValueError, match=f"importer '{spec.name}' is already registered"):
        register_importer(replace(spec))  # equal, but another object
    assert "generic" in list_datasets()
    adapter = DATASETS["generic"]
    assert register_dataset("generic")(adapter) is adapter
    with pytest.raises(ValueError, match="dataset adapter 'generic' is already registered"):
        register_dataset("generic")(lambda **kw: adapter(**kw))
