"""Which device runs a model: the choices offered to users and the one rule for "auto".

Importing this module does not import torch (the app lists the choices at start-up);
`pick_device` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cuda", "mps", "cpu")
"""The device choices of the app, the CLI and TrainConfig ("cuda:N" is accepted as well)."""


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """Return the torch device for a choice: "auto" picks CUDA, then Apple MPS, then the CPU.

    Inside a torchrun process group, CUDA is this process's GPU (LOCAL_RANK).
    """
    import torch

    from detr_model import distributed as ddp

    if isinstance(device, torch.device):
        return device
    name = str(device)
    if name == "auto":
        mps = getattr(torch.backends, "mps", None)
        if torch.cuda.is_available():
            name = "cuda"
        elif mps is not None and mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    if name == "cuda" and ddp.is_distributed():
        return torch.device("cuda", ddp.local_rank())
    return torch.device(name)
