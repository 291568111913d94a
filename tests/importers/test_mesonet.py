"""MesoNet's published Keras weights imported into PyTorch reproduce the Keras network.

The reference is a NumPy forward pass of the Keras model (NHWC, as Keras computes it) written
here from the HDF5 arrays, independent of the importer's conversions (no kernel transposes, no
permuted dense rows, no negated output). Skips when ../shared/weights is absent.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
MESONET = (
    Path(os.environ.get("FAKESCOPE_SHARED_WEIGHTS", ROOT.parent / "shared" / "weights")) / "mesonet"
)
FILES = {
    "Meso4_DF.h5": "mesonet4",
    "Meso4_F2F.h5": "mesonet4",
    "MesoInception_DF.h5": "mesoinception4",
    "MesoInception_F2F.h5": "mesoinception4",
}

pytestmark = pytest.mark.skipif(
    not (MESONET / "weights").is_dir(), reason="../shared/weights/mesonet is not available"
)


# ── an independent NumPy forward pass of the authors' Keras models ───────────


def _keras_weights(path: Path) -> dict[str, list[dict[str, np.ndarray]]]:
    """Layers with weights grouped by Keras type, in creation order (numeric suffix)."""
    import h5py

    groups: dict[str, list[tuple[int, dict[str, np.ndarray]]]] = {}
    with h5py.File(path, "r") as f:
        for name in f.attrs["layer_names"]:
            name = name.decode()
            names = [w.decode() for w in f[name].attrs["weight_names"]]
            if not names:
                continue
            m = re.fullmatch(r"(.+?)_(\d+)", name)
            assert m, name
            arrays = {
                w.split("/")[-1].split(":")[0]: np.array(f[name][w], np.float64) for w in names
            }
            groups.setdefault(m.group(1), []).append((int(m.group(2)), arrays))
    return {k: [a for _, a in sorted(v, key=lambda t: t[0])] for k, v in groups.items()}


def _conv(x: np.ndarray, layer: dict[str, np.ndarray], dilation: int = 1) -> np.ndarray:
    """Keras Conv2D, 'same' padding, stride 1, ReLU; x is (H, W, C)."""
    k = layer["kernel"]  # (kh, kw, in, out)
    kh, kw = k.shape[:2]
    ph, pw = dilation * (kh - 1) // 2, dilation * (kw - 1) // 2
    h, w = x.shape[:2]
    xp = np.pad(x, ((ph, ph), (pw, pw), (0, 0)))
    out = np.zeros((h, w, k.shape[3])) + layer["bias"]
    for i in range(kh):
        for j in range(kw):
            out += xp[i * dilation : i * dilation + h, j * dilation : j * dilation + w] @ k[i, j]
    return np.maximum(out, 0.0)


def _bn(x: np.ndarray, layer: dict[str, np.ndarray]) -> np.ndarray:
    scale = layer["gamma"] / np.sqrt(layer["moving_variance"] + 1e-3)  # Keras epsilon
    return (x - layer["moving_mean"]) * scale + layer["beta"]


def _pool(x: np.ndarray, p: int) -> np.ndarray:
    h, w, c = x.shape
    hp, wp = -(-h // p) * p, -(-w // p) * p
    xp = np.full((hp, wp, c), -np.inf)
    xp[:h, :w] = x
    return xp.reshape(hp // p, p, wp // p, p, c).max(axis=(1, 3))


def keras_forward(path: Path, image: np.ndarray) -> float:
    """The published model's sigmoid output for one (256, 256, 3) image in [0, 1]."""
    return 1.0 / (1.0 + np.exp(-keras_logit(path, image)))


def keras_logit(path: Path, image: np.ndarray) -> float:
    """The published model's pre-sigmoid output (Dense(1)) for one image in [0, 1]."""
    g = _keras_weights(path)
    conv, bn, dense = g["conv2d"], g["batch_normalization"], g["dense"]
    x = image.astype(np.float64)
    if len(conv) == 4:  # Meso4
        for i, pool in enumerate((2, 2, 2, 4)):
            x = _pool(_bn(_conv(x, conv[i]), bn[i]), pool)
    else:  # MesoInception4: two Inception layers, then two conv blocks
        for i in range(2):
            c = conv[7 * i : 7 * i + 7]
            branches = [
                _conv(x, c[0]),
                _conv(_conv(x, c[1]), c[2]),
                _conv(_conv(x, c[3]), c[4], dilation=2),
                _conv(_conv(x, c[5]), c[6], dilation=3),
            ]
            x = _pool(_bn(np.concatenate(branches, axis=-1), bn[i]), 2)
        for i, pool in ((2, 2), (3, 4)):
            x = _pool(_bn(_conv(x, conv[12 + i]), bn[i]), pool)
    y = x.reshape(-1) @ dense[0]["kernel"] + dense[0]["bias"]  # Keras flattens (h, w, c)
    y = np.where(y > 0, y, 0.1 * y)
    return float((y @ dense[1]["kernel"] + dense[1]["bias"])[0])


def _images() -> list[tuple[str, np.ndarray]]:
    """The authors' test images as Keras loads them: RGB, 256 x 256 nearest, uint8."""
    from PIL import Image

    out = []
    for p in sorted((MESONET / "test_images").glob("*/*.jpg")):
        img = Image.open(p).convert("RGB").resize((256, 256), Image.Resampling.NEAREST)
        out.append((p.parent.name, np.asarray(img, np.uint8)))
    assert {k for k, _ in out} == {"df", "real"}
    return out


@pytest.fixture(scope="module")
def images() -> list[tuple[str, np.ndarray]]:
    return _images()


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from fakescope.importers import import_weights

    root = tmp_path_factory.mktemp("mesonet")
    return {
        f: import_weights(arch, str(MESONET / "weights" / f), root / Path(f).stem)
        for f, arch in FILES.items()
    }


@pytest.mark.parametrize("file", sorted(FILES))
def test_published_file_imports_and_matches_keras(
    file: str, imported: dict[str, Path], images: list[tuple[str, np.ndarray]]
) -> None:
    from fakescope.models import load_detector
    from fakescope.models.checkpoint import read_card

    card = read_card(imported[file])
    assert card.licence == "Apache-2.0"
    assert card.origin and card.origin["checksum_verified"] and card.origin["file"] == file
    assert card.model_config.input_size == 256 and card.model_config.mean == (0.0, 0.0, 0.0)
    assert "P(real)" in (card.label_sense or "")
    detector = load_detector(imported[file], onnx=False)
    crops = np.stack([img for _, img in images])
    p_fake = detector.predict_proba(crops)
    z_fake = detector.logits(crops)
    for (kind, img), pf, zf in zip(images, p_fake, z_fake):
        z_keras = keras_logit(MESONET / "weights" / file, img.astype(np.float64) / 255.0)
        p_keras = 1.0 / (1.0 + np.exp(-z_keras))
        # the importer turned P(real) into a logit of fake: P(fake) = 1 - Keras' output
        assert abs(float(pf) - (1.0 - p_keras)) < 1e-4, (file, kind)
        assert abs(float(zf) + z_keras) < 1e-4 * max(1.0, abs(z_keras)), (file, kind, zf, z_keras)


@pytest.mark.parametrize("file", ["Meso4_DF.h5", "MesoInception_DF.h5"])
def test_label_sense_on_the_authors_images(
    file: str, images: list[tuple[str, np.ndarray]], imported: dict[str, Path]
) -> None:
    """The Deepfake-trained models' raw sigmoid is high on the real images and low on the df
    ones: P(real). After the import, fakescope's probability of fake is the reverse."""
    from fakescope.models import load_detector

    raw = {k: [] for k in ("df", "real")}  # type: dict[str, list[float]]
    for kind, img in images:
        raw[kind].append(keras_forward(MESONET / "weights" / file, img / 255.0))
    assert min(raw["real"]) > 0.5 > max(raw["df"])
    detector = load_detector(imported[file], onnx=False)
    probs = detector.predict_proba(np.stack([img for _, img in images]))
    kinds = [k for k, _ in images]
    assert all((p > 0.5) == (k == "df") for p, k in zip(probs, kinds))


def test_wrong_variant_and_damaged_file_are_one_line_errors(tmp_path: Path) -> None:
    from fakescope.errors import ModelError
    from fakescope.importers import import_weights

    with pytest.raises(ModelError, match="not mesoinception4"):
        import_weights("mesoinception4", str(MESONET / "weights" / "Meso4_DF.h5"), tmp_path / "a")
    damaged = tmp_path / "Meso4_DF.h5"
    data = bytearray((MESONET / "weights" / "Meso4_DF.h5").read_bytes())
    data[-100] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"not the published Meso4_DF\.h5") as exc:
        import_weights("mesonet4", str(damaged), tmp_path / "b")
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "b").exists()


def test_import_from_a_url_and_cli_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A URL source is downloaded into the weights cache (a file:// URL: no network) and
    verified like a local file; the CLI prints the card."""
    import json

    from fakescope.cli.main import main

    monkeypatch.setenv("FAKESCOPE_WEIGHTS_CACHE", str(tmp_path / "cache"))
    url = (MESONET / "weights" / "Meso4_F2F.h5").resolve().as_uri()
    out = tmp_path / "m"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["weights", "import", "mesonet4", url, "--out", str(out), "--json", "--onnx"])
    assert rc == 0
    card = json.loads(buf.getvalue())["card"]
    assert card["origin"]["url"] == url and card["origin"]["checksum_verified"]
    assert list((tmp_path / "cache").glob("*/Meso4_F2F.h5"))
    assert (out / "model.safetensors").is_file() and (out / "model.onnx").is_file()
    from fakescope.models import load_detector

    crops = np.stack([img for _, img in _images()])
    onnx, torch_ = load_detector(out), load_detector(out, onnx=False)
    assert onnx.backend == "onnxruntime"
    assert np.allclose(onnx.logits(crops), torch_.logits(crops), atol=1e-4)


@pytest.mark.slow
def test_scan_a_sample_video_with_imported_mesonet(
    imported: dict[str, Path], samples: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`fakescope scan video.mp4 --model DIR` on an imported checkpoint, end to end."""
    import json

    from fakescope.cli.main import main

    video = next((samples / "FaceForensics++" / "manipulated_sequences").rglob("*.mp4"))
    rc = main(["scan", str(video), "--model", str(imported["Meso4_DF.h5"]), "--frames", "4",
               "--json"])  # fmt: skip
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "ok" and 0.0 <= result["probability"] <= 1.0
    assert result["model"]["name"].startswith("mesonet4")
