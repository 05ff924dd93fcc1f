"""DETR Studio: a desktop app for bounding-box datasets with a DETR detector in the loop."""


def application_title() -> str:
    """Return the window title."""
    return "DETR Studio"
