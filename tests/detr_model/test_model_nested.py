"""Tests for padding a list of images into a NestedTensor."""

import pytest
import torch

from detr_model.nested import NestedTensor, nested_tensor_from_tensor_list


def test_images_are_padded_bottom_right_and_mask_marks_padding():
    a = torch.rand(3, 4, 6)
    b = torch.rand(3, 5, 2)
    nt = nested_tensor_from_tensor_list([a, b])
    assert nt.tensors.shape == (2, 3, 5, 6)
    assert nt.mask.shape == (2, 5, 6)
    assert torch.equal(nt.tensors[0, :, :4, :6], a)
    assert torch.equal(nt.tensors[1, :, :5, :2], b)
    assert nt.tensors[0, :, 4:].abs().sum() == 0
    assert nt.tensors[1, :, :, 2:].abs().sum() == 0
    assert not nt.mask[0, :4, :6].any() and nt.mask[0, 4:].all()
    assert not nt.mask[1, :5, :2].any() and nt.mask[1, :, 2:].all()


def test_decompose_and_to_keep_tensors_and_mask():
    nt = NestedTensor.from_batch(torch.rand(2, 3, 4, 5))
    tensors, mask = nt.to("cpu").decompose()
    assert tensors.shape == (2, 3, 4, 5)
    assert mask.dtype == torch.bool and not mask.any()
    assert len(nt) == 2


def test_bad_inputs_give_clear_errors():
    with pytest.raises(ValueError, match="empty"):
        nested_tensor_from_tensor_list([])
    with pytest.raises(ValueError, match="image 1"):
        nested_tensor_from_tensor_list([torch.rand(3, 4, 4), torch.rand(4, 4)])
    with pytest.raises(ValueError, match="mask"):
        NestedTensor(torch.rand(1, 3, 4, 4), torch.zeros(1, 4, 5, dtype=torch.bool))
