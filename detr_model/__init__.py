"""A PyTorch DETR (Carion et al. 2020) faithful to facebookresearch/detr. No Qt."""

from .config import ModelConfig
from .detr import DETR, DetrOutput, build_detr
from .nested import NestedTensor, nested_tensor_from_tensor_list
from .postprocess import PostProcess

__all__ = [
    "DETR",
    "DetrOutput",
    "ModelConfig",
    "NestedTensor",
    "PostProcess",
    "build_detr",
    "nested_tensor_from_tensor_list",
]
