"""Pascal VOC XML: one ``<annotation>`` file per image, boxes as pixel ``xmin ymin xmax ymax``
in display orientation, ``difficult``/``truncated``/``occluded``/``pose`` kept as box attributes.

Import reads LabelImg folders (XML beside the image) and the VOC layout (``Annotations/`` with
``JPEGImages/``). The files come from elsewhere, so they are parsed with defusedxml: entity
expansion and external entities are refused instead of evaluated.
"""

from __future__ import annotations

import logging
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import parse as parse_xml

from app.annotations.coco_import import ImportResult
from app.annotations.formats.reading import ResultBuilder, list_files
from app.annotations.formats.writing import (
    ALL,
    DatasetSummary,
    ExportOptions,
    folder_export,
    number,
    place_image,
)
from app.annotations.model import Project
from app.annotations.paths import safe_relative_path
from detr_model.image_file import IMAGE_EXTENSIONS

log = logging.getLogger(__name__)

LABELMAP = "labelmap.txt"  # CVAT/Datumaro's class list: "name:r,g,b:parts:actions" per line
FLAGS = ("difficult", "truncated", "occluded")  # 0/1 elements of an <object>
_EXTENSIONS = sorted(IMAGE_EXTENSIONS)
_ANNOTATIONS, _JPEG = f"{os.sep}Annotations{os.sep}", f"{os.sep}JPEGImages{os.sep}"


def _text(node: ET.Element | None, tag: str) -> str | None:
    found = node.find(tag) if node is not None else None
    return found.text.strip() if found is not None and found.text else None


def _float(node: ET.Element | None, tag: str) -> float | None:
    text = _text(node, tag)
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _find_image(xml: Path, filename: str | None) -> Path:
    """Return the image of `xml` (the most likely place when none is on disk)."""
    folders = [os.fspath(xml.parent)]
    text = os.fspath(xml)
    if _ANNOTATIONS in text:  # Annotations/a/b.xml -> JPEGImages/a/b.jpg
        folders.insert(0, os.path.dirname(_JPEG.join(text.rsplit(_ANNOTATIONS, 1))))
    if filename:
        for folder in folders:
            candidate = os.path.join(folder, filename)
            if os.path.isfile(candidate):
                return Path(candidate)
    for folder in folders:
        for ext in _EXTENSIONS:
            candidate = os.path.join(folder, xml.stem + ext)
            if os.path.isfile(candidate):
                return Path(candidate)
    return Path(folders[0], filename or xml.stem + ".jpg")  # maybe a project image by name


def read_labelmap(path: Path) -> list[str]:
    """Return the class names of a labelmap.txt ([] when there is none or it is unreadable)."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    names = []
    for line in lines:
        fields = line.rsplit(":", 3)  # a name may hold ':' itself
        if not line.strip() or (line.startswith("#") and not _is_colour(fields)):
            continue  # "# label:color_rgb:parts:actions" is the header; "#1:0,0,255::" a class
        if fields[0] == "background" and fields[1:2] == ["0,0,0"]:
            continue  # segmentation's class 0, not an object class
        names.append(fields[0])
    return names


def _is_colour(fields: list[str]) -> bool:
    """True when a labelmap line's second field is an "r,g,b" colour (an entry, not a comment)."""
    parts = fields[1].split(",") if len(fields) == 4 else []
    return len(parts) == 3 and all(p.strip().isdigit() for p in parts)


def read(folder: str | os.PathLike, project: Project) -> ImportResult:
    """Return the labels of a folder of Pascal VOC XML files for MergeImport."""
    folder = Path(folder)
    builder = ResultBuilder.for_folder(folder, project)
    report = builder.report
    for name in read_labelmap(folder / LABELMAP):  # classes without boxes come along too
        if name.strip():
            builder.category_id(name)
    for xml in list_files(folder, suffix=".xml"):
        where = os.path.relpath(xml, folder)
        try:
            root = parse_xml(xml, forbid_dtd=True).getroot()
        except (ParseError, DefusedXmlException, OSError) as exc:
            report.skip("unreadable XML", f"{where}: {exc}")
            continue
        if root.tag != "annotation":
            report.skip("not a Pascal VOC file", f"{where}: root element <{root.tag}>")
            continue
        raw_name = _text(root, "filename")
        filename = safe_relative_path(raw_name) if raw_name else None
        if raw_name and filename is None:
            report.skip("filename leaves the folder", f"{where}: <filename> {raw_name!r} refused")
            continue
        image = _find_image(xml, filename)
        size = root.find("size")
        w, h = _float(size, "width"), _float(size, "height")
        stated = (int(w), int(h)) if w and h and w > 0 and h > 0 else None
        rec = builder.image(image, where, stated_size=stated)
        if rec is None:
            continue
        for n, obj in enumerate(root.iter("object"), start=1):
            _read_object(builder, rec, obj, f"{where} object {n}")
    return builder.result()


def _read_object(builder: ResultBuilder, rec, obj: ET.Element, where: str) -> None:
    name = _text(obj, "name")
    if not name:
        builder.report.skip("object without a name", where)
        return
    box = obj.find("bndbox")
    if box is None:
        builder.report.skip("object without bndbox", f"{where} ({name})")
        return
    corners = [_float(box, tag) for tag in ("xmin", "ymin", "xmax", "ymax")]
    if any(v is None for v in corners):
        builder.report.skip("bndbox is not 4 numbers", f"{where} ({name})")
        return
    attributes: list[tuple[str, object]] = []
    for flag in FLAGS:  # kept when set: 0 is what every VOC file says by default
        if _text(obj, flag) not in (None, "0", "false", "False"):
            attributes.append((flag, True))
    pose = _text(obj, "pose")
    if pose and pose != "Unspecified":
        attributes.append(("pose", pose))
    builder.add_box(rec, tuple(corners), builder.category_id(name), where, attributes=attributes)


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    node = ET.SubElement(parent, tag)
    if text is not None:
        node.text = text
    return node


def annotation_xml(folder: str, filename: str, width: int, height: int, objects) -> bytes:
    """Return the XML of one image: `objects` are (class name, xyxy, attributes) triples."""
    root = ET.Element("annotation")
    _sub(root, "folder", folder)
    _sub(root, "filename", filename)
    _sub(_sub(root, "source"), "database", "DETR Studio")
    size = _sub(root, "size")
    for tag, value in (("width", width), ("height", height), ("depth", 3)):
        _sub(size, tag, str(value))
    _sub(root, "segmented", "0")
    for name, rect, attributes in objects:
        obj = _sub(root, "object")
        _sub(obj, "name", name)
        _sub(obj, "pose", str(attributes.get("pose", "Unspecified")))
        for flag in FLAGS:
            if flag in attributes or flag != "occluded":
                _sub(obj, flag, "1" if attributes.get(flag) else "0")
        bndbox = _sub(obj, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), rect, strict=True):
            _sub(bndbox, tag, number(value))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=False) + b"\n"


def _rgb(color: str) -> str:
    try:
        return ",".join(str(int(color[i : i + 2], 16)) for i in (1, 3, 5))
    except ValueError:
        return "0,0,0"


def write(project: Project, target: str | os.PathLike, options: ExportOptions) -> DatasetSummary:
    """Write the project as a VOC folder: Annotations/, JPEGImages/, ImageSets/Main/<split>.txt."""
    with folder_export(project, target, options) as export:
        plan, out, stage, summary = export.plan, export.names, export.stage, export.summary
        names = {c.id: c.name for c in plan.categories}
        lists: dict[str, list[str]] = {}
        for split, items in plan.splits.items():
            ids = lists.setdefault("trainval" if split == ALL else split, [])
            for item in items:
                path = out[item.rec.path]
                place_image(project.root / item.rec.path, stage / "JPEGImages" / path, summary)
                stem = path.rsplit(".", 1)[0]
                folder, _, filename = f"JPEGImages/{path}".rpartition("/")
                objects = [
                    (names[box.category_id], rect, dict(box.attributes)) for box, rect in item.boxes
                ]
                xml = stage / "Annotations" / f"{stem}.xml"
                xml.parent.mkdir(parents=True, exist_ok=True)
                xml.write_bytes(annotation_xml(folder, filename, item.width, item.height, objects))
                ids.append(stem)
        if "train" in lists and "val" in lists:
            lists["trainval"] = lists["train"] + lists["val"]
        (stage / LABELMAP).write_text(
            "# label:color_rgb:parts:actions\n"
            + "".join(f"{c.name}:{_rgb(c.color)}::\n" for c in plan.categories),
            encoding="utf-8",
        )
        sets = stage / "ImageSets" / "Main"
        sets.mkdir(parents=True)
        for name, ids in lists.items():
            (sets / f"{name}.txt").write_text("".join(i + "\n" for i in ids), encoding="utf-8")
    return summary
