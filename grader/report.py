"""The class report: one HTML page with a score histogram and per-test failure rates."""

from __future__ import annotations

import base64
import html
import io
from collections import defaultdict
from pathlib import Path

from grader.errors import GraderError
from grader.layout import Course
from grader.results import GRADED, Result, load_results


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def _figures(assignment: str, rows: list[Result]) -> tuple[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    graded = [r for r in rows if r.status == GRADED]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist([r.score for r in graded], bins=min(20, max(5, len(graded))), color="#3572a5")
    ax.set_xlabel("score (points)")
    ax.set_ylabel("students")
    ax.set_title(f"{assignment}: scores of {len(graded)} graded submissions")
    hist = _png(fig)
    plt.close(fig)

    failures: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in graded:
        for test, points in r.tests.items():
            failures[test][1] += 1
            failures[test][0] += points == 0
    names = sorted(failures)
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(names) + 1))
    ax.barh(names, [100 * failures[n][0] / failures[n][1] for n in names], color="#a53535")
    ax.set_xlabel("submissions failing the test (%)")
    ax.set_xlim(0, 100)
    ax.invert_yaxis()
    ax.set_title(f"{assignment}: failure rate per test")
    rates = _png(fig)
    plt.close(fig)
    return hist, rates


def write_report(*, course: Course, path: Path) -> Path:
    """Write the report for every assignment with results to ``path`` (HTML)."""
    everything = load_results(course)
    if not everything:
        raise GraderError(f"no results in {course.results_dir}: run autograde first")
    sections = []
    for assignment in sorted({r.assignment for r in everything}):
        rows = [r for r in everything if r.assignment == assignment]
        hist, rates = _figures(assignment, rows)
        bad = [r for r in rows if r.status != GRADED]
        bad_list = "".join(
            f"<li><code>{html.escape(r.student_id)}</code>: {html.escape(r.reason)}</li>"
            for r in bad
        )
        graded = [r.score for r in rows if r.status == GRADED]
        mean = sum(graded) / len(graded) if graded else 0.0
        sections.append(
            f"<h2>{html.escape(assignment)}</h2><p>{len(rows)} submissions, "
            f"{len(graded)} graded, mean {mean:.2f} / {rows[0].max_score:g}; "
            f"{len(bad)} could not be graded.</p>"
            f"<img alt='Histogram of the scores of {html.escape(assignment)}' "
            f"src='data:image/png;base64,{hist}'>"
            f"<img alt='Failure rate of each test of {html.escape(assignment)}' "
            f"src='data:image/png;base64,{rates}'>"
            + (f"<h3>Needs attention</h3><ul>{bad_list}</ul>" if bad else "")
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Class report</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "img{display:block;max-width:100%;margin:1em 0}</style></head><body>"
        "<h1>Class report</h1>" + "".join(sections) + "</body></html>\n",
        encoding="utf-8",
    )
    return path
