"""Golden test: a small DETR reproduces outputs computed by the official implementation.

tests/detr_model/fixtures/golden_small.pt was written by tools/make_golden.py: the official
code's outputs on a committed batch of two differently sized images, with committed weights.
The ResNet convolution weights (most of the bytes) are not stored; they are regenerated exactly
by `hashed_uniform`, integer arithmetic only, so they are the same on every machine.
"""

from pathlib import Path

import pytest
import torch
from torch import Tensor

from detr_model.config import ModelConfig
from detr_model.detr import build_detr
from detr_model.nested import nested_tensor_from_tensor_list

FIXTURE = Path(__file__).parent / "fixtures" / "golden_small.pt"
TOLERANCE = 1e-4


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    # Tiny tensors: on a busy 2-core machine, OpenMP threads competing with other processes make
    # these tests 10-20x slower than one thread does.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


HASH_TABLE_SIZE = 65521  # a prime: the table's period never lines up with a filter's size


def hashed_uniform(shape: list[int], seed: int) -> Tensor:
    """Return a float32 tensor of `shape` with values in [-0.5, 0.5), the same on any machine.

    A table of HASH_TABLE_SIZE values comes from an integer hash (exact int64 arithmetic), and
    the tensor repeats it: cheap for the millions of ResNet weights, and well mixed enough.
    """
    n = 1
    for s in shape:
        n *= s
    x = torch.arange(HASH_TABLE_SIZE, dtype=torch.int64) + seed * 0x9E3779B1
    mask32 = 0xFFFFFFFF
    for _ in range(2):  # xor-shift-multiply rounds, exact in int64
        x = x & mask32
        x = ((x ^ (x >> 16)) * 0x45D9F3B) & mask32
    x = x ^ (x >> 16)
    table = (x & 0xFFFFFF).to(torch.float32) / float(1 << 24) - 0.5
    return table[torch.arange(n) % HASH_TABLE_SIZE].reshape(shape)


def generated_conv_weight(shape: list[int], seed: int) -> Tensor:
    """Return a He-scaled convolution weight regenerated from `seed`."""
    fan_in = 1
    for s in shape[1:]:
        fan_in *= s
    std = (2.0 / fan_in) ** 0.5
    return hashed_uniform(shape, seed) * (std / (1.0 / 12.0) ** 0.5)


def load_golden() -> dict:
    """Return the golden fixture with the generated weights filled into its state dict."""
    golden = torch.load(FIXTURE, weights_only=True)
    state_dict = dict(golden["state_dict"])
    for i, (key, shape) in enumerate(sorted(golden["generated"].items())):
        state_dict[key] = generated_conv_weight(list(shape), seed=i + 1)
    golden["state_dict"] = state_dict
    return golden


def test_small_model_matches_official_outputs_on_a_padded_batch():
    golden = load_golden()
    config = ModelConfig.from_dict(golden["config"])
    with torch.device("meta"):  # every tensor comes from the fixture: skip random init
        model = build_detr(config)
    model.load_state_dict(golden["state_dict"], strict=True, assign=True)
    model.eval()
    images = [golden["image_0"], golden["image_1"]]
    assert images[0].shape != images[1].shape
    with torch.inference_mode():
        out = model(images)
        features, _ = model.backbone(nested_tensor_from_tensor_list(images))
    assert features.mask.flatten(1).any(dim=1).all(), "each image must have padded feature cells"
    expected = golden["expected"]
    assert torch.allclose(out["pred_logits"], expected["pred_logits"], rtol=0, atol=TOLERANCE)
    assert torch.allclose(out["pred_boxes"], expected["pred_boxes"], rtol=0, atol=TOLERANCE)
    assert len(out["aux_outputs"]) == len(expected["aux_logits"]) == config.num_decoder_layers - 1
    for aux, logits, boxes in zip(
        out["aux_outputs"], expected["aux_logits"], expected["aux_boxes"], strict=True
    ):
        assert torch.allclose(aux["pred_logits"], logits, rtol=0, atol=TOLERANCE)
        assert torch.allclose(aux["pred_boxes"], boxes, rtol=0, atol=TOLERANCE)


def test_hashed_weights_are_deterministic_and_spread_over_the_range():
    values = hashed_uniform([4096], seed=1)
    assert torch.equal(values, hashed_uniform([4096], seed=1))
    assert not torch.equal(values, hashed_uniform([4096], seed=2))
    assert values.min() >= -0.5 and values.max() < 0.5
    assert abs(values.mean().item()) < 0.02
    assert abs(values.std().item() - (1 / 12) ** 0.5) < 0.02
