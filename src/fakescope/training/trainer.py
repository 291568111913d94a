"""The training loop: the recipes the research uses, on the crop cache, reproducible on a CPU.

AdamW/Adam with backbone and head learning rates, linear warmup then cosine (per step) or
ReduceLROnPlateau, staged freezing (head first), mixed precision on GPU, gradient clipping,
label smoothing, class balance (pos_weight or a weighted sampler), early stopping on the
validation AUC with the best checkpoint kept, resume from the last state. Multi-GPU/multi-process
through ``torchrun`` (DistributedDataParallel; gloo on CPU, NCCL on GPU).
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
import sys
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

__all__ = ["train"]

log = logging.getLogger(__name__)


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("train.device: cuda requested but no GPU is available")
    return name


def _keep_freed_memory() -> None:
    """Ask glibc to keep freed memory instead of handing it back to the OS after every step.

    A training step allocates and frees the same large activation buffers again and again;
    by default glibc serves them with fresh mmaps that page-fault on every touch, which costs
    about a third of a CPU step here (``benchmarks``: the ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``
    note in the environment docs). No effect off glibc."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-4, 0)  # M_MMAP_MAX: serve large blocks from the heap
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: keep up to 1 GiB of freed heap
    except (OSError, AttributeError):  # not glibc
        pass


def _as_input(x: Any, device: str, channels_last: bool) -> Any:
    """A batch on the device, channels-last for image batches when asked (faster convolutions
    on CPUs and tensor cores)."""
    import torch

    if channels_last and x.dim() == 4:
        return x.to(device, memory_format=torch.channels_last)
    return x.to(device)


def _seed_everything(seed: int, device: str) -> None:
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if device == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)


def _video_auc(labels: np.ndarray, probs: np.ndarray, videos: list[str]) -> float:
    """Video-level AUC (mean probability per video); NaN when one class is missing."""
    from sklearn.metrics import roc_auc_score

    agg: dict[str, list[float]] = {}
    lab: dict[str, int] = {}
    for v, p, y in zip(videos, probs, labels):
        agg.setdefault(v, []).append(float(p))
        lab[v] = int(y)
    y = np.array([lab[v] for v in agg])
    s = np.array([np.mean(agg[v]) for v in agg])
    return float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else float("nan")


class _Dist:
    """torchrun's environment, when present."""

    def __init__(self, device: str) -> None:
        import torch.distributed as dist

        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.enabled = self.world > 1
        if self.enabled and not dist.is_initialized():
            dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    progress: bool = False,
    on_epoch: Callable[[int, dict[str, Any]], bool] | None = None,
) -> Path:
    """Train a detector (frame or clip family; a signals model is fitted by
    ``training.signals.train_signals``); returns the best checkpoint's folder
    (``RUN/best``).

    A recipe runs as ``phases`` (``TrainConfig.phase_list``): each phase freezes its parts and
    gets a new optimiser and schedule. Without ``phases:`` the run is one optimiser and one
    schedule across all epochs, with the backbone frozen for ``freeze_backbone_epochs``.

    ``on_epoch(epoch, row)`` is called after each epoch with its ``log.csv`` row (1-based
    epoch); when it returns True the run stops there, cleanly (``fakescope tune``'s pruning).
    """
    from ..models.registry import get_config

    model_cfg = get_config(**config.model)
    if model_cfg.kind == "signals":  # one fit of a classifier on forensic signals, no epochs
        from .signals import train_signals

        return train_signals(config, model_cfg)
    if model_cfg.kind == "av":  # audio-visual segments and pseudo-fakes: their own loop
        from .av import train_av

        return train_av(config, model_cfg, progress=progress, on_epoch=on_epoch)
    import torch

    from ..models import create_model

    device = _device(config.train.device)
    if device == "cpu":
        _keep_freed_memory()
    dist = _Dist(device)
    if dist.enabled and device.startswith("cuda"):
        device = f"cuda:{dist.local_rank}"
        torch.cuda.set_device(device)
    if dist.enabled and config.train.cache_features:
        raise ConfigError("train.cache_features: not supported with torchrun (one process only)")
    if dist.enabled and on_epoch is not None:
        raise ConfigError("an epoch callback (fakescope tune) is not supported with torchrun")
    _seed_everything(config.train.seed, device.split(":")[0])
    run = config.run_dir
    if dist.main:
        run.mkdir(parents=True, exist_ok=True)
        import yaml

        atomic_write_text(run / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
        from ..tracking import write_environment

        write_environment(run)  # package versions, git commit, device (docs/tracking.md)

    data = _Data(config, model_cfg, dist, run)
    model = create_model(model_cfg).to(device)
    for phase in config.phase_list():  # a bad part name fails before any training
        model.freeze_parts(phase.freeze)
        model.unfreeze()
    channels_last = config.train.channels_last and model_cfg.kind == "frame"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    net: Any = model
    if dist.enabled:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device] if device.startswith("cuda") else None
        )
    loop = _Loop(config, model, net, data, device, dist, channels_last, progress)
    loop.on_epoch = on_epoch
    if resume:
        loop.restore(run / "last.pt")
    try:
        loop.run()
    finally:
        if loop.writer:
            loop.writer.close()
    if dist.main:
        _export_best(model, run / "best")
    if dist.enabled:  # every rank returns after rank 0 has written the log and checkpoints
        import torch.distributed

        torch.distributed.barrier()
    return run / "best"


class _Data:
    """The run's training and validation sets, as images (frame crops or clips) and, on
    demand, as cached frame-encoder features."""

    def __init__(self, config: TrainConfig, model_cfg: Any, dist: _Dist, run: Path) -> None:
        from .augment import AugmentConfig
        from .data import ClipDataset, FrameDataset, load_clips, load_samples
        from .sbi import SBIConfig

        d = config.data
        self.config, self.model_cfg = config, model_cfg
        self.clip = model_cfg.kind == "clip"
        train_labels = (0,) if d.sbi == "only" else (0, 1)
        sbi = SBIConfig(**config.sbi_config) if d.sbi != "off" else None
        if self.clip and sbi is not None:
            raise ConfigError(
                "data.sbi: self-blending makes frame samples; use it with frame models"
            )
        common = {"input_size": model_cfg.input_size, "mean": model_cfg.mean,
                  "std": model_cfg.std, "seed": config.train.seed}  # fmt: skip
        augment = AugmentConfig(**config.augment)
        self.train_set: Any
        self.val_set: Any
        if self.clip:

            def clips(split: str, labels: tuple[int, ...]) -> list[Any]:
                if model_cfg.inputs == "flow":  # seed 003: flow images of consecutive frames
                    from ..forensics.flow import FlowSettings
                    from .flow import load_flow_clips

                    return load_flow_clips(
                        d.manifest, d.crops, split, clip_frames=model_cfg.frames_per_clip,
                        clips_per_video=d.clips_per_video, tracks=d.tracks, labels=labels,
                        max_videos=d.max_videos, seed=config.train.seed,
                        settings=FlowSettings.from_dict(config.flow),
                    )  # fmt: skip
                return load_clips(
                    d.manifest, d.crops, split, clip_frames=model_cfg.frames_per_clip,
                    clips_per_video=d.clips_per_video, tracks=d.tracks, labels=labels,
                    max_videos=d.max_videos, seed=config.train.seed,
                )  # fmt: skip

            # image augmentations would corrupt flow maps (a flip must also negate dx): none
            self.train_set = ClipDataset(
                clips(d.train_split, train_labels),
                augment=augment if model_cfg.inputs == "crops" else None, **common,
            )  # fmt: skip
            self.val_set = ClipDataset(clips(d.val_split, (0, 1)), **common)
        else:

            def samples(split: str, labels: tuple[int, ...]) -> list[Any]:
                return load_samples(
                    d.manifest, d.crops, split, frames_per_video=d.frames_per_video,
                    tracks=d.tracks, labels=labels, max_videos=d.max_videos, seed=config.train.seed,
                )  # fmt: skip

            self.train_set = FrameDataset(
                samples(d.train_split, train_labels), augment=augment, sbi=sbi, **common
            )
            val_samples = samples(d.val_split, (0, 1))
            # validation: real and labelled fakes of the val split, plus SBI pseudo-fakes when
            # training from real videos only (there is nothing else to tell the classes apart)
            val_has_fakes = any(s.label == 1 for s in val_samples)
            self.val_set = FrameDataset(
                val_samples, sbi=sbi if (sbi is not None and not val_has_fakes) else None, **common
            )
            if sbi is not None and dist.main:
                _write_sbi_gallery(self.train_set, run / "sbi_gallery.png", sbi, config.train.seed)
        self.frames_per_item = model_cfg.frames_per_clip if self.clip else 1
        self.train_datasets = _split_datasets(d.manifest, d.train_split)  # cross-dataset tables
        self._features: tuple[Any, Any] | None = None

    def feature_sets(self, model: Any, device: str) -> tuple[Any, Any]:
        """Train/val sets of cached frame-encoder features (computed once per encoder)."""
        if self._features is None:
            from .augment import AugmentConfig
            from .data import FeatureDataset
            from .features import cached_features

            if self.train_set.augment not in (None, AugmentConfig.none()):
                log.info("cached features come from un-augmented crops: augment is off here")
            sets = (self.train_set, self.val_set)
            if not self.clip and any(s.sbi is not None for s in sets):
                raise ConfigError("train.cache_features: not available with data.sbi")
            paths = [p for ds in sets for p in self._paths(ds)]
            feats, rows = cached_features(
                model, paths, Path(self.config.data.crops) / "features", device=device
            )

            def wrap(ds: Any) -> Any:
                index = [
                    [rows[p] for p in c.crops] if self.clip else rows[c.crop]
                    for c in (ds.clips if self.clip else ds.samples)
                ]
                return FeatureDataset(feats, index, ds.labels(), ds.video_ids())

            self._features = (wrap(self.train_set), wrap(self.val_set))
        return self._features

    def _paths(self, ds: Any) -> list[str]:
        return [p for c in ds.clips for p in c.crops] if self.clip else [s.crop for s in ds.samples]


def _trainable(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


class _Loop:
    """Epochs over the recipe's phases: freezing, optimiser, schedule, validation, the log,
    the best checkpoint and the resumable state."""

    def __init__(
        self,
        config: TrainConfig,
        model: Any,
        net: Any,
        data: _Data,
        device: str,
        dist: _Dist,
        channels_last: bool,
        progress: bool,
    ) -> None:
        import torch

        self.config, self.model, self.net, self.data = config, model, net, data
        self.device, self.dist, self.channels_last = device, dist, channels_last
        self.progress = progress and dist.main
        self.writer: Any = None  # TensorBoard SummaryWriter, False when not installed
        self.phases = config.phase_list()
        self.legacy = not config.phases  # one optimiser/schedule/stopper for the whole run
        labels = data.train_set.labels()
        n_pos, n_neg = int(labels.sum()), int(len(labels) - labels.sum())
        pos_weight = torch.tensor(
            n_neg / n_pos if (config.train.balance == "pos_weight" and n_pos and n_neg) else 1.0,
            device=device,
        )
        self.balance = (n_pos, n_neg)
        self.loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        self.use_amp = config.train.amp and device.startswith("cuda")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.generator = torch.Generator().manual_seed(config.train.seed)
        self.start_epoch, self.step = 0, 0
        self.best = -float("inf")
        self.stopper = self._stopper()
        self.resumed: dict[str, Any] | None = None
        self.trainable: dict[str, int] = {}
        self.run_dir = config.run_dir
        self.on_epoch: Callable[[int, dict[str, Any]], bool] | None = None

    def _stopper(self) -> EarlyStopping:
        t = self.config.train
        return EarlyStopping(t.patience if t.early_stopping else 10**9, t.min_delta)

    def restore(self, path: Path) -> None:
        import torch

        if not path.is_file():
            return
        state = torch.load(path, map_location=self.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.start_epoch, self.step = state["epoch"] + 1, state["step"]
        self.stopper = EarlyStopping(
            self.stopper.patience, self.config.train.min_delta, state["stop_best"], state["bad"]
        )
        self.best = state["best"]
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.resumed = state
        log.info("resumed from %s at epoch %d", path, self.start_epoch)

    def _loaders(self, phase: Any) -> tuple[Any, Any, Any, bool]:
        """(train loader, val loader, val dataset, features?) for a phase."""
        from torch.utils.data import DataLoader, WeightedRandomSampler
        from torch.utils.data.distributed import DistributedSampler

        t = self.config.train
        features = t.cache_features and "backbone" in phase.freeze
        train_set, val_set = (
            self.data.feature_sets(self.model, self.device)
            if features
            else (self.data.train_set, self.data.val_set)
        )
        sampler: Any = None
        labels = train_set.labels()
        n_pos, n_neg = self.balance
        if self.dist.enabled:
            sampler = DistributedSampler(
                train_set, num_replicas=self.dist.world, rank=self.dist.rank, seed=t.seed
            )
        elif t.balance == "sampler" and n_pos and n_neg:
            weights = np.where(labels == 1, 0.5 / n_pos, 0.5 / n_neg)
            sampler = WeightedRandomSampler(weights.tolist(), len(labels), generator=self.generator)
        kw: dict[str, Any] = {
            "batch_size": t.batch_size,
            "num_workers": 0 if features else t.num_workers,
        }
        if kw["num_workers"]:
            kw["persistent_workers"] = False
        train_loader = DataLoader(
            train_set, sampler=sampler, shuffle=sampler is None, generator=self.generator,
            drop_last=len(train_set) > t.batch_size, **kw,
        )  # fmt: skip
        return train_loader, DataLoader(val_set, shuffle=False, **kw), val_set, features

    def _optimizer(self, phase: Any) -> tuple[Any, list[float], Any]:
        import torch

        o = self.config.optim
        lr = phase.lr if phase.lr is not None else o.lr
        backbone_lr = phase.backbone_lr if phase.backbone_lr is not None else o.backbone_lr
        wd = phase.weight_decay if phase.weight_decay is not None else o.weight_decay
        opt_cls = torch.optim.AdamW if o.name == "adamw" else torch.optim.Adam
        optimizer = opt_cls(self.model.param_groups(lr, backbone_lr, wd))
        schedule = phase.schedule or o.schedule
        plateau = (
            torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer,
                mode="min" if o.plateau_monitor == "val_loss" else "max",
                factor=o.plateau_factor,
                patience=o.plateau_patience,
            )
            if schedule == "plateau"
            else None
        )
        return optimizer, [g["lr"] for g in optimizer.param_groups], plateau

    def _freeze(self, phase: Any) -> None:
        self.model.unfreeze()
        if self.model.config.freeze_blocks:
            self.model.freeze(self.model.config.freeze_blocks)
        self.model.freeze_parts(phase.freeze)

    def run(self) -> None:
        phases = self.phases
        bounds = np.cumsum([0] + [p.epochs for p in phases])
        total_epochs = int(bounds[-1])
        optimizer = base_lrs = plateau = None
        current = -1
        o = self.config.optim
        if self.legacy:  # one optimiser and schedule over every epoch (the original recipe)
            optimizer, base_lrs, plateau = self._optimizer(phases[-1])
            self._load_optimizer(optimizer, plateau, phase=None)
        for epoch in range(self.start_epoch, total_epochs):
            k = int(np.searchsorted(bounds, epoch, side="right") - 1)
            phase = phases[k]
            if k != current:
                current = k
                self._freeze(phase)
                self.trainable[phase.name] = _trainable(self.model)
                train_loader, val_loader, val_set, features = self._loaders(phase)
                steps = max(1, len(train_loader))
                if self.legacy:
                    total = steps * total_epochs
                    warmup = round(o.warmup_epochs * steps)
                else:
                    optimizer, base_lrs, plateau = self._optimizer(phase)
                    self._load_optimizer(optimizer, plateau, phase=k)
                    if epoch == bounds[k]:
                        self.stopper = self._stopper()  # each phase earns its own patience
                    total = steps * phase.epochs
                    w = phase.warmup_epochs if phase.warmup_epochs is not None else o.warmup_epochs
                    warmup = round(w * steps)
                phase_start_step = (
                    0 if self.legacy else self.step - (epoch - int(bounds[k])) * steps
                )
            if self.stopper.should_stop:
                if self.legacy:
                    break
                continue  # the rest of this phase is skipped; the next phase runs
            assert optimizer is not None and base_lrs is not None
            if phase.kind != "classify":  # seed 004's generator pre-training: its own loop
                from .rffr import generator_epoch

                generator_epoch(self, phase, epoch, optimizer, train_loader, val_loader)
                continue
            schedule = phase.schedule or o.schedule
            self.data.train_set.epoch = self.data.val_set.epoch = epoch
            sampler = getattr(train_loader, "sampler", None)
            set_epoch = getattr(sampler, "set_epoch", None)
            if set_epoch is not None:
                set_epoch(epoch)
            self.net.train()
            backbone_frozen = not any(
                p.requires_grad for p in self.model.parts()["backbone"].parameters()
            )
            if backbone_frozen:  # frozen: batch-norm statistics stay the pretrained ones
                self.model.parts()["backbone"].eval()
            started = time.perf_counter()
            losses, correct, seen = [], 0, 0
            iterator: Any = train_loader
            if self.progress:
                from tqdm import tqdm

                iterator = tqdm(
                    train_loader, desc=f"epoch {epoch + 1}/{total_epochs} ({phase.name})",
                    leave=False, disable=not sys.stderr.isatty(),  # a bar only on a terminal
                )  # fmt: skip
            for x, y, _ in iterator:
                if schedule == "warmup_cosine":
                    factor = warmup_cosine(
                        self.step - phase_start_step, total, warmup, o.min_lr_ratio
                    )
                    for g, lr in zip(optimizer.param_groups, base_lrs):
                        g["lr"] = lr * factor
                logits = self._step(optimizer, x, y, features)
                losses.append(logits[0])
                correct += logits[1]
                seen += len(y)
                self.step += 1
            val = _evaluate(
                self.model if features else self.net, val_loader, val_set, self.loss_fn,
                self.device, self.channels_last, features,
            )  # fmt: skip
            if plateau is not None:  # on the loss (mode min), else the AUC (mode max)
                if self.config.optim.plateau_monitor == "val_loss":
                    plateau.step(val["loss"])
                else:
                    plateau.step(val["auc"] if not np.isnan(val["auc"]) else -val["loss"])
            selected = self._selected(val)  # train.select: the monitor (higher is better)
            self.stopper.step(selected)  # early stopping counts patience on the same monitor
            improved = selected > self.best
            if improved:
                self.best = selected
            seconds = time.perf_counter() - started
            row = {
                "epoch": epoch + 1,
                "phase": phase.name,
                "step": self.step,
                "lr": optimizer.param_groups[-1]["lr"],
                "train_loss": round(float(np.mean(losses)) if losses else float("nan"), 6),
                "train_acc": round(correct / max(1, seen), 6),
                "val_loss": round(val["loss"], 6),
                "val_auc": round(val["auc"], 6),
                "val_acc": round(val["acc"], 6),
                "frozen_backbone": backbone_frozen,
                "trainable_params": self.trainable[phase.name],
                "cached_features": features,
                "seconds": round(seconds, 2),
                "crops_per_second": round(
                    len(self.data.train_set) * self.data.frames_per_item / max(1e-9, seconds), 2
                ),
            }
            if self.dist.main:
                self._record(row, improved, epoch, optimizer, plateau, k)
            if self.on_epoch is not None and self.on_epoch(epoch + 1, row):
                log.info("stopped after epoch %d by the epoch callback", epoch + 1)
                break

    def _selected(self, val: dict[str, float]) -> float:
        select = self.config.train.select
        if select == "val_acc":
            return val["acc"]
        if select == "val_loss":
            return -val["loss"]
        return val["auc"] if not np.isnan(val["auc"]) else -val["loss"]

    def _step(self, optimizer: Any, x: Any, y: Any, features: bool) -> tuple[float, int]:
        import torch

        x = _as_input(x, self.device, self.channels_last and not features)
        yf = y.float().to(self.device)
        smoothing = self.config.train.label_smoothing
        target = yf * (1 - smoothing) + 0.5 * smoothing
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=self.use_amp):
            out = self.model.forward_features(x) if features else self.net(x)
            loss = self.loss_fn(out.float(), target)
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.config.train.grad_clip:
            self.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.train.grad_clip)
        self.scaler.step(optimizer)
        self.scaler.update()
        correct = int(((out.detach().float() > 0).long().cpu() == y.long()).sum())
        return float(loss.detach()), correct

    def _load_optimizer(self, optimizer: Any, plateau: Any, phase: int | None) -> None:
        state = self.resumed
        if state is None or state.get("phase") != phase:
            return  # a phase that starts on resume starts with a fresh optimiser
        optimizer.load_state_dict(state["optimizer"])
        if plateau is not None and state.get("plateau"):
            plateau.load_state_dict(state["plateau"])

    def _record(
        self, row: dict[str, Any], improved: bool, epoch: int, optimizer: Any, plateau: Any, k: int
    ) -> None:
        import torch

        from ..models import ModelCard, save_checkpoint

        _append_csv(self.run_dir / "log.csv", row)
        if self.writer is None:  # TensorBoard when installed (optional), opened on first use
            self.writer = _tensorboard(self.run_dir) or False
        if self.writer:
            for key, value in row.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.writer.add_scalar(key, value, epoch + 1)
            self.writer.flush()
        log.info("epoch %d: %s", epoch + 1, row)
        if improved:
            config, d = self.config, self.config.data
            # a clip model learnt time at the extraction's frame spacing: scans sample the same
            # number of frames per video (frame models keep the card's default)
            sampled = _sampled_frames(Path(d.crops)) if self.model.config.kind == "clip" else None
            card = ModelCard(
                name=config.name,
                model=self.model.config.to_dict(),
                crop=_crop_settings(Path(d.crops)),
                frames_per_video=sampled or ModelCard.frames_per_video,
                training={
                    "data": {"manifest": d.manifest, "datasets": self.data.train_datasets,
                             "crops": d.crops, "train_split": d.train_split,
                             "val_split": d.val_split, "sbi": d.sbi,
                             "train_items": len(self.data.train_set),
                             "val_items": len(self.data.val_set),
                             "frames_per_item": self.data.frames_per_item},
                    "recipe": {"optim": config.to_dict()["optim"], "train": config.to_dict()["train"],
                               "phases": [dataclasses.asdict(p) for p in self.phases]},
                    "trainable_params": dict(self.trainable),
                    "total_params": int(sum(p.numel() for p in self.model.parameters())),
                    "best_epoch": epoch + 1,
                    "weights_source": self.model.weights_source,
                    "fakescope": __version__,
                },
                metrics={"val_auc_video": row["val_auc"], "val_loss": row["val_loss"],
                         "val_acc": row["val_acc"], "train_acc": row["train_acc"],
                         "selected_on": config.train.select},
            )  # fmt: skip
            if self.model.config.inputs == "flow":  # what scans must extract and compute
                from ..forensics.flow import FlowSettings
                from .flow import flow_card

                card.flow = flow_card(d.crops, FlowSettings.from_dict(config.flow))
            # ONNX is exported once, for the final best weights (``_export_best``)
            save_checkpoint(self.run_dir / "best", self.model, card)
        torch.save(
            {"model": self.model.state_dict(), "optimizer": optimizer.state_dict(),
             "plateau": plateau.state_dict() if plateau is not None else None, "epoch": epoch,
             "phase": None if self.legacy else k, "step": self.step, "best": self.best,
             "stop_best": self.stopper.best, "bad": self.stopper.bad,
             "generator": self.generator.get_state(), "torch_rng": torch.get_rng_state()},
            self.run_dir / "last.pt",
        )  # fmt: skip


def _export_best(model: Any, best: Path) -> None:
    """``best/model.onnx`` from the best weights, once at the end of training (not at every
    improved epoch); a run stopped before its end keeps a PyTorch-only checkpoint, which
    loads the same, and its resume exports."""
    weights = best / "model.safetensors"
    if not weights.is_file():
        return
    from safetensors.torch import load_file

    from ..models.checkpoint import export_onnx

    model.load_state_dict(load_file(str(weights)))
    model.eval()
    export_onnx(model, best / "model.onnx")


def _evaluate(
    net: Any,
    loader: Any,
    dataset: Any,
    loss_fn: Any,
    device: str,
    channels_last: bool = False,
    features: bool = False,
) -> dict[str, float]:
    """Validation loss, video-level AUC and item accuracy (at logit 0)."""
    import torch

    net.eval()
    probs, labels, idx, losses = [], [], [], []
    with torch.inference_mode():
        for x, y, i in loader:
            x = _as_input(x, device, channels_last and not features)
            logits = (net.forward_features(x) if features else net(x)).float()
            losses.append(float(loss_fn(logits, y.float().to(device))) * len(y))
            probs.append(torch.sigmoid(logits).cpu().numpy())
            labels.append(y.numpy())
            idx.append(i.numpy())
    if not probs:
        return {"loss": float("nan"), "auc": float("nan"), "acc": float("nan")}
    p, y, i = np.concatenate(probs), np.concatenate(labels), np.concatenate(idx)
    videos = dataset.video_ids()
    return {
        "loss": float(np.sum(losses) / len(y)),
        "auc": _video_auc(y, p, [videos[k] for k in i]),
        "acc": float(np.mean((p >= 0.5) == (y == 1))),
    }


def _append_csv(path: Path, row: dict[str, Any]) -> None:
    new = not path.is_file()
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


def _tensorboard(run: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(run / "tensorboard"))


def _write_sbi_gallery(dataset: Any, out: Path, sbi: Any, seed: int, n: int = 16) -> None:
    """Real / pseudo-fake / mask triplets of the first real training crops, for a person to check."""
    from .sbi import sbi_gallery

    picks = [i for i, s in enumerate(dataset.samples) if s.label == 0 and s.landmarks][:n]
    if not picks:
        return
    images = [dataset.load(i)[0] for i in picks]
    landmarks = [np.asarray(dataset.samples[i].landmarks, np.float32) for i in picks]
    sbi_gallery(images, landmarks, out, seed=seed, rows=min(8, len(picks)), config=sbi)


def _sampled_frames(crops_dir: Path) -> int | None:
    """Frames per video of the extraction (``uniform:N``), or None when unknown."""
    import json

    summary = crops_dir / "summary.json"
    if not summary.is_file():
        return None
    sampling = str(json.loads(summary.read_text()).get("settings", {}).get("sampling", ""))
    kind, _, n = sampling.partition(":")
    return int(n) if kind == "uniform" and n.isdigit() else None


def _crop_settings(crops_dir: Path) -> dict[str, Any]:
    """The face crops the model was trained on (detector, margin, size), from the extraction."""
    import json

    summary = crops_dir / "summary.json"
    if summary.is_file():
        settings = json.loads(summary.read_text()).get("settings", {})
        crop = settings.get("crop", {})
        return {
            "detector": settings.get("detector", "yunet"),
            "margin": crop.get("margin", 1.3),
            "size": crop.get("size", 256),
        }
    return {"detector": "yunet", "margin": 1.3, "size": 256}


def _split_datasets(manifest: str, split: str) -> list[str]:
    """The benchmarks (``dataset`` column) that a split of a manifest draws on."""
    from ..datasets import read_manifest

    table = read_manifest(manifest).table
    return sorted(map(str, table.loc[table["split"] == split, "dataset"].dropna().unique()))
