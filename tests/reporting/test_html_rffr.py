"""RFFR scans (seed 004): the report shows each face's residual map beside its Grad-CAM."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from fakescope.inference.scan import Scanner
from fakescope.models import ModelCard, create_model, get_config, save_checkpoint
from fakescope.reporting import render_report
from fakescope.reporting.residual import residual_maps
from tests.conftest import write_video

TINY = {"embed_dim": 32, "depth": 1, "num_heads": 2, "img_size": 32}


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.alts: list[str] = []
        self.h2: list[str] = []
        self._h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.alts.append(str(dict(attrs).get("alt")))
        self._h2 = tag == "h2"

    def handle_data(self, data: str) -> None:
        if self._h2:
            self.h2.append(data)
            self._h2 = False


def _checkpoint(folder: Path, name: str) -> Path:
    if name == "rffr":
        bk = {**get_config("rffr").backbone_kwargs, "encoder_kwargs": TINY}
        model = create_model("rffr", input_size=32, backbone_kwargs=bk)
    else:
        model = create_model("simple_cnn", input_size=32)
    card = ModelCard(name=name, model=model.config.to_dict(), frames_per_video=4)
    return save_checkpoint(folder / name, model.eval(), card)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("v") / "face.mp4", n_frames=12, width=160,
                       height=160)  # fmt: skip


def test_rffr_report_has_residual_maps_beside_gradcam(video: Path, tmp_path: Path) -> None:
    scanner = Scanner(str(_checkpoint(tmp_path, "rffr")), cache=str(tmp_path / "cache"))
    result = scanner(video)
    assert result.status == "ok"
    page = _Images()
    page.feed(render_report(result, scanner.detector, top=3))
    assert "Residual maps (RFFR)" in page.h2
    # each of the 3 faces: crop, Grad-CAM, residual, in that order
    start = page.alts.index("residual map") - 2
    assert page.alts[start : start + 9] == ["face crop", "Grad-CAM heatmap", "residual map"] * 3


def test_residual_map_is_the_models_residual(tmp_path: Path) -> None:
    import torch

    from fakescope.models import load_detector

    detector = load_detector(_checkpoint(tmp_path, "rffr"), onnx=False)
    crops = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    maps, (x0, y0, x1, y1) = residual_maps(detector, crops)
    assert maps.shape == (2, 32, 32) and maps.min() >= 0.0 and maps.max() <= 1.0
    r, c = divmod(detector.model.backbone.eval_block, 4)
    assert (r, c) == (1, 1) and (x0, y0, x1, y1) == (8, 8, 16, 16)
    # the seed's formula, by hand: block (1, 1) zeroed, 4 * (inpaint - crop)
    x = torch.from_numpy(detector.preprocess_array(crops))
    masked = x.clone()
    masked[:, :, 8:16, 8:16] = 0
    with torch.no_grad():
        res = (4 * (detector.model.backbone.generator.inpainter(masked) - x)).abs().mean(1)
    res = res.numpy()
    expected = np.clip(res / np.percentile(res.reshape(2, -1), 99, axis=1)[:, None, None], 0, 1)
    assert np.allclose(maps, expected, atol=1e-5)


def test_other_frame_models_have_no_residual_section(video: Path, tmp_path: Path) -> None:
    scanner = Scanner(str(_checkpoint(tmp_path, "cnn")), cache=str(tmp_path / "cache"))
    page = _Images()
    page.feed(render_report(scanner(video), scanner.detector, top=2))
    assert "Residual maps (RFFR)" not in page.h2 and "residual map" not in page.alts
    assert "heatmap" in page.alts  # the usual Grad-CAM tiles are still there
