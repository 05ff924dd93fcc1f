"""The user's annotation data: plain dataclasses, COCO import/export, project store. No Qt, no torch."""
