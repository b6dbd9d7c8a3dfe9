"""The class report of a real class (Canvas download of a1), read as HTML and in Chromium."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from grader.export import ordered_tests
from tests import lms_class
from tests.conftest import ARTIFACTS

canvas_class = lms_class.canvas_class  # the graded class (session fixture)
STUDENTS = 9  # eight downloads (one broken) and one roster student who submitted nothing


@pytest.mark.slow
def test_report_lists_every_student_with_links(canvas_class):
    page = canvas_class["report"].read_text(encoding="utf-8")
    table = page[page.index("<table class='students'>") : page.index("</table>")]
    rows = re.findall(r"<tr class='(\w+)'>(.*?)</tr>", table)
    assert len(rows) == STUDENTS, rows
    assert [s for s, _ in rows].count("missing") == 1 and "Absent, Al" in table
    links = re.findall(r"href='([^']+)'", table)
    assert len(links) == STUDENTS - 1, "a feedback link for every submission"
    for link in links:
        target = (canvas_class["report"].parent / html.unescape(link)).resolve()
        assert target.is_file() and target.stem.isdigit(), f"{link}: LMS id, existing page"
    assert "late" in next(cells for _, cells in rows if "1004" in cells)
    assert "Absent, Al" in page[page.index("Missing (in the roster") :], "roster's absentee"


@pytest.mark.slow
def test_report_orders_tests_as_the_notebook_and_shows_hidden_details(canvas_class):
    page = canvas_class["report"].read_text(encoding="utf-8")
    rates = page[page.index("<table class='rates'>") :]
    shown = re.findall(r"<tr><td><code>([^<]+)</code>", rates[: rates.index("</table>")])
    assert shown == ordered_tests(canvas_class["course"], lms_class.ASSIGNMENT), shown
    assert f"0 to {canvas_class['max']:g} points" in page, "histogram over the full range"
    details = page[page.index("Failed hidden checks (instructor only)") :]
    assert "relu_backward" in details and "<code>1005</code>" in details, details[:2000]


@pytest.mark.slow
@pytest.mark.browser
def test_report_renders_in_chromium(canvas_class, browser):
    from PIL import Image

    shot = ARTIFACTS / "screenshots" / "class-report.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(Path(canvas_class["report"]).as_uri())
    page.wait_for_function(
        "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
    )
    rows = page.locator("table.students tbody tr").count()
    images = page.evaluate("Array.from(document.images).map(i => i.naturalWidth)")
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    assert not errors, errors
    assert rows == STUDENTS, rows
    assert len(images) == 2 and min(images) > 100, images
    with Image.open(shot) as img:
        grey = img.convert("L")
        dark = sum(grey.histogram()[:200])
        assert img.height > 900 and dark > 0.01 * img.width * img.height, "a blank page"
