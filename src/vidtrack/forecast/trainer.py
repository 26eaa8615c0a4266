"""A small, model-agnostic training loop: AdamW with warm-up and cosine decay, early stopping, CSV/TensorBoard logs,
atomic checkpoints that resume after an interruption, mixed precision on CUDA, and DDP under `torchrun`."""

from __future__ import annotations

import csv
import logging
import math
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, SequentialSampler

log = logging.getLogger("vidtrack")


@dataclass
class TrainConfig:
    epochs: int = 40
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-2
    warmup_epochs: float = 1.0  # linear warm-up, then cosine decay to 5 % of lr, per optimizer step
    grad_clip: float = 1.0
    patience: int = 6  # epochs without a better validation loss before stopping
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # bf16 autocast on CUDA; ignored on CPU


@dataclass
class TrainResult:
    best_epoch: int
    best_val_loss: float
    epochs_run: int
    stopped_early: bool
    folder: Path


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _atomic_folder(target: Path, write: Callable[[Path], None]) -> None:
    """Write into a fresh folder beside `target`, then swap it in: a crash never leaves a half-written checkpoint."""
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    write(partial)
    old = target.with_name(f".{target.name}.old")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    partial.rename(target)
    shutil.rmtree(old, ignore_errors=True)


class _Log:
    """CSV rows, TensorBoard scalars and a plot of the curves, written by rank 0 after each epoch."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.csv = folder, folder / "log.csv"
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(str(folder / "tb"))
        except ImportError:
            log.warning("tensorboard is not installed; logging to log.csv only")
            self.tensorboard = None

    def write(self, row: dict) -> None:
        new = not self.csv.exists()
        with open(self.csv, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)
        if self.tensorboard is not None:
            for key in ("train_loss", "val_loss", "lr"):
                self.tensorboard.add_scalar(key, row[key], row["epoch"])
            self.tensorboard.flush()
        self._plot()

    def _plot(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        with open(self.csv) as f:
            rows = list(csv.DictReader(f))
        epochs = [int(r["epoch"]) for r in rows]
        fig, ax = plt.subplots(figsize=(6, 4))
        for key in ("train_loss", "val_loss"):
            ax.plot(epochs, [float(r[key]) for r in rows], marker="o", markersize=3, label=key.replace("_", " "))
        ax.set(xlabel="epoch", ylabel="loss (Gaussian NLL)", title="Training curves")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(self.folder / "curves.png", dpi=110)
        plt.close(fig)


def train(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.nn.Module, dict[str, torch.Tensor]], torch.Tensor],
    train_set: Dataset,
    val_set: Dataset | None,
    collate_train: Callable[[list], dict[str, torch.Tensor]],
    collate_val: Callable[[list], dict[str, torch.Tensor]],
    config: TrainConfig,
    folder: str | os.PathLike,
    *,
    save: Callable[[torch.nn.Module, Path, dict], object],
    metadata: dict | None = None,
    resume: bool = True,
) -> TrainResult:
    """Train `model`; `folder/best` and `folder/last` hold checkpoints written by `save`, `folder/last/trainer.pt`
    the optimizer state for resuming. Without `val_set` (training on all the data), every epoch runs and the last
    one is kept as the best."""
    folder = Path(folder)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = 0
    if distributed:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        rank = dist.get_rank()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if config.device == "auto"
                          else config.device)
    if device.type == "cuda" and distributed:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    main = rank == 0
    _seed_everything(config.seed)
    model.to(device)
    net = torch.nn.parallel.DistributedDataParallel(model) if distributed else model

    generator = torch.Generator().manual_seed(config.seed)
    if distributed:
        train_sampler = DistributedSampler(train_set, seed=config.seed)
        val_sampler = DistributedSampler(val_set, shuffle=False) if val_set is not None else None
    else:
        train_sampler = RandomSampler(train_set, generator=generator)
        val_sampler = SequentialSampler(val_set) if val_set is not None else None
    train_loader = DataLoader(train_set, config.batch_size, sampler=train_sampler, collate_fn=collate_train)
    val_loader = DataLoader(val_set, config.batch_size, sampler=val_sampler, collate_fn=collate_val) \
        if val_set is not None else None

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total = max(1, config.epochs * len(train_loader))
    warmup = max(1, round(config.warmup_epochs * len(train_loader)))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    amp = config.amp and device.type == "cuda"
    state = {"epoch": 0, "best_epoch": 0, "best_val_loss": math.inf, "bad_epochs": 0}
    last = folder / "last"
    if resume and (last / "trainer.pt").is_file():
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(last / "model.safetensors"), device=str(device)))
        saved = torch.load(last / "trainer.pt", weights_only=True, map_location=device)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state = saved["state"]
        torch.set_rng_state(saved["torch_rng"])
        generator.set_state(saved["generator"])
        if hasattr(train_set, "rng"):
            train_set.rng.bit_generator.state = _numpy_state(saved["numpy_rng"])
        if main:
            log.warning("resuming %s after epoch %d", folder, state["epoch"])
    logger = _Log(folder) if main else None
    if main:
        folder.mkdir(parents=True, exist_ok=True)

    from tqdm import tqdm

    while state["bad_epochs"] < config.patience and state["epoch"] < config.epochs:
        epoch = state["epoch"] + 1
        if distributed:
            train_sampler.set_epoch(epoch)
        net.train()
        start, total_loss, batches = time.perf_counter(), 0.0, 0
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{config.epochs}", disable=None if main else True, leave=False)
        for batch in bar:
            batch = {k: v.to(device) for k, v in batch.items()}
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loss = loss_fn(net, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            total_loss, batches = total_loss + loss.item(), batches + 1
            bar.set_postfix(loss=f"{total_loss / batches:.4f}")
        val_loss = _validate(net, loss_fn, val_loader, device, distributed) if val_loader else math.nan
        state["epoch"] = epoch
        if val_loader is None or val_loss < state["best_val_loss"]:
            state.update(best_val_loss=val_loss, best_epoch=epoch, bad_epochs=0)
        else:
            state["bad_epochs"] += 1
        if main:
            extra = {**(metadata or {}), "epoch": epoch, "val_loss": val_loss}
            if state["best_epoch"] == epoch:
                _atomic_folder(folder / "best", lambda p, extra=extra: save(model, p, extra))
            trainer_state = {
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "state": state,
                "torch_rng": torch.get_rng_state(), "generator": generator.get_state(),
                "numpy_rng": _numpy_state(train_set.rng.bit_generator.state) if hasattr(train_set, "rng") else {},
                "config": asdict(config),
            }
            _atomic_folder(last, lambda p, extra=extra, trainer_state=trainer_state: (
                save(model, p, extra), torch.save(trainer_state, p / "trainer.pt")))
            logger.write({"epoch": epoch, "train_loss": total_loss / max(batches, 1), "val_loss": val_loss,
                          "lr": scheduler.get_last_lr()[0], "seconds": round(time.perf_counter() - start, 2)})
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    stopped_early = state["bad_epochs"] >= config.patience and state["epoch"] < config.epochs
    return TrainResult(state["best_epoch"], state["best_val_loss"], state["epoch"], stopped_early, folder)


@torch.no_grad()
def _validate(net, loss_fn, loader, device, distributed: bool) -> float:
    net.eval()
    total = torch.zeros(2, dtype=torch.float64, device=device)  # loss × count, count
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        count = len(next(iter(batch.values())))
        total += torch.tensor([loss_fn(net, batch).item() * count, count], dtype=torch.float64, device=device)
    if distributed:
        dist.all_reduce(total)
    return float(total[0] / total[1].clamp(min=1))


def _numpy_state(state: dict) -> dict:
    """numpy's PCG64 state holds Python ints too big for `weights_only` loading: store them as strings."""
    def convert(value):
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, str) and value.isdigit():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
            return str(value)
        return value
    return convert(state)
