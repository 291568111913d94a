"""Leave-one-generator-out folds, source pairs, the paired check and the summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fakescope.errors import ConfigError
from fakescope.evaluation.logo import (
    Fold,
    FoldResult,
    backfill_ece_floor,
    generator_names,
    logo_folds,
    logo_markdown,
    paired_check,
    predictions,
    source_pairs,
    summarise_folds,
    training_view,
)


def _table() -> pd.DataFrame:
    rows = [
        # video_id, path, label, dataset, method, compression, target, split
        ("r1", "o/c40/001.mp4", 0, "ffpp", "original", "c40", "001", "train"),
        ("r2", "o/c40/002.mp4", 0, "ffpp", "original", "c40", "002", "train"),
        ("f12df", "DF/c40/001_002.mp4", 1, "ffpp", "Deepfakes", "c40", "001", "train"),
        ("f12fs", "FS/c40/001_002.mp4", 1, "ffpp", "FaceSwap", "c40", "001", "train"),
        ("r3", "o/c40/003.mp4", 0, "ffpp", "original", "c40", "003", "val"),
        ("f34df", "DF/c40/003_004.mp4", 1, "ffpp", "Deepfakes", "c40", "003", "val"),
        ("r5", "o/c40/005.mp4", 0, "ffpp", "original", "c40", "005", "test"),
        ("r5c23", "o/c23/005.mp4", 0, "ffpp", "original", "c23", "005", "test"),
        ("f56df", "DF/c40/005_006.mp4", 1, "ffpp", "Deepfakes", "c40", "005", "test"),
        ("f56fs", "FS/c23/005_006.mp4", 1, "ffpp", "FaceSwap", "c23", "005", "test"),
        ("w1", "wild/anitalker/a.mp4", 1, "wild", "anitalker", None, None, "train"),
        ("d1", "dfdc/x.mp4", 1, "dfdc", "DFDC", None, None, "test"),
        ("d2", "wild/dfdc/y.mp4", 1, "wild", "dfdc", None, None, "train"),
    ]
    cols = ["video_id", "path", "label", "dataset", "method", "compression", "target_id", "split"]
    return pd.DataFrame(rows, columns=cols)


def test_generator_names_merge_spellings_and_leave_reals_out():
    g = generator_names(_table())
    assert g[_table()["label"] == 0].isna().all()
    assert set(g.dropna()) == {"Deepfakes", "FaceSwap", "anitalker", "DFDC"}
    with pytest.raises(ConfigError, match="no column"):
        generator_names(_table(), "nope")


def test_folds_hold_the_generator_out_of_train_and_val_and_test_only_its_fakes():
    table = _table()
    folds = {f.generator: f for f in logo_folds(table)}
    df = folds["Deepfakes"]
    assert df.skipped is None
    assert "f12df" not in df.train and "f34df" not in df.val
    assert "f12fs" in df.train and "r3" in df.val  # other generators and reals stay
    assert set(df.test) == {"r5", "r5c23", "f56df"}  # test reals + only this generator's fakes
    dfdc = folds["DFDC"]
    assert "d2" not in dfdc.train  # 'dfdc' of another benchmark is the same generator
    assert set(dfdc.test) == {"r5", "r5c23", "d1"}
    # a generator without a test fake is skipped with the reason
    assert folds["anitalker"].skipped and "train" in folds["anitalker"].skipped
    # the test set never shares a video with training
    for f in folds.values():
        assert not set(f.test) & set(f.train) and not set(f.test) & set(f.val)


def test_folds_only_for_the_asked_generators():
    folds = logo_folds(_table(), generators=["FaceSwap"])
    assert [f.generator for f in folds] == ["FaceSwap"]
    with pytest.raises(ConfigError, match="unknown generator"):
        logo_folds(_table(), generators=["StyleGAN"])


def test_fold_key_is_shared_only_by_identical_training_data():
    a = Fold("a", ("1", "2"), ("3",), ("4",))
    assert a.key == Fold("b", ("1", "2"), ("3",), ("5",)).key
    assert a.key != Fold("a", ("1",), ("3",), ("4",)).key


def test_source_pairs_match_target_identity_dataset_and_compression():
    pairs = set(source_pairs(_table()))
    assert ("f56df", "r5") in pairs  # c40 fake against the c40 source
    assert ("f56fs", "r5c23") in pairs  # c23 fake against the c23 source, not the c40 one
    assert ("f12df", "r1") in pairs
    assert all(f not in ("d1", "w1") for f, _ in pairs)  # no source in the manifest


def test_paired_check_counts_fakes_above_their_source():
    pairs = [("f1", "r1"), ("f2", "r2"), ("f3", "missing")]
    out = paired_check(pairs, {"f1": 0.9, "r1": 0.2, "f2": 0.1, "r2": 0.4, "f3": 0.5})
    assert out is not None
    assert out["pairs"] == 2 and out["fake_above_source"] == 0.5
    assert out["mean_margin"] == pytest.approx((0.7 - 0.3) / 2)
    assert paired_check(pairs, {}) is None


def test_summary_means_folds_and_reports_skips_and_pairs():
    folds = [
        Fold("A", ("t",), ("v",), ("r1", "r2", "fa1", "fa2")),
        Fold("B", ("t",), ("v",), ("r1", "r2", "fb1")),
        Fold("C", ("t",), ("v",), (), "no fake of C in the test split"),
    ]
    results = [
        FoldResult("A", ["r1", "r2", "fa1", "fa2"], np.array([0, 0, 1, 1]),
                   {"detector": np.array([0.1, 0.2, 0.8, 0.9]),
                    "metadata": np.array([0.9, 0.1, 0.2, 0.5])}),
        FoldResult("B", ["r1", "r2", "fb1"], np.array([0, 0, 1]),
                   {"detector": np.array([0.3, 0.6, 0.5]),
                    "metadata": np.array([0.5, 0.5, np.nan])},
                   same_dataset=np.array([True, False, True])),
    ]  # fmt: skip
    out = summarise_folds(folds, results, [("fa1", "r1"), ("fb1", "r2")], n_boot=0)
    assert out["per_generator"]["A"]["detector"]["auc"] == 1.0
    assert out["per_generator"]["B"]["detector"]["auc"] == 0.5
    assert out["mean"]["detector"]["auc"] == pytest.approx(0.75)
    assert out["per_generator"]["C"] == {"skipped": "no fake of C in the test split"}
    # a baseline that scored one class only has no AUC and is left out of its mean
    assert out["per_generator"]["B"]["metadata"]["auc"] is None
    assert out["mean"]["metadata"]["auc"] == 0.5 and out["mean"]["metadata"]["folds"] == 1
    # fa1 (0.8) above r1 (0.1) in fold A; fb1 (0.5) below r2 (0.6) in fold B
    assert out["paired"]["pairs"] == 2 and out["paired"]["fake_above_source"] == 0.5
    # against the reals of the fakes' own dataset only (r1): fb1 0.5 above r1 0.3
    same = out["per_generator"]["B"]["detector"]["same_dataset"]
    assert same["auc"] == 1.0 and same["real"] == 1
    assert out["mean"]["detector"]["same_dataset_auc"] == 1.0
    assert out["mean"]["detector"]["same_dataset_folds"] == 1
    text = logo_markdown({"name": "x", **out})
    assert "| A | 4 (2/2) | 1.000" in text and "skipped" in text and "50%" in text


def test_summary_keeps_the_ece_floor_beside_the_ece_and_older_results_get_it_back():
    folds = [Fold("A", ("t",), ("v",), ("r1", "r2", "fa1", "fa2"))]
    results = [
        FoldResult("A", ["r1", "r2", "fa1", "fa2"], np.array([0, 0, 1, 1]),
                   {"detector": np.array([0.5, 0.5, 0.5, 0.5])}),
    ]  # fmt: skip
    out = summarise_folds(folds, results, [], n_boot=0)
    det = out["per_generator"]["A"]["detector"]
    # p = 0.5 on 2 reals and 2 fakes: calibrated, ECE 0; labels drawn from p give
    # E|k - 2| / 4 with k ~ Binomial(4, 0.5), i.e. 0.75 / 4
    assert det["ece"] == 0.0 and det["ece_floor"] == pytest.approx(0.1875, abs=0.02)
    assert out["mean"]["detector"]["ece_floor"] == det["ece_floor"]
    assert f"0.000 ({det['ece_floor']:.3f})" in logo_markdown({"name": "x", **out})
    # a result saved before the floor existed: recomputed from its per-video predictions
    old = {**out, "predictions": predictions(results)}
    del old["per_generator"]["A"]["detector"]["ece_floor"], old["mean"]["detector"]["ece_floor"]
    assert backfill_ece_floor(old)["mean"]["detector"]["ece_floor"] == det["ece_floor"]


def test_a_real_only_recipe_sees_no_labelled_fake_and_shares_one_model_across_folds():
    table = _table()
    labels = dict(zip(table["video_id"], table["label"]))
    folds = [f for f in logo_folds(table) if f.skipped is None]
    views = [training_view(f, labels, "only") for f in folds]
    assert all(labels[v] == 0 for view in views for v in (*view.train, *view.val))
    assert len({v.key for v in views}) == 1
    assert len({training_view(f, labels, "mix").key for f in folds}) == len(folds)


def test_auc_and_pairs_rank_the_raw_scores_not_a_flat_calibration():
    folds = [Fold("A", ("t",), ("v",), ("r1", "fa1"))]
    flat = np.array([0.5, 0.5])  # an isotonic map can tie videos the raw score separates
    results = [
        FoldResult("A", ["r1", "fa1"], np.array([0, 1]), {"detector": flat},
                   raw=np.array([-1.0, 2.0]))
    ]  # fmt: skip
    out = summarise_folds(folds, results, [("fa1", "r1")], n_boot=0)
    assert out["per_generator"]["A"]["detector"]["auc"] == 1.0
    assert out["paired"]["fake_above_source"] == 1.0 and out["paired"]["ties"] == 0


def test_leading_silence_baseline_gets_a_column_only_where_it_exists(tmp_path):
    from fakescope.evaluation.logo_run import _silence_features
    from tests.conftest import write_av_clip, write_video

    folds = [Fold("A", ("t",), ("v",), ("r1", "r2", "fa1", "fa2"))]
    scores = {"detector": np.array([0.1, 0.2, 0.8, 0.9])}
    plain = summarise_folds(folds, [FoldResult("A", ["r1", "r2", "fa1", "fa2"],
                                               np.array([0, 0, 1, 1]), dict(scores))], [], 0)  # fmt: skip
    assert "leading silence" not in logo_markdown({"name": "x", **plain})
    # r2 has no audio: NaN, left out of the baseline's AUC (scored 3)
    scores["leading_silence"] = np.array([0.1, np.nan, 1.2, 0.9])
    out = summarise_folds(folds, [FoldResult("A", ["r1", "r2", "fa1", "fa2"],
                                             np.array([0, 0, 1, 1]), scores)], [], 0)  # fmt: skip
    assert out["per_generator"]["A"]["leading_silence"]["scored"] == 3
    text = logo_markdown({"name": "x", **out})
    assert "| leading silence (videos with audio) |" in text and text.count("1.000") >= 2
    # the feature: videos with audio only
    talk = write_av_clip(tmp_path / "a.mp4", audio=np.zeros(44100, np.float32))
    mute = write_video(tmp_path / "b.mp4", n_frames=5, face=False)
    feats = _silence_features({"a": str(talk), "b": str(mute)}, str(tmp_path / "cache"))
    assert list(feats) == ["a"] and feats["a"][0] == pytest.approx(1.0, abs=0.05)
