"""The source notebooks follow the conventions of solutions/README.md.

Only the course's own assignments (``a<N>_<name>``) are held to them; an instructor's own
assignment in any style nbgrader accepts (``ps1``) is not.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from grader.layout import Course

COURSE = Course()
NUMPY_ASSIGNMENTS = {"a1_rectifier", "a2_sparsity", "a3_subgradients", "a4_variants"}
SETUP_SOURCE = (COURSE.source_dir / "setup_cell.py").read_text().strip()
#: The part of the shared setup cell that a5's own setup cell holds verbatim (checks, reports).
SHARED_HELPERS = SETUP_SOURCE[SETUP_SOURCE.index('RULES = "') :]
VISIBLE_CHECK = re.compile(
    r'^with visible_check\("(?P<gid>[a-z0-9_]+)", points=(?P<points>[0-9.]+), section=', re.M
)
GRADE_ID = re.compile(r"^[a-z][a-z0-9_]*$")


def _notebooks():
    for assignment in COURSE.own_assignments():
        for path in COURSE.source_notebooks(assignment):
            nb = nbformat.read(path, 4)
            if any(c.cell_type == "code" for c in nb.cells):  # placeholders have none
                yield pytest.param(assignment, nb, id=path.name)


NOTEBOOKS = list(_notebooks())


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


@pytest.mark.parametrize("assignment, nb", NOTEBOOKS)
def test_numpy_assignments_share_the_setup_cell(assignment, nb):
    if assignment not in NUMPY_ASSIGNMENTS:
        pytest.skip("a5 has its own PyTorch setup cell")
    setup = [c for c in nb.cells if _nbgrader(c).get("grade_id") == "setup"]
    assert len(setup) == 1, f"{assignment}: want one cell with grade_id 'setup', got {len(setup)}"
    assert setup[0].source.strip() == SETUP_SOURCE, (
        f"{assignment}: the setup cell differs from solutions/setup_cell.py; copy it verbatim"
    )
    assert _nbgrader(setup[0]).get("locked"), f"{assignment}: the setup cell must be read-only"


@pytest.mark.parametrize("assignment, nb", NOTEBOOKS)
def test_test_cells_are_locked_named_and_explained(assignment, nb):
    ids = [_nbgrader(c)["grade_id"] for c in nb.cells if _nbgrader(c)]
    assert len(ids) == len(set(ids)), f"{assignment}: duplicate grade_ids {ids}"
    tests = [c for c in nb.cells if _nbgrader(c).get("grade") and c.cell_type == "code"]
    assert tests, f"{assignment}: no autograder test cells"
    for cell in tests:
        meta = _nbgrader(cell)
        gid = meta["grade_id"]
        assert GRADE_ID.match(gid), f"{assignment}: grade_id {gid!r} is not <function>_<aspect>"
        assert meta.get("locked"), f"{assignment}: test cell {gid} must be locked"
        assert float(meta.get("points", 0)) > 0, f"{assignment}: test cell {gid} has no points"
        first = cell.source.lstrip().splitlines()[0]
        assert first.startswith(f"# {gid}:"), (
            f"{assignment}: test cell {gid} must open with '# {gid}: <what it checks>', "
            f"found {first!r}"
        )


@pytest.mark.parametrize("assignment, nb", NOTEBOOKS)
def test_answer_cells_hold_a_solution_region(assignment, nb):
    answers = [c for c in nb.cells if _nbgrader(c).get("solution") and c.cell_type == "code"]
    assert answers, f"{assignment}: no answer cells"
    for cell in answers:
        assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source, (
            f"{assignment}: answer cell {_nbgrader(cell)['grade_id']} has no solution region"
        )


@pytest.mark.parametrize("assignment, nb", NOTEBOOKS)
def test_notebooks_name_their_kernel(assignment, nb):
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", (
        f"{assignment}: set metadata.kernelspec.name to 'python3'"
    )
    outputs = [c for c in nb.cells if c.cell_type == "code" and c.get("outputs")]
    assert not outputs, f"{assignment}: source notebooks are committed without outputs"


@pytest.mark.parametrize("assignment, nb", NOTEBOOKS)
def test_a5_setup_holds_the_shared_helpers(assignment, nb):
    if assignment in NUMPY_ASSIGNMENTS:
        pytest.skip("a1-a4 hold the whole shared setup cell")
    setup = next(c for c in nb.cells if _nbgrader(c).get("grade_id") == "setup")
    assert SHARED_HELPERS in setup.source, (
        f"{assignment}: the setup cell must hold solutions/setup_cell.py from 'RULES = ' on, "
        "verbatim (the visible checks, messages and summary every notebook shares)"
    )


@pytest.mark.parametrize("assignment, nb", NOTEBOOKS)
def test_visible_checks_report_instead_of_stopping_run_all(assignment, nb):
    """Each test cell's visible part runs inside visible_check(<its grade_id>, <its points>)."""
    problems = []
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        visible = cell.source.split("### BEGIN HIDDEN TESTS")[0]
        found = VISIBLE_CHECK.findall(visible)
        if len(found) != 1:
            problems.append(f"{meta['grade_id']}: {len(found)} 'with visible_check(...)' lines")
            continue
        gid, points = found[0]
        if gid != meta["grade_id"] or float(points) != float(meta["points"]):
            problems.append(f"{meta['grade_id']}: visible_check({gid!r}, points={points})")
        body = visible[VISIBLE_CHECK.search(visible).end() :]
        outside = [
            ln
            for ln in body.splitlines()[1:]
            if ln.strip() and not ln.startswith((" ", "#")) and "### " not in ln
        ]
        if outside:
            problems.append(f"{meta['grade_id']}: visible code after the with block: {outside}")
    assert not problems, f"{assignment}:\n" + "\n".join(problems)


@pytest.mark.parametrize("assignment, nb", NOTEBOOKS)
def test_notebook_ends_with_the_summary_and_explains_checks_and_colab(assignment, nb):
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[-1].source.strip().endswith("summary()"), f"{assignment}: no summary cell last"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for needed in ("A printed warning fails the check", "Working in Colab", "Download .ipynb"):
        assert needed in text, f"{assignment}: the notebook does not say {needed!r}"
    role = re.search(r"\{(doc|ref|numref|eq|term|download)\}`", text)
    assert not role, f"{assignment}: a raw MyST role {role.group(0) if role else ''}"


#: A relative error divided by a bare sum of norms: 0/0 (nan, a failed check) when the answer
#: and the expected value are both zero, which random hidden inputs sometimes make them (all of
#: x positive leaves PReLU's dalpha at 0: a correct student lost points on 1 draw in 128).
BARE_NORM_SUM = re.compile(r"/\s*\(\s*np\.linalg\.norm\([^()]*\)\s*\+\s*np\.linalg\.norm\(")


@pytest.mark.parametrize("assignment, nb", NOTEBOOKS)
def test_relative_errors_survive_two_zero_arrays(assignment, nb):
    bare = [
        line.strip()
        for cell in nb.cells
        if cell.cell_type == "code"
        for line in cell.source.splitlines()
        if BARE_NORM_SUM.search(line)
    ]
    assert not bare, (
        f"{assignment}: a relative error divides by a sum of norms that may be 0 (use "
        f"max(..., 1e-300)): {bare}"
    )
