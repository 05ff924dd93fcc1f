"""Predictor: input types, original-frame boxes, EXIF, batch order, threshold, from_checkpoint."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from detr_model.checkpoint import save_checkpoint
from detr_model.config import ModelConfig
from detr_model.detr import DETR, build_detr
from detr_model.image_input import normalize, prepare_image, resized_size
from detr_model.nested import nested_tensor_from_tensor_list
from detr_model.postprocess import PostProcess
from detr_model.predictor import Detections, Predictor

NAMES = ["zero", "one", "two", "three", "four"]
SMALL = {"device": "cpu", "min_size": 64, "max_size": 96, "precision": "fp32"}
BOX = (0.25, 0.5, 0.2, 0.4)  # cx, cy, w, h of the constant-box model


def _random_model(seed: int = 0) -> DETR:
    torch.manual_seed(seed)
    return build_detr(ModelConfig.tiny(num_classes=5)).eval()


def _constant_model() -> DETR:
    """Return a model that always predicts BOX with class 3 at score ~1, whatever the image."""
    model = _random_model()
    with torch.no_grad():
        last = model.bbox_embed.layers[-1]
        last.weight.zero_()
        last.bias.copy_(torch.logit(torch.tensor(BOX)))
        model.class_embed.weight.zero_()
        model.class_embed.bias.fill_(-10.0)
        model.class_embed.bias[3] = 10.0
    return model


def _image(width: int, height: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _expected_box(width: int, height: int) -> np.ndarray:
    cx, cy, w, h = BOX
    return np.array([(cx - w / 2) * width, (cy - h / 2) * height,
                     (cx + w / 2) * width, (cy + h / 2) * height], dtype=np.float32)  # fmt: skip


def test_boxes_are_in_the_original_image_pixels_with_class_names() -> None:
    predictor = Predictor(_constant_model(), NAMES, **SMALL)
    [det] = predictor.predict([_image(300, 200)])
    assert isinstance(det, Detections)
    assert det.boxes.shape == (12, 4)
    assert det.boxes.dtype == np.float32
    assert det.scores.shape == (12,)
    assert det.labels.dtype == np.int64
    np.testing.assert_allclose(det.boxes, np.tile(_expected_box(300, 200), (12, 1)), atol=1e-3)
    assert set(det.labels.tolist()) == {3}
    assert det.names == ["three"] * 12
    assert (det.scores > 0.99).all()


def test_predictions_match_the_model_run_by_hand() -> None:
    model = _random_model()
    image = _image(150, 100, seed=3)
    predictor = Predictor(model, NAMES, **SMALL)
    [det] = predictor.predict([image], score_threshold=0.0)
    prepared = prepare_image(image, 64, 96)
    assert tuple(prepared.pixels.shape) == (3, 64, 96)
    with torch.inference_mode():
        out = model(normalize(prepared.pixels)[None])
    [expected] = PostProcess()(out, [(100, 150)])
    order = torch.argsort(expected["scores"], descending=True, stable=True)
    np.testing.assert_allclose(det.scores, expected["scores"][order].numpy(), atol=1e-4)
    np.testing.assert_allclose(det.boxes, expected["boxes"][order].numpy(), atol=1e-3)
    assert det.labels.tolist() == expected["labels"][order].tolist()


def test_padding_in_a_mixed_size_batch_is_zero_after_normalisation_as_official() -> None:
    model = _random_model()
    images = [_image(150, 100, seed=3), _image(100, 100, seed=4)]  # 64x96 and 64x64 resized
    dets = Predictor(model, NAMES, batch_size=2, **SMALL).predict(images, score_threshold=0.0)
    prepared = [normalize(prepare_image(im, 64, 96).pixels) for im in images]
    with torch.inference_mode():
        out = model(nested_tensor_from_tensor_list(prepared))
    expected = PostProcess()(out, [(100, 150), (100, 100)])
    for det, exp in zip(dets, expected, strict=True):
        order = torch.argsort(exp["scores"], descending=True, stable=True)
        np.testing.assert_allclose(det.scores, exp["scores"][order].numpy(), atol=1e-4)
        np.testing.assert_allclose(det.boxes, exp["boxes"][order].numpy(), atol=1e-3)


def test_pil_numpy_and_path_inputs_give_the_same_detections(tmp_path: Path) -> None:
    array = _image(120, 90, seed=1)
    path = tmp_path / "img.png"
    Image.fromarray(array).save(path)
    predictor = Predictor(_random_model(), NAMES, **SMALL)
    dets = predictor.predict([array, Image.fromarray(array), path, str(path)], score_threshold=0.0)
    for det in dets[1:]:
        np.testing.assert_array_equal(det.boxes, dets[0].boxes)
        np.testing.assert_array_equal(det.scores, dets[0].scores)
        np.testing.assert_array_equal(det.labels, dets[0].labels)


def test_exif_rotated_file_gives_boxes_in_the_rotated_frame(tmp_path: Path) -> None:
    stored = _image(60, 40, seed=2)  # stored landscape, displayed portrait
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.fromarray(stored).save(path, exif=exif, quality=100)
    [det] = Predictor(_constant_model(), NAMES, **SMALL).predict([path])
    np.testing.assert_allclose(det.boxes[0], _expected_box(40, 60), atol=1e-3)

    displayed = np.asarray(Image.open(path).transpose(Image.Transpose.ROTATE_270))
    assert displayed.shape == (60, 40, 3)
    predictor = Predictor(_random_model(), NAMES, **SMALL)
    from_file, from_array = predictor.predict([path, displayed], score_threshold=0.0)
    np.testing.assert_array_equal(from_file.boxes, from_array.boxes)
    np.testing.assert_array_equal(from_file.scores, from_array.scores)


def test_batches_sorted_by_shape_return_results_in_input_order() -> None:
    sizes = [(50, 30), (30, 50), (40, 40), (60, 20), (20, 60), (45, 35), (35, 45)]
    images = [_image(w, h, seed=i) for i, (w, h) in enumerate(sizes)]
    predictor = Predictor(_constant_model(), NAMES, batch_size=3, **SMALL)
    dets = predictor.predict(images)
    assert len(dets) == len(sizes)
    for det, (w, h) in zip(dets, sizes, strict=True):
        np.testing.assert_allclose(det.boxes[0], _expected_box(w, h), atol=1e-3)


def test_batched_results_equal_single_image_results_for_same_shape_images() -> None:
    images = [_image(96, 64, seed=i) for i in range(5)]
    model = _random_model()
    batched = Predictor(model, NAMES, batch_size=4, **SMALL).predict(images, score_threshold=0)
    single = Predictor(model, NAMES, batch_size=1, **SMALL).predict(images, score_threshold=0)
    for b, s in zip(batched, single, strict=True):
        np.testing.assert_allclose(b.scores, s.scores, atol=1e-5)
        np.testing.assert_allclose(b.boxes, s.boxes, atol=1e-3)


def test_score_threshold_keeps_only_scores_at_or_above_it_best_first() -> None:
    predictor = Predictor(_random_model(), NAMES, **SMALL)
    image = _image(80, 80, seed=4)
    [everything] = predictor.predict(image, score_threshold=0.0)
    assert len(everything) == 12
    assert (np.diff(everything.scores) <= 0).all()
    cut = float(np.median(everything.scores))
    [some] = predictor.predict(image, score_threshold=cut)
    assert 0 < len(some) < 12
    assert (some.scores >= cut).all()
    assert len(some) == int((everything.scores >= cut).sum())
    [none] = predictor.predict(image, score_threshold=1.01)
    assert none.boxes.shape == (0, 4)
    assert none.names == []


def test_from_checkpoint_reads_an_own_format_file(tmp_path: Path) -> None:
    model = _random_model(seed=5)
    path = save_checkpoint(tmp_path / "m.pth", model, class_names=NAMES, metrics={"AP": 0.3})
    loaded = Predictor.from_checkpoint(path, **SMALL)
    direct = Predictor(model, NAMES, **SMALL)
    image = _image(70, 90, seed=6)
    [a], [b] = loaded.predict(image, score_threshold=0), direct.predict(image, score_threshold=0)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    assert loaded.class_names == NAMES
    assert loaded.checkpoint is not None
    assert loaded.checkpoint.metrics == {"AP": 0.3}


def test_predictor_leaves_the_model_it_was_given_untouched() -> None:
    model = _random_model()
    keys = list(model.state_dict())
    weight = model.backbone[0].body.conv1.weight.clone()
    Predictor(model, NAMES, **SMALL)
    assert list(model.state_dict()) == keys
    assert torch.equal(model.backbone[0].body.conv1.weight, weight)
    assert model.backbone[0].body.conv1.weight.is_contiguous()


def test_paper_resize_rule() -> None:
    assert resized_size(480, 640, 800, 1333) == (800, 1066)
    assert resized_size(640, 480, 800, 1333) == (1066, 800)
    assert resized_size(100, 1000, 800, 1333) == (133, 1330)  # int() of 133 * 10, as official
    assert resized_size(800, 1000, 800, 1333) == (800, 1000)
    assert resized_size(100, 1000, 800, None) == (800, 8000)
    h, w = resized_size(333, 500, 64, 96)
    assert min(h, w) == 64 and max(h, w) <= 96 and math.isclose(w / h, 1.5, rel_tol=0.02)


def test_bad_inputs_name_the_problem(tmp_path: Path) -> None:
    predictor = Predictor(_random_model(), NAMES, **SMALL)
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        predictor.predict([tmp_path / "missing.jpg"])
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="broken.jpg: not an image"):
        predictor.predict([broken])
    with pytest.raises(ValueError, match="uint8"):
        predictor.predict([np.zeros((10, 10, 3), dtype=np.float32)])
    with pytest.raises(ValueError, match="precision"):
        Predictor(_random_model(), NAMES, precision="fp8")


def _model_with_class_biases(biases: list[float], config: ModelConfig | None = None) -> DETR:
    """Return a model whose logits are the given biases for every query, whatever the image."""
    torch.manual_seed(0)
    model = build_detr(config or ModelConfig.tiny(num_classes=len(biases) - 1)).eval()
    with torch.no_grad():
        model.class_embed.weight.zero_()
        model.class_embed.bias.copy_(torch.tensor(biases))
        last = model.bbox_embed.layers[-1]
        last.weight.zero_()
        last.bias.copy_(torch.logit(torch.tensor((0.05, 0.05, 0.4, 0.4))))  # sticks out left/top
    return model


def test_placeholder_classes_are_never_reported() -> None:
    # Slot 0 is "N/A" (as in COCO-id models) and has by far the largest logit.
    model = _model_with_class_biases([20.0, 5.0, -5.0, -20.0])
    predictor = Predictor(model, ["N/A", "cat", "dog"], **SMALL)
    [det] = predictor.predict([_image(120, 80)], score_threshold=0.0)
    assert len(det.labels) > 0
    assert set(det.names) == {"cat"}
    assert (det.labels == 1).all()


def test_boxes_are_clipped_to_the_image() -> None:
    predictor = Predictor(_model_with_class_biases([5.0, -5.0]), ["thing"], **SMALL)
    [det] = predictor.predict([_image(120, 80)], score_threshold=0.0)
    assert det.boxes.min() >= 0.0
    assert (det.boxes[:, 0::2] <= 120).all() and (det.boxes[:, 1::2] <= 80).all()
    assert np.allclose(det.boxes[0], [0.0, 0.0, 0.25 * 120, 0.25 * 80], atol=1e-3)


def test_sigmoid_models_are_scored_with_sigmoids() -> None:
    # Softmax over [-6, -6, -30] would give each class ~0.5; sigmoid gives ~0.0025.
    config = ModelConfig.tiny(num_classes=2).replace(class_score="sigmoid")
    predictor = Predictor(
        _model_with_class_biases([-6.0, -6.0, -30.0], config), ["a", "b"], **SMALL
    )
    [det] = predictor.predict([_image(64, 64)], score_threshold=0.0)
    assert np.allclose(det.scores, 1 / (1 + math.exp(6.0)), atol=1e-4)


def test_postprocess_ignore_labels_picks_the_best_remaining_class() -> None:
    logits = torch.tensor([[[4.0, 3.0, 1.0, 0.0]]])  # (1, 1, 3 classes + no object)
    boxes = torch.tensor([[[0.5, 0.5, 0.2, 0.2]]])
    outputs = {"pred_logits": logits, "pred_boxes": boxes}
    [plain] = PostProcess()(outputs, [[10, 10]])
    [ignoring] = PostProcess(ignore_labels=[0])(outputs, [[10, 10]])
    probs = logits.softmax(-1)[0, 0]
    assert plain["labels"].item() == 0
    assert ignoring["labels"].item() == 1
    assert ignoring["scores"].item() == pytest.approx(probs[1].item())


def test_from_checkpoint_resizes_as_the_model_was_evaluated_in_training(tmp_path: Path) -> None:
    from detr_model.train_config import TrainConfig

    path = tmp_path / "small.pt"
    train_config = TrainConfig.small_images(128)
    save_checkpoint(path, _random_model(), class_names=NAMES, train_config=train_config)
    loaded = Predictor.from_checkpoint(path, device="cpu", precision="fp32")
    assert (loaded.min_size, loaded.max_size) == (train_config.eval_size, train_config.max_size)
    assert train_config.eval_size == 128
    chosen = Predictor.from_checkpoint(path, device="cpu", precision="fp32", min_size=64)
    assert chosen.min_size == 64
    plain = tmp_path / "plain.pt"
    save_checkpoint(plain, _random_model(), class_names=NAMES)
    assert Predictor.from_checkpoint(plain, device="cpu").min_size == 800


def test_duplicate_boxes_of_one_class_are_dropped_and_other_classes_kept() -> None:
    from detr_model.predictor import Detections, _drop_duplicates

    det = Detections(
        boxes=np.array(
            [[0, 0, 10, 10], [0, 0, 10, 11], [0, 0, 10, 10], [50, 50, 60, 60]], dtype=np.float32
        ),
        scores=np.array([0.9, 0.8, 0.7, 0.6], dtype=np.float32),
        labels=np.array([1, 1, 2, 1], dtype=np.int64),
        names=["a", "a", "b", "a"],
    )
    kept = _drop_duplicates(det, 0.7)
    assert kept.scores.tolist() == pytest.approx([0.9, 0.7, 0.6])  # best first, as before
    assert kept.names == ["a", "b", "a"]
    assert len(_drop_duplicates(det, 0.95)) == 4  # IoU 10/11 < 0.95: two boxes
