"""Issue 8 training options: each one off keeps the official model, each one on trains."""

from __future__ import annotations

import math

import pytest
import torch

from detr_model.backbone import FrozenBatchNorm2d
from detr_model.config import ModelConfig
from detr_model.criterion import SetCriterion
from detr_model.data import CocoDetection, collate_fn, generate_shapes_dataset, make_transforms
from detr_model.data.synthetic import SHAPE_CATEGORIES
from detr_model.denoising import dn_attention_mask
from detr_model.detr import build_detr
from detr_model.ema import ModelEma
from detr_model.engine import fit
from detr_model.epoch import make_optimizer, train_one_epoch
from detr_model.focal import FocalHungarianMatcher, FocalSetCriterion
from detr_model.losses import build_criterion
from detr_model.postprocess import PostProcess
from detr_model.schedule import COSINE_FLOOR, lr_factor
from detr_model.train_config import TrainConfig

SCRATCH = {"backbone_norm": "bn", "feature_stride": 16, "train_stem": True, "dropout": 0.0}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def four_images(tmp_path_factory) -> CocoDetection:
    root = tmp_path_factory.mktemp("four")
    path = generate_shapes_dataset(root, 4, seed=0, size=64, objects=(1, 2))
    return CocoDetection(root, path, make_transforms("val", scales=[64]))


def _targets() -> list[dict[str, torch.Tensor]]:
    return [
        {"labels": torch.tensor([1, 2]), "boxes": torch.tensor([[0.3, 0.3, 0.2, 0.2], [0.6, 0.6, 0.3, 0.2]])},
        {"labels": torch.tensor([0]), "boxes": torch.tensor([[0.5, 0.5, 0.4, 0.4]])},
        {"labels": torch.zeros(0, dtype=torch.int64), "boxes": torch.zeros(0, 4)},
    ]  # fmt: skip


def _build(seed: int = 0, **changes):
    torch.manual_seed(seed)
    return build_detr(ModelConfig.tiny(num_classes=4).replace(**{"dropout": 0.0, **changes}))


# Defaults keep the official model ----------------------------------------------------------


def test_new_fields_default_to_the_official_model():
    c = ModelConfig()
    assert (c.backbone_norm, c.feature_stride, c.train_stem) == ("frozen_bn", 32, False)
    assert (c.class_score, c.dn_groups) == ("softmax", 0)
    t = TrainConfig()
    assert (t.lr_schedule, t.warmup_iters, t.ema_decay) == ("step", 0, 0.0)


def test_default_tiny_keeps_frozen_batchnorm_a_frozen_stem_and_no_extra_weights():
    model = _build()
    keys = model.state_dict().keys()
    assert any(k.startswith("backbone.0.body.layer4.") for k in keys)
    assert not any("denoising" in k or "num_batches_tracked" in k for k in keys)
    assert all(
        isinstance(m, FrozenBatchNorm2d)
        for m in model.modules()
        if "Norm" in type(m).__name__ and "Layer" not in type(m).__name__
    )
    assert not model.backbone[0].body.conv1.weight.requires_grad


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"backbone_norm": "ln"}, "backbone_norm"),
        ({"feature_stride": 8}, "feature_stride"),
        ({"backbone": "resnet50", "dilation": True, "feature_stride": 16}, "dilation"),
        ({"class_score": "tanh"}, "class_score"),
        ({"dn_groups": -1}, "dn_groups"),
        ({"dn_box_noise": 1.5}, "dn_box_noise"),
    ],
)
def test_bad_option_values_are_refused_with_the_field_named(changes, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**changes)


# Backbone options ------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["bn", "gn"])
def test_stride_16_backbone_has_no_layer4_trains_every_layer_and_halves_the_stride(norm):
    model = _build(**{**SCRATCH, "backbone_norm": norm})
    keys = model.state_dict().keys()
    assert not any(".layer4." in k for k in keys)
    assert model.input_proj.in_channels == 256
    assert all(p.requires_grad for p in model.backbone.parameters())
    features, _ = model.backbone(_nested(2, 64, 96))
    assert features.tensors.shape[-2:] == (4, 6)
    kind = torch.nn.BatchNorm2d if norm == "bn" else torch.nn.GroupNorm
    assert isinstance(model.backbone[0].body.bn1, kind)


def _nested(batch: int, h: int, w: int):
    from detr_model.nested import NestedTensor

    return NestedTensor(torch.randn(batch, 3, h, w), torch.zeros(batch, h, w, dtype=torch.bool))


# Denoising ------------------------------------------------------------------------------------


def test_dn_mask_hides_groups_from_each_other_and_from_the_object_queries():
    allowed = dn_attention_mask(groups=3, group_size=2, num_queries=4)
    assert allowed.shape == (10, 10)
    n = 6
    assert allowed[n:, n:].all()  # object queries see each other
    assert not allowed[n:, :n].any()  # ... and no denoising query
    for g in range(3):
        block = slice(2 * g, 2 * g + 2)
        assert allowed[block, block].all()
        assert allowed[block, n:].all()  # a group sees the object queries
        others = [j for j in range(n) if not 2 * g <= j < 2 * g + 2]
        assert not allowed[block][:, others].any()


@pytest.mark.parametrize("anchors", [False, True])
def test_dn_leaves_the_object_query_outputs_and_their_losses_unchanged(anchors):
    plain = _build(**SCRATCH, query_anchors=anchors).train()
    with_dn = _build(**SCRATCH, query_anchors=anchors, dn_groups=3).train()
    state = {k: v for k, v in with_dn.state_dict().items() if "denoising" not in k}
    plain.load_state_dict(state)
    images, targets = torch.randn(3, 3, 64, 64), _targets()
    a, b = plain(images), with_dn(images, targets)
    assert "dn_outputs" not in a and "dn_outputs" in b
    torch.testing.assert_close(a["pred_logits"], b["pred_logits"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a["pred_boxes"], b["pred_boxes"], rtol=1e-5, atol=1e-5)
    config = TrainConfig()
    la = build_criterion(plain.config, config)(a, targets)
    lb = build_criterion(with_dn.config, config)(b, targets)
    assert set(lb) - set(la) == {
        f"{t}_dn{s}" for t in ("loss_ce", "loss_bbox", "loss_giou") for s in ("", "_0")
    }
    for key, value in la.items():
        torch.testing.assert_close(value, lb[key], rtol=1e-5, atol=1e-5)
    assert all(math.isfinite(v.item()) for v in lb.values())


def test_dn_off_gives_the_official_loss_terms_and_eval_mode_no_denoising():
    model = _build(**SCRATCH, dn_groups=2)
    criterion = build_criterion(model.config, TrainConfig())
    assert type(criterion) is SetCriterion
    out = model.eval()(torch.randn(1, 3, 64, 64), _targets()[:1])
    assert "dn_outputs" not in out and out["pred_logits"].shape == (1, 12, 5)
    off = build_criterion(_build().config, TrainConfig())
    assert "loss_ce_dn" not in off.weight_dict and "loss_ce_dn" in criterion.weight_dict


def test_dn_queries_reconstruct_clean_boxes_from_noised_ones():
    model = _build(**SCRATCH, dn_groups=2, dn_box_noise=0.4)
    batch = model.denoising(_targets(), num_queries=12)
    assert batch.group_size == 2 and batch.num_queries == 4
    assert batch.valid.tolist() == [[True, True] * 2, [True, False] * 2, [False, False] * 2]
    torch.testing.assert_close(batch.boxes[0, 2:], _targets()[0]["boxes"])
    assert batch.content.shape == batch.position.shape == (3, 4, 128)


# Focal classification --------------------------------------------------------------------------


def test_focal_cost_prefers_the_query_that_predicts_the_target_class():
    matcher = FocalHungarianMatcher(cost_class=1.0, cost_bbox=0.0, cost_giou=0.0)
    logits = torch.tensor([[-4.0, 4.0, -4.0, 0.0], [4.0, -4.0, -4.0, 0.0]])
    cost = matcher.class_cost(logits, torch.tensor([0, 1]))
    assert cost[1, 0] < cost[0, 0] and cost[0, 1] < cost[1, 1]
    outputs = {"pred_logits": logits[None], "pred_boxes": torch.full((1, 2, 4), 0.5)}
    targets = [{"labels": torch.tensor([1, 0]), "boxes": torch.full((2, 4), 0.5)}]
    rows, cols = matcher(outputs, targets)[0]
    assert dict(zip(rows.tolist(), cols.tolist(), strict=True)) == {0: 0, 1: 1}


def test_sigmoid_models_get_the_focal_criterion_and_sigmoid_scores():
    model = _build(**SCRATCH, class_score="sigmoid")
    criterion = build_criterion(model.config, TrainConfig())
    assert isinstance(criterion, FocalSetCriterion)
    assert isinstance(criterion.matcher, FocalHungarianMatcher)
    logits = torch.tensor([[[0.0, 2.0, -1.0, 9.0]]])
    out = PostProcess("sigmoid")(
        {"pred_logits": logits, "pred_boxes": torch.full((1, 1, 4), 0.5)}, [[10, 10]]
    )
    assert out[0]["labels"].item() == 1  # the unused "no object" slot never wins
    assert out[0]["scores"].item() == pytest.approx(torch.tensor(2.0).sigmoid().item())


# Schedule and EMA ------------------------------------------------------------------------------


def test_warmup_rises_linearly_then_cosine_falls_to_the_floor():
    config = TrainConfig(epochs=10, lr_schedule="cosine", warmup_iters=10)
    assert lr_factor(0, config, 10) == pytest.approx(0.1)
    assert lr_factor(9, config, 10) == pytest.approx(1.0)
    assert lr_factor(55, config, 10) == pytest.approx(COSINE_FLOOR + (1 - COSINE_FLOOR) / 2)
    assert lr_factor(99, config, 10) == pytest.approx(COSINE_FLOOR, abs=1e-3)
    step = TrainConfig(epochs=10, lr_drop=5, warmup_iters=4)
    assert [lr_factor(i, step, 10) for i in (0, 3, 49, 50)] == pytest.approx([0.25, 1, 1, 0.1])


def test_ema_moves_towards_the_model_with_the_ramped_decay():
    model = torch.nn.Linear(2, 1)
    ema = ModelEma(model, decay=0.99)
    start = ema.module.weight.clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)  # first update: decay min(0.99, 2 / 11)
    d = 2 / 11
    torch.testing.assert_close(ema.module.weight, start * d + model.weight * (1 - d))


# Every option trains ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_changes", "train_changes"),
    [
        ({}, {}),
        ({"dn_groups": 3}, {}),
        ({"class_score": "sigmoid"}, {"set_cost_class": 2.0, "ce_loss_coef": 2.0}),
        ({"backbone_norm": "gn"}, {}),
        ({"num_queries": 20}, {"amp": "bf16"}),
        ({"query_anchors": True, "dn_groups": 2}, {}),
        ({"query_anchors": True, "query_groups": 3}, {}),
    ],
    ids=[
        "scratch-backbone",
        "denoising",
        "focal",
        "groupnorm",
        "queries-bf16",
        "anchors-dn",
        "anchors-groups",
    ],  # fmt: skip
)
def test_each_option_drives_the_loss_down_on_four_images(four_images, model_changes, train_changes):
    model = _build(**{**SCRATCH, **model_changes})
    config = TrainConfig(lr=1e-3, lr_backbone=1e-3, batch_size=4, **train_changes)
    criterion = build_criterion(model.config, config)
    optimizer = make_optimizer(model, config)
    batch = collate_fn([four_images[i] for i in range(4)])
    amp = torch.bfloat16 if config.amp == "bf16" else None
    losses = []
    for _ in range(25):
        result = train_one_epoch(
            model, criterion, [batch], optimizer, torch.device("cpu"), amp_dtype=amp
        )
        losses.append(result.losses)
    assert all(math.isfinite(v) for step in losses for v in step.values())
    boxes = [s["loss_bbox"] * 5 + s["loss_giou"] * 2 for s in losses]  # matched queries only
    assert losses[-1]["loss"] < losses[0]["loss"] * 0.7, [s["loss"] for s in losses[::5]]
    assert boxes[-1] < boxes[0] * 0.7, boxes[::5]


def test_fit_with_warmup_cosine_and_ema_saves_the_averaged_weights_and_resumes(
    four_images, tmp_path
):
    model = _build(**SCRATCH, dn_groups=2)
    config = TrainConfig(
        lr=1e-3, lr_backbone=1e-3, batch_size=2, num_workers=0, epochs=2, out_dir=str(tmp_path),
        lr_schedule="cosine", warmup_iters=2, ema_decay=0.9,
    )  # fmt: skip
    result = fit(model, build_criterion(model.config, config), four_images, None, config)
    assert len(result.history) == 2
    saved = torch.load(result.last_checkpoint, weights_only=True)
    weights = saved["model"] if "model" in saved else saved["state_dict"]
    raw = model.state_dict()
    name = "class_embed.weight"
    assert not torch.equal(weights[name], raw[name])  # the EMA, not the raw weights
    resumed = _build(**SCRATCH, dn_groups=2)
    more = config.replace(epochs=3, resume=str(result.last_checkpoint))
    again = fit(resumed, build_criterion(resumed.config, more), four_images, None, more)
    assert [h["epoch"] for h in again.history] == [1, 2, 3]


# Synthetic data with a 4th shape ---------------------------------------------------------------


def test_synthetic_shapes_can_add_a_cross_and_the_default_is_unchanged(tmp_path):
    import json

    a = generate_shapes_dataset(tmp_path / "a", 6, seed=3, size=64)
    b = generate_shapes_dataset(tmp_path / "b", 6, seed=3, size=64, shapes=SHAPE_CATEGORIES)
    data_a, data_b = json.loads(a.read_text()), json.loads(b.read_text())
    assert data_a["annotations"] == data_b["annotations"]
    assert [c["name"] for c in data_a["categories"]] == list(SHAPE_CATEGORIES)
    c = generate_shapes_dataset(
        tmp_path / "c", 12, seed=3, size=64, shapes=(*SHAPE_CATEGORIES, "cross")
    )
    data_c = json.loads(c.read_text())
    assert [x["name"] for x in data_c["categories"]][-1] == "cross"
    assert 4 in {x["category_id"] for x in data_c["annotations"]}
    with pytest.raises(ValueError, match="shapes"):
        generate_shapes_dataset(tmp_path / "d", 1, shapes=("hexagon",))


def test_finetuning_a_denoising_model_keeps_the_label_embeddings_of_known_classes(tmp_path):
    from detr_model.checkpoint import load_checkpoint, save_checkpoint
    from detr_model.finetune import finetune_model

    source = _build(**SCRATCH, dn_groups=2)
    names = ["N/A", *SHAPE_CATEGORIES]
    path = save_checkpoint(tmp_path / "m.pt", source, class_names=names)
    model, surgery = finetune_model(load_checkpoint(path), [*names, "cross"])
    old = source.denoising.label_embed.weight
    new = model.denoising.label_embed.weight
    assert new.shape == (6, 128) and surgery.new == ["cross"]
    torch.testing.assert_close(new[1:4], old[1:4])
    torch.testing.assert_close(new[-1], old[-1])


def test_query_anchors_start_boxes_at_their_reference_and_add_weights_only_when_on():
    model = _build(**SCRATCH, query_anchors=True).eval()
    assert {k for k in model.state_dict() if k.startswith("anchors.")} >= {"anchors.weight"}
    with torch.no_grad():
        model.bbox_embed.layers[-1].weight.zero_()
        model.bbox_embed.layers[-1].bias.zero_()
        out = model(torch.randn(2, 3, 64, 64))
    reference = model.anchors.boxes()
    torch.testing.assert_close(out["pred_boxes"], reference[None].expand(2, -1, -1))
    assert not any(k.startswith("anchors.") for k in _build(**SCRATCH).state_dict())


@pytest.mark.parametrize("anchors", [False, True])
def test_query_groups_leave_the_first_group_unchanged_and_add_their_own_losses(anchors):
    plain = _build(**SCRATCH, query_anchors=anchors).train()
    grouped = _build(**SCRATCH, query_anchors=anchors, query_groups=3, dn_groups=2).train()
    state = grouped.state_dict()
    if anchors:
        state["anchors.weight"] = state["anchors.weight"][:12]
    plain.load_state_dict(
        {k: v for k, v in state.items() if not k.startswith(("denoising", "group_query"))}
    )
    images, targets = torch.randn(3, 3, 64, 64), _targets()
    a, b = plain(images), grouped(images, targets)
    torch.testing.assert_close(a["pred_boxes"], b["pred_boxes"], rtol=1e-5, atol=1e-5)
    assert b["group_outputs"]["pred_logits"].shape == (6, 12, 5)
    losses = build_criterion(grouped.config, TrainConfig())(b, targets)
    assert {"loss_ce_grp", "loss_giou_grp", "loss_bbox_0_grp", "loss_ce_dn"} <= set(losses)
    assert all(math.isfinite(v.item()) for v in losses.values())
    out = grouped.eval()(images)
    assert "group_outputs" not in out and out["pred_logits"].shape == (3, 12, 5)


def test_the_cli_trains_tiny_from_scratch_with_the_fast_presets():
    from detr_model.cli import build_parser
    from detr_model.cli_train import build_model, train_config
    from detr_model.train_config import TINY_FAST_SIZE, TINY_FAST_TRAIN

    args = build_parser().parse_args(
        ["train", "--train-json", "a.json", "--train-images", ".", "--out", "o"]
    )
    config = train_config(args)
    assert config.eval_size == TINY_FAST_SIZE and config.batch_size == 8
    assert {k: getattr(config, k) for k in TINY_FAST_TRAIN} == TINY_FAST_TRAIN
    assert config.lr_drop >= 1 and config.amp in ("bf16", "auto")
    model = build_model(args, ["N/A", "circle", "square"])
    assert model.config == ModelConfig.tiny_fast(num_classes=3)
    official = build_parser().parse_args(
        ["train", "--train-json", "a.json", "--train-images", ".", "--out", "o",
         "--preset", "detr_r50"]
    )  # fmt: skip
    assert train_config(official).batch_size == 2 and train_config(official).amp == "auto"
