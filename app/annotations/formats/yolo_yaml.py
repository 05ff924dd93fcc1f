"""The part of YAML that an Ultralytics ``data.yaml`` uses, read and written without a YAML
library (none is a dependency): top-level ``key: value`` lines, ``names`` as a block or flow
list or mapping, plain, single- or double-quoted scalars, ``#`` comments.
"""

from __future__ import annotations

import json
import re

_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:(?:\s+(.*))?$")
_ITEM = re.compile(r"^-\s*(.*)$")
_ENTRY = re.compile(r"^(\d+)\s*:\s*(.*)$")
# Characters that make a YAML plain scalar mean something else (or nothing) when unquoted.
_PLAIN_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ ./()+-]*$")
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"})


class YamlSubsetError(ValueError):
    """A data.yaml this reader does not understand; the message says which line."""


def _strip_comment(line: str) -> str:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


def _scalar(text: str, lineno: int) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise YamlSubsetError(f"line {lineno}: cannot read the quoted text {text}") from exc
    return text


def _split_flow(body: str, lineno: int) -> list[str]:
    items, current, quote = [], [], None
    for ch in body:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch == ",":
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    if quote:
        raise YamlSubsetError(f"line {lineno}: a quote is not closed")
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def _flow(value: str, lineno: int) -> dict[int, str] | list[str]:
    body = value[1:-1]
    if value[0] == "[":
        return [_scalar(item, lineno) for item in _split_flow(body, lineno)]
    out: dict[int, str] = {}
    for item in _split_flow(body, lineno):
        m = _ENTRY.match(item)
        if not m:
            raise YamlSubsetError(f"line {lineno}: expected 'number: name', got {item!r}")
        out[int(m.group(1))] = _scalar(m.group(2), lineno)
    return out


def parse_data_yaml(text: str) -> dict[str, object]:
    """Return the top-level keys of a data.yaml: scalars as str, lists, {index: name} maps."""
    data: dict[str, object] = {}
    key: str | None = None
    block: list[str] | dict[int, str] | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw)
        if not line.strip() or line.strip() == "---":
            continue
        if line[0] not in " \t-":  # a top-level key
            m = _KEY.match(line)
            if not m:
                raise YamlSubsetError(f"line {lineno}: expected 'key: value', got {line!r}")
            key, value = m.group(1), (m.group(2) or "").strip()
            block = None
            if not value:
                data[key] = None  # a block may follow
            elif value[0] in "[{":
                if value[-1] != {"[": "]", "{": "}"}[value[0]]:
                    raise YamlSubsetError(f"line {lineno}: a list over several lines")
                data[key] = _flow(value, lineno)
            else:
                data[key] = _scalar(value, lineno)
            continue
        if key is None:
            raise YamlSubsetError(f"line {lineno}: indented line before any key")
        item = line.strip()
        m_item, m_entry = _ITEM.match(item), _ENTRY.match(item)
        if m_item:
            if block is None:
                block = []
                data[key] = block
            if not isinstance(block, list):
                raise YamlSubsetError(f"line {lineno}: list item inside a mapping")
            block.append(_scalar(m_item.group(1), lineno))
        elif m_entry:
            if block is None:
                block = {}
                data[key] = block
            if not isinstance(block, dict):
                raise YamlSubsetError(f"line {lineno}: mapping entry inside a list")
            block[int(m_entry.group(1))] = _scalar(m_entry.group(2), lineno)
        else:
            raise YamlSubsetError(f"line {lineno}: cannot read {item!r}")
    return data


def class_names(data: dict[str, object]) -> dict[int, str] | None:
    """Return {class index: name} from parsed data.yaml keys (None when it names no classes)."""
    names = data.get("names")
    if isinstance(names, list):
        return dict(enumerate(names))
    if isinstance(names, dict):
        return dict(names)
    nc = data.get("nc")
    if isinstance(nc, str) and nc.isdigit():
        return {i: f"class_{i}" for i in range(int(nc))}
    return None


def quote(text: str) -> str:
    """Return `text` as a YAML scalar: plain when that reads back the same, else double-quoted."""
    plain = (
        _PLAIN_SAFE.match(text)
        and not text[0].isdigit()  # numbers (and 0x1F, 1e5) would read back as numbers
        and text.lower() not in _YAML_WORDS
        and text == text.strip()
    )
    return text if plain else json.dumps(text, ensure_ascii=False)


def data_yaml(root: str, splits: dict[str, str], names: list[str]) -> str:
    """Return the text of a data.yaml: dataset root, split folders, class names by index."""
    lines = [
        "# Written by DETR Studio (Ultralytics YOLO detection dataset).",
        "# 'path' is where this folder was written; change it if you move the folder.",
        f"path: {quote(root)}",
    ]
    lines += [f"{name}: {quote(folder)}" for name, folder in splits.items()]
    lines.append(f"nc: {len(names)}")
    lines.append("names:" if names else "names: {}")
    lines += [f"  {i}: {quote(name)}" for i, name in enumerate(names)]
    return "\n".join(lines) + "\n"
