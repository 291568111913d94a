"""The published checkpoints ``fakescope weights import`` converts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import pytorch as pt
from .base import Importer, register_importer
from .mesonet import mesonet_state_dict

MESONET = "https://github.com/DariusAf/MesoNet"
MESONET_RAW = "https://raw.githubusercontent.com/DariusAf/MesoNet/master/weights/"
MESONET_SENSE = (
    "logit of fake; the published sigmoid is P(real) (Keras flow_from_directory sorts the class "
    "folders df=0, real=1), so the last Dense is negated"
)
MESONET_PRE = "RGB face crop resized to 256 x 256, scaled by 1/255 (Keras ImageDataGenerator)"
SOFTMAX_SENSE = "logit of fake = z_fake - z_real of the published two-way softmax (class 1 = fake)"
SBI_LICENCE = "SBI software licence: academic or non-profit non-commercial research use only"
DFB_LICENCE = "CC BY-NC 4.0 (DeepfakeBench): non-commercial use"
# sha256 of the authors' files as distributed (DariusAf/MesoNet, weights/)
MESONET_SHA = {
    "Meso4_DF.h5": "036ed30d04ffd9c7506f825b97c86aa64915f5818931da96817b169aad790af5",
    "Meso4_F2F.h5": "bcfda015d217b9f8d6557693edbdf9f4e79cfd22672541968dd0e2954462b5d7",
    "MesoInception_DF.h5": "234586d40058e76ef8b6f27ca4b63c06e31c2a5a69c0d8ba6f30b1468ab7bafa",
    "MesoInception_F2F.h5": "d4533ac8a3197dc35c47405d23d99e888c1d0135e267e03540c7451feaccff3f",
}


DFB = "https://github.com/SCLBD/DeepfakeBench"
DFB_PRE = "DeepfakeBench face crop at 256 x 256, mean = std = 0.5"
SELIMSEF = "https://github.com/selimsef/dfdc_deepfake_challenge"
# fields shared by the checkpoints of one source
MESONET_COMMON: dict[str, Any] = {
    "project": MESONET, "licence": "Apache-2.0", "research_only": False,
    "file_format": "keras-hdf5", "label_sense": MESONET_SENSE, "preprocessing": MESONET_PRE,
    "notes": "_DF: trained on Deepfakes face crops; _F2F: on Face2Face",
}  # fmt: skip
DFB_COMMON: dict[str, Any] = {
    "project": DFB, "licence": DFB_LICENCE, "research_only": True, "file_format": "pytorch",
    "label_sense": SOFTMAX_SENSE, "preprocessing": DFB_PRE,
}  # fmt: skip


def _meso(variant: str) -> Any:
    def convert(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        return mesonet_state_dict(path, variant)

    return convert


def _files(prefix: str) -> dict[str, str]:
    return {k: v for k, v in MESONET_SHA.items() if k.startswith(prefix + "_")}


def _mesonet(name: str, variant: str, prefix: str, title: str) -> Importer:
    """A MesoNet network: the authors' ``PREFIX_*.h5`` files, converted as ``variant``."""
    files = _files(prefix)
    return Importer(
        name=name, architecture=name, title=title, convert=_meso(variant), checksums=files,
        urls=tuple(MESONET_RAW + f for f in sorted(files)), **MESONET_COMMON,
    )  # fmt: skip


def _spec(common: dict[str, Any], **fields: Any) -> Importer:
    """An importer from a source's ``common`` fields, ``fields`` adding or replacing some."""
    return Importer(**{**common, **fields})


# the catalogue: one row per published checkpoint (``fakescope weights list`` sorts by name)
CATALOG: tuple[Importer, ...] = (
    _mesonet("mesonet4", "meso4", "Meso4", "MesoNet Meso4 (Afchar et al. 2018)"),
    _mesonet(
        "mesoinception4", "mesoinception4", "MesoInception",
        "MesoNet MesoInception4 (Afchar et al. 2018)",
    ),
    Importer(
        name="sbi_efficientnet_b4", architecture="efficientnet_b4",
        title="Self-Blended Images EfficientNet-B4 (Shiohara & Yamasaki 2022)",
        project="https://github.com/mapooon/SelfBlendedImages", licence=SBI_LICENCE,
        research_only=True, file_format="pytorch", label_sense=SOFTMAX_SENSE,
        preprocessing="RetinaFace box + 1/8 margin per side, resized to 380 x 380, RGB / 255",
        convert=pt.sbi_efficientnet_b4,
        overrides={"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "input_size": 380},
        crop={"detector": "yunet", "margin": 1.25, "size": 380},
        notes="efficientnet_pytorch B4 (TF 'same' padding planned for 380 px = timm "
        "tf_efficientnet_b4 at 380); video score = mean over frames of the max over faces",
    ),
    _spec(
        DFB_COMMON, name="deepfakebench_xception", architecture="xception",
        title="DeepfakeBench Xception (Rossler et al. 2019)", convert=pt.dfb_xception,
        overrides={"input_size": 256, "drop_rate": 0.0},
    ),
    _spec(
        DFB_COMMON, name="deepfakebench_efficientnet_b4", architecture="dfb_efficientnet_b4",
        title="DeepfakeBench EfficientNet-B4 (Tan & Le 2019)", convert=pt.dfb_efficientnet_b4,
        notes="efficientnet_pytorch B4 with an unpadded stem and padding planned for 380 px, "
        "fed 256 px (architecture static_pad_efficientnet)",
    ),
    _spec(
        DFB_COMMON, name="deepfakebench_spsl", architecture="spsl_xception",
        title="DeepfakeBench SPSL (Liu et al. 2021)", convert=pt.dfb_spsl,
        preprocessing=DFB_PRE + "; phase-only reconstruction of the grey image as a 4th channel",
        notes="the phase channel is computed per image (DeepfakeBench's fftn also spans the "
        "batch: equal at batch size 1)",
    ),
    _spec(
        DFB_COMMON, name="deepfakebench_ucf", architecture="ucf_xception",
        title="DeepfakeBench UCF (Yan et al. 2023), common-forgery inference path",
        label_sense=SOFTMAX_SENSE + " (head_sha)", convert=pt.dfb_ucf,
        notes="inference uses encoder_f -> block_sha -> head_sha only; encoder_c, con_gan, "
        "block_spe and head_spe (training only) are not imported",
    ),
    Importer(
        name="dfdc_winner_b7", architecture="efficientnet_b7",
        title="DFDC winner EfficientNet-B7 (Seferbekov 2020)", project=SELIMSEF,
        licence="MIT", research_only=False, file_format="pytorch",
        label_sense="logit of fake as published (sigmoid = P(fake))",
        preprocessing="MTCNN box + 1/3 margin per side, isotropic resize to 380 and zero pad, "
        "ImageNet mean/std",
        convert=pt.selimsef_efficientnet_b7, overrides={"input_size": 380, "drop_rate": 0.0},
        urls=tuple(
            f"{SELIMSEF}/releases/download/0.0.1/"
            f"final_{s}_DeepFakeClassifier_tf_efficientnet_b7_ns_0_{e}"
            for s, e in (("111", "36"), ("555", "19"), ("777", "29"), ("777", "31"),
                         ("888", "37"), ("888", "40"), ("999", "23"))
        ),
        crop={"detector": "yunet", "margin": 1.67, "size": 380},
        notes="the winning entry averaged 7 such checkpoints; each imports alone",
    ),
)  # fmt: skip

for _importer in CATALOG:
    register_importer(_importer)
