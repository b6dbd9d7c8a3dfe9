"""What the book consists of, read from _toc.yml and _config.yml (never hard-coded here)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
STUB_MARK = "being written"


def config() -> dict:
    return yaml.safe_load((REPO / "_config.yml").read_text())


def toc() -> dict:
    return yaml.safe_load((REPO / "_toc.yml").read_text())


def _entries(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        if "file" in node or "root" in node:
            found.append(node.get("file") or node.get("root"))
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []) or []:
                found += _entries(child)
    return found


def docnames() -> list[str]:
    """Every page of the table of contents, root first, as docnames (``chapters/01_biology``)."""
    return [str(Path(d).with_suffix("")) if Path(d).suffix else d for d in _entries(toc())]


def source(docname: str) -> Path:
    """The source file of a page (.md or .ipynb)."""
    for suffix in (".md", ".ipynb", ".rst"):
        path = REPO / f"{docname}{suffix}"
        if path.exists():
            return path
    raise FileNotFoundError(docname)


def is_stub(docname: str) -> bool:
    """A page still to be written: a placeholder saying so, with no code and no sections."""
    text = source(docname).read_text(encoding="utf-8")
    return STUB_MARK in text and len(text) < 3000


def chapters() -> list[str]:
    return [d for d in docnames() if d.startswith("chapters/")]


def exercises() -> list[str]:
    return [d for d in docnames() if d.startswith("exercises/")]


def assignment_of(chapter: str) -> str | None:
    """The assignment page that goes with a chapter: chapter NN_x pairs with exercise aN_y."""
    match = re.match(r"chapters/0*(\d+)_", chapter)
    if not match:
        return None
    for doc in exercises():
        if re.match(rf"exercises/a{match.group(1)}_", doc):
            return doc
    return None
