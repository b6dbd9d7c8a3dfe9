"""Intake without grading: LMS layouts, the newest file, symlinks, zip bounds, the manifest."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import nbformat
import pytest

from grader import intake
from grader.intake import collect, collect_class, student_record
from grader.results import load_results
from tests.course_factory import ASSIGNMENT, NOTEBOOK, make_course, student_notebook

RIGHT = "def double(x):\n    return x + x\n"
WRONG = "def double(x):\n    return x\n"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return make_course(tmp_path_factory.mktemp("course"))


@pytest.fixture
def fresh(course, tmp_path):
    """The tiny course with an empty workdir of its own."""
    return type(course)(root=course.root, workdir=tmp_path / "grading")


def _nb(course, answer=RIGHT) -> str:
    return nbformat.writes(student_notebook(course, answer))


def _answer(course, student) -> str:
    nb = nbformat.read(course.submitted_dir / student / ASSIGNMENT / NOTEBOOK, 4)
    return next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))


def _manifest(course) -> dict[str, dict]:
    data = json.loads((course.workdir / "intake" / ASSIGNMENT / "manifest.json").read_text())
    return {f["file"]: f for f in data["files"]}


def test_canvas_same_names_stay_apart_and_the_newest_resubmission_wins(fresh, tmp_path):
    src = tmp_path / "canvas"
    src.mkdir()
    files = {
        "lovelaceada_1001_5001_a9_double.ipynb": _nb(fresh, WRONG),
        "lovelaceada_1001_5007_a9_double-1.ipynb": _nb(fresh, RIGHT),  # later upload
        "lovelaceada_LATE_1002_5003_a9_double.ipynb": _nb(fresh, WRONG),  # same name, other
        "lovelaceada_1001_5007_notes.txt": "not a notebook",
    }
    for name, text in files.items():
        (src / name).write_text(text)
    out = {o.student_id: o for o in collect(course=fresh, assignment=ASSIGNMENT, source=src)}
    assert sorted(out) == ["1001", "1002"], out
    assert not out["1001"].late and out["1002"].late, out
    assert "renamed" not in out["1001"].message and "newest" in out["1001"].message, out
    assert "x + x" in _answer(fresh, "1001") and "x + x" not in _answer(fresh, "1002")
    rec = student_record(fresh, ASSIGNMENT, "1001")
    assert rec["lms"] == "canvas" and rec["lms_id"] == "1001" and rec["name"] == "lovelaceada"
    assert rec["files"] == {NOTEBOOK: "lovelaceada_1001_5007_a9_double-1.ipynb"}, rec
    assert rec["passed_over"] == sorted(rec["passed_over"]) and len(rec["passed_over"]) == 2
    seen = _manifest(fresh)
    assert seen["lovelaceada_1001_5001_a9_double.ipynb"]["outcome"] == "superseded", seen
    assert seen["lovelaceada_1001_5007_notes.txt"]["outcome"] == "ignored", seen


def test_moodle_folders_flat_files_onlinetext_and_copies(fresh, tmp_path):
    src = tmp_path / "moodle"
    folder = src / "Noah Müller_307_assignsubmission_file_"
    folder.mkdir(parents=True)
    (folder / NOTEBOOK).write_text(_nb(fresh, WRONG))
    (folder / "a9_double (1).ipynb").write_text(_nb(fresh, RIGHT))
    os.utime(folder / NOTEBOOK, (2e9, 2e9))  # the older upload has the newer mtime: the
    # resubmission suffix decides first (documented order)
    online = src / "Noah Müller_307_assignsubmission_onlinetext_"
    online.mkdir()
    (online / "onlinetext.html").write_text("<p>see my notebook</p>")
    (src / "Zoë Ñandú_311_assignsubmission_file_a9_double.ipynb").write_text(_nb(fresh))
    (src / "Ada Lovelace_312_assignsubmission_file").mkdir()  # Moodle 4.1+ folder name
    (src / "Ada Lovelace_312_assignsubmission_file" / "mine.ipynb").write_text(_nb(fresh))
    out = {o.student_id: o for o in collect(course=fresh, assignment=ASSIGNMENT, source=src)}
    assert sorted(out) == ["307", "311", "312"], out  # no phantom onlinetext student
    assert out["307"].name == "Noah Müller" and out["311"].name == "Zoë Ñandú", out
    assert "x + x" in _answer(fresh, "307"), "the (1) copy is the newer upload"
    assert "renamed" not in out["311"].message and "renamed" in out["312"].message, out
    seen = _manifest(fresh)
    text = "Noah Müller_307_assignsubmission_onlinetext_/onlinetext.html"
    assert seen[text]["outcome"] == "ignored" and "onlinetext" in seen[text]["reason"], seen


def test_a_zip_wrapped_in_one_folder_and_nbformat_3(fresh, tmp_path):
    nb3 = nbformat.v4.downgrade(nbformat.reads(_nb(fresh), 4))
    zpath = tmp_path / "download.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("submissions/smithjo_77_88_a9_double.ipynb", nbformat.writes(nb3, 3))
        zf.writestr("__MACOSX/._smithjo_77_88_a9_double.ipynb", b"junk")
    (out,) = collect(course=fresh, assignment=ASSIGNMENT, source=zpath)
    assert out.student_id == "77" and out.accepted and "nbformat 3" in out.message, out
    graded = nbformat.read(fresh.submitted_dir / "77" / ASSIGNMENT / NOTEBOOK, 4)
    assert graded.nbformat == 4 and any(
        c.metadata.get("nbgrader", {}).get("grade_id") == "double_answer" for c in graded.cells
    )


def test_a_symlinked_notebook_is_never_followed(fresh, tmp_path):
    src = tmp_path / "inbox"
    (src / "cheat").mkdir(parents=True)
    (src / "cheat" / NOTEBOOK).symlink_to(fresh.source_dir / ASSIGNMENT / NOTEBOOK)
    (src / "linkdir").symlink_to(fresh.source_dir / ASSIGNMENT, target_is_directory=True)
    (src / "honest").mkdir()
    (src / "honest" / NOTEBOOK).write_text(_nb(fresh))
    done = collect_class(course=fresh, assignment=ASSIGNMENT, source=src)
    out = {o.student_id: o for o in done.intakes}
    assert out["honest"].accepted
    assert not out["cheat"].accepted and "symbolic link" in out["cheat"].message, out
    assert not (fresh.submitted_dir / "cheat").exists()
    kept = fresh.quarantine_dir / ASSIGNMENT / "cheat"
    assert not any(p.is_symlink() for p in kept.iterdir()), "quarantine must not hold links"
    assert "BEGIN SOLUTION" not in "".join(p.read_text() for p in kept.iterdir())
    (result,) = [r for r in load_results(fresh, ASSIGNMENT) if r.student_id == "cheat"]
    assert result.status == "ungradable" and "symbolic link" in result.reason
    assert _manifest(fresh)["linkdir"]["outcome"] == "refused", _manifest(fresh)


def test_bad_zip_entries_and_colliding_ids_are_recorded_not_fatal(fresh, tmp_path):
    zpath = tmp_path / "evil.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("../escape.ipynb", _nb(fresh))
        zf.writestr("/abs/x.ipynb", _nb(fresh))
        zf.writestr(".../x.ipynb", _nb(fresh))
        zf.writestr("_x.ipynb", _nb(fresh))
        zf.writestr("Ada L/a9_double.ipynb", _nb(fresh))
        zf.writestr("ada_l/a9_double.ipynb", _nb(fresh, WRONG))
        zf.writestr("bob\x1b]52;c;aGk=\x07/a9_double.ipynb", _nb(fresh))
        link = zipfile.ZipInfo("eve/a9_double.ipynb")
        link.external_attr = (0o120777 << 16) | 0
        zf.writestr(link, "../../solutions/a9_double/a9_double.ipynb")
    done = collect_class(course=fresh, assignment=ASSIGNMENT, source=zpath)
    ids = sorted(o.student_id for o in done.intakes)
    assert len([i for i in ids if i.startswith("ada_l-")]) == 2, ids  # never merged
    assert "eve" in ids and not next(o for o in done.intakes if o.student_id == "eve").accepted
    reasons = {f.rel: f.reason for f in done.files if f.outcome == "refused"}
    assert "'..'" in reasons["../escape.ipynb"], reasons
    assert "absolute" in reasons["/abs/x.ipynb"], reasons
    assert "only dots" in reasons[".../x.ipynb"], reasons
    assert "no student id" in reasons["_x.ipynb"], reasons
    bob = next(o for o in done.intakes if o.student_id == "bob")
    assert not bob.accepted and "control characters" in bob.message, bob
    assert not (tmp_path / "escape.ipynb").exists() and not (tmp_path.parent / "abs").exists()
    manifest = _manifest(fresh)
    assert len(manifest) == 8 and all(f["outcome"] for f in manifest.values()), manifest
    assert "\x1b" not in (fresh.workdir / "intake" / ASSIGNMENT / "collect.log").read_text()


def test_zip_bounds(fresh, tmp_path, monkeypatch):
    monkeypatch.setattr(intake, "MAX_FILE_BYTES", 20_000)
    monkeypatch.setattr(intake, "_RATIO_FLOOR", 1000)
    zpath = tmp_path / "bomb.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ok/a9_double.ipynb", _nb(fresh))
        zf.writestr("big/a9_double.ipynb", b" " * 30_000)  # over the per-file bound
        zf.writestr("ratio/a9_double.ipynb", b"{" + b" " * 15_000 + b"}")  # ratio > 100
    done = collect_class(course=fresh, assignment=ASSIGNMENT, source=zpath)
    out = {o.student_id: o for o in done.intakes}
    assert out["ok"].accepted
    assert "larger than" in out["big"].message and "ratio" in out["ratio"].message, out
    monkeypatch.setattr(intake, "MAX_ENTRIES", 2)
    done = collect_class(course=fresh, assignment=ASSIGNMENT, source=zpath)
    assert "more than 2 entries" in {o.student_id: o for o in done.intakes}["ratio"].message


def test_a_lying_zip_header_cannot_inflate_an_entry(fresh, tmp_path):
    zpath = tmp_path / "liar.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("liar/a9_double.ipynb", b"x" * 50_000)
    raw = bytearray(zpath.read_bytes())
    # Shrink the declared size in the central directory (the local header is not trusted).
    cd = raw.rfind(b"PK\x01\x02")
    raw[cd + 24 : cd + 28] = (100).to_bytes(4, "little")
    zpath.write_bytes(bytes(raw))
    seen = intake.unpack_zip(zpath, tmp_path)
    assert seen[0].path is None and "could not be unpacked" in seen[0].problem, seen


@pytest.mark.parametrize(
    "names, students",
    [
        (["class/ada/a9_double.ipynb", "class/bob/a9_double.ipynb"], ["ada", "bob"]),
        (["ada/work/a9_double.ipynb"], ["ada"]),  # one student's folder with a sub-folder
        (["dl/Ada L_5_assignsubmission_file_/a9_double.ipynb"], ["5"]),
        (["ada/a9_double.ipynb"], ["ada"]),
    ],
)
def test_a_wrapping_top_folder_is_looked_into(fresh, tmp_path, names, students):
    zpath = tmp_path / "d.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for name in names:
            zf.writestr(name, _nb(fresh))
    got = collect(course=fresh, assignment=ASSIGNMENT, source=zpath)
    assert [o.student_id for o in got] == students and all(o.accepted for o in got), got


def test_the_readme_states_the_bounds_the_code_uses():
    from grader.results import STALE_TMP_S

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    text = " ".join(readme.split())
    stated = (
        f"at most {intake.MAX_ENTRIES:,} entries".replace(",", " "),
        f"{intake.MAX_FILE_BYTES // 2**20} MiB per file",
        f"{intake.MAX_TOTAL_BYTES // 2**30} GiB in all",
        f"compression ratio of {intake.MAX_RATIO} (for files over "
        f"{intake._RATIO_FLOOR // 2**20} MiB)",
        f"removed once it is {STALE_TMP_S // 60} minutes old",
    )
    for words in stated:
        assert words in text, f"README should say {words!r}"
