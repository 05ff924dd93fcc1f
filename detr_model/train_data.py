"""The data side of a training run: loaders, per-epoch shuffles, seeds, class names."""

from __future__ import annotations

import os
import random
import signal
import threading
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from detr_model import distributed as ddp
from detr_model.data.transforms import collate_fn
from detr_model.epoch import TrainingError
from detr_model.feature_cache import FeatureCache
from detr_model.train_config import TrainConfig


def seed_everything(seed: int) -> None:
    """Seeds Python's, NumPy's and torch's random generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_loader(data: Any, config: TrainConfig, device: torch.device, *, train: bool) -> DataLoader:
    """Returns `data` batched as `config` says (a DataLoader passed in is returned as it is).

    Training data is shuffled (a DistributedSampler under torchrun); loaders over a
    FeatureCache run in the process, the features are in memory already.
    """
    if isinstance(data, DataLoader):
        return data
    sampler = None
    if ddp.is_distributed() and train:
        sampler = DistributedSampler(data, shuffle=True, seed=config.seed)
    workers = 0 if isinstance(data, FeatureCache) else config.num_workers  # already in memory
    return DataLoader(
        data,
        batch_size=config.batch_size,
        shuffle=train and sampler is None,
        sampler=sampler,
        num_workers=workers,
        collate_fn=getattr(data, "collate_fn", collate_fn),
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(config.seed) if train else None,
        worker_init_fn=ignore_stop_signals,
    )


def ignore_stop_signals(worker_id: int) -> None:
    """Makes a data-loader worker ignore SIGINT, and SIGTERM from anyone but its main process
    (its `worker_init_fn`).

    Ctrl+C, `timeout` and cluster schedulers signal the whole process group: workers must not
    die before the main process finishes its iteration and writes the checkpoint; it shuts
    them down itself. Its own SIGTERM (multiprocessing's terminate at exit) still ends a
    worker at once, as torch's handler does: ignoring that too hangs the exit. A worker whose
    main process is gone exits on its own.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not hasattr(signal, "sigwaitinfo"):  # no sender to tell apart (macOS, Windows)
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # threads made later inherit it
    parent = os.getppid()
    threading.Thread(
        target=_exit_on_sigterm_from, args=(parent,), name="sigterm", daemon=True
    ).start()


def _exit_on_sigterm_from(parent: int) -> None:
    while True:
        if signal.sigwaitinfo({signal.SIGTERM}).si_pid == parent:
            os._exit(0)


def dataset_of(data: Any) -> Any:
    """Returns the dataset of a DataLoader, or `data` itself."""
    return data.dataset if isinstance(data, DataLoader) else data


def class_names_of(data: Any, num_classes: int) -> list[str]:
    """Returns the dataset's class names (placeholders when it has none), checked against the model."""
    names = getattr(dataset_of(data), "class_names", None)
    if names is None:
        return [f"class {i}" for i in range(num_classes)]
    if len(names) != num_classes:
        raise TrainingError(
            f"the training data has {len(names)} class slots but the model has {num_classes}; "
            "build the model with num_classes = dataset.num_classes"
        )
    return list(names)


def seed_epoch(loader: DataLoader, seed: int, epoch: int) -> None:
    """Gives every epoch its own reproducible shuffle."""
    sampler = getattr(loader, "sampler", None)
    if isinstance(sampler, DistributedSampler):
        sampler.set_epoch(epoch)
    elif isinstance(loader.generator, torch.Generator):
        loader.generator.manual_seed(seed + epoch)
