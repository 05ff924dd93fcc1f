"""Behaviour of the DETR model: inputs, outputs, masks, variants, gradients."""

import copy

import pytest
import torch

from detr_model.backbone import FrozenBatchNorm2d
from detr_model.config import ModelConfig
from detr_model.detr import DETR, DetrOutput, build_detr
from detr_model.nested import NestedTensor, nested_tensor_from_tensor_list
from detr_model.transformer import Transformer

SMALL = ModelConfig(
    num_classes=3,
    backbone="resnet18",
    hidden_dim=32,
    nheads=4,
    num_encoder_layers=2,
    num_decoder_layers=3,
    dim_feedforward=64,
    num_queries=5,
)


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    # Tiny tensors: on a busy 2-core machine, OpenMP threads competing with other processes make
    # these tests 10-20x slower than one thread does.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def model() -> DETR:
    torch.manual_seed(0)
    return build_detr(SMALL).eval()


def test_outputs_have_official_shapes_and_one_aux_output_per_earlier_layer(model):
    with torch.inference_mode():
        out = model(torch.randn(2, 3, 64, 80))
    assert isinstance(out, DetrOutput)
    assert out["pred_logits"].shape == (2, 5, 4)
    assert out["pred_boxes"].shape == (2, 5, 4)
    assert ((out["pred_boxes"] > 0) & (out["pred_boxes"] < 1)).all()
    assert len(out["aux_outputs"]) == SMALL.num_decoder_layers - 1
    for aux in out["aux_outputs"]:
        assert set(aux) == {"pred_logits", "pred_boxes"}
        assert aux["pred_logits"].shape == (2, 5, 4)


def test_output_reads_like_the_official_dict():
    out = DetrOutput(pred_logits=torch.zeros(1, 2, 3), pred_boxes=torch.zeros(1, 2, 4))
    assert list(out.keys()) == ["pred_logits", "pred_boxes"]
    assert "aux_outputs" not in out and out.get("aux_outputs") is None
    assert len(out) == 2 and dict(out.items())["pred_boxes"] is out.pred_boxes
    with pytest.raises(KeyError):
        out["aux_outputs"]


def test_list_input_equals_tensor_input_for_same_sized_images(model):
    images = torch.randn(2, 3, 64, 80)
    with torch.inference_mode():
        from_tensor = model(images)
        from_list = model([images[0], images[1]])
        from_nested = model(NestedTensor.from_batch(images))
        single = model(images[0])
    assert torch.equal(from_tensor["pred_logits"], from_list["pred_logits"])
    assert torch.equal(from_tensor["pred_boxes"], from_nested["pred_boxes"])
    assert torch.allclose(single["pred_boxes"][0], from_tensor["pred_boxes"][0], atol=1e-5)


def test_list_of_different_sizes_is_padded_and_each_image_gets_its_predictions(model):
    images = [torch.randn(3, 64, 80), torch.randn(3, 40, 96)]
    with torch.inference_mode():
        out = model(images)
        nested = model(nested_tensor_from_tensor_list(images))
    assert out["pred_logits"].shape == (2, 5, 4)
    assert torch.equal(out["pred_boxes"], nested["pred_boxes"])
    assert not torch.allclose(out["pred_boxes"][0], out["pred_boxes"][1])


def test_feature_mask_is_the_nearest_downsampled_padding_mask(model):
    nested = nested_tensor_from_tensor_list([torch.randn(3, 96, 40), torch.randn(3, 64, 96)])
    with torch.inference_mode():
        features, pos = model.backbone(nested)
    assert features.tensors.shape[-2:] == (3, 3)
    assert pos.shape == (2, SMALL.hidden_dim, 3, 3)
    # Feature cell j samples input pixel 32 * j: width 40 keeps cells 0 and 1 (pixels 0, 32).
    assert features.mask[0].tolist() == [[False, False, True]] * 3
    assert features.mask[1].tolist() == [[False] * 3, [False] * 3, [True] * 3]


def test_transformer_ignores_features_under_the_padding_mask():
    torch.manual_seed(0)
    transformer = Transformer(32, 4, 2, 2, 64, dropout=0.0).eval()
    src = torch.randn(1, 32, 3, 4)
    pos = torch.randn(1, 32, 3, 4)
    mask = torch.zeros(1, 3, 4, dtype=torch.bool)
    mask[:, :, 2:] = True
    queries = torch.randn(5, 32)
    changed = src.clone()
    changed[:, :, :, 2:] = 100.0
    with torch.inference_mode():
        a = transformer(src, mask, queries, pos)
        b = transformer(changed, mask, queries, pos)
        unmasked = transformer(changed, torch.zeros_like(mask), queries, pos)
    assert a.shape == (2, 1, 5, 32)
    assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(a, unmasked, atol=1e-3)


def test_aux_loss_off_returns_only_the_last_layer():
    model = build_detr(SMALL.replace(aux_loss=False)).eval()
    with torch.inference_mode():
        out = model(torch.randn(1, 3, 64, 64))
    assert "aux_outputs" not in out
    assert out["pred_logits"].shape == (1, 5, 4)


def test_pre_norm_variant_with_learned_position_encoding_runs():
    model = build_detr(SMALL.replace(pre_norm=True, position_embedding="learned")).eval()
    with torch.inference_mode():
        out = model([torch.randn(3, 64, 64), torch.randn(3, 48, 80)])
    assert out["pred_boxes"].shape == (2, 5, 4)
    assert torch.isfinite(out["pred_logits"]).all()
    assert len(out["aux_outputs"]) == SMALL.num_decoder_layers - 1


def test_learned_encoding_refuses_feature_maps_larger_than_its_table():
    with torch.device("meta"):
        model = build_detr(SMALL.replace(position_embedding="learned")).eval()
        with pytest.raises(ValueError, match="at most 50x50"):
            model(torch.zeros(1, 3, 64, 32 * 51))


def test_dc5_variant_has_stride_16_features():
    with torch.device("meta"):
        plain = build_detr(ModelConfig.detr_r50())
        dc5 = build_detr(ModelConfig.detr_r50_dc5())
        images = NestedTensor.from_batch(torch.zeros(1, 3, 64, 96))
        plain_features, _ = plain.backbone(images)
        dc5_features, _ = dc5.backbone(images)
    assert plain_features.tensors.shape[-2:] == (2, 3)
    assert dc5_features.tensors.shape[-2:] == (4, 6)
    assert dc5.backbone.stride == 16 and plain.backbone.stride == 32


def test_frozen_batchnorm_is_buffers_only_and_drops_num_batches_tracked():
    bn = FrozenBatchNorm2d(4)
    assert list(bn.parameters()) == []
    state = {
        "weight": torch.full((4,), 2.0),
        "bias": torch.ones(4),
        "running_mean": torch.zeros(4),
        "running_var": torch.ones(4),
        "num_batches_tracked": torch.tensor(7),
    }
    bn.load_state_dict(state, strict=True)
    x = torch.randn(1, 4, 2, 2)
    assert torch.allclose(bn(x), x * 2.0 / (1 + 1e-5) ** 0.5 + 1.0)


def test_train_mode_gives_gradients_to_every_trainable_parameter():
    torch.manual_seed(0)
    model = build_detr(SMALL).train()
    out = model([torch.randn(3, 64, 64), torch.randn(3, 32, 64)])
    loss = out["pred_logits"].sum() + out["pred_boxes"].sum()
    for aux in out["aux_outputs"]:
        loss = loss + aux["pred_logits"].sum() + aux["pred_boxes"].sum()
    loss.backward()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    missing = [n for n, p in trainable.items() if p.grad is None]
    assert missing == []
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen and all(
        n.startswith(("backbone.0.body.conv1", "backbone.0.body.layer1")) for n in frozen
    )
    assert "backbone.0.body.layer2.0.conv1.weight" in trainable


def test_channels_last_model_gives_the_same_outputs(model):
    images = [torch.randn(3, 64, 80), torch.randn(3, 40, 96)]
    channels_last = copy.deepcopy(model).to(memory_format=torch.channels_last)
    with torch.inference_mode():
        expected = model(images)
        got = channels_last(images)
    assert torch.allclose(got["pred_logits"], expected["pred_logits"], atol=1e-4)
    assert torch.allclose(got["pred_boxes"], expected["pred_boxes"], atol=1e-4)


def test_bad_inputs_give_clear_errors(model):
    with pytest.raises(ValueError, match="expected images"):
        model(torch.zeros(3, 4))
    with pytest.raises(TypeError, match="unsupported"):
        model("image.jpg")
