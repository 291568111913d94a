"""The training loop of audio-visual models (``kind: av``; issue 13, seed 001).

``fakescope train CONFIG`` comes here for an av model (``trainer.train`` dispatches). Samples
are ``training.av_data`` segments (pseudo-fakes from real clips, labelled videos, or both:
``av.fakes``). The recipe's ``phases:`` run in order, each with its own frozen parts (the
network's ``PART_NAMES``), optimiser and schedule (``warmup_cosine``, ``constant`` or
``plateau`` on the validation AUC), so seed 001's staged video -> audio -> fusion presets run
here. The loss is ``av.loss``:

``bce`` (default)
    mean segment BCE + ``video_weight`` (``av.loss_kwargs``, 0.5) x video BCE;
``seed001``
    ``training.av_losses.AVLoss(**av.loss_kwargs)``, seed 001's loss suite.

A network's own ``auxiliary_loss`` (``models.av.AudioVisualDetector``) is added to the
training loss (``train_aux`` in the log). Every epoch logs ``log.csv`` (train loss, validation loss, video and segment AUC, accuracy,
AUC per pseudo-fake kind) and keeps the best checkpoint (``train.select``) in ``RUN/best``
with a card that says how to feed the model (5-FPS sampling, 16-kHz audio, 1-s segments).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._atomic import atomic_write_text
from ..errors import ConfigError
from .config import TrainConfig
from .schedule import EarlyStopping, warmup_cosine

__all__ = ["SegmentVideoBCE", "build_av_loss", "evaluate_av", "train_av"]

log = logging.getLogger(__name__)


class SegmentVideoBCE:
    """Mean segment BCE + ``video_weight`` x video BCE, with optional label smoothing
    (targets ``eps`` / ``1 - eps``); returns (total, parts)."""

    def __init__(self, video_weight: float = 0.5, smoothing: float = 0.0) -> None:
        if video_weight < 0 or not 0 <= smoothing < 0.5:
            raise ConfigError("av.loss_kwargs: video_weight >= 0 and smoothing in [0, 0.5)")
        self.video_weight, self.smoothing = float(video_weight), float(smoothing)

    def __call__(self, out: Any, segment_labels: Any, video_label: Any) -> tuple[Any, dict]:
        import torch.nn.functional as F

        eps = self.smoothing
        seg_t = segment_labels.float() * (1 - 2 * eps) + eps
        vid_t = video_label.float() * (1 - 2 * eps) + eps
        seg = F.binary_cross_entropy_with_logits(out.segment_logits.float(), seg_t)
        vid = F.binary_cross_entropy_with_logits(out.video_logit.float(), vid_t)
        total = seg + self.video_weight * vid
        return total, {"segment": float(seg.detach()), "video": float(vid.detach())}


def build_av_loss(name: str, kwargs: dict[str, Any]) -> Any:
    """``bce`` -> ``SegmentVideoBCE``; ``seed001`` -> ``training.av_losses.AVLoss``."""
    if name == "bce":
        try:
            return SegmentVideoBCE(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"av.loss_kwargs for bce: {exc}") from None
    if name == "seed001":
        from .av_losses import AVLoss  # type: ignore[import-not-found,unused-ignore]

        try:
            return AVLoss(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"av.loss_kwargs for seed001: {exc}") from None
    raise ConfigError(f"av.loss: unknown loss '{name}'; choose from bce, seed001")


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")


def evaluate_av(model: Any, loader: Any, dataset: Any, loss_fn: Any, device: str) -> dict[str, Any]:
    """Validation loss, sample-level (``auc``) and segment-level (``seg_auc``) AUC, accuracy at
    logit 0, and each pseudo-fake kind's AUC against the real samples (``auc_<kind>``)."""
    import torch

    model.eval()
    probs, labels, seg_p, seg_y, idx, losses = [], [], [], [], [], []
    run = _forward_of(model, dataset)
    with torch.inference_mode():
        for frames, audio, seg, label, i in loader:
            out = run(frames.to(device), audio.to(device))
            loss, _ = loss_fn(out, seg.to(device), label.to(device))
            losses.append(float(loss) * len(label))
            probs.append(torch.sigmoid(out.video_logit.float()).cpu().numpy())
            labels.append(label.numpy())
            seg_p.append(torch.sigmoid(out.segment_logits.float()).cpu().numpy().ravel())
            seg_y.append(seg.numpy().ravel())
            idx.append(i.numpy())
    p, y = np.concatenate(probs), np.concatenate(labels)
    kinds = np.asarray([dataset.kind(int(k)) for k in np.concatenate(idx)])
    row: dict[str, Any] = {
        "loss": float(np.sum(losses) / len(y)),
        "auc": _auc(y, p),
        "seg_auc": _auc(np.concatenate(seg_y), np.concatenate(seg_p)),
        "acc": float(np.mean((p >= 0.5) == (y == 1))),
    }
    real = kinds == "real"
    for kind in sorted(set(kinds) - {"real"}):
        sel = real | (kinds == kind)
        row[f"auc_{kind}"] = _auc(y[sel], p[sel])
    return row


def _forward_of(model: Any, dataset: Any) -> Any:
    """``model.forward_features`` when the dataset gives precomputed video features, else the
    model itself."""
    return model.forward_features if getattr(dataset, "features", False) else model


def _cache_video_features(model: Any, tracks: list[Any]) -> None:
    """``av.cache_video_features``: each track's per-crop features, once (the network's own
    ``track_video_features``)."""
    if not callable(getattr(model, "track_video_features", None)) or not callable(
        getattr(model, "forward_features", None)
    ):
        raise ConfigError(
            "av.cache_video_features: this network has no fixed video features to precompute "
            "(it needs track_video_features and forward_features, like avsync)"
        )
    for t in tracks:
        t.video_feats = model.track_video_features(t.crops)


def train_av(
    config: TrainConfig,
    model_cfg: Any,
    *,
    progress: bool = False,
    on_epoch: Callable[[int, dict[str, Any]], bool] | None = None,
) -> Path:
    """Train an av model (see the module docstring); returns ``RUN/best``."""
    import torch
    from torch.utils.data import DataLoader

    from ..models import create_model
    from .av_data import AVDataset, AVDataSettings, load_av_tracks
    from .trainer import _append_csv, _device, _seed_everything

    av_opts = dict(config.av)
    loss_name = str(av_opts.pop("loss", "bce"))
    loss_kwargs = dict(av_opts.pop("loss_kwargs", {}) or {})
    settings = AVDataSettings.from_dict(av_opts)
    loss_fn = build_av_loss(loss_name, loss_kwargs)
    phases = config.phase_list()
    for i, ph in enumerate(phases):
        if getattr(ph, "kind", "classify") != "classify":
            raise ConfigError(f"config: phases[{i}].kind: an av model trains classify phases only")
    device = _device(config.train.device)
    t = config.train
    _seed_everything(t.seed, device.split(":")[0])
    run = config.run_dir
    run.mkdir(parents=True, exist_ok=True)
    import yaml

    atomic_write_text(run / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
    from ..tracking import write_environment

    write_environment(run)
    d = config.data
    labels = (0,) if settings.fakes == "pseudo" else (0, 1)
    common = {
        "size": model_cfg.input_size,
        "segments": model_cfg.segments,
        "segment_frames": model_cfg.segment_frames,
        "labels": labels,
        "tracks": d.tracks,
        "max_videos": d.max_videos,
        "seed": t.seed,
    }
    started = time.perf_counter()
    train_tracks = load_av_tracks(d.manifest, d.crops, d.train_split, **common)
    val_tracks = load_av_tracks(d.manifest, d.crops, d.val_split, **common)
    log.info(
        "av data: %d train / %d val tracks in %.1f s",
        len(train_tracks),
        len(val_tracks),
        time.perf_counter() - started,
    )
    shape = {
        "segments": model_cfg.segments,
        "segment_frames": model_cfg.segment_frames,
        "mean": model_cfg.mean,
        "std": model_cfg.std,
    }
    model = create_model(model_cfg).to(device)
    cached = settings.cache_video_features
    if cached:
        started = time.perf_counter()
        _cache_video_features(model, train_tracks + val_tracks)
        log.info("av video features: %.1f s", time.perf_counter() - started)
    train_set = AVDataset(train_tracks, settings, train=True, seed=t.seed, features=cached, **shape)
    val_set = AVDataset(val_tracks, settings, train=False, seed=t.seed, features=cached, **shape)
    kw: dict[str, Any] = {"batch_size": t.batch_size, "num_workers": t.num_workers}
    val_loader = DataLoader(val_set, shuffle=False, **kw)
    forward = _forward_of(model, train_set)
    aux_fn = getattr(model, "auxiliary_loss", None)
    trainable: dict[str, int] = {}
    for ph in phases:  # a bad part name or modality switch fails before any training
        model.freeze_parts(ph.freeze)
        trainable[ph.name] = int(sum(p.numel() for p in model.parameters() if p.requires_grad))
        model.unfreeze()
        model.set_modalities(ph.modalities or model_cfg.modalities)
    o = config.optim
    best = -np.inf
    step = 0
    epoch = 0
    for phase in phases:
        model.unfreeze()
        model.freeze_parts(phase.freeze)
        model.set_modalities(phase.modalities or model_cfg.modalities)
        lr = phase.lr if phase.lr is not None else o.lr
        backbone_lr = phase.backbone_lr if phase.backbone_lr is not None else o.backbone_lr
        wd = phase.weight_decay if phase.weight_decay is not None else o.weight_decay
        groups = [
            g
            for g in model.param_groups(lr, backbone_lr, wd)
            if any(p.requires_grad for p in g["params"])
        ]
        opt_cls = torch.optim.AdamW if o.name == "adamw" else torch.optim.Adam
        optimizer = opt_cls(groups)
        base = [g["lr"] for g in optimizer.param_groups]
        schedule = phase.schedule or o.schedule
        plateau = (
            torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="max", factor=o.plateau_factor, patience=o.plateau_patience
            )
            if schedule == "plateau"
            else None
        )
        stopper = EarlyStopping(t.patience, t.min_delta)
        steps = max(1, settings.samples_per_epoch // t.batch_size)
        w = phase.warmup_epochs if phase.warmup_epochs is not None else o.warmup_epochs
        total, warmup, phase_step = steps * phase.epochs, round(w * steps), 0
        for _ in range(phase.epochs):
            train_set.epoch = epoch
            gen = torch.Generator().manual_seed(t.seed * 1000 + epoch)
            loader = DataLoader(train_set, shuffle=True, generator=gen, drop_last=True, **kw)
            model.train()
            losses, correct, seen = [], 0, 0
            aux_losses: list[float] = []
            t0 = time.perf_counter()
            batches: Any = loader
            if progress:
                from tqdm import tqdm

                batches = tqdm(loader, desc=f"epoch {epoch + 1} ({phase.name})", leave=False)
            for frames, audio, seg, label, _i in batches:
                if schedule == "warmup_cosine":
                    m = warmup_cosine(phase_step, total, warmup, o.min_lr_ratio)
                    for g, b in zip(optimizer.param_groups, base):
                        g["lr"] = b * m
                out = forward(frames.to(device), audio.to(device))
                loss, _parts = loss_fn(out, seg.to(device), label.to(device))
                if aux_fn is not None:  # the network's own term (if it defines one)
                    aux = aux_fn(out, seg.to(device), label.to(device))
                    aux_losses.append(float(aux.detach()))
                    loss = loss + aux
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if t.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
                optimizer.step()
                losses.append(float(loss.detach()))
                pred = (out.video_logit.detach() > 0).long().cpu()
                correct += int((pred == label).sum())
                seen += len(label)
                step += 1
                phase_step += 1
            val = evaluate_av(model, val_loader, val_set, loss_fn, device)
            row: dict[str, Any] = {
                "epoch": epoch + 1,
                "phase": phase.name,
                "train_loss": float(np.mean(losses)) if losses else float("nan"),
                "train_acc": correct / max(1, seen),
                "train_aux": float(np.mean(aux_losses)) if aux_losses else 0.0,
                **{f"val_{key}": v for key, v in val.items()},
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": round(time.perf_counter() - t0, 1),
            }
            if plateau is not None:
                plateau.step(val["auc"])
            score = _selected(row, t.select)
            improved = score > best
            if improved:
                best = score
                _save(run, model, config, row, epoch, trainable, train_set, val_set, phases)
            stopper.step(score)
            _append_csv(run / "log.csv", row)
            log.info("epoch %d: %s", epoch + 1, row)
            if progress:
                print(
                    f"epoch {epoch + 1} [{phase.name}] loss {row['train_loss']:.4f} "
                    f"val auc {row['val_auc']:.4f} seg auc {row['val_seg_auc']:.4f} "
                    f"({row['seconds']} s)",
                    flush=True,
                )
            epoch += 1
            if on_epoch is not None and on_epoch(epoch, row):
                return run / "best"
            if t.early_stopping and stopper.should_stop:
                break
    model.set_modalities(model_cfg.modalities)
    return run / "best"


def _selected(row: dict[str, Any], select: str) -> float:
    value = float(row.get(select, float("nan")))
    if np.isnan(value):
        return -np.inf
    return -value if select == "val_loss" else value


def _save(
    run: Path,
    model: Any,
    config: TrainConfig,
    row: dict[str, Any],
    epoch: int,
    trainable: dict[str, int],
    train_set: Any,
    val_set: Any,
    phases: list[Any],
) -> None:
    from ..models import ModelCard, save_checkpoint
    from ..models.checkpoint import audio_card
    from .trainer import _crop_settings

    d = config.data
    mc = model.config
    card = ModelCard(
        name=config.name,
        model=mc.to_dict(),
        crop=_crop_settings(Path(d.crops)),
        aggregation="mean_of_max",
        training={
            "data": {
                "manifest": d.manifest,
                "crops": d.crops,
                "train_split": d.train_split,
                "val_split": d.val_split,
                "fakes": dict(config.av).get("fakes", "pseudo"),
                "train_tracks": len(train_set.tracks),
                "train_identity_groups": len({t.group for t in train_set.tracks}),
                "val_items": len(val_set),
            },
            "recipe": {
                "optim": config.to_dict()["optim"],
                "train": config.to_dict()["train"],
                "av": dict(config.av),
                "phases": [dataclasses.asdict(p) for p in phases],
            },
            "trainable_params": dict(trainable),
            "total_params": int(sum(p.numel() for p in model.parameters())),
            "best_epoch": epoch + 1,
            "weights_source": getattr(model, "weights_source", "none"),
            "fakescope": __version__,
        },
        metrics={
            "val_auc_video": row["val_auc"],
            "val_auc_segment": row["val_seg_auc"],
            "val_loss": row["val_loss"],
            "val_acc": row["val_acc"],
            **{k: v for k, v in row.items() if k.startswith("val_auc_") and k != "val_auc_video"},
            "selected_on": config.train.select,
        },
    )
    card.audio = audio_card(mc, modalities=getattr(model, "modalities", mc.modalities))
    save_checkpoint(run / "best", model, card)
