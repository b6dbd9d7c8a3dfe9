"""Submissions built from the reference solution, optionally with definitions replaced.

A *variant* is a piece of Python source that defines one or more top-level functions or classes
of an assignment (a plausible wrong answer, a "mutant", or a correct alternative). It replaces
the reference definitions of the same names in the answer cells of the student notebook.
``tests/mutants/<assignment>.py`` lists them (``MUTANTS``, ``ALTERNATIVES``); the tests and
:mod:`grader.certify` grade them with both engines.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import nbformat

from grader.layout import Course

_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
#: Stands for "the student notebook exactly as released" in a variants mapping.
UNTOUCHED = "<untouched>"


def reference_code(source_cell_text: str) -> str:
    """The answer cell's code as the reference solution has it, without nbgrader's markers."""
    return "\n".join(ln for ln in source_cell_text.splitlines() if not _MARKER.match(ln))


def defined_names(code: str) -> list[str]:
    """Top-level function and class names that ``code`` defines."""
    return [
        node.name
        for node in ast.parse(code).body
        if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
    ]


def splice(code: str, replacement: str) -> str:
    """Replace the top-level definitions in ``code`` that ``replacement`` defines too.

    Imports and other statements of ``replacement`` go before the first replaced definition.
    """
    tree = ast.parse(replacement)
    defs = {
        node.name: ast.get_source_segment(replacement, node, padded=False)
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.ClassDef)
    }
    preamble = "\n".join(
        ast.get_source_segment(replacement, node)
        for node in tree.body
        if not isinstance(node, ast.FunctionDef | ast.ClassDef)
    )
    lines = code.splitlines()
    target = ast.parse(code)
    first = True
    # Replace from the bottom up so earlier line numbers stay valid.
    for node in sorted(target.body, key=lambda n: n.lineno, reverse=True):
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in defs:
            start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
            lines[start : node.end_lineno] = defs[node.name].splitlines()
    if preamble:
        for node in sorted(target.body, key=lambda n: n.lineno):
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in defs and first:
                lines.insert(0, preamble)
                first = False
    return "\n".join(lines) + "\n"


def build_submission(course: Course, assignment: str, variant: str | None) -> dict[str, dict]:
    """The student notebooks of ``assignment`` with the reference answers filled in.

    ``variant`` (source code) replaces the definitions it names; ``UNTOUCHED`` returns the
    released notebooks unchanged; ``None`` gives the reference solution itself.
    """
    notebooks = {}
    placed: set[str] = set()
    wanted = set(defined_names(variant)) if variant not in (None, UNTOUCHED) else set()
    for source_path in course.source_notebooks(assignment):
        released = nbformat.read(course.release_dir / assignment / source_path.name, 4)
        if variant == UNTOUCHED:
            notebooks[source_path.name] = released
            continue
        source = nbformat.read(source_path, 4)
        answers = {
            c.metadata["nbgrader"]["grade_id"]: reference_code(c.source)
            for c in source.cells
            if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"
        }
        for cell in released.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or not meta.get("solution"):
                continue
            code = answers[meta["grade_id"]]
            hits = wanted.intersection(defined_names(code))
            if hits:
                code = splice(code, variant)
                placed |= hits
            cell.source = code
        notebooks[source_path.name] = released
    if wanted - placed:
        raise ValueError(
            f"variant defines {sorted(wanted - placed)}, not found in any answer cell"
        )
    return notebooks


def catalogue_path(course: Course, assignment: str) -> Path:
    """Where the assignment's catalogue of variants lives (it may not exist)."""
    return course.root / "tests" / "mutants" / f"{assignment}.py"


def load_catalogue(course: Course, assignment: str) -> ModuleType | None:
    """``tests/mutants/<assignment>.py``: its ``MUTANTS`` and ``ALTERNATIVES`` dicts, or None."""
    path = catalogue_path(course, assignment)
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location(f"mutants_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
