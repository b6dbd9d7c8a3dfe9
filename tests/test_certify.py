"""A certificate holds only for the exact source and engine code it was made for."""

from __future__ import annotations

import json
from dataclasses import asdict

import nbformat

from grader import certify
from grader.autograde import choose_engine
from grader.layout import Course
from tests.course_factory import ASSIGNMENT, NOTEBOOK, source_notebook


def _course(tmp_path) -> Course:
    (tmp_path / "solutions" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(source_notebook(), tmp_path / "solutions" / ASSIGNMENT / NOTEBOOK)
    return Course(root=tmp_path, workdir=tmp_path / "grading")


def _write(course: Course, **changes) -> None:
    cert = certify.Certificate(
        assignment=ASSIGNMENT,
        source_digest=certify.source_digest(course, ASSIGNMENT),
        engine_digest=certify.engine_digest(),
        certified=True,
        submissions=["reference", "untouched"],
        cells=["double_values", "double_zero"],
    )
    for key, value in changes.items():
        setattr(cert, key, value)
    path = certify.certificate_path(course, ASSIGNMENT)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(cert)))


def test_auto_falls_back_to_the_kernel_without_a_certificate(tmp_path):
    course = _course(tmp_path)
    engine, why = choose_engine(course, ASSIGNMENT, "auto")
    assert engine == "nbgrader", why
    assert "not certified" in why and "no certificate" in why and "certify a9_double" in why


def test_a_valid_certificate_selects_the_sandbox_engine(tmp_path):
    course = _course(tmp_path)
    _write(course)
    engine, why = choose_engine(course, ASSIGNMENT, "auto")
    assert engine == "sandbox" and why.startswith("sandbox engine certified for a9_double"), why


def test_a_changed_source_or_data_file_voids_the_certificate(tmp_path):
    course = _course(tmp_path)
    _write(course)
    (course.source_dir / ASSIGNMENT / "data.csv").write_text("x\n1\n")
    engine, why = choose_engine(course, ASSIGNMENT, "auto")
    assert engine == "nbgrader" and "source changed" in why, why


def test_other_engine_code_voids_the_certificate(tmp_path):
    course = _course(tmp_path)
    _write(course, engine_digest="0" * 64)
    engine, why = choose_engine(course, ASSIGNMENT, "auto")
    assert engine == "nbgrader" and "engine's code changed" in why, why


def test_a_failed_certification_says_which_cells_differ(tmp_path):
    course = _course(tmp_path)
    differences = [
        {"submission": "reference", "cell": "double_zero", "sandbox": "0", "nbgrader": "1"},
        {"submission": "untouched", "cell": "double_zero", "sandbox": "1", "nbgrader": "0"},
    ]
    _write(course, certified=False, differences=differences)
    engine, why = choose_engine(course, ASSIGNMENT, "auto")
    assert engine == "nbgrader", why
    assert why == (
        "sandbox engine not certified for a9_double: 1 of 2 graded cells differ "
        "(double_zero: sandbox 0, nbgrader 1 (reference))"
    ), why


def test_an_explicit_engine_is_used_as_asked(tmp_path):
    course = _course(tmp_path)
    assert choose_engine(course, ASSIGNMENT, "sandbox") == (
        "sandbox",
        "--engine sandbox was asked for",
    )


def test_the_engine_digest_covers_the_modules_that_decide_scores():
    names = {p.name for p in certify.engine_modules()}
    assert {"judge.py", "student.py", "wire.py", "sandbox.py", "gradebook.py"} <= names, names
    assert "cli.py" not in names and "report.py" not in names, names
