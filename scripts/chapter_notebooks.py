"""Write every chapter's notebook form, ``chapters/NN_name.ipynb``, from its MyST source.

Colab opens only ``.ipynb`` files from GitHub, and the theme's Colab and Binder buttons point at
``chapters/NN_name.ipynb`` as soon as that file sits beside the ``.md`` source. The notebooks are
generated (never edit them), committed so that GitHub serves them, and left out of the book
(``exclude_patterns`` in ``_config.yml``). ``scripts/build-book.sh`` refreshes them before every
build; ``tests/test_publish.py`` checks that they are in sync.

    .venv/bin/python scripts/chapter_notebooks.py           # write the notebooks
    .venv/bin/python scripts/chapter_notebooks.py --check   # exit 1 if any is stale
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import jupytext
import nbformat

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = REPO / "chapters"

#: Modules a chapter may import that a fresh Colab runtime lacks, with the distribution that
#: provides them. The notebook then starts with a cell that installs the pinned version.
NOT_ON_COLAB = {"myst_nb": "myst-nb"}

_INSTALL_CELL = """\
# Added for Colab and other fresh environments: install what this chapter imports beyond
# NumPy, PyTorch and Matplotlib. (The book itself is built with these exact versions.)
import importlib.util
import subprocess
import sys

for module, requirement in {requirements!r}.items():
    if importlib.util.find_spec(module) is None:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", requirement])
"""


def chapter_sources() -> list[Path]:
    """The MyST sources of the chapters, in order."""
    return sorted(CHAPTERS.glob("[0-9][0-9]_*.md"))


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)", line.strip())
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def imported_modules(notebook: nbformat.NotebookNode) -> set[str]:
    """Top-level modules named by ``import x`` / ``from x import`` in the code cells."""
    found = set()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        # IPython magics and shell escapes are not Python: blank them out before parsing.
        source = "\n".join(
            "" if line.lstrip().startswith(("%", "!")) else line
            for line in cell.source.splitlines()
        )
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            raise ValueError(f"a code cell does not parse as Python: {exc}") from exc
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found


def render(source: Path) -> str:
    """The notebook text for one chapter: outputs empty, cell ids stable, install cell first."""
    notebook = jupytext.read(source)
    missing = sorted(imported_modules(notebook) & NOT_ON_COLAB.keys())
    if missing:
        pins = _pins()
        requirements = {}
        for module in missing:
            dist = NOT_ON_COLAB[module]
            requirements[module] = f"{dist}=={pins[dist]}" if dist in pins else dist
        # after the title cell, before the first code cell
        first_code = next(
            (i for i, c in enumerate(notebook.cells) if c.cell_type == "code"), len(notebook.cells)
        )
        notebook.cells.insert(
            min(1, first_code),
            nbformat.v4.new_code_cell(_INSTALL_CELL.format(requirements=requirements)),
        )
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"  # jupytext draws random ids: keep the file stable
    return jupytext.writes(notebook, fmt="ipynb")


def target(source: Path) -> Path:
    return source.with_suffix(".ipynb")


def stale() -> list[Path]:
    """The chapter notebooks that are missing or differ from what ``render`` writes."""
    return [
        target(src)
        for src in chapter_sources()
        if not target(src).is_file() or target(src).read_text(encoding="utf-8") != render(src)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale notebooks")
    args = parser.parse_args(argv)
    if args.check:
        out_of_date = stale()
        for path in out_of_date:
            print(f"stale: {path.relative_to(REPO)} (run scripts/chapter_notebooks.py)")
        return 1 if out_of_date else 0
    for src in chapter_sources():
        text = render(src)
        path = target(src)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
