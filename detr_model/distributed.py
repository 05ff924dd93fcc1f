"""Where training runs: precision choice, torchrun process group, DDP wrapping.

The device itself is `devices.pick_device`'s (CUDA at LOCAL_RANK inside a process group).
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

log = logging.getLogger(__name__)


def launched_by_torchrun() -> bool:
    """Returns True when the environment holds torchrun's RANK and WORLD_SIZE variables."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def is_distributed() -> bool:
    """Returns True inside an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """Returns this process's global rank (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Returns the number of processes (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Returns True on the process that writes checkpoints and logs (rank 0)."""
    return rank() == 0


def local_rank() -> int:
    """Returns torchrun's LOCAL_RANK (0 outside torchrun)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def init_distributed(backend: str | None = None, timeout_s: float = 1800.0) -> bool:
    """Returns True after joining torchrun's process group (NCCL on CUDA, gloo on CPU).

    Does nothing and returns False outside torchrun or when the group already exists.
    """
    if not launched_by_torchrun() or not dist.is_available():
        return False
    if is_distributed():
        return True
    use_cuda = torch.cuda.is_available() and backend != "gloo"
    if use_cuda:
        torch.cuda.set_device(local_rank())
    backend = backend or ("nccl" if use_cuda else "gloo")
    dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s))
    log.info("process %d of %d joined the %s process group", rank(), world_size(), backend)
    return True


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """Returns the autocast dtype for an amp mode on a device (None = full fp32)."""
    if amp == "bf16":
        return torch.bfloat16
    if amp == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Returns the model wrapped in DistributedDataParallel when distributed, else itself."""
    if not is_distributed():
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    # Denoising queries are made from the boxes: a batch without any leaves their embedding
    # out of the graph on that process, which DDP must be told to expect.
    denoising = getattr(getattr(model, "config", None), "dn_groups", 0) > 0
    return nn.parallel.DistributedDataParallel(
        model, device_ids=device_ids, find_unused_parameters=denoising
    )


def unwrap_model(model: nn.Module) -> nn.Module:
    """Returns the module inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def barrier() -> None:
    """Waits for every process (no-op when not distributed)."""
    if is_distributed():
        dist.barrier()


def broadcast_flag(flag: bool) -> bool:
    """Returns True on every process when any process passed True (e.g. a stop request)."""
    if not is_distributed():
        return flag
    value = torch.tensor([1.0 if flag else 0.0])
    if dist.get_backend() == "nccl":
        value = value.cuda()
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def cleanup() -> None:
    """Leaves the process group if one was joined."""
    if is_distributed():
        dist.destroy_process_group()
