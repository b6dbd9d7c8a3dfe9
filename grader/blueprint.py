"""What the grader takes from the instructor's source notebook, and how a submission is run.

A :class:`Blueprint` lists the source notebook's code cells in order, each with its nbgrader
role: ``setup`` (a locked, read-only instructor cell), ``answer`` (an autograded answer the
student writes), ``test`` (an autograder test cell, with its points) or ``plain`` (a code cell
without nbgrader metadata). :func:`plan` lays a submission over it the way nbgrader's
``autograde`` does: the submission's cells run in the submission's order; locked cells and test
cells are taken from the instructor's source (restored when the student changed or deleted
them), everything else (answers, helper cells, imports, "try it" cells, duplicated answer cells)
as the student wrote it. Test cells are the only steps the grader runs itself; every other step
runs in the student's process (setup cells run in both, so that the tests have their helpers).

AUTOTEST directives are expanded by nbgrader when it saves the source cells into the
gradebook (it runs the reference solution to choose the checks); :func:`expanded_tests` reads
them back from there, so the tests the grader runs are exactly those nbgrader would run.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat

_HIDDEN = re.compile(r"^\s*### (BEGIN|END) HIDDEN TESTS\s*$")
_SOLUTION_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
#: Files next to a source notebook that are not data (nbgrader's ignore list in grader.layout).
_NOT_DATA = {".ipynb", ".py", ".pyc", ".json"}
_AUTOTEST = re.compile(r"^\s*### (HASHED )?AUTOTEST\b", re.M)


@dataclass(frozen=True)
class Cell:
    """One code cell of the source notebook."""

    kind: str  # "setup", "answer", "test" or "plain"
    grade_id: str | None
    source: str
    points: float = 0.0


@dataclass(frozen=True)
class Step:
    """One cell of a submission as it will run: in the student's process or, for a test, here."""

    kind: str  # as Cell.kind
    label: str  # grade_id, or "cell <n>" for a cell without one
    source: str
    points: float = 0.0


@dataclass(frozen=True)
class Blueprint:
    """The instructor's source notebook, reduced to what grading needs."""

    cells: tuple[Cell, ...]
    #: Non-notebook files the assignment ships (data files), found next to the source notebook.
    data_files: tuple[Path, ...] = field(default=())

    @classmethod
    def from_source(cls, path: Path, expanded: dict[str, str] | None = None) -> Blueprint:
        """Read ``path``; ``expanded`` maps a test's grade_id to its source as nbgrader saved
        it in the gradebook (AUTOTEST directives expanded), see :func:`expanded_tests`.

        Read once per process for each version of the file (a grading process grades many
        submissions against one source): the blueprint is immutable, its analyses cached."""
        stat = Path(path).stat()
        items = tuple(sorted((expanded or {}).items()))
        return _from_source(cls, str(path), stat.st_mtime_ns, stat.st_size, items)

    @classmethod
    def _read(cls, path: Path, expanded: dict[str, str] | None) -> Blueprint:
        cells = []
        for cell in nbformat.read(path, 4).cells:
            if cell.cell_type != "code":
                continue
            meta = cell.metadata.get("nbgrader", {})
            gid = meta.get("grade_id") if isinstance(meta, dict) else None
            source = cell.source
            if meta.get("grade") and not meta.get("solution"):
                if expanded and gid in expanded:
                    source = expanded[gid]
                cells.append(Cell("test", gid, source, float(meta.get("points", 0) or 0)))
            elif meta.get("solution"):
                cells.append(Cell("answer", gid, _strip_markers(source)))
            elif meta.get("locked"):
                cells.append(Cell("setup", gid, source))
            else:
                cells.append(Cell("plain", gid, source))
        return cls(tuple(cells))

    def with_data(self, folder: Path | None) -> Blueprint:
        if folder is None:
            return self
        return replace(self, data_files=data_files(folder))

    @functools.cached_property
    def setup(self) -> list[str]:
        return [c.source for c in self.cells if c.kind == "setup"]

    @functools.cached_property
    def tests(self) -> list[tuple[str, float, str]]:
        return [(c.grade_id, c.points, c.source) for c in self.cells if c.kind == "test"]

    @functools.cached_property
    def answers(self) -> list[tuple[str, list[str]]]:
        return [(c.grade_id, _defined_names(c.source)) for c in self.cells if c.kind == "answer"]

    @functools.cached_property
    def names(self) -> list[str]:
        return [name for _, names in self.answers for name in names]

    @functools.cached_property
    def classes(self) -> frozenset[str]:
        out = set()
        for c in self.cells:
            if c.kind == "answer":
                out |= {n.name for n in _parse(c.source).body if isinstance(n, ast.ClassDef)}
        return frozenset(out)

    @functools.cached_property
    def has_unexpanded_autotest(self) -> bool:
        return any(c.kind == "test" and _AUTOTEST.search(c.source) for c in self.cells)

    @functools.cached_property
    def uses_torch(self) -> bool:
        """Whether the instructor's own cells (setup, tests) import torch."""
        return any(_imports_torch(c.source) for c in self.cells if c.kind in ("setup", "test"))

    @functools.cached_property
    def setup_imports(self) -> frozenset[str]:
        """Modules the locked setup cells import (dotted names as written)."""
        return frozenset(
            m for c in self.cells if c.kind == "setup" for m in imported_modules(c.source, False)
        )

    @functools.cached_property
    def instructor_imports(self) -> frozenset[str]:
        """Top-level modules any instructor cell imports (setup, answers, tests, plain)."""
        return frozenset(m for c in self.cells for m in imported_modules(c.source))

    @functools.cached_property
    def answer_imports(self) -> frozenset[str]:
        """Top-level modules the reference answers and the unmarked cells import: what a
        student's answer may import too."""
        return frozenset(
            m
            for c in self.cells
            if c.kind in ("answer", "plain")
            for m in imported_modules(c.source)
        )


@functools.lru_cache(maxsize=32)
def _from_source(cls, path: str, mtime_ns: int, size: int, expanded: tuple) -> Blueprint:
    return cls._read(Path(path), dict(expanded))


def data_files(folder: Path) -> tuple[Path, ...]:
    """The data files an assignment ships: the plain files next to its source notebooks."""
    return tuple(
        sorted(
            p
            for p in Path(folder).iterdir()
            if p.is_file()
            and not p.is_symlink()
            and not p.name.startswith(".")
            and p.suffix not in _NOT_DATA
        )
    )


def plan(blueprint: Blueprint, submission: nbformat.NotebookNode) -> tuple[list[Step], list[str]]:
    """The steps a submission runs, in order, and notes on what was restored or ignored."""
    by_id = {c.grade_id: c for c in blueprint.cells if c.grade_id}
    cells = [c for c in submission.get("cells", []) if c.get("cell_type") == "code"]
    # nbgrader's DeduplicateIds: of several cells with one test or locked id, the last keeps it.
    last: dict[str, int] = {}
    for n, cell in enumerate(cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        if isinstance(gid, str) and by_id.get(gid) and by_id[gid].kind in ("test", "setup"):
            last[gid] = n
    steps: list[Step] = []
    seen_tests: set[str] = set()
    seen_locked: set[str] = set()
    notes: list[str] = []
    for n, cell in enumerate(cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        known = by_id.get(gid) if isinstance(gid, str) else None
        # Another cell with the id of a test or locked cell loses its id and runs as the
        # student wrote it.
        if known is not None and known.kind == "test" and last.get(gid) == n:
            seen_tests.add(gid)
            steps.append(Step("test", gid, known.source, known.points))
        elif known is not None and known.kind == "setup" and last.get(gid) == n:
            seen_locked.add(gid)
            steps.append(Step("setup", gid, known.source))
        elif known is not None and known.kind == "answer":
            steps.append(Step("answer", gid, source))
        else:
            steps.append(Step("plain", f"cell {n + 1}", source))
    # Cells the student deleted come back, as nbgrader's add_missing_cells does: locked cells
    # at the top (they set up what follows), test cells at the end.
    missing_setup = [
        Step("setup", c.grade_id, c.source)
        for c in blueprint.cells
        if c.kind == "setup" and c.grade_id not in seen_locked
    ]
    missing_tests = [
        Step("test", c.grade_id, c.source, c.points)
        for c in blueprint.cells
        if c.kind == "test" and c.grade_id not in seen_tests
    ]
    if missing_setup or missing_tests:
        notes.append(
            "cells restored from the source: "
            + ", ".join(s.label for s in missing_setup + missing_tests)
        )
    present = {s.label for s in steps if s.kind == "answer"}
    missing = [c.grade_id for c in blueprint.cells if c.kind == "answer"]
    missing = sorted(g for g in missing if g not in present)
    if missing:
        notes.append(f"answer cells missing from the notebook: {', '.join(missing)}")
    return missing_setup + steps + missing_tests, notes


def split_test(source: str) -> tuple[str, str]:
    """A test cell's visible part and its hidden part."""
    visible, hidden, inside = [], [], False
    for line in source.splitlines():
        if _HIDDEN.match(line):
            inside = line.strip().startswith("### BEGIN")
            continue
        (hidden if inside else visible).append(line)
    return "\n".join(visible), "\n".join(hidden)


def expanded_tests(db_url: str, assignment: str, notebook: str) -> dict[str, str]:
    """Test sources as nbgrader saved them in the gradebook (AUTOTEST expanded)."""
    from nbgrader.api import Gradebook, MissingEntry

    out: dict[str, str] = {}
    with Gradebook(db_url) as gb:
        try:
            nb = gb.find_notebook(notebook, assignment)
        except MissingEntry:
            return out
        for cell in nb.source_cells:
            if cell.cell_type == "code":
                out[cell.name] = cell.source
    return out


@functools.lru_cache(maxsize=1024)
def imported_modules(source: str, top: bool = True) -> frozenset[str]:
    """The module names ``source`` imports (by AST; empty if it does not parse): top-level
    names (``scipy``), or with ``top=False`` as written (``scipy.special``)."""
    out: set[str] = set()
    for node in ast.walk(_parse(source)):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
    return frozenset(m.split(".")[0] for m in out) if top else frozenset(out)


def _parse(source: str) -> ast.Module:
    try:
        return ast.parse(source)
    except SyntaxError:
        return ast.Module(body=[], type_ignores=[])


def _strip_markers(code: str) -> str:
    return "\n".join(ln for ln in code.splitlines() if not _SOLUTION_MARKER.match(ln))


def _imports_torch(source: str) -> bool:
    if "torch" in imported_modules(source):
        return True
    return re.search(r"^\s*(import|from)\s+torch\b", source, re.M) is not None


def _defined_names(code: str) -> list[str]:
    return [
        n.name
        for n in _parse(code).body
        if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
    ]
