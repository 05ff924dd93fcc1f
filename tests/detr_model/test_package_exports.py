import subprocess
import sys

import detr_model


def test_every_public_name_resolves_to_an_object() -> None:
    for name in detr_model.__all__:
        assert getattr(detr_model, name) is not None, name


def test_unknown_names_raise_attribute_error() -> None:
    try:
        detr_model.not_a_thing  # noqa: B018
    except AttributeError as error:
        assert "not_a_thing" in str(error)
    else:
        raise AssertionError("expected AttributeError")


def test_model_listing_modules_load_without_torch() -> None:
    code = (
        "import sys\n"
        "import detr_model.download, detr_model.official_models, detr_model.coco_classes\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
