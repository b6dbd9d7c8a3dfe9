"""Proof that the hidden tests discriminate: every mutant loses points, every alternative wins.

Each assignment's catalogue (tests/mutants/<assignment>.py) is graded through a real nbgrader
course built from the project's own notebooks, by plain ``nbgrader autograde`` and by the
course's sandboxed engine; both must give every variant the same points, test by test. The
test prints a mutation score per assignment.
"""

from __future__ import annotations

import pytest

from grader import course_secret
from grader.certify import held_for_review
from grader.layout import Course
from tests.mutation import UNTOUCHED, defined_names, grade_variants, load_catalogue

COURSE = Course()
CATALOGUED = [
    a for a in COURSE.assignments() if (COURSE.root / "tests" / "mutants" / f"{a}.py").exists()
]
#: The least number of mutants per assignment, and per graded function of it.
MIN_MUTANTS = {"a1_rectifier": 10, "a4_variants": 30}
MIN_MUTANTS_PER_FUNCTION = {"a4_variants": 2}
DEFAULT_MIN_MUTANTS = 8
MIN_ALTERNATIVES = 3


def _family(name: str) -> str:
    """The contract function a definition belongs to: relu_forward, relu_backward -> relu."""
    for suffix in ("_forward", "_backward"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


@pytest.mark.slow
@pytest.mark.parametrize("assignment", CATALOGUED)
def test_hidden_tests_reject_mutants_and_accept_alternatives(assignment, tmp_path):
    catalogue = load_catalogue(assignment)
    mutants, alternatives = catalogue.MUTANTS, catalogue.ALTERNATIVES
    minimum = MIN_MUTANTS.get(assignment, DEFAULT_MIN_MUTANTS)
    assert len(mutants) >= minimum, f"{assignment}: {len(mutants)} mutants, want >= {minimum}"
    assert len(alternatives) >= MIN_ALTERNATIVES, (
        f"{assignment}: {len(alternatives)} alternatives, want >= {MIN_ALTERNATIVES}"
    )
    per_function = MIN_MUTANTS_PER_FUNCTION.get(assignment, 1)
    counts: dict[str, int] = {}
    for code in mutants.values():
        for family in {_family(n) for n in defined_names(code)}:
            counts[family] = counts.get(family, 0) + 1
    answer_families = {
        _family(n)
        for code in (COURSE.root / "solutions" / assignment).glob("*.ipynb")
        for n in _answer_names(code)
    }
    thin = {f: counts.get(f, 0) for f in answer_families if counts.get(f, 0) < per_function}
    assert not thin, f"{assignment}: functions with fewer than {per_function} mutants: {thin}"

    variants = {"reference": None, "untouched": UNTOUCHED}
    variants |= {f"mutant_{k}": v for k, v in mutants.items()}
    variants |= {f"alt_{k}": v for k, v in alternatives.items()}
    course = Course(root=COURSE.root, workdir=tmp_path / "grading")
    graded = grade_variants(course, assignment, variants, tmp_path, engine="nbgrader")

    problems = []
    for name in variants:
        r = graded.get(name)
        if r is None or r.status != "graded":
            problems.append(f"{name}: not graded ({r.reason if r else 'no result'})")
            continue
        if name == "reference" and r.score != r.max_score:
            lost = {k: v for k, v in r.tests.items()}
            problems.append(f"reference solution scored {r.score}/{r.max_score}: {lost}")
        if name == "untouched" and r.score != 0:
            problems.append(f"untouched notebook earned {r.score} points: {r.tests}")
        if name.startswith("mutant_") and r.score >= r.max_score:
            problems.append(f"{name} got full marks: a hidden test is missing")
        if name.startswith("alt_") and r.score != r.max_score:
            failed = [k for k, v in r.tests.items() if v == 0]
            problems.append(f"{name} (correct) lost points in {failed}")
    killed = sum(
        1 for n in variants if n.startswith("mutant_") and graded[n].score < graded[n].max_score
    )
    print(
        f"\nmutation score {assignment}: {killed}/{len(mutants)} mutants killed; "
        f"{len(alternatives)} alternatives"
    )
    for name, r in sorted(graded.items()):
        print(f"  {name:50s} {r.score:6g}/{r.max_score:g}")
    assert not problems, f"{assignment}:\n" + "\n".join(problems)

    # The certification `python -m grader certify` performs: both engines, every variant,
    # drawing the same hidden inputs (one course secret).
    sandbox_course = Course(root=COURSE.root, workdir=tmp_path / "grading-sandbox")
    course_secret.share(course.workdir, sandbox_course.workdir)
    sandboxed = grade_variants(
        sandbox_course,
        assignment,
        variants,
        tmp_path / "sandbox",
        engine="sandbox",
    )
    # Both engines must reach the same verdict on every variant, and the same points per test.
    # A mutant whose code could reach the grader's own code (grader.audit) is held for review
    # by the sandbox engine and earns nothing there: stricter than the kernel on purpose.
    held = {n for n in variants if n.startswith("mutant_") and held_for_review(sandboxed[n])}
    variants = {n: v for n, v in variants.items() if n not in held}
    verdicts = {
        name: (graded[name].score == graded[name].max_score,
               sandboxed[name].score == sandboxed[name].max_score)
        for name in variants
    }  # fmt: skip
    split = {name: v for name, v in verdicts.items() if v[0] != v[1]}
    per_test = {
        name: sorted(
            t for t in graded[name].tests if graded[name].tests[t] != sandboxed[name].tests.get(t)
        )
        for name in variants
        if graded[name].tests != sandboxed[name].tests
    }
    assert not split, f"{assignment}: nbgrader and the sandbox engine disagree on {split}"
    assert not per_test, f"{assignment}: the engines score these tests differently: {per_test}"


def _answer_names(path) -> list[str]:
    import nbformat

    from tests.mutation import reference_code

    names = []
    for cell in nbformat.read(path, 4).cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            names += defined_names(reference_code(cell.source))
    return names
