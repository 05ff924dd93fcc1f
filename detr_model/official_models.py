"""The COCO models released with facebookresearch/detr: where to get them and how good they are."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OfficialModel:
    """One released checkpoint: its download address, hash prefix and COCO val2017 scores."""

    name: str  # our short name, e.g. "detr-r50"
    url: str
    sha256_prefix: str  # first hex digits of the file's SHA-256 (the suffix of the file name)
    backbone: str  # resnet50 | resnet101
    dilation: bool  # DC5 variant: not visible in the state-dict keys
    coco_ap: float
    coco_ap50: float
    size_mb: int  # approximate download size

    @property
    def filename(self) -> str:
        """Return the file name the checkpoint is cached under (the last part of the URL)."""
        return self.url.rsplit("/", 1)[-1]


_BASE_URL = "https://dl.fbaipublicfiles.com/detr/"

OFFICIAL_MODELS: dict[str, OfficialModel] = {
    m.name: m
    for m in (
        OfficialModel(
            "detr-r50", _BASE_URL + "detr-r50-e632da11.pth", "e632da11",
            "resnet50", False, 42.0, 62.4, 159,
        ),
        OfficialModel(
            "detr-r50-dc5", _BASE_URL + "detr-r50-dc5-f0fb7ef5.pth", "f0fb7ef5",
            "resnet50", True, 43.3, 63.1, 159,
        ),
        OfficialModel(
            "detr-r101", _BASE_URL + "detr-r101-2c7b67e5.pth", "2c7b67e5",
            "resnet101", False, 43.5, 63.8, 232,
        ),
        OfficialModel(
            "detr-r101-dc5", _BASE_URL + "detr-r101-dc5-a2e86def.pth", "a2e86def",
            "resnet101", True, 44.9, 64.7, 232,
        ),
    )
}  # fmt: skip


def official_model_for_file(filename: str) -> OfficialModel | None:
    """Return the official model whose released file name is `filename`, or None."""
    for model in OFFICIAL_MODELS.values():
        if model.filename == filename:
            return model
    return None
