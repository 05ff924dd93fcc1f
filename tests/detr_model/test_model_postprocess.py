"""PostProcess: softmax, "no object" dropped, boxes scaled to pixels."""

import pytest
import torch

from detr_model.detr import DetrOutput
from detr_model.postprocess import PostProcess


def test_no_object_is_never_the_label_and_scores_are_the_best_real_class_probability():
    logits = torch.tensor([[[0.0, 1.0, 5.0], [2.0, 0.0, 0.0]]])  # (1, 2 queries, 2 classes + ∅)
    boxes = torch.full((1, 2, 4), 0.5)
    (result,) = PostProcess()({"pred_logits": logits, "pred_boxes": boxes}, torch.tensor([[1, 1]]))
    prob = logits.softmax(-1)
    assert result["labels"].tolist() == [1, 0]  # query 0's ∅ (index 2) is the argmax, dropped
    assert torch.allclose(result["scores"], torch.stack((prob[0, 0, 1], prob[0, 1, 0])))


def test_boxes_are_scaled_to_each_images_pixels_as_xyxy():
    boxes = torch.tensor([[[0.5, 0.5, 0.5, 0.25]], [[0.25, 0.75, 0.5, 0.5]]])  # cx, cy, w, h
    out = DetrOutput(pred_logits=torch.zeros(2, 1, 3), pred_boxes=boxes)
    results = PostProcess()(out, [(100, 200), (40, 80)])  # (h, w)
    assert len(results) == 2
    assert torch.allclose(results[0]["boxes"], torch.tensor([[50.0, 37.5, 150.0, 62.5]]))
    assert torch.allclose(results[1]["boxes"], torch.tensor([[0.0, 20.0, 40.0, 40.0]]))
    assert results[0]["labels"].dtype == torch.int64


def test_mismatched_target_sizes_are_refused():
    out = {"pred_logits": torch.zeros(2, 1, 3), "pred_boxes": torch.zeros(2, 1, 4)}
    with pytest.raises(ValueError, match=r"target_sizes must be \(B, 2\)"):
        PostProcess()(out, torch.tensor([[1, 2, 3]]))
    with pytest.raises(ValueError, match="1 target sizes for a batch of 2"):
        PostProcess()(out, torch.tensor([[1, 2]]))
