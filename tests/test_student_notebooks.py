"""Every released student notebook runs top to bottom in a clean kernel, as a student runs it.

"Run All" never stops at a check: a failed visible check prints its verdict on stderr (which
grading counts as a failed test cell) and the run goes on to the next cell, down to the summary
at the end. With the answer cells filled from solutions/ every visible check passes; untouched,
every visible check reports its failure with a message, never a NameError or a crash.
"""

from __future__ import annotations

import datetime
import re
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from grader.layout import Course
from tests.mutation import UNTOUCHED, build_submission

COURSE = Course()
#: The course's own assignments: the conventions below are its own, not nbgrader's.
ASSIGNMENTS = COURSE.own_assignments()
#: The visible checks of a whole notebook take less than this (seconds, imports aside).
VISIBLE_BUDGET_S = 1.0
#: Values must read as plain numbers: no numpy reprs, no index of a 0-d array.
UNREADABLE = re.compile(r"np\.(float|int|bool)\w*\(-?[0-9]|\barray\(\[|at index \(\)")


def _is_placeholder(assignment: str) -> bool:
    notebooks = sorted((COURSE.release_dir / assignment).glob("*.ipynb"))
    return not any(c.cell_type == "code" for nb in notebooks for c in nbformat.read(nb, 4).cells)


def run_all(notebooks: dict[str, nbformat.NotebookNode], folder) -> None:
    """Execute each notebook like Jupyter's "Run All": stop at the first cell that raises."""
    for nb in notebooks.values():
        NotebookClient(
            nb,
            timeout=120,
            kernel_name="python3",
            allow_errors=False,
            record_timing=True,
            resources={"metadata": {"path": str(folder)}},
        ).execute()


#: Appended to a notebook to read the CPU time its visible checks took (load-independent).
CPU_PROBE = "print('visible checks CPU s:', sum(c.seconds for *_, c in _VERDICTS.values()))"


def _run(assignment: str, variant, folder, probe=False) -> dict[str, nbformat.NotebookNode]:
    shutil.copytree(COURSE.release_dir / assignment, folder)
    notebooks = build_submission(COURSE, assignment, variant)
    if probe:
        for nb in notebooks.values():
            nb.cells.append(nbformat.v4.new_code_cell(CPU_PROBE))
    run_all(notebooks, folder)
    return notebooks


def _cpu_seconds(notebooks) -> float:
    total = 0.0
    for nb in notebooks.values():
        text = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", []))
        total += float(text.split("visible checks CPU s:")[1])
    return total


def visible_test_cells(notebooks):
    """(label, grade_id, stderr text, error outputs, seconds) of every visible test cell."""
    for name, nb in notebooks.items():
        for index, cell in enumerate(nb.cells):
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
                continue
            outputs = cell.get("outputs", [])
            stderr = "".join(
                o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"
            )
            errors = [o for o in outputs if o.output_type == "error"]
            yield f"{name} cell {index}", meta["grade_id"], stderr, errors, _seconds(cell)


def _seconds(cell) -> float:
    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    stamps = [datetime.datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (start, end)]
    return (stamps[1] - stamps[0]).total_seconds()


def summary_text(notebooks) -> str:
    for nb in notebooks.values():
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.source.strip().endswith("summary()"):
                return "".join(o.get("text", "") for o in cell.get("outputs", []))
    raise AssertionError("no summary cell (a code cell ending in summary()) in the notebook")


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_answers_pass_every_visible_check(assignment, tmp_path):
    if _is_placeholder(assignment):
        pytest.skip(f"{assignment} is still a placeholder (no code cells)")
    notebooks = _run(assignment, None, tmp_path / assignment, probe=True)
    cells = list(visible_test_cells(notebooks))
    failures = [f"{label} ({gid}): {stderr[:300]}" for label, gid, stderr, _, _ in cells if stderr]
    assert not failures, f"{assignment} with the reference answers:\n" + "\n".join(failures)
    assert cells, f"{assignment} has no visible test cell"
    summary = summary_text(notebooks)
    assert f"Visible checks passed: {len(cells)} of {len(cells)}." in summary, summary
    wall = sum(seconds for *_, seconds in cells)
    spent = _cpu_seconds(notebooks)
    print(f"{assignment}: {len(cells)} visible checks pass, {spent:.2f} s CPU ({wall:.2f} s wall)")
    assert spent < VISIBLE_BUDGET_S, f"{assignment}: the visible checks took {spent:.2f} s CPU"


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_notebook_shows_every_verdict(assignment, tmp_path):
    if _is_placeholder(assignment):
        pytest.skip(f"{assignment} is still a placeholder (no code cells)")
    notebooks = _run(assignment, UNTOUCHED, tmp_path / assignment)  # raises if Run All stops
    problems = []
    cells = list(visible_test_cells(notebooks))
    for label, gid, stderr, _, _ in cells:
        if not stderr.startswith(f"FAILED {gid} "):
            problems.append(f"{label} ({gid}): no failure reported although nothing was written")
        elif "not answered yet" not in stderr:
            problems.append(f"{label} ({gid}): {stderr[:300]}")
    assert not problems, f"{assignment} as released:\n" + "\n".join(problems)
    summary = summary_text(notebooks)
    assert f"Visible checks passed: 0 of {len(cells)}." in summary, summary
    assert "Reread before you submit:" in summary, summary


def test_unreadable_values_pattern_can_fail():
    assert UNREADABLE.search("expected np.float64(-6.0), got 1")
    assert UNREADABLE.search("wrong at index (): expected 1")
    assert UNREADABLE.search("returned array([1., 1.])")
    assert not UNREADABLE.search("wrong at index 2 for x = -0.5: expected 0.0, got -0.5")
    assert not UNREADABLE.search("perturb a copy of x (np.array(x, dtype=np.float64))")
