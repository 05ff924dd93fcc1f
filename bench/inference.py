"""Inference speed and peak memory of our DETR against HF transformers' DetrForObjectDetection.

    python bench/inference.py [--quick] [--device cpu|cuda|all] [--models r50,tiny] [--batches 1,4]

On the CPU it ends with bench/cpu_backends.py: every Predictor back-end (bf16, int8, ONNX
Runtime, OpenVINO, auto) against the official-layout fp32, and AP on the trained demo model.

Input: random 800x1066 images (the paper's test size for a 3:4 photo), random weights on both
sides, the same configuration. Times are model forward passes (ms per image, median of the
timed rounds after warm-up); the variants of one model family run interleaved in one process,
so a machine shared with other work slows them alike. Peak memory is measured per variant in a
fresh subprocess: CPU = VmHWM - VmRSS before the forward (Linux /proc, with the high-water mark
reset through /proc/self/clear_refs), CUDA = torch.cuda.max_memory_allocated during it.
The `predict` row is Predictor.predict on uint8 numpy images (decode-free, normalise, forward,
post-process). HF transformers is optional: without it only our rows are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from detr_model.config import ModelConfig  # noqa: E402
from detr_model.detr import build_detr  # noqa: E402
from detr_model.inference_speedups import (  # noqa: E402
    backbone_to_bfloat16,
    fold_frozen_batchnorm,
)
from detr_model.predictor import Predictor  # noqa: E402

HEIGHT, WIDTH = 800, 1066
CONFIGS = {"r50": ModelConfig.detr_r50(), "tiny": ModelConfig.tiny(num_classes=91)}


# Variants ----------------------------------------------------------------------------------


def variants_for(family: str, device: str) -> list[str]:
    """Return the variant names measured for a model family on a device."""
    ours = ["ours-fp32", "ours-fast-fp32"]  # plain model; folded BN + channels_last
    if device == "cpu":
        ours.append("ours-fast-bf16body")  # + bfloat16 ResNet body (Predictor "bf16" on CPU)
        return [*ours, "ours-predict", "hf-fp32"]
    return [*ours, "ours-fast-bf16autocast", "ours-predict", "hf-fp32", "hf-bf16autocast"]


def build_variant(name: str, family: str, device: str) -> tuple[Any, bool]:
    """Return (callable taking a (B, 3, H, W) batch, uses bf16 autocast) for a variant."""
    torch.manual_seed(0)
    if name.startswith("hf-"):
        model = build_hf(family).to(device).eval()

        def run_hf(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            mask = torch.ones(x.shape[0], x.shape[2], x.shape[3], dtype=torch.long, device=device)
            out = model(pixel_values=x, pixel_mask=mask)
            return out.logits, out.pred_boxes

        return run_hf, name.endswith("autocast")
    model = build_detr(CONFIGS[family]).eval()
    trained_looking_batchnorm(model)
    if name == "ours-predict":
        predictor = Predictor(model, [str(i) for i in range(92)], device=device, copy_model=False)
        return predictor, False
    if name.startswith("ours-fast"):
        fold_frozen_batchnorm(model)
        model = model.to(memory_format=torch.channels_last)
        if name.endswith("bf16body"):
            backbone_to_bfloat16(model)
    model = model.to(device)

    def run_ours(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = model(x)
        return out["pred_logits"], out["pred_boxes"]

    return run_ours, name.endswith("autocast")


def trained_looking_batchnorm(model: torch.nn.Module) -> None:
    """Give frozen BatchNorms trained-looking statistics (seeded), so folding is not a no-op."""
    from detr_model.backbone import FrozenBatchNorm2d

    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, FrozenBatchNorm2d):
                n = m.weight.shape[0]
                m.weight.copy_(0.2 + 0.3 * torch.rand(n, generator=gen))
                m.bias.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(n, generator=gen))


def build_hf(family: str) -> torch.nn.Module:
    """Return HF's DetrForObjectDetection with our family's configuration, random weights."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import DetrConfig, DetrForObjectDetection, ResNetConfig

    cfg = CONFIGS[family]
    if cfg.backbone == "resnet50":
        resnet = ResNetConfig(out_features=["stage4"])  # ResNet-50: bottleneck, 3-4-6-3
    elif cfg.backbone == "resnet18":
        resnet = ResNetConfig(
            depths=[2, 2, 2, 2],
            hidden_sizes=[64, 128, 256, 512],
            layer_type="basic",
            out_features=["stage4"],
        )
    else:
        raise ValueError(f"no HF peer for {cfg.backbone}")
    config = DetrConfig(
        use_timm_backbone=False,
        use_pretrained_backbone=False,
        backbone_config=resnet,
        num_labels=cfg.num_classes,
        d_model=cfg.hidden_dim,
        encoder_layers=cfg.num_encoder_layers,
        decoder_layers=cfg.num_decoder_layers,
        encoder_attention_heads=cfg.nheads,
        decoder_attention_heads=cfg.nheads,
        encoder_ffn_dim=cfg.dim_feedforward,
        decoder_ffn_dim=cfg.dim_feedforward,
        num_queries=cfg.num_queries,
    )
    return DetrForObjectDetection(config)


# Workers (run in subprocesses) -------------------------------------------------------------


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _call(fn: Any, x: torch.Tensor, images: list[np.ndarray], autocast: bool, device: str) -> Any:
    """Return the outputs of one forward (or one predict call) of a variant."""
    if isinstance(fn, Predictor):
        return fn.predict(images, score_threshold=0.0)
    with torch.inference_mode(), torch.autocast(device, torch.bfloat16, enabled=autocast):
        return fn(x)


def time_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Return per-variant median ms/image and output differences, variants interleaved."""
    device, family, batch = spec["device"], spec["family"], spec["batch"]
    names = list(spec["variants"])
    runners = {}
    for name in names:
        try:
            runners[name] = build_variant(name, family, device)
        except ImportError as exc:
            print(f"# {name}: skipped, transformers not installed ({exc})", file=sys.stderr)
    gen = torch.Generator().manual_seed(2)
    images = [
        torch.randint(0, 256, (HEIGHT, WIDTH, 3), generator=gen, dtype=torch.uint8).numpy()
        for _ in range(batch)
    ]
    x = torch.stack([torch.from_numpy(im).permute(2, 0, 1) for im in images]).float() / 255
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = ((x - mean) / std).to(device)
    outputs = {}
    for name, (fn, autocast) in runners.items():
        for _ in range(spec["warmup"]):
            outputs[name] = _call(fn, x, images, autocast, device)
        _sync(device)
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(spec["rounds"]):
        for name, (fn, autocast) in runners.items():
            _sync(device)
            start = time.perf_counter()
            _call(fn, x, images, autocast, device)
            _sync(device)
            times[name].append((time.perf_counter() - start) * 1000 / batch)
    result: dict[str, Any] = {"ms": {n: statistics.median(t) for n, t in times.items()}}
    result["diff"] = _differences(outputs)
    return result


def _differences(outputs: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Return max |prob| and |box| differences of our fast variants against ours-fp32."""
    if "ours-fp32" not in outputs:
        return {}
    ref_logits, ref_boxes = (t.float().cpu() for t in outputs["ours-fp32"])
    ref_prob = ref_logits.softmax(-1)
    diffs = {}
    for name, out in outputs.items():
        if not name.startswith("ours-fast"):
            continue
        logits, boxes = (t.float().cpu() for t in out)
        prob = logits.softmax(-1)
        diffs[name] = {
            "prob": float((prob - ref_prob).abs().max()),
            "box": float((boxes - ref_boxes).abs().max()),
            "top_class_agree": float((prob.argmax(-1) == ref_prob.argmax(-1)).float().mean()),
        }
    return diffs


def memory_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Return the peak memory (MB) of one forward of one variant above what it held before."""
    device, family, batch, name = spec["device"], spec["family"], spec["batch"], spec["variant"]
    fn, autocast = build_variant(name, family, device)
    gen = torch.Generator().manual_seed(2)
    images = [
        torch.randint(0, 256, (HEIGHT, WIDTH, 3), generator=gen, dtype=torch.uint8).numpy()
        for _ in range(batch)
    ]
    x = torch.randn(batch, 3, HEIGHT, WIDTH, generator=gen).to(device)
    _call(fn, x, images, autocast, device)  # warm-up: kernels, allocator caches
    _sync(device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        _call(fn, x, images, autocast, device)
        _sync(device)
        return {"peak_mb": (torch.cuda.max_memory_allocated() - before) / 2**20}
    before = _proc_status_kb("VmRSS")
    reset = _reset_high_water_mark()
    _call(fn, x, images, autocast, device)
    peak = _proc_status_kb("VmHWM")
    return {"peak_mb": (peak - before) / 1024, "hwm_reset": reset}


def _proc_status_kb(field: str) -> int:
    """Return a /proc/self/status memory field in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_high_water_mark() -> bool:
    """Return True if VmHWM was reset to the current RSS (Linux: write 5 to clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# Driver ------------------------------------------------------------------------------------


def _in_subprocess(kind: str, spec: dict[str, Any]) -> dict[str, Any] | None:
    """Return the JSON result of a worker run in a fresh Python process (None if it failed)."""
    cmd = [sys.executable, __file__, "--worker", kind, json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"# {kind} worker failed for {spec}:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    sys.stderr.write(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine_description() -> str:
    """Return CPU model, core count, torch version (and GPU name when present)."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
    if torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name()}"
    try:
        import transformers

        text += f", transformers {transformers.__version__}"
    except ImportError:
        text += ", transformers not installed"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 warm-up, 3 timed rounds")
    parser.add_argument("--device", default="auto", help="cpu | cuda | all | auto (cpu + cuda)")
    parser.add_argument("--models", default="r50,tiny", help="comma list of r50, tiny")
    parser.add_argument("--batches", default="1,4", help="comma list of batch sizes")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    parser.add_argument(
        "--no-backends", action="store_true", help="skip the CPU back-end tables (cpu_backends.py)"
    )
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, spec = args.worker[0], json.loads(args.worker[1])
        result = time_worker(spec) if kind == "time" else memory_worker(spec)
        print(json.dumps(result))
        return

    devices = ["cpu"]
    if args.device in ("auto", "all") and torch.cuda.is_available():
        devices.append("cuda")
    elif args.device not in ("auto", "all"):
        devices = [args.device]
    warmup, rounds = (1, 3) if args.quick else (2, 7)
    try:
        import transformers  # noqa: F401

        have_hf = True
    except ImportError:
        have_hf = False
        print("# transformers is not installed: the HF peer rows are skipped "
              "(pip install transformers to get them)")  # fmt: skip
    print(f"# machine: {machine_description()}")
    print(f"# input {HEIGHT}x{WIDTH}, warm-up {warmup}, median of {rounds} rounds")
    print("| model | device | variant | batch | ms/image | peak MB | time vs HF |")
    print("|---|---|---|---|---|---|---|")
    diffs: list[str] = []
    for device in devices:
        for family in args.models.split(","):
            for batch in [int(b) for b in args.batches.split(",")]:
                names = [n for n in variants_for(family, device) if have_hf or "hf-" not in n]
                spec = {"device": device, "family": family, "batch": batch,
                        "variants": names, "warmup": warmup, "rounds": rounds}  # fmt: skip
                timed = _in_subprocess("time", spec)
                if timed is None:
                    continue
                peer = timed["ms"].get("hf-fp32")
                for name, ms in timed["ms"].items():
                    peak = None
                    if not args.no_memory:
                        mem = _in_subprocess("memory", {**spec, "variant": name})
                        peak = mem["peak_mb"] if mem else None
                        if mem and not mem.get("hwm_reset", True):
                            name += " (peak: no VmHWM reset, whole-process high-water mark)"
                    peak_text = f"{peak:.0f}" if peak is not None else "-"
                    ratio = f"{ms / peer:.2f}x" if peer else "-"
                    print(f"| {family} | {device} | {name} | {batch} | {ms:.1f} | "
                          f"{peak_text} | {ratio} |", flush=True)  # fmt: skip
                for name, d in timed["diff"].items():
                    diffs.append(
                        f"{family} {device} b{batch} {name} vs ours-fp32: max |dprob| "
                        f"{d['prob']:.2e}, max |dbox| {d['box']:.2e} (normalised), "
                        f"top class agrees {d['top_class_agree'] * 100:.1f}%"
                    )
                    print(f"# {diffs[-1]}", file=sys.stderr, flush=True)
    print("\n# Output differences of the fast variants (same weights, same input):")
    for line in diffs:
        print(f"# {line}")
    if "cpu" in devices and not args.no_backends:
        # Every Predictor back-end against the official-layout fp32, then accuracy on the
        # trained demo model: bench/cpu_backends.py, in a fresh process.
        cmd = [sys.executable, str(Path(__file__).with_name("cpu_backends.py"))]
        cmd += ["--families", args.models] + (["--quick"] if args.quick else [])
        subprocess.run(cmd, check=False)


if __name__ == "__main__":
    main()
