"""LMS formats: file names and rosters read as Canvas and Moodle write them, and a real class
(a1_rectifier, Canvas and Moodle downloads) through collect → autograde → export."""

from __future__ import annotations

import pytest

from grader import lms
from grader.intake import student_record
from tests import lms_class
from tests.lms_class import ASSIGNMENT, CANVAS_ROSTER, MOODLE_ROSTER

# The graded classes (session fixtures, shared with tests/test_report.py).
canvas_class, moodle_class = lms_class.canvas_class, lms_class.moodle_class


@pytest.mark.parametrize(
    "name, expected",
    [
        ("lovelaceada_1234_98765_a1_rectifier.ipynb", ("1234", "lovelaceada", False, 98765)),
        ("lovelaceada_LATE_1234_98765_a1_rectifier-2.ipynb", ("1234", "lovelaceada", True, 98765)),
        ("van_der_berg_anna_LATE_7_8_x_1_2.ipynb", ("7", "van_der_berg_anna", True, 8)),
        ("ada_a1_rectifier.ipynb", None),
        ("Ada Lovelace_307_assignsubmission_file_a1.ipynb", None),
    ],
)
def test_canvas_file_names(name, expected):
    origin = lms.parse_canvas(name)
    got = origin and (origin.lms_id, origin.name, origin.late, origin.submission_id)
    assert got == expected, origin


def test_moodle_names():
    folder = lms.parse_moodle_folder("Noah Müller_307_assignsubmission_file_")
    assert (folder.lms_id, folder.name, folder.plugin) == ("307", "Noah Müller", "file")
    assert lms.parse_moodle_folder("Noah Müller_307_assignsubmission_onlinetext_").plugin == (
        "onlinetext"
    )
    assert lms.parse_moodle_folder("Jo 2 Smith_12_assignsubmission_file").lms_id == "12"
    flat = lms.parse_moodle_flat("Zoë Ñandú_311_assignsubmission_file_a1 (1).ipynb")
    assert (flat.lms_id, flat.name, flat.filename) == ("311", "Zoë Ñandú", "a1 (1).ipynb")
    assert lms.parse_moodle_folder("ada_lovelace") is None
    assert lms.moodle_folder_name("Ada_Lovelace", "5") == "Ada Lovelace_5_assignsubmission_file_"


def test_resubmission_suffixes():
    assert lms.resubmission("a1 (12).ipynb", lms.MOODLE) == ("a1.ipynb", 12)
    assert lms.resubmission("a1-3.ipynb", lms.CANVAS) == ("a1.ipynb", 3)
    assert lms.resubmission("a1-3.ipynb", lms.MOODLE) == ("a1-3.ipynb", 0)
    assert lms.resubmission("a1_rectifier.ipynb", lms.CANVAS) == ("a1_rectifier.ipynb", 0)


def test_rosters_in_each_lms_format():
    canvas = lms.read_roster(CANVAS_ROSTER)
    assert canvas.lms == lms.CANVAS and len(canvas.students) == 9, canvas.students
    assert canvas.students["1001"] == "Lovelace, Ada" and "9999" not in canvas.students
    assert lms.canvas_assignment_column(canvas.header, ASSIGNMENT) == "a1_rectifier (777)"
    assert lms.canvas_assignment_column(canvas.header, "a2_sparsity") == "a2_sparsity"
    moodle = lms.read_roster("\ufeff" + MOODLE_ROSTER)
    assert moodle.lms == lms.MOODLE and moodle.students["2003"] == "Noah Müller"
    plain = lms.read_roster("student_id,name\ns1,Ann\ns2,Ben\n")
    assert plain.students == {"s1": "Ann", "s2": "Ben"}
    with pytest.raises(lms.RosterError, match="known columns"):
        lms.read_roster("First name,Surname\nA,B\n")


# --- the real class ------------------------------------------------------------------------------


@pytest.mark.slow
def test_canvas_class_every_student_once_keyed_by_user_id(canvas_class):
    rows, top = canvas_class["csv"], canvas_class["max"]
    expected_ids = {"1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1009"}
    assert set(rows) == expected_ids, sorted(rows)
    score = {k: r["score"] for k, r in rows.items()}
    full = f"{top:g}"
    assert score["1001"] == full and score["1002"] == "0", "same-name students stay apart"
    assert rows["1001"]["name"] == rows["1002"]["name"] == "Lovelace, Ada", "the roster's name"
    assert score["1003"] == full, "the resubmission (-1) is graded, not the first file"
    assert score["1004"] == full and rows["1004"]["late"] == "yes", rows["1004"]
    assert 0 < float(score["1005"]) < top, "the mutant loses some points, not all"
    assert score["1006"] == full, "an nbformat 3 notebook is graded"
    assert rows["1007"]["status"] == "ungradable" and "JSON" in rows["1007"]["reason"]
    assert score["1008"] == full and "renamed" in rows["1008"]["notes"], rows["1008"]
    assert rows["1009"]["status"] == "missing" and score["1009"] == "", rows["1009"]
    assert "renamed" not in rows["1001"]["notes"], "a Canvas file is not 'renamed'"
    assert "newest" in rows["1003"]["notes"], rows["1003"]
    record = student_record(canvas_class["course"], ASSIGNMENT, "1003")
    assert record["files"] == {f"{ASSIGNMENT}.ipynb": "nguyenbao_1003_5010_a1_rectifier-1.ipynb"}


@pytest.mark.slow
def test_canvas_export_is_a_gradebook_import(canvas_class):
    header, points, *body = canvas_class["canvas"]
    assert header == [*lms.CANVAS_FIXED_COLUMNS, "a1_rectifier (777)"], header
    assert points[0] == "Points Possible" and points[-1] == f"{canvas_class['max']:g}"
    by_id = {r[1]: r for r in body}
    roster_ids = ["1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1009"]
    assert [r[1] for r in body] == roster_ids, "roster order, keyed by Canvas user id"
    top = canvas_class["max"]
    assert by_id["1001"][2:5] == ["S1001", "ada1", "Group A"], by_id["1001"]
    assert by_id["1004"][-1] == f"{top * 0.9:g}", "10 % per day off the late submission"
    assert canvas_class["csv"]["1004"]["score"] == f"{top:g}", "raw score unchanged"
    assert by_id["1007"][-1] == "0" and by_id["1009"][-1] == "", "zero for ungradable, blank"
    assert by_id["1005"][0].startswith("'="), "a formula in a name is neutralised"
    # Canvas's re-upload reads the first two all-digit fields: user id, submitted file's id.
    fields = {tuple(f for f in n.split("_") if f.isdigit())[:2] for n in canvas_class["zip"]}
    assert ("1003", "5010") in fields and ("1001", "5001") in fields, fields
    assert len(fields) == 8 and all(u in roster_ids for u, _ in fields), fields
    notes = canvas_class["notes"]
    assert notes["1004"]["late"] == "yes" and notes["1004"]["days_late"] == "1", notes["1004"]
    assert notes["1007"]["status"] == "ungradable"


@pytest.mark.slow
def test_moodle_class_every_student_once_keyed_by_participant(moodle_class):
    rows, top = moodle_class["csv"], moodle_class["max"]
    assert set(rows) == {"2001", "2002", "2003", "2004", "2005", "2006", "2007"}, sorted(rows)
    full = f"{top:g}"
    assert rows["2001"]["score"] == full and rows["2002"]["score"] == "0"
    assert rows["2003"]["score"] == full, "x (1).ipynb is the newer upload"
    assert rows["2004"]["score"] == full and rows["2004"]["name"] == "Zoë Ñandú"
    assert rows["2005"]["status"] == "ungradable" and "empty" in rows["2005"]["reason"]
    assert 0 < float(rows["2006"]["score"]) < top
    assert rows["2007"]["status"] == "missing"
    onlinetext = moodle_class["course"].submitted_dir.glob("*onlinetext*")
    assert not list(onlinetext), "an onlinetext folder is no student"


@pytest.mark.slow
def test_moodle_worksheet_and_feedback_zip(moodle_class, canvas_class):
    header, *body = moodle_class["moodle"]
    assert header == lms.MOODLE_WORKSHEET_COLUMNS, header
    col = {h: i for i, h in enumerate(header)}
    by_id = {r[col["Identifier"]]: r for r in body}
    assert len(body) == 7 and "Participant 2007" in by_id, "every roster row is kept"
    top = moodle_class["max"]
    assert by_id["Participant 2001"][col["Grade"]] == f"{top:g}"
    assert by_id["Participant 2007"][col["Grade"]] == "", "no grade for who submitted nothing"
    assert by_id["Participant 2005"][col["Grade"]] == "0"
    assert "Could not be graded" in by_id["Participant 2005"][col["Feedback comments"]]
    mutant = by_id["Participant 2006"][col["Grade"]]
    assert mutant == canvas_class["csv"]["1005"]["score"], "same notebook, same score"
    assert by_id["Participant 2001"][col["Last modified (grade)"]] == "-"
    zipped = sorted(moodle_class["zip"])
    assert "Noah Müller_2003_assignsubmission_file_/a1_rectifier-feedback.html" in zipped
    assert all(n.split("_")[1].isdigit() for n in zipped), zipped  # Moodle's participant field
    assert len(zipped) == 6, zipped
