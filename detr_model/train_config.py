"""Training configuration: a frozen dataclass whose defaults are the DETR paper's recipe."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from detr_model.data.transforms import PAPER_SCALES
from detr_model.devices import DEVICES
from detr_model.input_size import DEFAULT_MAX_SIZE, DEFAULT_MIN_SIZE, TINY_FAST_SIZE
from detr_model.train_defaults import FINETUNE_BATCH_SIZE

AMP_MODES = ("auto", "bf16", "off")
AUGMENT_RECIPES = ("paper", "small_data")
_PROBABILITIES = (
    "photometric_p", "zoom_out_p", "iou_crop_p", "affine_p", "blur_p", "noise_p", "copy_paste_p",
)  # fmt: skip
LR_SCHEDULES = ("step", "cosine")
_INT_TUPLES = ("scales", "crop")


@dataclass(frozen=True)
class TrainConfig:
    """How to train a DETR (defaults: facebookresearch/detr's main.py, batch 2 per GPU)."""

    # Optimisation
    lr: float = 1e-4
    """AdamW learning rate of the transformer and heads."""
    lr_backbone: float = 1e-5
    """AdamW learning rate of the backbone; 0 freezes it."""
    weight_decay: float = 1e-4
    """AdamW weight decay (all parameters)."""
    clip_max_norm: float = 0.1
    """Gradient-norm clipping; 0 turns it off."""
    epochs: int = 300
    """Number of passes over the training set."""
    lr_drop: int = 200
    """Epoch after which the learning rates are multiplied by lr_drop_factor (StepLR)."""
    lr_drop_factor: float = 0.1
    """Multiplier applied to the learning rates every lr_drop epochs."""
    batch_size: int = 2
    """Images per batch (per process under torchrun)."""
    num_workers: int = 2
    """DataLoader worker processes; 0 loads in the training process."""

    # Hungarian matching costs and loss weights
    set_cost_class: float = 1.0
    """Matching cost weight of the class probability."""
    set_cost_bbox: float = 5.0
    """Matching cost weight of the L1 box distance."""
    set_cost_giou: float = 2.0
    """Matching cost weight of the generalised IoU."""
    ce_loss_coef: float = 1.0
    """Loss weight of the classification cross-entropy."""
    bbox_loss_coef: float = 5.0
    """Loss weight of the L1 box loss."""
    giou_loss_coef: float = 2.0
    """Loss weight of the GIoU box loss."""
    eos_coef: float = 0.1
    """Relative classification weight of the "no object" class."""
    focal_alpha: float = 0.25
    """Focal loss alpha (models with class_score "sigmoid" only)."""
    focal_gamma: float = 2.0
    """Focal loss gamma (models with class_score "sigmoid" only)."""

    # Convergence options (issue 8); the defaults keep the paper's recipe
    lr_schedule: str = "step"
    """step (StepLR at lr_drop, per epoch) | cosine (per iteration, down to 1 % of lr)."""
    warmup_iters: int = 0
    """Linear learning-rate warm-up over this many iterations; 0 turns it off."""
    ema_decay: float = 0.0
    """Exponential moving average of the weights (e.g. 0.999), evaluated and saved; 0 = off."""

    # Data augmentation (paper: shorter side 480..800, longer <= 1333, crop 384..600)
    scales: tuple[int, ...] = PAPER_SCALES
    """Training sizes of the shorter image side (one drawn per image)."""
    max_size: int = DEFAULT_MAX_SIZE
    """Longest image side after resizing."""
    crop: tuple[int, int] | None = (384, 600)
    """Min and max side of the random crop (applied half the time); None turns it off."""
    eval_size: int = DEFAULT_MIN_SIZE
    """Shorter image side at evaluation."""
    augment: bool = True
    """Augment training images (as augment_recipe says); False resizes them to eval_size only."""
    augment_recipe: str = "paper"
    """paper (flip, multi-scale, crop) | small_data (augment.py: the ops below, flip and
    multi-scale; no paper crop). Checkpoints from before issue 13 have the paper's."""
    photometric_p: float = 0.5
    """small_data: probability of brightness/contrast/saturation/hue changes."""
    zoom_out_p: float = 0.2
    """small_data: probability of putting the image on a larger canvas (smaller objects)."""
    zoom_out_max: float = 2.0
    """small_data: largest canvas side of the zoom-out, in image sides."""
    iou_crop_p: float = 0.3
    """small_data: probability of the SSD IoU crop (larger, cut objects)."""
    scale_jitter: float = 0.2
    """small_data: the training side is one of `scales` times 1 ± up to this."""
    affine_p: float = 0.3
    """small_data: probability of a small rotation/shift/scale, boxes re-fitted."""
    affine_degrees: float = 10.0
    """small_data: largest rotation of that affine step."""
    blur_p: float = 0.1
    """small_data: probability of a Gaussian blur."""
    noise_p: float = 0.1
    """small_data: probability of Gaussian pixel noise."""
    copy_paste_p: float = 0.3
    """small_data: probability that an image gets objects of another training image pasted in."""
    feature_cache: bool = False
    """Fast mode: freeze the backbone, compute its features once per image, scale and flip, and
    train only the transformer and heads on them (feature_cache.py); no random crop."""

    # Running
    eval_every: int = 1
    """Evaluate on the validation set every this many epochs (and after the last)."""
    best_metric: str = "AP"
    """Validation metric (higher is better) that picks best.pt; without validation data the
    lowest training loss does."""
    amp: str = "auto"
    """Mixed precision: auto (bf16 autocast on CUDA when supported) | bf16 | off."""
    device: str = "auto"
    """auto (CUDA, then Apple MPS, then the CPU) | cuda | cuda:N | mps | cpu."""
    seed: int = 42
    """Seed of Python, NumPy and torch random generators."""
    log_every: int = 10
    """Report training progress every this many iterations."""
    out_dir: str = "runs/detr"
    """Folder for last.pt and best.pt."""
    resume: str | None = None
    """A last.pt to continue from (model, optimizer, lr schedule, epoch)."""

    def __post_init__(self) -> None:
        _check_types(self)
        positive = ("epochs", "lr_drop", "batch_size", "eval_every", "log_every", "max_size")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr", "lr_backbone", "weight_decay", "clip_max_norm", "eos_coef"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig: {name} must be >= 0, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"TrainConfig: lr must be > 0, got {self.lr}")
        if self.num_workers < 0:
            raise ValueError(f"TrainConfig: num_workers must be >= 0, got {self.num_workers}")
        if not self.scales or min(self.scales) < 1:
            raise ValueError(f"TrainConfig: scales must be positive sizes, got {self.scales}")
        if self.crop is not None and (len(self.crop) != 2 or not 1 <= self.crop[0] <= self.crop[1]):
            raise ValueError(f"TrainConfig: crop must be (min, max) with min <= max: {self.crop}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"TrainConfig: lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}"
            )
        if self.warmup_iters < 0:
            raise ValueError(f"TrainConfig: warmup_iters must be >= 0, got {self.warmup_iters}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"TrainConfig: ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.augment_recipe not in AUGMENT_RECIPES:
            raise ValueError(
                f"TrainConfig: augment_recipe must be one of {AUGMENT_RECIPES}, "
                f"got {self.augment_recipe!r}"
            )
        for name in _PROBABILITIES:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(
                    f"TrainConfig: {name} must be in [0, 1], got {getattr(self, name)}"
                )
        if self.zoom_out_max < 1.0:
            raise ValueError(f"TrainConfig: zoom_out_max must be >= 1, got {self.zoom_out_max}")
        if not 0.0 <= self.scale_jitter < 1.0:
            raise ValueError(
                f"TrainConfig: scale_jitter must be in [0, 1), got {self.scale_jitter}"
            )
        if not 0.0 <= self.affine_degrees <= 45.0:
            raise ValueError(
                f"TrainConfig: affine_degrees must be in [0, 45], got {self.affine_degrees}"
            )
        if self.amp not in AMP_MODES:
            raise ValueError(f"TrainConfig: amp must be one of {AMP_MODES}, got {self.amp!r}")
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ValueError(f"TrainConfig: device must be one of {DEVICES}, got {self.device!r}")

    @classmethod
    def small_images(cls, size: int = 256, **changes: Any) -> TrainConfig:
        """Returns the paper's recipe with augmentation sizes scaled for images of about `size` px."""
        factor = size / 800
        scales = tuple(sorted({max(16, round(s * factor / 16) * 16) for s in PAPER_SCALES}))
        crop = (max(16, round(384 * factor)), max(16, round(600 * factor)))
        base = cls(scales=scales, max_size=round(1333 * factor), crop=crop, eval_size=size)
        return base.replace(**changes)

    @classmethod
    def tiny_fast(cls, size: int = TINY_FAST_SIZE, **changes: Any) -> TrainConfig:
        """Returns the recipe that trains ModelConfig.tiny_fast fastest from scratch on images of
        about `size` px (measured in docs/convergence.md): one lr everywhere, flip and three
        scales (the small-data recipe, `augment_recipe="small_data"`, reached AP50 0.029
        against 0.472 in the same 15 CPU-minutes)."""
        return cls._light_augmentation(size, TINY_FAST_TRAIN).replace(**changes)

    @classmethod
    def finetune(cls, size: int = TINY_FAST_SIZE, **changes: Any) -> TrainConfig:
        """Returns the recipe for fine-tuning a trained model on a few dozen to a few hundred
        images of about `size` px (docs/convergence.md): lr 1e-4 everywhere, cosine, flip and
        three scales (a new class: AP50 0.721 against the small-data recipe's 0.673, at 0.65×
        its time an epoch), batch FINETUNE_BATCH_SIZE (as the app)."""
        return cls._light_augmentation(size, FINETUNE_TRAIN).replace(
            batch_size=FINETUNE_BATCH_SIZE, **changes
        )

    @classmethod
    def _light_augmentation(cls, size: int, optimisation: dict[str, Any]) -> TrainConfig:
        """Returns `optimisation` with the small-image set-up both short recipes share: flip
        and the sizes size-32..size (the paper's ops, no crop), batch 8, bf16 on CPUs that are
        fast at it."""
        from detr_model.inference_speedups import cpu_has_fast_bfloat16

        return cls(
            scales=tuple(range(max(32, size - 32), size + 1, 16)),
            max_size=round(size * 5 / 3),
            crop=None,
            eval_size=size,
            batch_size=8,
            num_workers=0,
            amp="bf16" if cpu_has_fast_bfloat16() else "auto",
            **optimisation,
        )

    def to_dict(self) -> dict[str, Any]:
        """Returns the configuration as a plain JSON-able dict (tuples as lists)."""
        out = dataclasses.asdict(self)
        for name in _INT_TUPLES:
            if out[name] is not None:
                out[name] = list(out[name])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Returns the TrainConfig described by `data`; ValueError on an unknown or bad field."""
        if not isinstance(data, dict):
            raise ValueError(f"TrainConfig.from_dict: expected a dict, got {type(data).__name__}")
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"TrainConfig.from_dict: unknown field(s) {unknown}")
        data = dict(data)
        for name in _INT_TUPLES:
            if isinstance(data.get(name), list):
                data[name] = tuple(data[name])
        return cls(**data)

    def replace(self, **changes: Any) -> TrainConfig:
        """Returns a copy with the given fields changed."""
        return dataclasses.replace(self, **changes)


TINY_FAST_TRAIN: dict[str, Any] = {
    "lr": 4e-4,
    "lr_backbone": 4e-4,
    "lr_schedule": "cosine",
    "warmup_iters": 100,
    "ema_decay": 0.999,
}
"""The optimisation part of `TrainConfig.tiny_fast` (measured in docs/convergence.md)."""

FINETUNE_TRAIN: dict[str, Any] = {
    "lr": 1e-4,
    "lr_backbone": 1e-4,
    "lr_schedule": "cosine",
    "warmup_iters": 0,
    "ema_decay": 0.0,
}
"""The optimisation part of `TrainConfig.finetune` (measured in docs/convergence.md)."""


def _check_types(config: TrainConfig) -> None:
    """Raises ValueError naming the first field whose value has the wrong type."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        kind = str(field.type)
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"TrainConfig: {field.name} must be a number, got {value!r}")
            object.__setattr__(config, field.name, float(value))
        elif kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"TrainConfig: {field.name} must be an int, got {value!r}")
        elif kind == "bool" and not isinstance(value, bool):
            raise ValueError(f"TrainConfig: {field.name} must be true or false, got {value!r}")
        elif kind == "str" and not isinstance(value, str):
            raise ValueError(f"TrainConfig: {field.name} must be a string, got {value!r}")
        elif kind == "str | None" and value is not None and not isinstance(value, str):
            raise ValueError(f"TrainConfig: {field.name} must be a string or null, got {value!r}")
        elif kind.startswith("tuple[int") and value is not None:
            if not isinstance(value, (tuple, list)) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in value
            ):
                raise ValueError(f"TrainConfig: {field.name} must be a list of ints, got {value!r}")
            object.__setattr__(config, field.name, tuple(value))
