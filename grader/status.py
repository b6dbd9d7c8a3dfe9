"""What the grading workdir holds, and what needs the instructor's attention."""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.autograde import choose_engine, pending_students
from grader.intake import load_roster, student_records
from grader.judge import REVIEW_PREFIX
from grader.layout import Course
from grader.results import UNGRADABLE, load_results
from grader.sandbox import bwrap_path


@dataclass
class AssignmentStatus:
    assignment: str
    collected: int
    graded: int
    pending: list[str]
    #: (student, reason) for every submission that could not be graded.
    attention: list[tuple[str, str]] = field(default_factory=list)
    #: Result files that could not be read (each with its reason).
    unreadable: list[str] = field(default_factory=list)
    #: Roster students (LMS id and name) with nothing collected.
    missing: list[str] = field(default_factory=list)
    #: The engine ``autograde --engine auto`` would use now, and why.
    engine: str = ""
    engine_reason: str = ""
    #: How many results each engine produced.
    graded_by: dict[str, int] = field(default_factory=dict)


def course_status(*, course: Course) -> tuple[list[AssignmentStatus], str]:
    """Per-assignment counts, and a line saying how student code is confined."""
    rows = []
    for assignment in course.assignments():
        collected = sorted(
            p.parent.name for p in course.submitted_dir.glob(f"*/{assignment}") if p.is_dir()
        )
        unreadable: list[str] = []
        found = load_results(course, assignment, problems=unreadable)
        if not collected and not found and not unreadable:
            continue
        engine, why = choose_engine(course, assignment, "auto")
        graded_by: dict[str, int] = {}
        for r in found:
            if r.status != UNGRADABLE:
                graded_by[r.engine or "unknown"] = graded_by.get(r.engine or "unknown", 0) + 1
        rows.append(
            AssignmentStatus(
                assignment=assignment,
                collected=len(collected),
                graded=sum(r.status != UNGRADABLE for r in found),
                pending=pending_students(course, assignment),
                attention=[
                    (r.student_id, r.reason)
                    for r in found
                    if r.status == UNGRADABLE or REVIEW_PREFIX in r.reason
                ],
                unreadable=unreadable,
                missing=_missing(course, assignment),
                engine=engine,
                engine_reason=why,
                graded_by=graded_by,
            )
        )
    sandbox = (
        "student code runs in bubblewrap (no network, no access to the course or gradebook)"
        if bwrap_path()
        else "bubblewrap NOT available: student code runs with resource limits only "
        "(apt-get install bubblewrap)"
    )
    return rows, sandbox


def _missing(course: Course, assignment: str) -> list[str]:
    """Roster students with no collected submission, as ``<lms id> (<name>)``."""
    roster = load_roster(course, assignment)
    if roster is None:
        return []
    have = {(r.get("lms"), r.get("lms_id")) for r in student_records(course, assignment).values()}
    have |= {("folder", sid) for sid in student_records(course, assignment)}
    return [
        f"{lms_id} ({name})"
        for lms_id, name in roster.students.items()
        if (roster.lms, lms_id) not in have
    ]
