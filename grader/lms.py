"""What Canvas and Moodle put in a download, and what they take back.

Downloads (read by :mod:`grader.intake`):

Canvas, "Download Submissions"
    Flat files ``lastfirst[_LATE]_<user id>_<submission id>_<original name>``; the original name
    may carry ``-1``, ``-2`` for resubmissions (``a1_rectifier-1.ipynb``). The user id is the
    student's stable key (two students may share ``lastfirst``); ``LATE`` is Canvas's late flag.
Moodle, "Download all submissions"
    Folders ``<Full Name>_<participant id>_assignsubmission_file_/<files>`` (Moodle 4.1+ drops the
    last ``_``), ``..._assignsubmission_onlinetext_`` folders for online text (not notebooks:
    ignored), or, when "download submissions in folders" is off, flat files
    ``<Full Name>_<participant id>_assignsubmission_file_<file>``. Moodle writes underscores in a
    name as spaces, so the participant id is the first all-digit field after the name. A file
    uploaded twice under one name becomes ``x.ipynb`` and ``x (1).ipynb``.
Plain folder
    ``<student id>/*.ipynb``; or flat files ``<student id>_<anything>.ipynb``.

Exports (written by :mod:`grader.export`):

Canvas gradebook import CSV
    ``Student,ID,SIS User ID,SIS Login ID,Section,<Assignment> [(<assignment id>)]``, a
    ``Points Possible`` row, one row per student keyed by ``ID`` (the Canvas user id). Canvas
    takes any other column as an assignment, so late flags go to a separate notes file.
Moodle grading worksheet (assignment > "Upload grading worksheet")
    ``Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,
    Last modified (submission),Last modified (grade),Feedback comments`` with identifiers
    ``Participant <id>``; Moodle needs ``Identifier``, ``Grade`` and ``Last modified (grade)``.
Moodle feedback files zip ("Upload multiple feedback files in a zip")
    Files under folders named as in the download, ``<Full Name>_<participant id>_
    assignsubmission_file_/``: Moodle matches the participant id, the field after the name.

Rosters (``collect --roster``): the CSV the LMS exports. Canvas's gradebook export (``Student``,
``ID``, ...), Moodle's grading worksheet (``Identifier``, ``Full name``, ...), or a plain CSV
with a ``student_id`` column (``name`` optional).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

CANVAS, MOODLE, FOLDER = "canvas", "moodle", "folder"

_CANVAS = re.compile(
    r"^(?P<name>.+?)(?P<late>_LATE)?_(?P<user>\d+)_(?P<sub>\d+)_(?P<orig>.+)$", re.DOTALL
)
_MOODLE_FOLDER = re.compile(
    r"^(?P<name>.*?)_(?P<pid>\d+)_assignsubmission_(?P<plugin>[a-z0-9]+)_?$", re.DOTALL
)
_MOODLE_FLAT = re.compile(
    r"^(?P<name>.*?)_(?P<pid>\d+)_assignsubmission_(?P<plugin>[a-z0-9]+)_(?P<orig>.+)$",
    re.DOTALL,
)
_COPY_SUFFIX = re.compile(r"^(?P<base>.*?) \((?P<n>\d+)\)(?P<ext>\.[^.]*)?$")
_DASH_SUFFIX = re.compile(r"^(?P<base>.*?)-(?P<n>\d+)(?P<ext>\.[^.]*)?$")

MOODLE_WORKSHEET_COLUMNS = [
    "Identifier",
    "Full name",
    "Email address",
    "Status",
    "Grade",
    "Maximum Grade",
    "Grade can be changed",
    "Last modified (submission)",
    "Last modified (grade)",
    "Feedback comments",
]
CANVAS_FIXED_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_PARTICIPANT = "Participant "


@dataclass(frozen=True)
class Origin:
    """Whose file this is, as the LMS's file name says."""

    lms: str
    #: The LMS's stable id of the student (Canvas user id, Moodle participant id, folder name).
    lms_id: str
    #: The name the LMS shows ("lovelaceada" in Canvas, "Ada Lovelace" in Moodle).
    name: str
    #: The file's own name, without the LMS's prefix.
    filename: str
    late: bool = False
    #: Canvas's submission (attachment) id: a later upload has a larger one.
    submission_id: int | None = None
    #: Moodle's submission plugin ("file", "onlinetext", ...).
    plugin: str = "file"


def parse_canvas(filename: str) -> Origin | None:
    """The origin of a Canvas bulk-download file name, or ``None`` if it is not one.

    >>> parse_canvas("lovelaceada_LATE_1234_98765_a1_rectifier-1.ipynb")
    Origin(lms='canvas', lms_id='1234', name='lovelaceada', filename='a1_rectifier-1.ipynb', \
late=True, submission_id=98765, plugin='file')
    """
    m = _CANVAS.match(filename)
    if not m:
        return None
    return Origin(
        CANVAS,
        m["user"],
        m["name"],
        m["orig"],
        late=bool(m["late"]),
        submission_id=int(m["sub"]),
    )


def parse_moodle_folder(folder: str) -> Origin | None:
    """The origin of a Moodle download folder name (``filename`` is empty)."""
    m = _MOODLE_FOLDER.match(folder)
    if not m or not m["name"].strip():
        return None
    return Origin(MOODLE, m["pid"], m["name"].strip(), "", plugin=m["plugin"])


def parse_moodle_flat(filename: str) -> Origin | None:
    """The origin of a flattened Moodle download file name."""
    m = _MOODLE_FLAT.match(filename)
    if not m or not m["name"].strip():
        return None
    return Origin(MOODLE, m["pid"], m["name"].strip(), m["orig"], plugin=m["plugin"])


def resubmission(filename: str, lms: str) -> tuple[str, int]:
    """The file name without a resubmission suffix, and the suffix's number (0 if none).

    ``x (2).ipynb`` (a browser's or Moodle's copy) and, in Canvas, ``x-2.ipynb``.

    >>> resubmission("a1 (2).ipynb", "moodle"), resubmission("a1-1.ipynb", "canvas")
    (('a1.ipynb', 2), ('a1.ipynb', 1))
    """
    m = _COPY_SUFFIX.match(filename)
    if m:
        return m["base"] + (m["ext"] or ""), int(m["n"])
    if lms == CANVAS:
        m = _DASH_SUFFIX.match(filename)
        if m:
            return m["base"] + (m["ext"] or ""), int(m["n"])
    return filename, 0


def moodle_folder_name(name: str, lms_id: str) -> str:
    """The folder Moodle's download gives a student (and its feedback zip import reads)."""
    return f"{name.replace('_', ' ').replace('/', ' ').strip()}_{lms_id}_assignsubmission_file_"


# --- rosters ---------------------------------------------------------------------------------


@dataclass
class Roster:
    """The students an LMS lists for a course, whether or not they submitted."""

    lms: str
    #: lms id -> display name, in the roster's order.
    students: dict[str, str]
    #: The CSV as read (header and rows), kept so that an export can fill it in.
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "lms": self.lms,
            "students": self.students,
            "header": self.header,
            "rows": self.rows,
        }

    @classmethod
    def from_json(cls, data: dict) -> Roster:
        return cls(data["lms"], dict(data["students"]), data["header"], data["rows"])


class RosterError(ValueError):
    """The roster file is not one of the CSV formats the grader reads."""


def read_roster(text: str) -> Roster:
    """Parse a roster: Canvas gradebook export, Moodle grading worksheet or ``student_id`` CSV."""
    rows = [r for r in csv.reader(io.StringIO(text.lstrip("\ufeff"))) if any(c.strip() for c in r)]
    if not rows:
        raise RosterError("the roster is empty")
    header = [h.strip() for h in rows[0]]
    body = [r + [""] * (len(header) - len(r)) for r in rows[1:]]
    col = {h: i for i, h in enumerate(header)}
    students: dict[str, str] = {}
    if "Identifier" in col and "Full name" in col:
        for r in body:
            ident = r[col["Identifier"]].strip()
            if ident.startswith(MOODLE_PARTICIPANT):
                students[ident[len(MOODLE_PARTICIPANT) :].strip()] = r[col["Full name"]].strip()
        return Roster(MOODLE, students, header, body)
    if "Student" in col and "ID" in col:
        kept = []
        for r in body:
            who, ident = r[col["Student"]].strip(), r[col["ID"]].strip()
            if who == "Points Possible" or not ident.isdigit() or who == "Student, Test":
                continue
            students[ident] = who
            kept.append(r)
        return Roster(CANVAS, students, header, kept)
    if "student_id" in col:
        for r in body:
            ident = r[col["student_id"]].strip()
            if ident:
                students[ident] = r[col["name"]].strip() if "name" in col else ident
        return Roster(FOLDER, students, header, body)
    raise RosterError(
        "the roster's first row has none of the known columns: Canvas's gradebook export "
        "('Student', 'ID', ...), Moodle's grading worksheet ('Identifier', 'Full name', ...) "
        f"or a 'student_id' column; it has {', '.join(header[:8])}"
    )


def canvas_assignment_column(header: list[str], assignment: str) -> str:
    """The gradebook column of ``assignment``: ``name (id)`` as in the roster, else its name.

    A column that Canvas does not know yet creates a new assignment when imported.
    """
    for h in header:
        m = re.fullmatch(r"(.*) \((\d+)\)", h)
        if m and m[1].strip() == assignment:
            return h
    return assignment
