"""Per-student feedback pages: each test's name, points and a helpful message.

Built from the saved results and the source notebook's test descriptions (the first comment
line of each test cell). Never shows a hidden test's code or its expected values: the sandbox
engine only ever records the visible part's messages, and a hidden failure is reported as
"a hidden check failed" with what the test checks.
"""

from __future__ import annotations

import html
from pathlib import Path

from grader.judge import Blueprint
from grader.layout import Course
from grader.results import GRADED, Result, load_results


def test_descriptions(course: Course, assignment: str) -> dict[str, str]:
    """grade_id -> what the test checks (the test cell's first comment line)."""
    described = {}
    for source in course.source_notebooks(assignment):
        for grade_id, _, code in Blueprint.from_source(source).tests:
            first = code.lstrip().splitlines()[0] if code.strip() else ""
            text = first.lstrip("#").strip()
            described[grade_id] = text.split(":", 1)[1].strip() if ":" in text else text
    return described


def _page(result: Result, described: dict[str, str]) -> str:
    rows = []
    for grade_id, what in described.items():
        points = result.tests.get(grade_id)
        if points is None:
            verdict, message = "not graded", result.reason
        else:
            message = result.messages.get(grade_id, "")
            verdict = "passed" if not message and points > 0 else "failed"
            if verdict == "failed" and not message:
                message = "this test failed"
        rows.append(
            f"<tr class='{verdict.replace(' ', '-')}'><td><code>{html.escape(grade_id)}</code>"
            f"<br><small>{html.escape(what)}</small></td>"
            f"<td>{'' if points is None else f'{points:g}'}</td><td>{verdict}</td>"
            f"<td>{html.escape(message)}</td></tr>"
        )
    status = "" if result.status == GRADED else f"<p class='warn'>{html.escape(result.reason)}</p>"
    notes = (
        f"<p>Notes: {html.escape(result.reason)}</p>"
        if result.reason and result.status == GRADED
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Feedback: {html.escape(result.assignment)} for {html.escape(result.student_id)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}
td,th{{border-bottom:1px solid #ccc;padding:.4em;text-align:left;vertical-align:top}}
.failed td:nth-child(3),.warn{{color:#a00}} .passed td:nth-child(3){{color:#070}}</style>
</head><body>
<h1>{html.escape(result.assignment)}: {result.score:g} / {result.max_score:g} points</h1>
<p>Student: {html.escape(result.student_id)}</p>{status}{notes}
<table><thead><tr><th>Test</th><th>Points</th><th>Result</th><th>Message</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
</body></html>
"""


def feedback_path(course: Course, assignment: str, student_id: str) -> Path:
    """``<workdir>/feedback/<assignment>/<student id>.html``.

    The student id of an LMS submission is the LMS's own id (Canvas user id, Moodle participant
    id), so the instructor can match each page to the LMS's student.
    """
    return course.feedback_dir / assignment / f"{student_id}.html"


def write_feedback(*, course: Course, assignment: str) -> list[Path]:
    """Write ``<workdir>/feedback/<assignment>/<student id>.html`` for every result."""
    course.check_assignment(assignment)
    described = test_descriptions(course, assignment)
    folder = course.feedback_dir / assignment
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for result in load_results(course, assignment):
        path = feedback_path(course, assignment, result.student_id)
        path.write_text(_page(result, described), encoding="utf-8")
        written.append(path)
    return written
