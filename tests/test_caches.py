"""What the grader keeps between submissions, or between commands, is read again when it changes.

A grading process reads each source notebook once (grader.blueprint), and a grading folder keeps
the tests nbgrader saved in its gradebook beside the gradebook's stamp (grader.autograde), so
that a command neither parses the instructor's notebook for every submission nor opens the
gradebook to find the tests. Each cache must give way to a new version of what it holds.
"""

from __future__ import annotations

import json
import os
import shutil

import nbformat
import pytest

from grader import autograde, blueprint, cli
from grader.layout import REPO_ROOT, Course

ASSIGNMENT = "a1_rectifier"


def _edit_first_test(path, text: str) -> None:
    nb = nbformat.read(path, 4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") is True
                and not c.metadata["nbgrader"].get("solution"))  # fmt: skip
    cell.source += f"\n# {text}\n"
    nbformat.write(nb, path)


def test_a_changed_source_notebook_gives_a_new_blueprint(tmp_path):
    path = tmp_path / f"{ASSIGNMENT}.ipynb"
    shutil.copy(REPO_ROOT / "solutions" / ASSIGNMENT / path.name, path)
    first = blueprint.Blueprint.from_source(path)
    assert blueprint.Blueprint.from_source(path) is first, "read again although unchanged"
    _edit_first_test(path, "changed")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = blueprint.Blueprint.from_source(path)
    assert second is not first
    assert second.tests[0][2].rstrip().endswith("# changed")
    assert not first.tests[0][2].rstrip().endswith("# changed")
    # The tests as nbgrader saved them are part of what is cached.
    expanded = {second.tests[0][0]: "assert True"}
    assert blueprint.Blueprint.from_source(path, expanded).tests[0][2] == "assert True"


@pytest.fixture
def course(tmp_path):
    root = tmp_path / "course"
    (root / "solutions").mkdir(parents=True)
    shutil.copytree(REPO_ROOT / "solutions" / ASSIGNMENT, root / "solutions" / ASSIGNMENT)
    return Course(root=root, workdir=tmp_path / "grading")


def test_the_gradebook_s_tests_are_kept_beside_its_stamp_and_renewed(course, monkeypatch):
    tests = autograde.prepare_gradebook(course, ASSIGNMENT)
    saved = {
        nb.stem: blueprint.expanded_tests(course.db_url, ASSIGNMENT, nb.stem)
        for nb in course.source_notebooks(ASSIGNMENT)
    }
    assert tests == saved and any(saved.values())

    def opened(*_):
        raise AssertionError("the gradebook was opened although its tests were kept")

    with monkeypatch.context() as m:
        m.setattr(blueprint, "expanded_tests", opened)
        assert autograde.prepare_gradebook(course, ASSIGNMENT) == saved

    kept = course.workdir / "release" / f"{ASSIGNMENT}.tests.json"
    kept.write_text("{not json")  # damaged: read from the gradebook and written again
    assert autograde.prepare_gradebook(course, ASSIGNMENT) == saved
    assert json.loads(kept.read_text())["tests"] == saved

    source = course.source_notebooks(ASSIGNMENT)[0]
    _edit_first_test(source, "a new version of the source")
    renewed = autograde.prepare_gradebook(course, ASSIGNMENT)
    assert any(
        t.rstrip().endswith("# a new version of the source") for t in renewed[source.stem].values()
    ), "the gradebook still holds the old tests"


def test_collect_prepares_the_gradebook(course, tmp_path):
    inbox = tmp_path / "inbox" / "s1"
    inbox.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", inbox)
    args = ["--root", str(course.root), "--workdir", str(course.workdir)]
    assert cli.main([*args, "collect", ASSIGNMENT, str(inbox.parent)]) == 0
    assert course.gradebook_path.exists()
    assert (course.workdir / "release" / f"{ASSIGNMENT}.tests.json").exists()
