"""Run a student's notebook with a mistake in it, as the student and as grading would.

The student notebook (from exercises/, with the reference answers and the mistake spliced in)
is executed like Jupyter's "Run All"; then every test cell of the source notebook, hidden checks
included, runs in the same kernel after it, as ``nbgrader autograde`` would run them. A test cell
is failed in grading when it raised or wrote to stderr (nbgrader's rule).
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import nbformat
from nbclient import NotebookClient

from grader.layout import Course
from tests.mutation import build_submission


@dataclass
class Run:
    """What the student saw and what grading decided, for one notebook run."""

    visible: dict[str, str]  # grade_id -> stderr text of its visible check ("" = passed)
    graded: dict[str, bool]  # grade_id -> passed in grading
    stopped: list[str]  # cells of the student's notebook that raised (Run All stops there)
    summary: str

    @property
    def flagged(self) -> list[str]:
        return [gid for gid, text in self.visible.items() if text]

    @property
    def lost(self) -> list[str]:
        return [gid for gid, ok in self.graded.items() if not ok]


def load_mistakes(assignment: str) -> ModuleType:
    """``tests/mistakes/<assignment>.py``: its ``MISTAKES`` dict."""
    path = Path(__file__).parent / "mistakes" / f"{assignment}.py"
    spec = importlib.util.spec_from_file_location(f"mistakes_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _failed(cell) -> bool:
    return any(
        o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr")
        for o in cell.get("outputs", [])
    )


def run_with_grading(course: Course, assignment: str, code: str | None, folder: Path) -> Run:
    shutil.copytree(course.release_dir / assignment, folder)
    visible, graded, stopped, summary = {}, {}, [], ""
    for name, nb in build_submission(course, assignment, code).items():
        source = nbformat.read(course.source_dir / assignment / name, 4)
        tests = [
            c
            for c in source.cells
            if c.cell_type == "code"
            and c.metadata.get("nbgrader", {}).get("grade")
            and not c.metadata["nbgrader"].get("solution")
        ]
        student_cells = len(nb.cells)
        for cell in tests:
            copy = nbformat.v4.new_code_cell(cell.source)
            copy.metadata["grading"] = cell.metadata["nbgrader"]["grade_id"]
            nb.cells.append(copy)
        NotebookClient(
            nb,
            timeout=120,
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": str(folder)}},
        ).execute()
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            meta = cell.metadata.get("nbgrader", {})
            if index >= student_cells:
                graded[cell.metadata["grading"]] = not _failed(cell)
                continue
            outputs = cell.get("outputs", [])
            if any(o.output_type == "error" for o in outputs):
                stopped.append(f"{name} cell {index} ({meta.get('grade_id', 'no grade_id')})")
            if meta.get("grade") and not meta.get("solution"):
                visible[meta["grade_id"]] = "".join(
                    o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"
                )
            if cell.source.strip().endswith("summary()"):
                summary = "".join(o.get("text", "") for o in outputs)
    return Run(visible, graded, stopped, summary)
