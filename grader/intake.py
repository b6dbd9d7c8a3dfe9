"""Bring a class's submissions into the grading workdir, checking and recording every file.

``SOURCE`` is a folder or a zip file holding one of (see :mod:`grader.lms` for the details):

- a **Canvas** bulk download: flat ``lastfirst[_LATE]_<user id>_<submission id>_<name>``;
- a **Moodle** download: ``<Full Name>_<participant id>_assignsubmission_file_/<files>`` folders
  or the same flattened; ``_onlinetext_`` folders are ignored;
- a **plain folder**: ``<student id>/*.ipynb``, or flat ``<student id>_<anything>.ipynb``.

A zip (or a folder) that wraps everything in one top folder is looked into.

**Student ids.** Each student is keyed by the LMS's own stable id: the Canvas user id, the
Moodle participant id, or the folder name (normalised: lower case, ``[a-z0-9_.-]``). The name
the LMS shows is kept beside it, never used as a key, so two students with the same name stay
two students. Two different folder names that normalise to the same id (``Ada L`` and ``ada_l``)
are both kept, each with its own id ``<id>-<6 hex digits of its raw name>``, and a note.

**Several files.** For each notebook of the assignment the newest candidate is graded: the
highest Canvas submission id first, then the highest resubmission suffix (``x (2).ipynb``,
Canvas's ``x-2.ipynb``), then the newest modification time (zip entry time or file mtime). A
file whose name (without the suffix) is the assignment's notebook name is preferred; otherwise,
when exactly one notebook is missing, the newest other ``.ipynb`` is graded as it and noted as
"renamed". Every choice is recorded.

**Records.** Per student, ``<workdir>/intake/<assignment>/students/<id>.json`` holds the LMS, the
LMS id, the display name, the late flag, the submission time and the files chosen and passed
over; export and report read it. ``<workdir>/intake/<assignment>/manifest.json`` lists every file
seen with what happened to it (collected, superseded, ignored, refused, quarantined) and why,
and ``collect.log`` keeps a line per file for every run.

**Safety.** The source is only read, never changed. Symbolic links are never followed (a
symlinked notebook is refused with its reason). A zip is unpacked entry by entry into numbered
files (never under a name from the zip), within bounds: at most :data:`MAX_ENTRIES` entries,
:data:`MAX_FILE_BYTES` per file, :data:`MAX_TOTAL_BYTES` in all and a compression ratio of
:data:`MAX_RATIO` for files above 1 MiB; an entry that is absolute, holds ``..``, only dots,
control characters, a symlink or is encrypted is refused with its reason. None of these stops the
collect. A notebook that cannot be graded (empty, not JSON, not a notebook, a refused file) is
copied to ``quarantine/`` with a ``REASON.txt`` and gets a recorded zero. nbformat 3 notebooks
are upgraded to nbformat 4.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat

from grader import lms, results
from grader.errors import GraderError
from grader.layout import Course
from grader.sanitize import clean_text

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^a-z0-9_.-]+")
_SAFE_FILE = re.compile(r"[^\w.() -]+")

#: Bounds on what a zip may unpack to (documented in the README).
MAX_ENTRIES = 10_000
MAX_FILE_BYTES = 64 * 2**20
MAX_TOTAL_BYTES = 2 * 2**30
MAX_RATIO = 100
_RATIO_FLOOR = 2**20

COLLECTED, SUPERSEDED, IGNORED, REFUSED, QUARANTINED = (
    "collected",
    "superseded",
    "ignored",
    "refused",
    "quarantined",
)


@dataclass(frozen=True)
class Intake:
    """What happened to one student's submission."""

    student_id: str
    accepted: bool
    message: str
    name: str = ""
    lms: str = lms.FOLDER
    late: bool = False


@dataclass
class Seen:
    """One file found in the source: its path there, where its bytes are, what became of it."""

    rel: str
    path: Path | None
    size: int = 0
    mtime: float = 0.0
    problem: str = ""
    outcome: str = ""
    student: str = ""
    reason: str = ""
    origin: lms.Origin | None = field(default=None, repr=False)


@dataclass
class Collected:
    """The outcome of one collect: one :class:`Intake` per student and every file seen."""

    intakes: list[Intake]
    files: list[Seen]


def normalise_student_id(name: str) -> str:
    """A safe, stable student id from a folder name: lower case, ``[a-z0-9_.-]`` only.

    >>> normalise_student_id(" Ada Lovelace ")
    'ada_lovelace'
    """
    cleaned = _UNSAFE.sub("_", name.strip().lower()).strip("_.")
    if not cleaned:
        raise GraderError(f"cannot make a student id from the folder name {name!r}")
    return cleaned


def notebook_problem(path: Path) -> str | None:
    """Why ``path`` is not a gradable notebook, or ``None`` when it is one (nbformat 3 or 4)."""
    return read_notebook(path)[1]


def read_notebook(path: Path) -> tuple[nbformat.NotebookNode | None, str | None]:
    """``path`` read as a version 4 notebook, and None; or None, and why it is not a gradable
    notebook (see :func:`notebook_problem`)."""
    if path.is_symlink():
        return None, "the file is a symbolic link (never followed)"
    raw = path.read_bytes()
    if not raw.strip():
        return None, "the file is empty"
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"the file is not valid JSON ({clean_text(exc, 200)})"
    if not isinstance(data, dict) or ("cells" not in data and "worksheets" not in data):
        return None, "the file is JSON but not a Jupyter notebook (no 'cells')"
    try:
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several unrelated types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, f"the notebook does not follow the notebook format ({clean_text(first, 200)})"
    return nb, None


def intake_dir(course: Course, assignment: str) -> Path:
    """Where collect records what it did for ``assignment``."""
    return course.workdir / "intake" / assignment


def student_record(course: Course, assignment: str, student_id: str) -> dict:
    """What collect recorded about one student (``{}`` if nothing)."""
    path = intake_dir(course, assignment) / "students" / f"{student_id}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def student_records(course: Course, assignment: str) -> dict[str, dict]:
    """Every student's intake record of ``assignment``, by student id."""
    folder = intake_dir(course, assignment) / "students"
    out = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if path.name.startswith("."):
            continue
        try:
            out[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            log.warning("unreadable intake record %s (ignored)", path)
    return out


def load_roster(course: Course, assignment: str) -> lms.Roster | None:
    """The roster given to collect for ``assignment`` (or any assignment), if any."""
    for folder in [intake_dir(course, assignment), course.workdir / "intake"]:
        path = folder / "roster.json"
        if path.is_file():
            return lms.Roster.from_json(json.loads(path.read_text(encoding="utf-8")))
    return None


def save_roster(course: Course, assignment: str, roster_path: Path) -> lms.Roster:
    """Read a roster CSV and keep it for ``assignment`` (and as the class's latest roster)."""
    try:
        text = Path(roster_path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise GraderError(f"cannot read the roster {roster_path}: {exc}") from None
    try:
        roster = lms.read_roster(text)
    except lms.RosterError as exc:
        raise GraderError(f"{roster_path}: {exc}") from None
    for folder in [intake_dir(course, assignment), course.workdir / "intake"]:
        folder.mkdir(parents=True, exist_ok=True)
        _write_json(folder / "roster.json", roster.to_json())
    return roster


# --- reading the source ------------------------------------------------------------------------


def _odd_part(part: str) -> str:
    if part in ("", ".") or set(part) == {"."}:
        return f"the path part {part!r} is empty or only dots"
    if clean_text(part) != part or "\t" in part or "\n" in part:
        return "the name holds control characters"
    return ""


def unpack_zip(zip_path: Path, dest: Path) -> list[Seen]:
    """Unpack an LMS download within bounds; every entry becomes a :class:`Seen`.

    Entries are written to numbered files under ``dest`` (never under their own names).
    """
    seen: list[Seen] = []
    total = 0
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise GraderError(f"{zip_path} is not a readable zip file ({exc})") from None
    with zf:
        infos = zf.infolist()
        for index, info in enumerate(infos):
            name = info.filename.replace("\\", "/")
            if info.is_dir():
                continue
            item = Seen(rel=clean_text(name, 300, newlines=False), path=None, size=info.file_size)
            seen.append(item)
            try:
                item.mtime = dt.datetime(*info.date_time, tzinfo=dt.UTC).timestamp()
            except ValueError:
                item.mtime = 0.0
            mode = info.external_attr >> 16
            parts = PurePosixPath(name).parts
            if index >= MAX_ENTRIES:
                item.problem = f"the zip has more than {MAX_ENTRIES} entries; the rest are skipped"
            elif name.startswith("/") or re.match(r"^[A-Za-z]:", name):
                item.problem = "the entry's path is absolute"
            elif ".." in parts:
                item.problem = "the entry's path holds '..'"
            elif any(_odd_part(p) for p in parts):
                item.problem = next(_odd_part(p) for p in parts if _odd_part(p))
            elif stat.S_ISLNK(mode):
                item.problem = "the entry is a symbolic link (never followed)"
            elif info.flag_bits & 0x1:
                item.problem = "the entry is encrypted"
            elif info.file_size > MAX_FILE_BYTES:
                item.problem = f"the entry is larger than {MAX_FILE_BYTES // 2**20} MiB"
            elif info.file_size > _RATIO_FLOOR and info.file_size > MAX_RATIO * max(
                info.compress_size, 1
            ):
                item.problem = f"the entry's compression ratio is above {MAX_RATIO}"
            elif total + info.file_size > MAX_TOTAL_BYTES:
                item.problem = f"the zip unpacks to more than {MAX_TOTAL_BYTES // 2**30} GiB"
            if item.problem:
                continue
            target = dest / f"{index:06d}.bin"
            try:
                total += _extract_bounded(zf, info, target)
            except (zipfile.BadZipFile, OSError, RuntimeError, ValueError) as exc:
                item.problem = f"the entry could not be unpacked ({clean_text(exc, 200)})"
                target.unlink(missing_ok=True)
                continue
            item.path = target
    return seen


def _extract_bounded(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> int:
    """Copy one entry, stopping at its declared size (a lying header cannot inflate it)."""
    written = 0
    limit = min(info.file_size, MAX_FILE_BYTES)
    with zf.open(info) as src, target.open("wb") as out:
        while chunk := src.read(1 << 16):
            written += len(chunk)
            if written > limit:
                raise ValueError("the entry unpacks to more than its declared size")
            out.write(chunk)
    return written


def walk_folder(source: Path) -> list[Seen]:
    """Every file under ``source``, without following symbolic links (which are refused)."""
    seen: list[Seen] = []
    for dirpath, dirnames, filenames in os.walk(source, followlinks=False):
        here = Path(dirpath)
        for name in sorted(dirnames):
            if (here / name).is_symlink():
                rel = (here / name).relative_to(source).as_posix()
                seen.append(
                    Seen(rel, None, problem="the folder is a symbolic link (never followed)")
                )
        dirnames[:] = sorted(d for d in dirnames if not (here / d).is_symlink())
        for name in sorted(filenames):
            path = here / name
            rel = clean_text(path.relative_to(source).as_posix(), 300, newlines=False)
            st = path.lstat()
            item = Seen(rel, path, size=st.st_size, mtime=st.st_mtime)
            if stat.S_ISLNK(st.st_mode):
                target = clean_text(os.readlink(path), 200)
                item.problem = f"the file is a symbolic link to {target!r} (never followed)"
                item.path = None
            elif not stat.S_ISREG(st.st_mode):
                item.problem = "not a regular file"
                item.path = None
            elif any(_odd_part(p) for p in Path(rel).parts):
                item.problem = "the name holds control characters"
            seen.append(item)
    return seen


# --- whose file is it --------------------------------------------------------------------------


def _is_lms_flat(name: str) -> bool:
    return bool(lms.parse_moodle_flat(name) or lms.parse_canvas(name))


def _unwrap(files: list[Seen]) -> int:
    """How many leading folders wrap the whole download (an LMS zip's top folder, say)."""
    depth = 0
    while True:
        parts = [PurePosixPath(f.rel).parts[depth:] for f in files if not _hidden(f.rel)]
        if not parts or any(len(p) < 2 for p in parts) or len({p[0] for p in parts}) != 1:
            return depth
        if lms.parse_moodle_folder(parts[0][0]):
            return depth
        # One folder: the students are inside it if it holds LMS names (Canvas or Moodle files,
        # Moodle folders), or several folders and no notebook of its own. (A lone student's
        # folder with a sub-folder stays that student's.)
        lms_names = any(
            _is_lms_flat(p[1]) or (len(p) >= 3 and lms.parse_moodle_folder(p[1])) for p in parts
        )
        folders = {p[1] for p in parts if len(p) >= 3}
        own_files = any(len(p) == 2 for p in parts)
        if lms_names or (len(folders) >= 2 and not own_files):
            depth += 1
        else:
            return depth


def _hidden(rel: str) -> bool:
    parts = PurePosixPath(rel).parts
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def identify(item: Seen, depth: int) -> lms.Origin | str:
    """The origin of a file, or why it belongs to nobody (or is not a submission)."""
    parts = PurePosixPath(item.rel).parts[depth:]
    if not parts:
        return "outside the download's top folder"
    if _hidden(item.rel):
        return "hidden or system file (ignored)"
    if len(parts) >= 2:
        moodle = lms.parse_moodle_folder(parts[0])
        if moodle:
            rest = "/".join(parts[1:])
            return lms.Origin(lms.MOODLE, moodle.lms_id, moodle.name, rest, plugin=moodle.plugin)
        return lms.Origin(lms.FOLDER, parts[0], parts[0], "/".join(parts[1:]))
    name = parts[0]
    origin = lms.parse_moodle_flat(name) or lms.parse_canvas(name)
    if origin:
        return origin
    if not name.endswith(".ipynb"):
        return "a top-level file that is not a notebook (ignored)"
    if "_" in name:
        owner = name.split("_", 1)[0]
        if not owner.strip():
            return "a flat file whose name has no student id before the first '_'"
        return lms.Origin(lms.FOLDER, owner, owner, name)
    return lms.Origin(lms.FOLDER, name[: -len(".ipynb")], name[: -len(".ipynb")], name)


# --- collecting ----------------------------------------------------------------------------------


def collect(
    *, course: Course, assignment: str, source: Path, roster: Path | None = None
) -> list[Intake]:
    """Copy every student's submission of ``assignment`` from ``source`` into the workdir.

    Returns one :class:`Intake` per student, in order of student id. See
    :func:`collect_class` for every file's fate.
    """
    return collect_class(
        course=course, assignment=assignment, source=source, roster=roster
    ).intakes


def collect_class(
    *, course: Course, assignment: str, source: Path, roster: Path | None = None
) -> Collected:
    """:func:`collect`, returning what happened to every file as well."""
    course.check_assignment(assignment)
    source = Path(source)
    if roster is not None:
        save_roster(course, assignment, roster)
    with tempfile.TemporaryDirectory(prefix="relu-collect-") as tmp:
        if source.is_file() and zipfile.is_zipfile(source):
            files = unpack_zip(source, Path(tmp))
        elif source.is_dir() and not source.is_symlink():
            files = walk_folder(source)
        else:
            raise GraderError(
                f"submission folder {source} does not exist or is not a folder (or a zip file)"
            )
        return _collect_files(course, assignment, source, files)


def _collect_files(course: Course, assignment: str, source: Path, files: list[Seen]) -> Collected:
    depth = _unwrap(files)
    groups: dict[tuple[str, str], list[Seen]] = {}
    for item in files:
        who = identify(item, depth)
        if isinstance(who, str):
            if item.problem:
                item.outcome, item.reason = REFUSED, item.problem
            else:
                item.outcome, item.reason = IGNORED if "ignored" in who else REFUSED, who
            continue
        item.origin = who
        if who.lms == lms.MOODLE and who.plugin != "file":
            item.student, item.outcome = who.lms_id, IGNORED
            item.reason = f"Moodle '{who.plugin}' submission, not a file (ignored)"
            continue
        groups.setdefault((who.lms, who.lms_id), []).append(item)

    ids = _student_ids(groups)
    expected = [p.name for p in course.source_notebooks(assignment)]
    max_score = assignment_max_score(course, assignment)
    outcomes = []
    for key in sorted(groups, key=lambda k: ids[k][0]):
        student, note = ids[key]
        if not student:
            for item in groups[key]:
                item.outcome, item.reason = REFUSED, item.problem or note
            continue
        outcomes.append(
            _collect_one(course, assignment, student, groups[key], expected, max_score, note)
        )
    if not outcomes:
        raise GraderError(
            f"{source} has no student submissions (expected SOURCE/<student_id>/*.ipynb, a "
            "Canvas or a Moodle download); see `python -m grader collect --help`"
        )
    _write_manifest(course, assignment, source, files)
    return Collected(outcomes, files)


def _student_ids(groups: dict[tuple[str, str], list[Seen]]) -> dict[tuple[str, str], tuple]:
    """Student id (``""`` if none can be made) and a note, for each (lms, lms id)."""
    ids: dict[tuple[str, str], tuple[str, str]] = {}
    by_id: dict[str, list[tuple[str, str]]] = {}
    for key in groups:
        try:
            ids[key] = (normalise_student_id(key[1]), "")
        except GraderError as exc:
            ids[key] = ("", f"{exc}: the files are recorded, not collected")
            continue
        by_id.setdefault(ids[key][0], []).append(key)
    for student, keys in by_id.items():
        if len(keys) > 1:
            raws = ", ".join(repr(k[1]) for k in sorted(keys))
            for key in keys:
                suffix = hashlib.sha1(key[1].encode()).hexdigest()[:6]
                ids[key] = (
                    f"{student}-{suffix}",
                    f"the ids {raws} all normalise to {student!r}; this one is "
                    f"'{student}-{suffix}' (never merged)",
                )
    return ids


def _order(item: Seen) -> tuple:
    """Newest last: Canvas submission id, resubmission suffix, modification time, name."""
    origin = item.origin
    _, n = lms.resubmission(PurePosixPath(origin.filename).name, origin.lms)
    return (origin.submission_id or -1, n, item.mtime, item.rel)


def _base(item: Seen) -> str:
    return lms.resubmission(PurePosixPath(item.origin.filename).name, item.origin.lms)[0]


def _collect_one(
    course: Course,
    assignment: str,
    student: str,
    found: list[Seen],
    expected: list[str],
    max_score: float,
    id_note: str,
) -> Intake:
    first = found[0].origin
    for item in found:
        item.student = student
    notebooks = []
    for item in found:
        if not item.rel.endswith(".ipynb"):
            item.outcome, item.reason = IGNORED, "not a notebook"
        elif ".ipynb_checkpoints" in PurePosixPath(item.rel).parts:
            item.outcome, item.reason = IGNORED, "a Jupyter checkpoint copy"
        else:
            notebooks.append(item)
    notes = [id_note] if id_note else []
    problems: list[str] = []
    chosen: dict[str, Seen] = {}
    leftovers = []
    for name in expected:
        matches = sorted((i for i in notebooks if _base(i) == name), key=_order)
        usable = [i for i in matches if not i.problem]
        if matches:
            pick = usable[-1] if usable else matches[-1]
            chosen[name] = pick
            _supersede(matches, pick, notes)
    leftovers = sorted((i for i in notebooks if i not in chosen.values()), key=_order)
    leftovers = [i for i in leftovers if _base(i) not in chosen]
    missing = [n for n in expected if n not in chosen]
    if len(missing) == 1 and leftovers:
        usable = [i for i in leftovers if not i.problem]
        pick = usable[-1] if usable else leftovers[-1]
        chosen[missing[0]] = pick
        notes.append(
            f"notebook {PurePosixPath(pick.origin.filename).name!r} was renamed; "
            f"graded as {missing[0]!r}"
        )
        _supersede(leftovers, pick, notes)
        missing = []
    else:
        for item in leftovers:
            item.outcome, item.reason = IGNORED, "not one of the assignment's notebooks"
    for item in found:
        if item.problem and not item.outcome:
            item.outcome, item.reason = REFUSED, item.problem
            if item not in chosen.values():
                notes.append(f"{PurePosixPath(item.rel).name}: {item.problem}")

    problems = [f"no notebook named {n!r} was submitted" for n in missing]
    for item in chosen.values():
        problem = item.problem or notebook_problem(item.path)
        if problem:
            problems.append(f"{PurePosixPath(item.rel).name}: {problem}")

    late = any(i.origin.late for i in chosen.values()) or (
        not chosen and any(i.origin.late for i in found)
    )
    times = [i.mtime for i in chosen.values() if i.mtime]
    record = {
        "student_id": student,
        "lms": first.lms,
        "lms_id": first.lms_id,
        "name": clean_text(first.name, 200, newlines=False),
        "late": late,
        "submitted_at": _iso(max(times)) if times else "",
        "submission_id": max((i.origin.submission_id or 0 for i in chosen.values()), default=0)
        or None,
        "files": {name: item.rel for name, item in chosen.items()},
        "passed_over": [i.rel for i in found if i not in chosen.values()],
        "notes": notes,
        "problems": problems,
    }
    dest = course.submitted_dir / student / assignment
    if dest.exists():
        shutil.rmtree(dest)
    results.forget(course, assignment, student)
    _write_json(intake_dir(course, assignment) / "students" / f"{student}.json", record)
    common = {"name": record["name"], "lms": first.lms, "late": late}
    if problems:
        quarantine = course.quarantine_dir / assignment / student
        if quarantine.exists():
            shutil.rmtree(quarantine)
        quarantine.mkdir(parents=True)
        used: set[str] = set()
        for item in found:
            _quarantine_copy(item, quarantine, used)
            if item in chosen.values() or not item.outcome:
                item.outcome, item.reason = QUARANTINED, "; ".join(problems)
        reason = "; ".join(problems)
        (quarantine / "REASON.txt").write_text(reason + "\n", encoding="utf-8")
        results.Result.ungradable(student, assignment, max_score, reason).save(course)
        log.warning("%s: quarantined (%s)", student, reason)
        return Intake(student, False, reason, **common)

    dest.mkdir(parents=True)
    write_timestamp(dest, [item.path for item in chosen.values()])
    for name, item in chosen.items():
        nb = nbformat.read(item.path, as_version=4)
        raw = json.loads(item.path.read_bytes())
        if raw.get("nbformat") == 4:
            shutil.copyfile(item.path, dest / name)
        else:
            notes.append(f"{name}: nbformat {raw.get('nbformat')} upgraded to 4")
            nbformat.write(nb, dest / name)
        item.outcome, item.reason = COLLECTED, f"graded as {name}"
    if notes != record["notes"]:
        record["notes"] = notes
        _write_json(intake_dir(course, assignment) / "students" / f"{student}.json", record)
    return Intake(student, True, "; ".join(notes) or "collected", **common)


def write_timestamp(dest: Path, notebooks: list[Path]) -> None:
    """nbgrader's ``timestamp.txt``: the submission's own (beside its notebooks, as nbgrader's
    exchange leaves it), else its newest notebook's time. nbgrader's ``collect`` writes one;
    formgrader shows it and late penalties use it."""
    for own in {p.parent / "timestamp.txt" for p in notebooks}:
        if own.is_file() and not own.is_symlink():
            text = own.read_text(encoding="utf-8", errors="replace").strip()
            if text and len(text) < 100:
                (dest / "timestamp.txt").write_text(clean_text(text, 100, newlines=False))
                return
    newest = max(p.stat().st_mtime for p in notebooks)
    when = dt.datetime.fromtimestamp(newest, tz=dt.UTC)
    (dest / "timestamp.txt").write_text(when.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))


def _supersede(candidates: list[Seen], pick: Seen, notes: list[str]) -> None:
    others = [i for i in candidates if i is not pick]
    for item in others:
        item.outcome = SUPERSEDED
        item.reason = f"an older or unusable candidate; {pick.rel!r} was chosen"
    if others:
        notes.append(
            f"chose {PurePosixPath(pick.rel).name!r} (newest) over "
            + ", ".join(repr(PurePosixPath(i.rel).name) for i in others)
        )


def _quarantine_copy(item: Seen, folder: Path, used: set[str]) -> None:
    name = _SAFE_FILE.sub("_", PurePosixPath(item.rel).name).lstrip(".") or "file"
    while name in used or name == "REASON.txt":
        name = "_" + name
    used.add(name)
    if item.path is None:
        (folder / (name + ".not-copied.txt")).write_text(
            f"{item.rel}: {item.problem}\n", encoding="utf-8"
        )
    else:
        shutil.copyfile(item.path, folder / name)


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds")


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, ensure_ascii=False)
    os.replace(tmp, path)


def _write_manifest(course: Course, assignment: str, source: Path, files: list[Seen]) -> None:
    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    entries = [
        {
            "file": f.rel,
            "size": f.size,
            "student": f.student,
            "outcome": f.outcome or IGNORED,
            "reason": clean_text(f.reason, 500),
        }
        for f in files
    ]
    folder = intake_dir(course, assignment)
    _write_json(folder / "manifest.json", {"source": str(source), "at": when, "files": entries})
    with (folder / "collect.log").open("a", encoding="utf-8") as fh:
        fh.write(f"# {when} collect {assignment} from {source}\n")
        for e in entries:
            fh.write(f"{e['outcome']:<11} {e['student'] or '-':<20} {e['file']}  {e['reason']}\n")


def assignment_max_score(course: Course, assignment: str) -> float:
    """Total points of the assignment's graded cells, read from the source notebooks."""
    total = 0.0
    for path in course.source_notebooks(assignment):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") or meta.get("task"):
                total += float(meta.get("points", 0))
    return total
