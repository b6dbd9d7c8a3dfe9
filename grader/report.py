"""The class report: one HTML page an instructor reads after grading.

Per assignment: a table of every student (id, name, LMS id, score, late, status, a link to the
student's feedback page), roster students who submitted nothing (status "missing"), the score
histogram over the full range 0..maximum, the failure rate of each test in notebook order (a
chart and a table), and the instructor-only details of failed hidden checks (what each check
raised; never shown to students). All student-supplied text is cleaned of control characters
and escaped.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from pathlib import Path

from grader.errors import GraderError
from grader.export import MISSING, Line, class_lines, ordered_tests
from grader.feedback import feedback_path
from grader.layout import Course
from grader.results import GRADED, load_results
from grader.sanitize import clean_text


def _e(text: object, limit: int = 500) -> str:
    return html.escape(clean_text(text, limit))


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def _histogram(assignment: str, scores: list[float], max_score: float) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    top = max(max_score, max(scores, default=0.0), 1.0)
    bins = max(1, min(20, math.ceil(top)))
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(scores, bins=bins, range=(0, top), color="#3572a5", edgecolor="white")
    ax.set_xlim(0, top)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # whole students
    ax.set_xlabel(f"score (points, 0 to {max_score:g})")
    ax.set_ylabel("students")
    ax.set_title(f"{assignment}: scores of {len(scores)} graded submissions")
    out = _png(fig)
    plt.close(fig)
    return out


def _rates_chart(assignment: str, names: list[str], rates: list[float]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 0.3 * len(names) + 1))
    ax.barh(names, rates, color="#a53535")
    ax.set_xlabel("submissions failing the test (%)")
    ax.set_xlim(0, 100)
    ax.invert_yaxis()
    ax.set_title(f"{assignment}: failure rate per test (notebook order)")
    out = _png(fig)
    plt.close(fig)
    return out


def _student_rows(lines: list[Line], assignment: str, course: Course, page: Path) -> str:
    rows = []
    for ln in sorted(lines, key=lambda x: (x.status == MISSING, x.student_id)):
        r = ln.result
        fb = feedback_path(course, assignment, ln.student_id)
        if r is None:
            link = ""
        elif fb.exists():
            href = os.path.relpath(fb, page.parent)
            link = f"<a href='{html.escape(href)}'>feedback</a>"
        else:
            link = "<small>not written yet (run <code>feedback</code>)</small>"
        reason = f"<br><small>{_e(r.reason, 300)}</small>" if r is not None and r.reason else ""
        rows.append(
            f"<tr class='{_e(ln.status)}'><td><code>{_e(ln.student_id, 80)}</code></td>"
            f"<td>{_e(ln.name, 120)}</td><td>{_e(ln.lms)} {_e(ln.lms_id, 80)}</td>"
            f"<td>{'' if r is None else f'{r.score:g} / {r.max_score:g}'}</td>"
            f"<td>{'late' if ln.record.get('late') else ''}</td>"
            f"<td>{_e(ln.status)}{reason}</td><td>{link}</td></tr>"
        )
    return (
        "<table class='students'><caption>Every student</caption><thead><tr><th>Student id</th>"
        "<th>Name</th><th>LMS id</th><th>Score</th><th>Late</th><th>Status</th>"
        "<th>Feedback</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _section(course: Course, assignment: str, page: Path) -> str:
    lines, max_score = class_lines(course, assignment)
    results = [ln.result for ln in lines if ln.result is not None]
    graded = [r for r in results if r.status == GRADED]
    order = ordered_tests(course, assignment)
    order += sorted({k for r in graded for k in r.tests} - set(order))
    failed = {t: sum(1 for r in graded if t in r.tests and r.tests[t] == 0) for t in order}
    ran = {t: sum(1 for r in graded if t in r.tests) for t in order}
    rates = [100 * failed[t] / ran[t] if ran[t] else 0.0 for t in order]
    missing = [ln for ln in lines if ln.status == MISSING]
    bad = [r for r in results if r.status != GRADED]
    mean = sum(r.score for r in graded) / len(graded) if graded else 0.0
    out = [
        f"<section id='{_e(assignment)}'><h2>{_e(assignment)}</h2>",
        f"<p class='summary'>{len(results)} submissions, {len(graded)} graded, mean "
        f"{mean:.2f} / {max_score:g}; {len(bad)} could not be graded; "
        f"{len(missing)} missing from the roster.</p>",
        _student_rows(lines, assignment, course, page),
    ]
    if graded:
        hist = _histogram(assignment, [r.score for r in graded], max_score)
        out.append(
            f"<img alt='Histogram of the scores of {_e(assignment)}, 0 to {max_score:g} points' "
            f"src='data:image/png;base64,{hist}'>"
        )
        out.append(
            f"<img alt='Failure rate of each test of {_e(assignment)}' "
            f"src='data:image/png;base64,{_rates_chart(assignment, order, rates)}'>"
        )
        out.append(
            "<table class='rates'><caption>Failure rate per test, in notebook order</caption>"
            "<thead><tr><th>Test</th><th>Failed</th><th>Rate</th></tr></thead><tbody>"
            + "".join(
                f"<tr><td><code>{_e(t)}</code></td><td>{failed[t]} of {ran[t]}</td>"
                f"<td>{rate:.0f}%</td></tr>"
                for t, rate in zip(order, rates, strict=True)
            )
            + "</tbody></table>"
        )
    details = [(t, r.student_id, r.details[t]) for t in order for r in graded if r.details.get(t)]
    if details:
        out.append(
            "<h3>Failed hidden checks (instructor only)</h3><table class='details'><thead><tr>"
            "<th>Test</th><th>Student</th><th>What the check raised</th></tr></thead><tbody>"
            + "".join(
                f"<tr><td><code>{_e(t)}</code></td><td><code>{_e(s, 80)}</code></td>"
                f"<td><pre>{_e(d, 1500)}</pre></td></tr>"
                for t, s, d in details
            )
            + "</tbody></table>"
        )
    if bad:
        out.append(
            "<h3>Needs attention</h3><ul>"
            + "".join(f"<li><code>{_e(r.student_id)}</code>: {_e(r.reason)}</li>" for r in bad)
            + "</ul>"
        )
    if missing:
        out.append(
            "<h3>Missing (in the roster, nothing submitted)</h3><ul>"
            + "".join(f"<li>{_e(ln.lms_id)}: {_e(ln.name)}</li>" for ln in missing)
            + "</ul>"
        )
    return "".join(out) + "</section>"


def write_report(*, course: Course, path: Path) -> Path:
    """Write the report for every assignment with results to ``path`` (HTML)."""
    everything = load_results(course)
    if not everything:
        raise GraderError(f"no results in {course.results_dir}: run autograde first")
    path = Path(path).resolve()
    done = {r.assignment for r in everything}
    sections = [_section(course, a, path) for a in course.assignments() if a in done]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Class report</title>"
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
        "img{display:block;max-width:100%;margin:1em 0}table{border-collapse:collapse;"
        "margin:1em 0}td,th{border-bottom:1px solid #ccc;padding:.3em .6em;text-align:left;"
        "vertical-align:top}caption{text-align:left;font-weight:bold}"
        "tr.ungradable td,tr.missing td{background:#fff3f3}pre{white-space:pre-wrap;margin:0}"
        "table.students td:nth-child(3),table.students td:nth-child(4){white-space:nowrap}"
        "</style></head><body><h1>Class report</h1>" + "".join(sections) + "</body></html>\n",
        encoding="utf-8",
    )
    return path
