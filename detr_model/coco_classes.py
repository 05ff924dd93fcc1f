"""The 91-slot COCO class-name table the official DETR checkpoints predict into.

The official models label each box with its COCO category id directly (1..90, with gaps), so the
class head has 91 slots plus "no object". Slot 0 and the ids COCO never used hold "N/A".
"""

from __future__ import annotations

NO_CLASS_NAME = "N/A"

# index = COCO category id
COCO_CLASSES: tuple[str, ...] = (
    "N/A",
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "N/A",  # 12
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "N/A",  # 26
    "backpack",
    "umbrella",
    "N/A",  # 29
    "N/A",  # 30
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "N/A",  # 45
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "N/A",  # 66
    "dining table",
    "N/A",  # 68
    "N/A",  # 69
    "toilet",
    "N/A",  # 71
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "N/A",  # 83
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
)
