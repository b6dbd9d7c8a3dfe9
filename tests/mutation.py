"""Grade variants of an assignment (see :mod:`grader.variants`) through a real nbgrader course."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import nbformat

from grader import autograde, intake, results
from grader.intake import normalise_student_id
from grader.layout import Course
from grader.variants import (  # noqa: F401  (re-exported for the tests)
    UNTOUCHED,
    build_submission,
    defined_names,
    reference_code,
    splice,
)
from grader.variants import load_catalogue as _load_catalogue

COURSE = Course()


def load_catalogue(assignment: str) -> ModuleType:
    """``tests/mutants/<assignment>.py``: its ``MUTANTS`` and ``ALTERNATIVES`` dicts."""
    module = _load_catalogue(COURSE, assignment)
    if module is None:
        raise FileNotFoundError(f"tests/mutants/{assignment}.py does not exist")
    return module


def grade_variants(
    course: Course,
    assignment: str,
    variants: dict[str, str | None],
    scratch: Path,
    engine: str = "nbgrader",
    workers: int = 2,
) -> dict[str, results.Result]:
    """Submit each variant as one student and grade them all with ``engine``."""
    inbox = scratch / "inbox"
    for name, code in variants.items():
        folder = inbox / name
        folder.mkdir(parents=True, exist_ok=True)
        for nb_name, nb in build_submission(course, assignment, code).items():
            nbformat.write(nb, folder / nb_name)
    intake.collect(course=course, assignment=assignment, source=inbox)
    autograde.autograde(course=course, assignment=assignment, engine=engine, workers=workers)
    by_id = {r.student_id: r for r in results.load_results(course, assignment)}
    return {name: by_id.get(normalise_student_id(name)) for name in variants}
