"""The training loop: the recipes the research uses, on the crop cache, reproducible on a CPU.

AdamW/Adam with backbone and head learning rates, linear warmup then cosine (per step) or
ReduceLROnPlateau, staged freezing (head first), mixed precision on GPU, gradient clipping,
label smoothing, class balance (pos_weight or a weighted sampler), early stopping on the
validation AUC with the best checkpoint kept, resume from the last state. Multi-GPU/multi-process
through ``torchrun`` (DistributedDataParallel; gloo on CPU, NCCL on GPU).
"""

from __future__ import annotations

import csv
import logging
import os
import sys
import time
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


def train(config: TrainConfig, *, resume: bool = False, progress: bool = False) -> Path:
    """Train a detector; returns the best checkpoint's folder (``RUN/best``)."""
    import torch
    from torch.utils.data import DataLoader, WeightedRandomSampler
    from torch.utils.data.distributed import DistributedSampler

    from ..models import ModelCard, create_model, save_checkpoint
    from ..models.registry import get_config
    from .augment import AugmentConfig
    from .data import FrameDataset, load_samples
    from .sbi import SBIConfig

    device = _device(config.train.device)
    if device == "cpu":
        _keep_freed_memory()
    dist = _Dist(device)
    if dist.enabled and device.startswith("cuda"):
        device = f"cuda:{dist.local_rank}"
        torch.cuda.set_device(device)
    _seed_everything(config.train.seed, device.split(":")[0])
    run = config.run_dir
    if dist.main:
        run.mkdir(parents=True, exist_ok=True)
        import yaml

        atomic_write_text(run / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))

    model_cfg = get_config(**config.model)
    d = config.data
    train_labels = (0,) if d.sbi == "only" else (0, 1)

    def samples(split: str, labels: tuple[int, ...]) -> list[Any]:
        return load_samples(
            d.manifest, d.crops, split, frames_per_video=d.frames_per_video, tracks=d.tracks,
            labels=labels, max_videos=d.max_videos, seed=config.train.seed,
        )  # fmt: skip

    train_samples = samples(d.train_split, train_labels)
    train_datasets = _split_datasets(d.manifest, d.train_split)  # for cross-dataset tables
    val_samples = samples(d.val_split, (0, 1))
    sbi = SBIConfig(**config.sbi_config) if d.sbi != "off" else None

    def dataset(samples: list[Any], augment: Any, sbi: Any) -> FrameDataset:
        return FrameDataset(
            samples, input_size=model_cfg.input_size, mean=model_cfg.mean, std=model_cfg.std,
            augment=augment, sbi=sbi, seed=config.train.seed,
        )  # fmt: skip

    train_set = dataset(train_samples, AugmentConfig(**config.augment), sbi)
    # validation: real and labelled fakes of the val split, plus SBI pseudo-fakes when training
    # from real videos only (there is nothing else to tell the classes apart)
    val_has_fakes = any(s.label == 1 for s in val_samples)
    val_set = dataset(val_samples, None, sbi if (sbi is not None and not val_has_fakes) else None)

    if sbi is not None and dist.main:
        _write_sbi_gallery(train_set, run / "sbi_gallery.png", sbi, config.train.seed)
    labels = train_set.labels()
    n_pos, n_neg = int(labels.sum()), int(len(labels) - labels.sum())
    generator = torch.Generator().manual_seed(config.train.seed)
    sampler: Any = None
    if dist.enabled:
        sampler = DistributedSampler(
            train_set, num_replicas=dist.world, rank=dist.rank, seed=config.train.seed
        )
    elif config.train.balance == "sampler" and n_pos and n_neg:
        weights = np.where(labels == 1, 0.5 / n_pos, 0.5 / n_neg)
        sampler = WeightedRandomSampler(weights.tolist(), len(labels), generator=generator)
    loader_kw: dict[str, Any] = {
        "batch_size": config.train.batch_size,
        "num_workers": config.train.num_workers,
    }
    if config.train.num_workers:
        loader_kw["persistent_workers"] = False
    drop_last = len(train_set) > config.train.batch_size
    train_loader: Any = DataLoader(
        train_set,
        sampler=sampler,
        shuffle=sampler is None,
        generator=generator,
        drop_last=drop_last,
        **loader_kw,
    )
    val_loader: Any = DataLoader(val_set, shuffle=False, **loader_kw)

    model = create_model(model_cfg).to(device)
    channels_last = config.train.channels_last
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    net: Any = model
    if dist.enabled:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device] if device.startswith("cuda") else None
        )
    o = config.optim
    groups = model.param_groups(o.lr, o.backbone_lr, o.weight_decay)
    opt_cls = torch.optim.AdamW if o.name == "adamw" else torch.optim.Adam
    optimizer = opt_cls(groups)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    steps_per_epoch = max(1, len(train_loader))
    total = steps_per_epoch * config.train.epochs
    warmup = round(o.warmup_epochs * steps_per_epoch)
    plateau = (
        torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=o.plateau_factor, patience=o.plateau_patience
        )
        if o.schedule == "plateau"
        else None
    )
    pos_weight = torch.tensor(
        n_neg / n_pos if (config.train.balance == "pos_weight" and n_pos and n_neg) else 1.0,
        device=device,
    )
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    use_amp = config.train.amp and device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    stopper = EarlyStopping(config.train.patience, config.train.min_delta)
    start_epoch, step = 0, 0
    state_path = run / "last.pt"
    if resume and state_path.is_file():
        state = torch.load(state_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if plateau is not None and state.get("plateau"):
            plateau.load_state_dict(state["plateau"])
        start_epoch, step = state["epoch"] + 1, state["step"]
        stopper = EarlyStopping(
            config.train.patience, config.train.min_delta, state["best"], state["bad"]
        )
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        log.info("resumed from %s at epoch %d", state_path, start_epoch)

    csv_path = run / "log.csv"
    writer = _tensorboard(run) if dist.main else None
    smoothing = config.train.label_smoothing
    best_dir = run / "best"
    for epoch in range(start_epoch, config.train.epochs):
        if stopper.should_stop:
            break
        train_set.epoch = val_set.epoch = epoch
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(epoch)
        frozen = epoch < config.train.freeze_backbone_epochs
        if frozen:
            model.freeze()
        else:
            model.unfreeze()
            if model_cfg.freeze_blocks:
                model.freeze(model_cfg.freeze_blocks)
        net.train()
        started, losses = time.perf_counter(), []
        iterator: Any = train_loader
        if progress and dist.main:
            from tqdm import tqdm

            iterator = tqdm(
                train_loader,
                desc=f"epoch {epoch + 1}/{config.train.epochs}",
                leave=False,
                disable=not sys.stderr.isatty(),  # a bar only on a terminal, never in logs
            )
        for x, y, _ in iterator:
            if o.schedule == "warmup_cosine":
                factor = warmup_cosine(step, total, warmup, o.min_lr_ratio)
                for g, lr in zip(optimizer.param_groups, base_lrs):
                    g["lr"] = lr * factor
            x, yf = _as_input(x, device, channels_last), y.float().to(device)
            target = yf * (1 - smoothing) + 0.5 * smoothing
            with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=use_amp):
                loss = loss_fn(net(x).float(), target)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if config.train.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            losses.append(float(loss.detach()))
            step += 1
        val_loss, val_auc = _validate(
            net, val_loader, val_set, loss_fn, device, dist, channels_last
        )
        if plateau is not None:
            plateau.step(val_auc if not np.isnan(val_auc) else -val_loss)
        monitored = val_auc if not np.isnan(val_auc) else -val_loss
        improved = stopper.step(monitored)
        row = {
            "epoch": epoch + 1,
            "step": step,
            "lr": optimizer.param_groups[-1]["lr"],
            "train_loss": round(float(np.mean(losses)) if losses else float("nan"), 6),
            "val_loss": round(val_loss, 6),
            "val_auc": round(val_auc, 6),
            "frozen_backbone": frozen,
            "seconds": round(time.perf_counter() - started, 2),
            "crops_per_second": round(len(train_set) / max(1e-9, time.perf_counter() - started), 2),
        }
        if dist.main:
            _append_csv(csv_path, row)
            if writer is not None:
                for k in ("train_loss", "val_loss", "val_auc", "lr"):
                    writer.add_scalar(k, row[k], epoch + 1)
            log.info("epoch %d: %s", epoch + 1, row)
            if improved:
                card = ModelCard(
                    name=config.name,
                    model=model_cfg.to_dict(),
                    crop=_crop_settings(Path(d.crops)),
                    training={
                        "data": {"manifest": d.manifest, "datasets": train_datasets,
                                 "crops": d.crops, "train_split": d.train_split,
                                 "val_split": d.val_split, "sbi": d.sbi, "train_crops": len(train_set),
                                 "val_crops": len(val_set)},
                        "recipe": {"optim": config.to_dict()["optim"], "train": config.to_dict()["train"]},
                        "best_epoch": epoch + 1,
                        "weights_source": model.weights_source,
                        "fakescope": __version__,
                    },
                    metrics={"val_auc_video": row["val_auc"], "val_loss": row["val_loss"]},
                )  # fmt: skip
                save_checkpoint(best_dir, model, card, onnx=True)
            torch.save(
                {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "plateau": plateau.state_dict() if plateau is not None else None, "epoch": epoch,
                 "step": step, "best": stopper.best, "bad": stopper.bad, "generator": generator.get_state(), "torch_rng": torch.get_rng_state()},
                state_path,
            )  # fmt: skip
    if writer is not None:
        writer.close()
    if dist.enabled:  # every rank returns after rank 0 has written the log and checkpoints
        import torch.distributed

        torch.distributed.barrier()
    return best_dir


def _validate(
    net: Any,
    loader: Any,
    dataset: Any,
    loss_fn: Any,
    device: str,
    dist: _Dist,
    channels_last: bool = False,
) -> tuple[float, float]:
    import torch

    net.eval()
    probs, labels, idx, losses = [], [], [], []
    with torch.inference_mode():
        for x, y, i in loader:
            logits = net(_as_input(x, device, channels_last)).float()
            losses.append(float(loss_fn(logits, y.float().to(device))) * len(y))
            probs.append(torch.sigmoid(logits).cpu().numpy())
            labels.append(y.numpy())
            idx.append(i.numpy())
    if not probs:
        return float("nan"), float("nan")
    p, y, i = np.concatenate(probs), np.concatenate(labels), np.concatenate(idx)
    videos = dataset.video_ids()
    return float(np.sum(losses) / len(y)), _video_auc(y, p, [videos[k] for k in i])


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
