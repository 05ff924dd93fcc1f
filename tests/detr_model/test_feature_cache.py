"""Fast mode: cached backbone features give the same outputs, train, and leave the backbone alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from detr_model.checkpoint import load_checkpoint
from detr_model.config import ModelConfig
from detr_model.data import CocoDetection, collate_fn, generate_shapes_dataset, make_transforms
from detr_model.detr import build_detr
from detr_model.engine import fit
from detr_model.epoch import TrainingError
from detr_model.feature_cache import FeatureCache, FeatureCacheError, cached_scales
from detr_model.losses import build_criterion
from detr_model.nested import BackboneFeatures
from detr_model.train_config import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> CocoDetection:
    root = tmp_path_factory.mktemp("shapes")
    path = generate_shapes_dataset(root, 6, seed=3, size=(64, 80), objects=(1, 3))
    return CocoDetection(root, path, make_transforms("val", scales=[64], max_size=107))


def _model(num_classes: int, **changes):
    torch.manual_seed(0)
    config = ModelConfig.tiny_fast(num_classes=num_classes).replace(dropout=0.0, **changes)
    return build_detr(config).eval()


def _config(tmp_path: Path, **changes) -> TrainConfig:
    base = TrainConfig.tiny_fast(64).replace(
        epochs=1, batch_size=3, amp="off", ema_decay=0.0, warmup_iters=0, out_dir=str(tmp_path)
    )
    return base.replace(feature_cache=True, **changes)


def _cache(model, dataset, **kwargs) -> FeatureCache:
    return FeatureCache.build(model.backbone[0], dataset, scales=[64], max_size=107, **kwargs)


def test_cached_features_give_the_outputs_of_the_full_model(shapes) -> None:
    model = _model(shapes.num_classes)
    cache = _cache(model, shapes, flips=False)
    assert len(cache) == len(shapes) and cache.num_variants == 1
    for index in range(2):  # one image a batch: no padding, which changes border features
        features, target = cache.collate_fn([cache[index]])
        images, targets = collate_fn([shapes[index]])
        assert isinstance(features, BackboneFeatures)
        with torch.no_grad():
            cached, full = model(features), model(images)
        # float16 storage of the features is the only difference.
        assert torch.allclose(cached["pred_boxes"], full["pred_boxes"], atol=2e-3)
        assert torch.allclose(cached["pred_logits"], full["pred_logits"], atol=1e-2)
    assert torch.equal(target[0]["boxes"], targets[0]["boxes"])


def test_flipped_variants_mirror_the_boxes(shapes) -> None:
    model = _model(shapes.num_classes)
    cache = _cache(model, shapes, flips=True)
    assert cache.num_variants == 2
    plain, mirrored = cache.variants[0]
    expected = plain.target["boxes"].clone()
    expected[:, 0] = 1 - expected[:, 0]  # cx mirrored; cy, w, h unchanged
    assert torch.allclose(mirrored.target["boxes"], expected, atol=1e-6)
    pixels, _ = shapes[0]
    with torch.no_grad():  # the mirrored image through the backbone, not mirrored features
        direct = model.backbone[0](BackboneFeatures.from_batch(pixels.flip(-1)[None])).tensors[0]
    assert torch.allclose(mirrored.features.float(), direct, atol=2e-2)
    assert not torch.allclose(mirrored.features.float(), plain.features.float(), atol=2e-2)


def test_padding_in_a_batch_is_masked(shapes) -> None:
    small = torch.zeros(4, 2, 3)
    large = torch.ones(4, 3, 5)
    batch, _ = FeatureCache.collate_fn([(small, {}), (large, {})])
    assert batch.tensors.shape == (2, 4, 3, 5)
    assert batch.mask[0, :2, :3].logical_not().all() and batch.mask[0, 2:].all()
    assert batch.mask[0, :, 3:].all() and not batch.mask[1].any()
    assert isinstance(batch.to("cpu"), BackboneFeatures)


def test_the_memory_limit_names_the_image_and_stops(shapes) -> None:
    model = _model(shapes.num_classes)
    with pytest.raises(
        FeatureCacheError, match=r"exceed 0 MiB after 1 of 6 images \(000001.jpg is 77x65 px\)"
    ):
        _cache(model, shapes, memory_limit=1000)


def test_cached_scales_keep_few_sizes() -> None:
    assert cached_scales([96, 112, 128], 128) == (96, 112, 128)
    assert cached_scales(range(480, 801, 32), 800) == (480, 640, 800)


def test_fast_mode_trains_the_transformer_and_leaves_the_backbone(shapes, tmp_path) -> None:
    model = _model(shapes.num_classes)
    model.train()
    backbone_before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    proj_before = model.input_proj.weight.detach().clone()
    config = _config(tmp_path, epochs=4, lr=1e-3, log_every=1)
    events: list[dict] = []
    result = fit(
        model,
        build_criterion(model.config, config),
        shapes,
        None,
        config,
        on_progress=events.append,
    )
    caching = [e for e in events if e["event"] == "cache"]
    assert caching[-1]["done"] == caching[-1]["total"] == len(shapes)
    assert caching[-1]["scales"] == [32, 48, 64]
    losses = [e["loss"] for e in events if e["event"] == "epoch"]
    assert len(losses) == 4 and losses[-1] < losses[0]
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, backbone_before[key]), key  # BN statistics too
    assert not torch.equal(model.input_proj.weight, proj_before)
    saved = load_checkpoint(result.best_checkpoint)
    assert saved.train_config["feature_cache"] is True
    assert torch.equal(saved.state_dict["backbone.0.body.layer2.0.conv1.weight"],
                       backbone_before["0.body.layer2.0.conv1.weight"])  # fmt: skip


def test_fast_mode_trains_with_denoising_queries(shapes, tmp_path) -> None:
    model = _model(shapes.num_classes, dn_groups=2).train()
    config = _config(tmp_path, epochs=1)
    result = fit(model, build_criterion(model.config, config), shapes, None, config)
    assert len(result.history) == 1 and result.history[0]["loss"] == result.history[0]["loss"]


def test_stopping_while_caching_writes_nothing(shapes, tmp_path) -> None:
    model = _model(shapes.num_classes).train()
    config = _config(tmp_path)
    result = fit(
        model, build_criterion(model.config, config), shapes, None, config, should_stop=lambda: True
    )
    assert result.stopped and result.best_checkpoint is None
    assert not (tmp_path / "last.pt").exists()


def test_fast_mode_refuses_a_dataset_it_cannot_reload(tmp_path) -> None:
    model = _model(3).train()
    data = [(torch.zeros(3, 32, 32), {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0)})]

    class Plain(torch.utils.data.Dataset):
        class_names = ["a", "b", "c"]

        def __len__(self):
            return 1

        def __getitem__(self, i):
            return data[i]

    config = _config(tmp_path)
    with pytest.raises(TrainingError, match="fast mode needs a dataset with load"):
        fit(model, build_criterion(model.config, config), Plain(), None, config)
