"""Detection data: COCO-format datasets, the paper's augmentations, a synthetic shapes set."""

from detr_model.data.coco import CocoDetection, DatasetError, coco_api, load_coco_json
from detr_model.data.synthetic import SHAPE_CATEGORIES, generate_shapes_dataset
from detr_model.data.transforms import collate_fn, make_transforms

__all__ = [
    "SHAPE_CATEGORIES",
    "CocoDetection",
    "DatasetError",
    "coco_api",
    "collate_fn",
    "generate_shapes_dataset",
    "load_coco_json",
    "make_transforms",
]
