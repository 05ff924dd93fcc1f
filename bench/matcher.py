"""Time of the Hungarian matcher and the full set criterion for a DETR-sized batch.

    python bench/matcher.py [--batch 8] [--queries 100] [--targets 1,5,10,20,50] [--aux 5]
                            [--repeats 20] [--device cpu|cuda] [--official /path/to/detr]

Random outputs (91 classes + ∅) and random targets; `criterion` is SetCriterion forward
(matching of the last layer and of every auxiliary layer + losses) and backward. Prints the
median milliseconds per call. With --official, the facebookresearch/detr matcher and criterion
(imported at run time from that folder) are timed on the same inputs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from detr_model.criterion import SetCriterion, with_aux_weights  # noqa: E402
from detr_model.matcher import HungarianMatcher  # noqa: E402

WEIGHTS = {"loss_ce": 1.0, "loss_bbox": 5.0, "loss_giou": 2.0}
COSTS = {"cost_class": 1.0, "cost_bbox": 5.0, "cost_giou": 2.0}


def _inputs(batch: int, queries: int, targets: int, aux: int, device: torch.device):
    def head() -> dict[str, torch.Tensor]:
        return {
            "pred_logits": torch.randn(batch, queries, 92, device=device, requires_grad=True),
            "pred_boxes": (
                torch.rand(batch, queries, 4, device=device) * 0.5 + 0.2
            ).requires_grad_(),
        }

    outputs = {**head(), "aux_outputs": [head() for _ in range(aux)]}
    tgts = [
        {
            "labels": torch.randint(1, 91, (targets,), device=device),
            "boxes": torch.rand(targets, 4, device=device) * 0.4 + 0.3,
        }
        for _ in range(batch)
    ]
    return outputs, tgts


def _median_ms(fn, repeats: int, device: torch.device) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--targets", default="1,5,10,20,50")
    parser.add_argument("--aux", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--official", type=Path)
    args = parser.parse_args()
    device = torch.device(args.device)
    variants = {"ours": (HungarianMatcher, SetCriterion)}
    if args.official:
        sys.path.insert(0, str(args.official))
        from models.detr import SetCriterion as OfficialCriterion
        from models.matcher import HungarianMatcher as OfficialMatcher

        variants["official"] = (OfficialMatcher, OfficialCriterion)

    print(
        f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"batch {args.batch} x {args.queries} queries, {args.aux} aux layers"
    )
    print(f"{'variant':9s} {'targets':>7s} {'matcher ms':>11s} {'criterion fwd+bwd ms':>21s}")
    for n in (int(t) for t in args.targets.split(",")):
        outputs, targets = _inputs(args.batch, args.queries, n, args.aux, device)
        main_out = {k: v for k, v in outputs.items() if k != "aux_outputs"}
        for name, (matcher_cls, criterion_cls) in variants.items():
            matcher = matcher_cls(**COSTS)
            criterion = criterion_cls(
                91,
                matcher,
                with_aux_weights(WEIGHTS, args.aux),
                0.1,
                ["labels", "boxes", "cardinality"],
            ).to(device)

            def run_criterion(criterion=criterion, outputs=outputs, targets=targets) -> None:
                losses = criterion(outputs, targets)
                sum(
                    losses[k] * w for k, w in criterion.weight_dict.items() if k in losses
                ).backward()

            m_ms = _median_ms(
                lambda m=matcher, o=main_out, t=targets: m(o, t), args.repeats, device
            )
            c_ms = _median_ms(run_criterion, args.repeats, device)
            print(f"{name:9s} {n:7d} {m_ms:11.2f} {c_ms:21.2f}", flush=True)


if __name__ == "__main__":
    main()
