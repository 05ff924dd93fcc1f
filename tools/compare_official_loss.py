"""Compare our HungarianMatcher/SetCriterion with facebookresearch/detr's on random problems.

Usage: python tools/compare_official_loss.py --official /path/to/detr [--trials 200] [--seed 0]

The official code is imported at run time from the given folder (never committed here). Prints
how many matchings differ and the largest absolute difference of every loss term; exits with
status 1 when a matching differs or a loss differs by more than --tolerance.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detr_model.criterion import SetCriterion, with_aux_weights  # noqa: E402
from detr_model.matcher import HungarianMatcher  # noqa: E402

COSTS = {"cost_class": 1.0, "cost_bbox": 5.0, "cost_giou": 2.0}
WEIGHTS = {"loss_ce": 1.0, "loss_bbox": 5.0, "loss_giou": 2.0}
LOSSES = ["labels", "boxes", "cardinality"]


def _import_official(folder: Path):
    sys.path.insert(0, str(folder))
    from models.detr import SetCriterion as OfficialCriterion
    from models.matcher import HungarianMatcher as OfficialMatcher

    return OfficialMatcher, OfficialCriterion


def _random_problem(gen: torch.Generator, num_classes: int) -> tuple[dict, list[dict]]:
    batch = int(torch.randint(1, 5, (1,), generator=gen))
    queries = int(torch.randint(3, 30, (1,), generator=gen))
    num_aux = int(torch.randint(0, 4, (1,), generator=gen))

    def head() -> dict[str, torch.Tensor]:
        logits = torch.randn(batch, queries, num_classes + 1, generator=gen) * 3
        centre = torch.rand(batch, queries, 2, generator=gen)
        size = torch.rand(batch, queries, 2, generator=gen) * 0.5 + 1e-3
        return {"pred_logits": logits, "pred_boxes": torch.cat([centre, size], -1)}

    outputs = head()
    if num_aux:
        outputs["aux_outputs"] = [head() for _ in range(num_aux)]
    targets = []
    for _ in range(batch):
        # About a quarter of the images have no boxes; some have more boxes than queries.
        n = int(torch.randint(0, queries + 3, (1,), generator=gen))
        if torch.rand(1, generator=gen) < 0.25:
            n = 0
        centre = torch.rand(n, 2, generator=gen) * 0.8 + 0.1
        size = torch.rand(n, 2, generator=gen) * 0.4 + 0.01
        targets.append(
            {
                "labels": torch.randint(0, num_classes, (n,), generator=gen),
                "boxes": torch.cat([centre, size], -1),
            }
        )
    return outputs, targets


def main(argv: list[str] | None = None) -> int:
    """Returns 0 when matchings are identical and losses agree within the tolerance."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, default=Path("/work/official_detr"))
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=1e-5)
    args = parser.parse_args(argv)
    official_matcher_cls, official_criterion_cls = _import_official(args.official)

    gen = torch.Generator().manual_seed(args.seed)
    max_diff: dict[str, float] = {}
    matchings = mismatched = empty_images = 0
    for _ in range(args.trials):
        num_classes = int(torch.randint(1, 12, (1,), generator=gen))
        outputs, targets = _random_problem(gen, num_classes)
        num_aux = len(outputs.get("aux_outputs", []))
        weights = with_aux_weights(WEIGHTS, num_aux)
        ours_m, theirs_m = HungarianMatcher(**COSTS), official_matcher_cls(**COSTS)
        ours = SetCriterion(num_classes, ours_m, weights, eos_coef=0.1, losses=LOSSES)
        theirs = official_criterion_cls(num_classes, theirs_m, weights, eos_coef=0.1, losses=LOSSES)

        heads = [outputs, *outputs.get("aux_outputs", [])]
        for head in heads:
            for (r1, c1), (r2, c2) in zip(
                ours_m(head, targets), theirs_m(head, targets), strict=True
            ):
                matchings += 1
                if not (torch.equal(r1, r2) and torch.equal(c1, c2)):
                    mismatched += 1
        empty_images += sum(len(t["labels"]) == 0 for t in targets)

        a, b = ours(outputs, targets), theirs(outputs, targets)
        if set(a) != set(b):
            print(
                f"loss names differ: ours only {set(a) - set(b)}, official only {set(b) - set(a)}"
            )
            return 1
        for key in a:
            base = key.rstrip("0123456789").rstrip("_") if key[-1].isdigit() else key
            diff = (a[key].double() - b[key].double()).abs().item()
            max_diff[base] = max(max_diff.get(base, 0.0), diff)

    print(f"{args.trials} random problems, {matchings} matchings ({empty_images} empty images)")
    print(f"matchings that differ: {mismatched}")
    for key in sorted(max_diff):
        print(f"max |ours - official| {key:18s} {max_diff[key]:.3e}")
    worst = max(max_diff.values())
    ok = mismatched == 0 and worst <= args.tolerance
    print("OK" if ok else f"FAILED (tolerance {args.tolerance:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
