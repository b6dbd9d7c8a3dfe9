"""Write the grades in the form each LMS imports, and the feedback in the form it takes back.

Formats (``export --format``; the columns are described in :mod:`grader.lms`):

``csv`` (default)
    One row per student and assignment: ``student_id, name, lms, lms_id, assignment, score,
    max_score, late, days_late, penalty, final_score, status, reason`` (from grading),
    ``notes`` (from collect: which file was chosen, a renamed notebook...), then one column per
    test of the exported assignment(s), in notebook order (``<assignment>/<test>`` when several
    assignments are exported). Roster students with no submission get a row with status
    ``missing``. A submission that could not be graded is ``ungradable`` with its reason: never
    a silent 0.
``canvas``
    Canvas's gradebook import CSV, one row per Canvas student (by user id), one column per
    exported assignment (named as in the roster's gradebook export when one was given, so
    Canvas updates that assignment; otherwise Canvas creates it). Late flags, penalties and
    reasons go to ``<file>.notes.csv`` beside it (Canvas would take any extra column for an
    assignment). ``--feedback-zip`` also writes the feedback pages for Canvas's "Re-Upload
    Submissions" (``<name>_<user id>_<submission file id>_<assignment>-feedback.html``).
``moodle``
    Moodle's grading worksheet, one per assignment (``<file>`` for one assignment, else
    ``<stem>-<assignment>.csv``); with a Moodle roster (its grading worksheet) every row of it
    is kept and only ``Grade`` and ``Feedback comments`` are filled in. ``--feedback-zip`` also
    writes the feedback pages as Moodle's "multiple feedback files" zip.

Only students collected from that LMS can go into its file; the others are listed as skipped.
**Late policy** (``--late-penalty P``, default 0): a late submission loses P % of the maximum
score per day late, never below 0. Days late are whole days started after ``--due`` (when the
submission time is known), else 1 for a submission the LMS flagged late. Applied in the export
only: results keep the raw score.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grader import lms
from grader.errors import GraderError
from grader.gradebook import with_manual_grades
from grader.intake import load_roster, student_records
from grader.layout import Course
from grader.results import GRADED, Result, load_results
from grader.sanitize import clean_text, csv_cell

FORMATS = ("csv", "canvas", "moodle")
FIXED_COLUMNS = [
    "student_id",
    "name",
    "lms",
    "lms_id",
    "assignment",
    "score",
    "max_score",
    "late",
    "days_late",
    "penalty",
    "final_score",
    "status",
    "reason",
    "engine",
    "comments",
    "notes",
]
MISSING = "missing"


def ordered_tests(course: Course, assignment: str) -> list[str]:
    """The assignment's graded tests as results key them, in notebook then cell order.

    ``grade_id`` for a one-notebook assignment, ``<notebook stem>/<grade_id>`` otherwise.
    """
    sources = course.source_notebooks(assignment)
    order = []
    for path in sources:
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and meta.get("grade_id"):
                gid = meta["grade_id"]
                order.append(gid if len(sources) == 1 else f"{path.stem}/{gid}")
    return order


@dataclass(frozen=True)
class LatePolicy:
    """``per_day`` % of the maximum score off per day late (0: no penalty); ``due``: deadline."""

    per_day: float = 0.0
    due: dt.datetime | None = None

    def days_late(self, late: bool, submitted_at: str) -> int:
        if self.due is not None and submitted_at:
            when = dt.datetime.fromisoformat(submitted_at)
            due = self.due if self.due.tzinfo else self.due.replace(tzinfo=dt.UTC)
            when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
            seconds = (when - due).total_seconds()
            if seconds > 0:
                return math.ceil(seconds / 86400)
            return 1 if late else 0
        return 1 if late else 0

    def penalty(self, score: float, max_score: float, days: int) -> float:
        return min(score, max_score * self.per_day / 100 * days) if days else 0.0


@dataclass
class Line:
    """One student's grade for one assignment, as exported."""

    student_id: str
    assignment: str
    record: dict
    result: Result | None
    days_late: int = 0
    penalty: float = 0.0

    @property
    def status(self) -> str:
        return self.result.status if self.result else MISSING

    @property
    def final(self) -> float | None:
        if self.result is None:
            return None
        return max(0.0, self.result.score - self.penalty)

    @property
    def lms(self) -> str:
        return self.record.get("lms", lms.FOLDER)

    @property
    def lms_id(self) -> str:
        return self.record.get("lms_id", self.student_id)

    @property
    def name(self) -> str:
        return self.record.get("name", "")


@dataclass
class Written:
    """What an export wrote, and whom it had to leave out (with why)."""

    files: list[Path] = field(default_factory=list)
    rows: int = 0
    skipped: list[str] = field(default_factory=list)


def class_lines(
    course: Course, assignment: str, policy: LatePolicy = LatePolicy()
) -> tuple[list[Line], float]:
    """Every student's line for ``assignment`` (roster students without work included)."""
    # The gradebook's current scores: manual grades and comments given in formgrader count.
    results = {
        r.student_id: r for r in with_manual_grades(course, load_results(course, assignment))
    }
    records = student_records(course, assignment)
    max_score = next(iter(results.values())).max_score if results else 0.0
    lines = []
    for sid in sorted(set(results) | set(records)):
        result = results.get(sid)
        record = records.get(sid, {})
        line = Line(sid, assignment, record, result)
        if result is not None:
            line.days_late = policy.days_late(
                record.get("late", False), record.get("submitted_at", "")
            )
            if result.status == GRADED:
                line.penalty = policy.penalty(result.score, result.max_score, line.days_late)
        lines.append(line)
    roster = load_roster(course, assignment)
    if roster is not None:
        for ln in lines:  # the roster's name ("Lovelace, Ada") reads better than "lovelaceada"
            if ln.lms == roster.lms and ln.lms_id in roster.students:
                name = roster.students[ln.lms_id]
                ln.record = {**ln.record, "name": name, "download_name": ln.name}
        present = {(ln.lms, ln.lms_id) for ln in lines} | {
            (lms.FOLDER, ln.student_id) for ln in lines
        }
        for lms_id, name in roster.students.items():
            if (roster.lms, lms_id) not in present:
                record = {"lms": roster.lms, "lms_id": lms_id, "name": name}
                lines.append(Line(f"({roster.lms} {lms_id})", assignment, record, None))
    return lines, max_score


def _assignments(course: Course, assignment: str | None) -> list[str]:
    if assignment:
        return [course.check_assignment(assignment)]
    done = sorted({r.assignment for r in load_results(course)})
    return [a for a in course.assignments() if a in done]


def export(
    *,
    course: Course,
    path: Path,
    fmt: str = "csv",
    assignment: str | None = None,
    policy: LatePolicy = LatePolicy(),
    feedback_zip: Path | None = None,
) -> Written:
    """Write the grades of one assignment (or of every graded one) in format ``fmt``."""
    if fmt not in FORMATS:
        raise GraderError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if policy.per_day < 0 or policy.per_day > 100:
        raise GraderError(f"--late-penalty must be between 0 and 100 (%), not {policy.per_day}")
    assignments = _assignments(course, assignment)
    if not assignments or not load_results(course, assignment):
        raise GraderError(
            f"no results in {course.results_dir}: run `python -m grader autograde` first"
        )
    if feedback_zip is not None and fmt == "csv":
        raise GraderError("--feedback-zip is for --format canvas or --format moodle")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    per = {a: class_lines(course, a, policy) for a in assignments}
    if fmt != "csv" and not any(ln.lms == fmt for lines, _ in per.values() for ln in lines):
        raise GraderError(
            f"no student of {', '.join(assignments)} was collected from a {fmt.title()} "
            "download, so there is nothing to import there; use --format csv"
        )
    if fmt == "csv":
        return _write_csv(course, path, per)
    if fmt == "canvas":
        return _write_canvas(course, path, per, feedback_zip)
    return _write_moodle(course, path, per, feedback_zip)


def export_csv(*, course: Course, path: Path, assignment: str | None = None) -> int:
    """The plain CSV export; return the row count (kept for existing callers)."""
    return export(course=course, path=path, assignment=assignment).rows


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def _write_csv(course: Course, path: Path, per: dict) -> Written:
    several = len(per) > 1
    tests: list[tuple[str, str, str]] = []  # (assignment, result key, column)
    for a, (lines, _) in per.items():
        order = ordered_tests(course, a)
        seen = {k for ln in lines if ln.result for k in ln.result.tests}
        for key in order + sorted(seen - set(order)):
            tests.append((a, key, f"{a}/{key}" if several else key))
    out = Written(files=[path])
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(FIXED_COLUMNS + [c for _, _, c in tests])
        for a, (lines, max_score) in per.items():
            for ln in lines:
                r = ln.result
                row = [
                    ln.student_id,
                    ln.name,
                    ln.lms,
                    ln.lms_id,
                    a,
                    r.score if r else "",
                    r.max_score if r else max_score,
                    "yes" if ln.record.get("late") else "no",
                    ln.days_late,
                    ln.penalty,
                    ln.final if r else "",
                    ln.status,
                    r.reason if r else "no submission (listed in the roster)",
                    r.engine if r else "",
                    "\n".join(f"{k}: {v}" for k, v in sorted(r.comments.items())) if r else "",
                    "; ".join(ln.record.get("notes", [])),
                ]
                row += [(r.tests.get(key, "") if r and ta == a else "") for ta, key, _ in tests]
                writer.writerow([csv_cell(v, 2000) for v in row])
                out.rows += 1
    return out


def _note(ln: Line) -> str:
    r = ln.result
    if r is None:
        return "no submission"
    parts = [f"Autograded: {r.score:g} / {r.max_score:g} points."]
    if r.status != GRADED:
        parts.append(f"Could not be graded: {clean_text(r.reason, 300)}.")
    if ln.record.get("late") or ln.days_late:
        parts.append(f"Late ({ln.days_late} day(s)).")
    if ln.penalty:
        parts.append(f"Late penalty: -{ln.penalty:g}; grade {ln.final:g}.")
    return " ".join(parts)


def _write_canvas(course: Course, path: Path, per: dict, feedback_zip: Path | None) -> Written:
    roster = load_roster(course, next(iter(per)))
    roster = roster if roster is not None and roster.lms == lms.CANVAS else None
    header_src = roster.header if roster else []
    columns = {a: lms.canvas_assignment_column(header_src, a) for a in per}
    out = Written(files=[path, path.with_suffix(".notes.csv")])
    students: dict[str, dict] = {}  # canvas user id -> row fields
    if roster:
        col = {h: i for i, h in enumerate(roster.header)}
        for r in roster.rows:
            students[r[col["ID"]].strip()] = {
                h: (r[col[h]] if h in col else "") for h in lms.CANVAS_FIXED_COLUMNS
            }
    notes = []
    for a, (lines, _) in per.items():
        for ln in lines:
            if ln.lms != lms.CANVAS:
                out.skipped.append(f"{a} {ln.student_id}: not collected from Canvas (no user id)")
                continue
            row = students.setdefault(
                ln.lms_id,
                {
                    "Student": ln.name,
                    "ID": ln.lms_id,
                    "SIS User ID": "",
                    "SIS Login ID": "",
                    "Section": "",
                },
            )
            if ln.result is not None:
                row[columns[a]] = _fmt(ln.final)
            notes.append(
                [
                    ln.lms_id,
                    row["Student"],
                    a,
                    _fmt(ln.result.score if ln.result else None),
                    "yes" if ln.record.get("late") else "no",
                    ln.days_late,
                    ln.penalty,
                    _fmt(ln.final),
                    ln.status,
                    ln.result.reason if ln.result else "",
                ]
            )
    header = lms.CANVAS_FIXED_COLUMNS + [columns[a] for a in per]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        points = ["Points Possible", "", "", "", ""] + [_fmt(per[a][1]) for a in per]
        writer.writerow(points)
        for row in students.values():
            writer.writerow([csv_cell(row.get(h, ""), 500) for h in header])
            out.rows += 1
    if feedback_zip is not None:
        for a, (lines, _) in per.items():
            zpath = Path(feedback_zip)
            if len(per) > 1:
                zpath = zpath.with_name(f"{zpath.stem}-{a}{zpath.suffix}")
            canvas = [ln for ln in lines if ln.lms == lms.CANVAS and ln.result is not None]
            out.files.append(_canvas_feedback_zip(course, a, canvas, zpath))
    with out.files[1].open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "ID",
                "Student",
                "assignment",
                "score",
                "late",
                "days_late",
                "penalty",
                "final_score",
                "status",
                "reason",
            ]
        )
        for n in notes:
            writer.writerow([csv_cell(v, 2000) for v in n])
    return out


def _write_moodle(course: Course, path: Path, per: dict, feedback_zip: Path | None) -> Written:
    out = Written()
    for a, (lines, max_score) in per.items():
        target = path if len(per) == 1 else path.with_name(f"{path.stem}-{a}{path.suffix}")
        roster = load_roster(course, a)
        roster = roster if roster is not None and roster.lms == lms.MOODLE else None
        by_id: dict[str, Line] = {}
        for ln in lines:
            if ln.lms != lms.MOODLE:
                out.skipped.append(
                    f"{a} {ln.student_id}: not collected from Moodle (no participant id)"
                )
            else:
                by_id[ln.lms_id] = ln
        if roster:
            header = roster.header
            rows = [list(r) for r in roster.rows]
            col = {h: i for i, h in enumerate(header)}
            listed = set()
            for r in rows:
                pid = r[col["Identifier"]].strip()[len(lms.MOODLE_PARTICIPANT) :].strip()
                listed.add(pid)
                ln = by_id.get(pid)
                if ln is not None and ln.result is not None:
                    r[col["Grade"]] = _fmt(ln.final)
                    if "Feedback comments" in col:
                        r[col["Feedback comments"]] = _note(ln)
            for pid, ln in by_id.items():
                if pid not in listed:
                    out.skipped.append(
                        f"{a} {ln.student_id}: participant {pid} is not in the roster"
                    )
        else:
            header = lms.MOODLE_WORKSHEET_COLUMNS
            rows = []
            for pid, ln in sorted(by_id.items(), key=lambda kv: int(kv[0])):
                if ln.result is None:
                    continue
                rows.append(
                    [
                        lms.MOODLE_PARTICIPANT + pid,
                        ln.name,
                        "",
                        "Submitted for grading" + (" - late" if ln.record.get("late") else ""),
                        _fmt(ln.final),
                        _fmt(max_score),
                        "Yes",
                        ln.record.get("submitted_at") or "-",
                        "-",
                        _note(ln),
                    ]
                )
        with target.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for r in rows:
                writer.writerow([csv_cell(v, 2000) for v in r])
                out.rows += 1
        out.files.append(target)
        if feedback_zip is not None:
            zpath = Path(feedback_zip)
            if len(per) > 1:
                zpath = zpath.with_name(f"{zpath.stem}-{a}{zpath.suffix}")
            out.files.append(_moodle_feedback_zip(course, a, by_id, zpath))
    return out


def _canvas_feedback_zip(course: Course, assignment: str, lines: list, zpath: Path) -> Path:
    """Feedback pages named as Canvas's "Re-Upload Submissions" matches them.

    Canvas reads the first two all-digit ``_`` fields of each name as the user id and the id
    of the submitted file, and attaches the file as a comment on that submission.
    """
    from grader.feedback import feedback_path, write_feedback

    write_feedback(course=course, assignment=assignment)
    zpath.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        for ln in lines:
            page = feedback_path(course, assignment, ln.student_id)
            sub = ln.record.get("submission_id")
            if not sub or not page.exists():
                continue
            who = re.sub(r"[^A-Za-z]", "", ln.record.get("download_name", ln.name)) or "student"
            zf.write(page, f"{who}_{ln.lms_id}_{sub}_{assignment}-feedback.html")
    return zpath


def _moodle_feedback_zip(course: Course, assignment: str, by_id: dict, zpath: Path) -> Path:
    """Each student's feedback page in the folder Moodle's download gave them."""
    from grader.feedback import feedback_path, write_feedback

    write_feedback(course=course, assignment=assignment)
    zpath.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        for pid, ln in sorted(by_id.items()):
            page = feedback_path(course, assignment, ln.student_id)
            if ln.result is None or not page.exists():
                continue
            folder = lms.moodle_folder_name(clean_text(ln.name, 100, newlines=False), pid)
            zf.write(page, f"{folder}/{assignment}-feedback.html")
    return zpath
