"""Exponential moving average of a model's weights (evaluated and saved instead of the raw ones)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class ModelEma:
    """Keeps `module`, a copy of a model whose weights follow the model's with decay `decay`.

    The effective decay ramps up as min(decay, (1 + n) / (10 + n)) over the first updates n,
    so a short run is not dominated by the random initial weights. Buffers (BatchNorm
    statistics) are averaged too; integer buffers are copied.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Moves the averaged weights towards the model's current weights."""
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        source = model.state_dict()
        for name, value in self.module.state_dict().items():
            new = source[name].detach()
            if value.dtype.is_floating_point:
                value.mul_(d).add_(new.to(value.dtype), alpha=1 - d)
            else:
                value.copy_(new)

    def state_dict(self) -> dict:
        """Returns the averaged weights and the update count."""
        return {"weights": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        """Restores what `state_dict` returned."""
        self.module.load_state_dict(state["weights"])
        self.updates = int(state["updates"])
