"""Shared set-up of the auto-annotate tests: a tiny random DETR checkpoint and image folders."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image

CLASS_NAMES = ["cat", "dog", "bird"]
SMALL = {"min_size": 64, "max_size": 128}  # model input size: fast on a CPU


def make_checkpoint(path: Path, names: list[str] = CLASS_NAMES) -> Path:
    """Write a randomly initialised tiny DETR checkpoint with these class names."""
    import torch

    from detr_model.checkpoint import save_checkpoint
    from detr_model.config import ModelConfig
    from detr_model.detr import build_detr

    torch.manual_seed(0)
    model = build_detr(ModelConfig.tiny(num_classes=len(names)))
    return save_checkpoint(path, model, class_names=names)


def write_noise_images(folder: Path, count: int = 5, size: tuple[int, int] = (96, 64)) -> list[str]:
    """Write `count` small random-noise PNGs; return their names."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = []
    for i in range(count):
        name = f"img{i}.png"
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name)
        names.append(name)
    return names


def slow_factory(delay_s: float):
    """Return a predictor factory whose predictor sleeps `delay_s` per call (for cancel tests)."""
    from app.workers.inference import _load_predictor

    def factory(spec):
        predictor = _load_predictor(spec)
        predict = predictor.predict

        def slow_predict(images, **kwargs):
            time.sleep(delay_s)
            return predict(images, **kwargs)

        predictor.predict = slow_predict
        return predictor

    return factory
