"""A PyTorch DETR (Carion et al. 2020) faithful to facebookresearch/detr. No Qt.

Model: `ModelConfig`, `build_detr`, `PostProcess`. Checkpoints: `save_checkpoint`,
`load_checkpoint`, `download_official`. Inference: `Predictor`. Training: `HungarianMatcher`,
`SetCriterion`, `TrainConfig`, `fit`, `evaluate`. Data lives in `detr_model.data`; the CLI is
``python -m detr_model {synth,train,eval,predict}``.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> submodule. Resolved on first use (PEP 562) so that the light modules
# (download, official_models, coco_classes) can be imported without loading torch: the app
# lists models at start-up and must not pay for torch until a model runs.
_EXPORTS = {
    "adapt_class_head": "finetune",
    "build_criterion": "losses",
    "build_detr": "detr",
    "Checkpoint": "checkpoint",
    "CheckpointError": "checkpoint",
    "COCO_CLASSES": "coco_classes",
    "coco_metrics": "evaluation",
    "default_cache_dir": "download",
    "Detections": "predictor",
    "DETR": "detr",
    "DetrOutput": "detr",
    "download_official": "download",
    "DownloadCancelled": "download",
    "DownloadError": "download",
    "evaluate": "evaluation",
    "finetune_model": "finetune",
    "fit": "engine",
    "FitResult": "engine",
    "Trainer": "engine",
    "HungarianMatcher": "matcher",
    "load_checkpoint": "checkpoint",
    "ModelConfig": "config",
    "nested_tensor_from_tensor_list": "nested",
    "NestedTensor": "nested",
    "OFFICIAL_MODELS": "official_models",
    "OfficialModel": "official_models",
    "pick_device": "predictor",
    "PostProcess": "postprocess",
    "Predictor": "predictor",
    "PreparedImage": "image_input",
    "resolve_model": "download",
    "save_checkpoint": "checkpoint",
    "SetCriterion": "criterion",
    "train_one_epoch": "epoch",
    "TrainConfig": "train_config",
    "TrainingError": "epoch",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
