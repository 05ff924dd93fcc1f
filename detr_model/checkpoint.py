"""Save and load DETR checkpoints: our own format and the official facebookresearch/detr files.

Our format is one `torch.save` dict:
    {"format": "detr-studio", "format_version": 1, "model": state_dict, "config": {...},
     "class_names": [...], "metrics": {...}, "train_config": {...} | None, "extra": {...}}
Official files are `{"model": state_dict}` (training checkpoints add `args`); their config is
read off the keys. Every load uses `torch.load(..., weights_only=True)`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import pickle
import re
from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from detr_model.atomic_file import atomic_write
from detr_model.coco_classes import COCO_CLASSES
from detr_model.config import ModelConfig
from detr_model.input_size import DEFAULT_MAX_SIZE, DEFAULT_MIN_SIZE, checked_side
from detr_model.official_format import (
    UnknownLayoutError,
    infer_config,
    settings_from_args,
    strip_module_prefix,
)
from detr_model.official_models import official_model_for_file

if TYPE_CHECKING:
    from detr_model.detr import DETR

log = logging.getLogger(__name__)

FORMAT_NAME = "detr-studio"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint cannot be read or does not fit: the message names the file and the problem."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: weights plus everything needed to rebuild and label the model."""

    path: Path
    config: ModelConfig
    state_dict: dict[str, Tensor]
    class_names: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    train_config: dict[str, Any] | None = None
    source: str = "own"  # "own" | "official"

    def input_size(self) -> tuple[int, int]:
        """Return (shorter side, longest side) in pixels to resize images to for this model.

        As its model was evaluated in training (train_config's eval_size and max_size), the
        paper's 800 and 1333 where the file does not say (official files). Raises
        CheckpointError naming the file when a stored size is not a whole number within
        input_size.MIN_INPUT_SIDE..MAX_INPUT_SIDE (a damaged file must not make us allocate
        an image of 100000 pixels a side).
        """
        trained = self.train_config if isinstance(self.train_config, Mapping) else {}
        sizes = []
        for key, default in (("eval_size", DEFAULT_MIN_SIZE), ("max_size", DEFAULT_MAX_SIZE)):
            value = trained.get(key)
            try:
                sizes.append(default if value is None else checked_side(value, key))
            except ValueError as exc:
                raise CheckpointError(f"{self.path.name}: train_config.{exc}") from None
        return sizes[0], sizes[1]

    def build_model(self, device: torch.device | str = "cpu") -> DETR:
        """Return the model with these weights loaded (strict), in eval mode, on `device`."""
        from detr_model.detr import build_detr

        model = build_detr(self.config)
        try:
            model.load_state_dict(self.state_dict, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"{self.path.name}: {exc}") from exc
        return model.to(device).eval()


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    *,
    class_names: list[str] | tuple[str, ...],
    metrics: Mapping[str, Any] | None = None,
    train_config: Any = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Return `path` after writing the model and its metadata there atomically (our format)."""
    path = Path(path)
    config = getattr(model, "config", None)
    if not isinstance(config, ModelConfig):
        raise TypeError(f"{path.name}: the model has no ModelConfig in .config")
    if len(class_names) != config.num_classes:
        raise ValueError(
            f"{path.name}: {len(class_names)} class names for a model with "
            f"{config.num_classes} class slots"
        )
    if train_config is not None and not isinstance(train_config, Mapping):
        train_config = (
            train_config.to_dict()
            if hasattr(train_config, "to_dict")
            else dataclasses.asdict(train_config)
        )
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": config.to_dict(),
        "class_names": [str(n) for n in class_names],
        "metrics": dict(metrics or {}),
        "train_config": dict(train_config) if train_config is not None else None,
        "extra": dict(extra or {}),
    }
    for key in ("metrics", "train_config", "extra"):
        payload[key] = _to_plain(payload[key], f"{path.name}: {key}")
    _atomic_torch_save(payload, path)
    log.info("%s: checkpoint saved", path)
    return path


def load_checkpoint(
    path: str | os.PathLike[str],
    *,
    config: ModelConfig | None = None,
    official_name: str | None = None,
) -> Checkpoint:
    """Return the checkpoint in `path` (own or official format), checked against its config.

    `config`, when given, is what the caller expects: the weights are checked against it
    instead of the file's own (or inferred) config. `official_name` tells an official file's
    variant (e.g. "detr-r50-dc5") when its file name does not; DC5 is not visible in the keys.
    """
    path = Path(path)
    data = _read(path)
    if isinstance(data, Mapping) and data.get("format") == FORMAT_NAME:
        ckpt = _from_own(path, data)
    elif isinstance(data, Mapping) and isinstance(data.get("model"), Mapping):
        ckpt = _from_official(path, data["model"], data.get("args"), official_name)
    elif isinstance(data, Mapping) and "class_embed.weight" in data:
        ckpt = _from_official(path, data, None, official_name)  # a bare state dict
    else:
        keys = list(data)[:8] if isinstance(data, Mapping) else type(data).__name__
        raise CheckpointError(f"{path.name}: not a DETR checkpoint (found {keys})")
    if config is not None:
        ckpt.config = config
        if len(ckpt.class_names) != config.num_classes:
            ckpt.class_names = _default_names(config.num_classes)
    check_state_dict(ckpt.state_dict, ckpt.config, path.name)
    check_finite(ckpt.state_dict, path.name)
    return ckpt


def check_state_dict(state_dict: Mapping[str, Tensor], config: ModelConfig, where: str) -> None:
    """Raise CheckpointError naming the first weights that do not fit a model built from config."""
    from detr_model.detr import build_detr

    with torch.device("meta"):
        expected = build_detr(config).state_dict()
    for key, tensor in expected.items():
        if key in state_dict and tuple(state_dict[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{where}: {key} has shape {tuple(state_dict[key].shape)}, "
                f"the config expects {tuple(tensor.shape)}"
            )
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected and not _ignorable(k)]
    if missing:
        raise CheckpointError(
            f"{where}: {len(missing)} weight(s) missing for the config, e.g. {missing[:3]}"
        )
    if unexpected:
        raise CheckpointError(
            f"{where}: {len(unexpected)} weight(s) the config has no place for, e.g. "
            f"{unexpected[:3]}"
        )


def check_finite(state_dict: Mapping[str, Tensor], where: str) -> None:
    """Raise CheckpointError naming the weights that hold NaN or infinite values.

    Such a model runs without an error and detects nothing, or boxes made of NaN: refused
    here so that neither auto-annotate nor evaluation ever uses it.
    """
    bad = [
        key
        for key, tensor in state_dict.items()
        if isinstance(tensor, Tensor)
        and tensor.is_floating_point()
        and not bool(torch.isfinite(tensor).all())
    ]
    if bad:
        raise CheckpointError(
            f"{where}: {len(bad)} weight tensor(s) hold NaN or infinite values, e.g. "
            f"{bad[:3]}; the file is damaged or comes from a training run that diverged"
        )


def _ignorable(key: str) -> bool:
    """Return True for state-dict entries the model drops on load (BatchNorm step counters)."""
    return key.endswith("num_batches_tracked")


def _read(path: Path) -> Any:
    """Return the unpickled contents of `path`, loaded with weights_only=True on the CPU."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        # Official training checkpoints carry their argparse.Namespace; allow that class only.
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's own text suggests weights_only=False: not advice to pass on to users.
        refused = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if "Weights only load failed" in str(exc) and refused:
            raise CheckpointError(
                f"{path.name}: refused: besides weights it holds {refused.group(1)}, which "
                "loading would call or build (a pickle can run code); nothing of it was loaded"
            ) from exc
        raise CheckpointError(f"{path.name}: not a readable PyTorch checkpoint ({exc})") from exc
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path.name}: not a readable PyTorch checkpoint (corrupt, truncated or holds "
            f"objects other than weights): {first_line}"
        ) from exc


def _from_own(path: Path, data: Mapping[str, Any]) -> Checkpoint:
    """Return a Checkpoint from our own format's dict."""
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path.name}: checkpoint format version {version!r} is newer than this program "
            f"reads ({FORMAT_VERSION})"
        )
    try:
        config = ModelConfig.from_dict(dict(data["config"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path.name}: bad model config: {exc}") from exc
    names = [str(n) for n in data.get("class_names") or []]
    if len(names) != config.num_classes:
        raise CheckpointError(
            f"{path.name}: {len(names)} class names for {config.num_classes} class slots"
        )
    return Checkpoint(
        path=path,
        config=config,
        state_dict=dict(data["model"]),
        class_names=names,
        metrics=dict(data.get("metrics") or {}),
        extra=dict(data.get("extra") or {}),
        train_config=data.get("train_config"),
        source="own",
    )


def _from_official(
    path: Path, state_dict: Mapping[str, Tensor], args: Any, official_name: str | None
) -> Checkpoint:
    """Return a Checkpoint from an official state dict, its config read off keys and args."""
    from detr_model.official_models import OFFICIAL_MODELS

    state_dict = strip_module_prefix(state_dict)
    settings = settings_from_args(args)
    known = OFFICIAL_MODELS.get(official_name or "") or official_model_for_file(path.name)
    if official_name is not None and official_name not in OFFICIAL_MODELS:
        raise CheckpointError(f"{path.name}: unknown official model name {official_name!r}")
    if known is not None:
        settings["dilation"] = known.dilation
    elif "dilation" not in settings:
        log.info("%s: DC5 cannot be seen in the weights; assuming no dilation", path.name)
    try:
        config = infer_config(state_dict, **settings)
    except (UnknownLayoutError, ValueError) as exc:
        raise CheckpointError(f"{path.name}: {exc}") from exc
    if known is not None and config.backbone != known.backbone:
        raise CheckpointError(
            f"{path.name}: the weights are a {config.backbone} model, but {known.name} "
            f"is a {known.backbone} model"
        )
    names = list(COCO_CLASSES) if config.num_classes == len(COCO_CLASSES) else None
    return Checkpoint(
        path=path,
        config=config,
        state_dict=state_dict,
        class_names=names or _default_names(config.num_classes),
        extra={"official_name": known.name} if known is not None else {},
        source="official",
    )


def _default_names(num_classes: int) -> list[str]:
    """Return placeholder class names "class 0", "class 1", ... for unnamed class slots."""
    return [f"class {i}" for i in range(num_classes)]


_PLAIN_LEAVES = (type(None), bool, int, float, complex, str, bytes, Tensor, torch.dtype, torch.Size)
_PLAIN_MAPPINGS = (OrderedDict, Counter, dict)  # what weights_only loading rebuilds


def _to_plain(value: Any, where: str) -> Any:
    """Return `value` as data weights_only loading accepts (numpy and paths become Python)."""
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return value.tolist()  # numpy scalar or array (np.float64 is also a float)
    if isinstance(value, _PLAIN_LEAVES):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple, set)):
        items = [_to_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return type(value)(items) if type(value) in (list, tuple, set) else items
    if isinstance(value, Mapping):
        plain = {}
        for key, item in value.items():
            if not isinstance(key, _PLAIN_LEAVES):
                raise TypeError(f"{where}: key {key!r} cannot be stored (plain data only)")
            plain[key] = _to_plain(item, f"{where}.{key}")
        kind = next((t for t in _PLAIN_MAPPINGS if type(value) is t), dict)
        return kind(plain)
    raise TypeError(f"{where}: {type(value).__name__} cannot be stored (plain data only)")


def _atomic_torch_save(payload: Any, path: Path) -> None:
    """Write `payload` with torch.save through the one atomic writer (folder made if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        torch.save(payload, f)
