"""Which precision or CPU back-end a Predictor runs for the one asked, on a device."""

from __future__ import annotations

import logging

import torch

from detr_model import exported_model
from detr_model.inference_speedups import cpu_has_fast_bfloat16

log = logging.getLogger("detr_model.predictor")

PRECISIONS = ("auto", "fp32", "bf16", "int8", "onnxruntime", "openvino")
RUNTIME_BACKENDS = ("onnxruntime", "openvino")  # exported to ONNX, run by that package


def resolve_precision(precision: str, device: torch.device) -> str:
    """Return the precision (or CPU back-end) that runs for the requested one on `device`."""
    if precision in ("int8", *RUNTIME_BACKENDS) and device.type != "cpu":
        log.warning(
            "precision %s runs on the CPU only: using the default for %s", precision, device
        )
        precision = "auto"
    if precision != "auto":
        return precision
    if device.type == "cpu" and exported_model.runtime_available("openvino"):
        return "openvino"
    return torch_precision(device)


def torch_precision(device: torch.device) -> str:
    """Return the fastest torch precision on `device`: bf16 on CUDA and AMX/AVX-512-BF16 CPUs."""
    if device.type == "cuda":
        return "bf16"
    if device.type == "cpu" and cpu_has_fast_bfloat16():
        return "bf16"
    return "fp32"
