"""A DETR exported once to ONNX and run by ONNX Runtime or OpenVINO (optional CPU back-ends).

The inference model is traced to one ONNX file with dynamic batch, height and width (every
input size shares one file, so no padding to a size bucket changes the outputs), cached under
the user cache folder by a hash of its weights and configuration, and opened by the runtime.
The trace runs in a child process (`python -m detr_model.exported_model`): torch.onnx holds
the GIL for seconds, which would freeze the app's window during the first run of a model.
`ExportedModel` is called like the torch model: a NestedTensor in, `pred_logits` /
`pred_boxes` out. Neither runtime is a required dependency: `runtime_available` says whether
one can be imported, and callers fall back to torch when it cannot.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import logging
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from detr_model.atomic_file import atomic_write_bytes
from detr_model.nested import NestedTensor

log = logging.getLogger(__name__)

RUNTIMES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}  # back-end -> Python module
EXPORT_FORMAT = 1  # bump when the exported graph changes, so old cache files are not reused
_OPSET = 17


def runtime_available(backend: str) -> bool:
    """Return True when the Python package of a back-end ("onnxruntime", "openvino") imports."""
    module = RUNTIMES.get(backend)
    return module is not None and importlib.util.find_spec(module) is not None


def default_export_dir() -> Path:
    """Return the cache folder of exported models: $DETR_EXPORT_CACHE, else the user cache."""
    override = os.environ.get("DETR_EXPORT_CACHE")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(xdg).expanduser() / "detr-studio" / "exported"


class _ExportWrapper(nn.Module):
    """(pixels (B, 3, H, W) float, mask (B, H, W) bool) -> (logits (B, Q, C+1), boxes (B, Q, 4))."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixels: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        out = self.model(NestedTensor(pixels, mask))
        return out["pred_logits"], out["pred_boxes"]


def model_key(model: nn.Module) -> str:
    """Return a hash of what the exported graph depends on: weights, configuration, torch."""
    digest = hashlib.sha256()
    digest.update(f"{EXPORT_FORMAT} {torch.__version__} {getattr(model, 'config', '')}".encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(
            tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        )
    return digest.hexdigest()[:24]


def export_onnx(model: nn.Module, cache_dir: Path | None = None, *, in_child: bool = True) -> Path:
    """Return the ONNX file of `model` (float32, eval mode), exporting it unless it is cached.

    A DETR built from a ModelConfig is exported by a child process (unless in_child is
    False); other modules in this one. The file is written to a temp file beside its final
    name and moved in place, so an interrupted export never leaves a file that looks finished.
    """
    folder = Path(cache_dir) if cache_dir is not None else default_export_dir()
    path = folder / f"detr-{model_key(model)}.onnx"
    if path.is_file():
        log.info("exported model found in the cache: %s", path)
        return path
    folder.mkdir(parents=True, exist_ok=True)
    if in_child and hasattr(getattr(model, "config", None), "to_dict"):
        _export_in_child(model, path)
    else:
        data = _onnx_bytes(model)
        atomic_write_bytes(path, data)
        log.info("exported the model to %s (%.1f MB)", path, len(data) / 2**20)
    return path


def _export_in_child(model: nn.Module, path: Path) -> None:
    """Export `model` to `path` in a fresh Python process (its weights passed in a temp file)."""
    fd, weights = tempfile.mkstemp(prefix=path.name, suffix=".weights.tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save({"config": model.config.to_dict(), "state_dict": model.state_dict()}, weights)
        package_root = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [package_root, *filter(None, [os.environ.get("PYTHONPATH")])]
        )}  # fmt: skip
        run = subprocess.run(
            [sys.executable, "-m", "detr_model.exported_model", weights, str(path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
    finally:
        Path(weights).unlink(missing_ok=True)
    if run.returncode != 0 or not path.is_file():
        lines = (run.stderr or run.stdout).strip().splitlines()
        raise RuntimeError(f"the ONNX export failed: {lines[-1] if lines else run.returncode}")


def _onnx_bytes(model: nn.Module) -> bytes:
    """Return the model traced to ONNX with dynamic batch, height and width."""
    wrapper = _ExportWrapper(model).eval()
    pixels = torch.zeros(2, 3, 96, 128)
    mask = torch.zeros(2, 96, 128, dtype=torch.bool)
    mask[1, :, 112:] = True  # a padded image, so the trace keeps the mask's path
    buffer = io.BytesIO()
    dynamic = {0: "batch", 2: "height", 3: "width"}
    # The TorchScript exporter takes ~2 s where torch.export takes ~10 s on the tiny model,
    # and both give the same graph for DETR; its deprecation warning is expected.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (pixels, mask),
            buffer,
            input_names=["pixels", "mask"],
            output_names=["logits", "boxes"],
            dynamic_axes={"pixels": dynamic, "mask": {0: "batch", 1: "height", 2: "width"}},
            opset_version=_OPSET,
            dynamo=False,
        )
    return buffer.getvalue()


class ExportedModel:
    """An exported DETR run by ONNX Runtime or OpenVINO, called like the torch model."""

    def __init__(self, path: Path, backend: str, threads: int | None = None) -> None:
        if backend not in RUNTIMES:
            raise ValueError(f"unknown back-end {backend!r}; expected one of {sorted(RUNTIMES)}")
        self.path = Path(path)
        self.backend = backend
        threads = threads or torch.get_num_threads()
        if backend == "onnxruntime":
            self._run, self.precision = _onnxruntime_runner(self.path, threads)
        else:
            self._run, self.precision = _openvino_runner(self.path, threads)

    def __call__(self, samples: NestedTensor) -> dict[str, Tensor]:
        """Return pred_logits (B, Q, C+1) and pred_boxes (B, Q, 4) for a CPU NestedTensor."""
        pixels = samples.tensors.float().contiguous().numpy()
        mask = samples.mask.contiguous().numpy()
        logits, boxes = self._run(pixels, mask)
        return {"pred_logits": torch.from_numpy(logits), "pred_boxes": torch.from_numpy(boxes)}


def _onnxruntime_runner(path: Path, threads: int):
    """Return (run(pixels, mask) -> (logits, boxes), "fp32") on an ONNX Runtime CPU session."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(pixels: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits, boxes = session.run(["logits", "boxes"], {"pixels": pixels, "mask": mask})
        return logits, boxes

    return run, "fp32"


def _openvino_runner(path: Path, threads: int):
    """Return (run, precision) on an OpenVINO CPU model compiled for latency.

    OpenVINO picks its inference precision for the CPU: bfloat16 where the CPU has AMX or
    AVX-512 BF16, float32 elsewhere; the precision returned says which.
    """
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(
        core.read_model(str(path)),
        "CPU",
        {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"},
    )
    precision = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
    precision = "bf16" if "bf16" in precision or "bfloat16" in precision else "fp32"
    request = compiled.create_infer_request()
    logits_port, boxes_port = compiled.output("logits"), compiled.output("boxes")

    def run(pixels: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        result = request.infer({"pixels": pixels, "mask": mask})
        # The request reuses its output buffers on the next call: copy them out.
        return np.array(result[logits_port]), np.array(result[boxes_port])

    return run, precision


def _child_main(weights: str, out: str) -> int:
    """Child process: build the DETR of a weights file and export it to `out`."""
    from detr_model.config import ModelConfig
    from detr_model.detr import build_detr
    from detr_model.inference_speedups import fold_frozen_batchnorm

    payload = torch.load(weights, map_location="cpu", weights_only=True)
    model = build_detr(ModelConfig.from_dict(payload["config"])).eval()
    if set(model.state_dict()) != set(payload["state_dict"]):
        fold_frozen_batchnorm(model)  # a Predictor's model: the same rewrite, the same layout
    model.load_state_dict(payload["state_dict"], strict=True)
    atomic_write_bytes(Path(out), _onnx_bytes(model.eval()))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1], sys.argv[2]))
