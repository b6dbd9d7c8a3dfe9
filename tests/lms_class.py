"""A realistic class of a1_rectifier, as Canvas and Moodle download it, graded through the CLI.

Built from the course's own student notebook (``exercises/``) with answers from the reference
solution or a mutant of ``tests/mutants/`` (see ``tests/mutation.py``). Each LMS class has
students who share a name, a resubmission, a late file, a renamed notebook, a broken file,
non-ASCII names, an nbformat 3 notebook, an online-text folder, and a roster with one student
who submitted nothing. ``lms_class`` runs ``collect → autograde → feedback → export → report``
once per test session.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import nbformat
import pytest

from grader import cli
from grader.intake import assignment_max_score
from grader.layout import Course
from tests.mutation import UNTOUCHED, build_submission, load_catalogue

ASSIGNMENT = "a1_rectifier"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
MUTANT = "relu_backward_ignores_dout"
REPO = Path(__file__).resolve().parent.parent


def notebook_text(course: Course, variant: str | None, version: int = 4) -> str:
    """The student notebook answered with ``variant`` (None: the reference; UNTOUCHED)."""
    nb = build_submission(course, ASSIGNMENT, variant)[NOTEBOOK]
    if version == 3:
        return nbformat.writes(nbformat.v4.downgrade(nbformat.from_dict(nb)), 3)
    return nbformat.writes(nb)


CANVAS_ROSTER = """Student,ID,SIS User ID,SIS Login ID,Section,a1_rectifier (777),Current Score
    Points Possible,,,,,27,(read only)
"Lovelace, Ada",1001,S1001,ada1,Group A,,
"Lovelace, Ada",1002,S1002,ada2,Group A,,
"Nguyen, Bao",1003,S1003,bao,Group A,,
"Okafor, Chidi",1004,S1004,chidi,Group B,,
"=cmd|' /C calc'!A0",1005,S1005,evil,Group B,,
"Smith, Jo",1006,S1006,jo,Group B,,
"Broken, Bo",1007,S1007,bo,Group B,,
"Renamer, Ren",1008,S1008,ren,Group B,,
"Absent, Al",1009,S1009,al,Group B,,
"Student, Test",9999,,,,,
"""

MOODLE_ROSTER = (
    "Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
    "Last modified (submission),Last modified (grade),Feedback comments\n"
    + "".join(
        f"Participant {pid},{name},{mail}@uni.example,Submitted for grading,,27.00,Yes,"
        f'"Monday, 30 November 2026, 9:00 AM",-,\n'
        for pid, name, mail in [
            (2001, "Ada Lovelace", "ada1"),
            (2002, "Ada Lovelace", "ada2"),
            (2003, "Noah Müller", "noah"),
            (2004, "Zoë Ñandú", "zoe"),
            (2005, "Li Wei", "li"),
            (2006, "Chidi Okafor", "chidi"),
            (2007, "Absent Al", "al"),
        ]
    )
)


def canvas_download(course: Course, path: Path) -> None:
    ref, blank, mutant = None, UNTOUCHED, load_catalogue(ASSIGNMENT).MUTANTS[MUTANT]
    files = {
        "lovelaceada_1001_5001_a1_rectifier.ipynb": notebook_text(course, ref),
        "lovelaceada_1002_5002_a1_rectifier.ipynb": notebook_text(course, blank),
        "nguyenbao_1003_5003_a1_rectifier.ipynb": notebook_text(course, blank),
        "nguyenbao_1003_5010_a1_rectifier-1.ipynb": notebook_text(course, ref),
        "okafor_chidi_LATE_1004_5004_a1_rectifier.ipynb": notebook_text(course, ref),
        "cmdcalc_1005_5005_a1_rectifier.ipynb": notebook_text(course, mutant),
        "smithjo_1006_5006_a1_rectifier.ipynb": notebook_text(course, ref, version=3),
        "brokenbo_1007_5007_a1_rectifier.ipynb": '{"cells": [',
        "renamerren_1008_5008_my relu work.ipynb": notebook_text(course, ref),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            zf.writestr(name, text)


def moodle_download(course: Course, path: Path) -> None:
    ref, blank, mutant = None, UNTOUCHED, load_catalogue(ASSIGNMENT).MUTANTS[MUTANT]
    files = {
        "Ada Lovelace_2001_assignsubmission_file_/a1_rectifier.ipynb": notebook_text(course, ref),
        "Ada Lovelace_2002_assignsubmission_file_/a1_rectifier.ipynb": notebook_text(
            course, blank
        ),
        "Noah Müller_2003_assignsubmission_file_/a1_rectifier.ipynb": notebook_text(course, blank),
        "Noah Müller_2003_assignsubmission_file_/a1_rectifier (1).ipynb": notebook_text(
            course, ref
        ),
        "Noah Müller_2003_assignsubmission_onlinetext_/onlinetext.html": "<p>done!</p>",
        "Zoë Ñandú_2004_assignsubmission_file_a1_rectifier.ipynb": notebook_text(course, ref),
        "Li Wei_2005_assignsubmission_file_/a1_rectifier.ipynb": "",
        "Chidi Okafor_2006_assignsubmission_file_/a1_rectifier.ipynb": notebook_text(
            course, mutant
        ),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            zf.writestr(name, text)


def _read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def run_class(tmp: Path, lms: str) -> dict:
    course = Course(root=REPO, workdir=tmp / "grading")
    download, roster = tmp / f"{lms}.zip", tmp / f"{lms}-roster.csv"
    (canvas_download if lms == "canvas" else moodle_download)(course, download)
    roster.write_text(CANVAS_ROSTER if lms == "canvas" else MOODLE_ROSTER, encoding="utf-8")
    args = ["--workdir", str(course.workdir)]
    steps = [
        ["collect", ASSIGNMENT, str(download), "--roster", str(roster)],
        ["autograde", ASSIGNMENT, "--workers", "1", "--engine", "sandbox"],
        ["feedback", ASSIGNMENT],
        ["export", "--format", "csv", "--out", str(tmp / "grades.csv")],
        ["report", "--html", str(tmp / "report.html")],
    ]
    if lms == "canvas":
        steps.append(
            ["export", "--format", "canvas", "--out", str(tmp / "canvas.csv"),
             "--late-penalty", "10", "--feedback-zip", str(tmp / "feedback.zip")]
        )  # fmt: skip
    else:
        steps.append(
            ["export", "--format", "moodle", "--assignment", ASSIGNMENT,
             "--out", str(tmp / "moodle.csv"), "--feedback-zip", str(tmp / "feedback.zip")]
        )  # fmt: skip
    for step in steps:
        assert cli.main([*args, *step]) == 0, step
    out = {
        "course": course,
        "tmp": tmp,
        "max": assignment_max_score(course, ASSIGNMENT),
        "csv": {r["lms_id"]: r for r in csv.DictReader((tmp / "grades.csv").open())},
        "report": tmp / "report.html",
    }
    if lms == "canvas":
        out["canvas"] = _read_csv(tmp / "canvas.csv")
        out["notes"] = {r["ID"]: r for r in csv.DictReader((tmp / "canvas.notes.csv").open())}
        out["zip"] = zipfile.ZipFile(tmp / "feedback.zip").namelist()
    else:
        out["moodle"] = _read_csv(tmp / "moodle.csv")
        out["zip"] = zipfile.ZipFile(tmp / "feedback.zip").namelist()
    return out


@pytest.fixture(scope="session")
def canvas_class(tmp_path_factory):
    return run_class(tmp_path_factory.mktemp("canvas-class"), "canvas")


@pytest.fixture(scope="session")
def moodle_class(tmp_path_factory):
    return run_class(tmp_path_factory.mktemp("moodle-class"), "moodle")
