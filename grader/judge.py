"""Decide a submission's scores outside the student's process.

The test cells come from the instructor's source notebook, never from the submission. They run
here, in the grader's own interpreter, with the setup cell's names and one stand-in per
answer function; calling a stand-in runs the student's function in the sandboxed student
process (:mod:`grader.student`) on copies of the arguments and returns copies of its results.
Whatever the student's code does to its own interpreter (patching numpy or the checking
helpers, silencing tracebacks, rewriting cells, exiting) cannot touch the checks, which run
here on genuine numpy. A test cell passes when it runs to its end without an exception, as in
nbgrader; the student only ever sees the visible part's messages.
"""

from __future__ import annotations

import ast
import builtins
import re
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np

from grader import wire
from grader.sandbox import Limits, StudentProcess

_HIDDEN = re.compile(r"^\s*### (BEGIN|END) HIDDEN TESTS\s*$")
_SOLUTION_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
#: How many times a crashed student process is restarted within one submission.
MAX_RESTARTS = 3


class StudentCrash(Exception):
    """The student's process died or stopped answering during a call."""


@dataclass
class TestOutcome:
    grade_id: str
    points: float
    max_points: float
    #: What the student may see.
    message: str = ""
    #: What the instructor may see in addition: the hidden check's own error.
    detail: str = ""


@dataclass
class Verdict:
    """All test outcomes of one submission, and what was noticed while grading it."""

    outcomes: list[TestOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Blueprint:
    """What the grader needs from the instructor's source notebook."""

    setup: list[str]  # read-only code cells, run on both sides
    answers: list[tuple[str, list[str]]]  # (grade_id, names the reference answer defines)
    tests: list[tuple[str, float, str]]  # (grade_id, points, source)

    @classmethod
    def from_source(cls, path: Path) -> Blueprint:
        setup, answers, tests = [], [], []
        for cell in nbformat.read(path, 4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or not meta:
                continue
            if meta.get("grade") and not meta.get("solution"):
                tests.append((meta["grade_id"], float(meta.get("points", 0)), cell.source))
            elif meta.get("solution"):
                code = "\n".join(
                    ln for ln in cell.source.splitlines() if not _SOLUTION_MARKER.match(ln)
                )
                answers.append((meta["grade_id"], _defined_names(code)))
            elif meta.get("locked"):
                setup.append(cell.source)
        return cls(setup, answers, tests)

    @property
    def names(self) -> list[str]:
        return [name for _, names in self.answers for name in names]


def _defined_names(code: str) -> list[str]:
    return [
        n.name
        for n in ast.parse(code).body
        if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
    ]


def answer_cells(submission: nbformat.NotebookNode, blueprint: Blueprint) -> list[list]:
    """The student's answer cells, matched to the source's by grade_id (first match wins)."""
    wanted = {gid for gid, _ in blueprint.answers}
    found: dict[str, str] = {}
    for cell in submission.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        if cell.get("cell_type") == "code" and gid in wanted and gid not in found:
            source = cell.get("source", "")
            found[gid] = "".join(source) if isinstance(source, list) else str(source)
    return [["answer", gid, found[gid]] for gid, _ in blueprint.answers if gid in found]


def split_test(source: str) -> tuple[str, str]:
    """A test cell's visible part and its hidden part."""
    visible, hidden, inside = [], [], False
    for line in source.splitlines():
        if _HIDDEN.match(line):
            inside = line.strip().startswith("### BEGIN")
            continue
        (hidden if inside else visible).append(line)
    return "\n".join(visible), "\n".join(hidden)


def _raise_student_error(error: dict) -> None:
    name, message = str(error.get("type", "Exception")), str(error.get("message", ""))
    where = error.get("where") or []
    text = f"{message} (in {where[-1]})" if where else message
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        raise cls(text)
    raise RuntimeError(f"{name}: {text}")


class _JudgeCodec(wire.Codec):
    """The grader's side: arrays become twins, test functions become callbacks."""

    def __init__(self) -> None:
        super().__init__()
        self.by_obj: dict[int, tuple[np.ndarray, int]] = {}
        self.by_twin: dict[int, np.ndarray] = {}

    def reset(self) -> None:
        self.by_obj.clear()
        self.by_twin.clear()

    def encode(self, value, blobs):
        if isinstance(value, np.ndarray):
            known = self.by_obj.get(id(value))
            if known is not None and known[0] is value:
                return {"twinref": known[1]}
            data = super().encode(value, blobs)
            if isinstance(data, dict) and "nd" in data:
                twin = len(self.by_twin) + 1
                while twin in self.by_twin:
                    twin += 1
                data["twin"] = twin
                self._register(value, twin)
            return data
        return super().encode(value, blobs)

    def _register(self, arr: np.ndarray, twin: int) -> None:
        self.by_obj[id(arr)] = (arr, twin)
        self.by_twin[twin] = arr

    def decode(self, data, blobs):
        value = super().decode(data, blobs)
        if isinstance(value, np.ndarray) and isinstance(data, dict) and "twin" in data:
            self._register(value, int(data["twin"]))
        return value

    def encode_other(self, value):
        if callable(value):
            return {"cb": self.keep(value)}
        raise TypeError(f"a test passed a {type(value).__name__}, which cannot cross the wire")

    def apply_updates(self, updates, blobs) -> None:
        """Copy in-place changes the student's code made to shared arrays."""
        for twin, data in updates:
            target = self.by_twin.get(int(twin))
            new = wire.Codec.decode(self, data, blobs)
            if target is None or not isinstance(new, np.ndarray) or new.shape != target.shape:
                continue
            was = target.flags.writeable
            try:
                target.flags.writeable = True
                np.copyto(target, new, casting="unsafe")
            except ValueError:
                pass  # a broadcast view cannot change here; it could not there either
            finally:
                if not was:
                    target.flags.writeable = False


class Remote:
    """The connection to one student process; restarts it after a crash."""

    def __init__(self, cells: list[list], limits: Limits, bwrap: str | None, scratch: Path):
        self.cells, self.limits, self.bwrap, self.scratch = cells, limits, bwrap, scratch
        self.codec = _JudgeCodec()
        self.proc: StudentProcess | None = None
        self.restarts = -1
        self.crash: str | None = None
        self.cell_errors: list[dict] = []
        #: The kernel's once-per-location warning registry, for the whole notebook.
        self.warning_registry: dict = {}
        #: Warnings shown (not raised) during the current test cell.
        self.printed: list[str] = []

    def _ensure(self) -> None:
        if self.proc is not None:
            return
        if self.restarts >= MAX_RESTARTS:
            raise StudentCrash(f"{self.crash}; not restarted again")
        self.restarts += 1
        self.proc = StudentProcess(self.scratch, self.limits, self.bwrap)
        try:
            wire.send(self.proc.to_child, {"op": "cells", "cells": self.cells})
            header, _ = wire.recv(self.proc.from_child, self._deadline(startup=True))
        except (OSError, EOFError, TimeoutError, wire.WireError, KeyError) as exc:
            self._died(exc, "while running the answer cells")
        self.cell_errors = header.get("errors", []) if isinstance(header, dict) else []

    def _deadline(self, startup: bool = False) -> float:
        return time.monotonic() + self.limits.timeout_s * (2 if startup else 1)

    def _died(self, exc: BaseException, when: str):
        if isinstance(exc, TimeoutError):
            why = f"no answer within {self.limits.timeout_s:g} s {when} (time limit)"
        else:
            why = self.proc.exit_description() if self.proc else str(exc)
            why = f"{why} {when}"
        self.crash = why
        if self.proc:
            self.proc.kill()
        self.proc = None
        raise StudentCrash(why)

    def reset(self) -> None:
        self.codec.reset()
        self.printed = []
        if self.proc is None:
            return
        try:
            wire.send(self.proc.to_child, {"op": "reset"})
            wire.recv(self.proc.from_child, self._deadline())
        except (OSError, EOFError, TimeoutError, wire.WireError) as exc:
            try:
                self._died(exc, "between tests")
            except StudentCrash:
                pass

    def call(self, name: str, args: tuple, kwargs: dict):
        self._ensure()
        blobs: list[bytes] = []
        payload = self.codec.encode([list(args), kwargs], blobs)
        deadline = self._deadline()
        try:
            wire.send(self.proc.to_child, {"op": "call", "name": name, "args": payload}, blobs)
            while True:
                header, blobs = wire.recv(self.proc.from_child, deadline)
                if header.get("op") == "callback":
                    self._serve_callback(header, blobs)
                    continue
                break
        except (OSError, EOFError, TimeoutError, wire.WireError, KeyError, TypeError) as exc:
            self._died(exc, f"during a call of {name}")
        self.codec.apply_updates(header.get("updates", []), blobs)
        for category, message, filename, lineno in header.get("warnings", []):
            self._replay_warning(name, str(category), str(message), str(filename), int(lineno))
        if "error" in header:
            _raise_student_error(header["error"])
        return self.codec.decode(header.get("value"), blobs)

    def _replay_warning(self, name: str, category: str, message: str, filename: str, line: int):
        """Warn here as the student's kernel would have: under the test's filters (an "error"
        filter raises), shown once per message and line for the whole notebook (the kernel's
        registry). A shown warning is output on stderr, which fails the test cell in nbgrader.
        """
        cls = getattr(builtins, category, None)
        if not (isinstance(cls, type) and issubclass(cls, Warning)):
            cls = UserWarning
        shown: list = []
        original = warnings.showwarning
        warnings.showwarning = lambda *args, **kwargs: shown.append(args)
        try:
            warnings.warn_explicit(
                f"{name}: {message}", cls, filename, line, registry=self.warning_registry
            )
        finally:
            warnings.showwarning = original
        if shown:
            self.printed.append(f"{category}: {message}")

    def _serve_callback(self, header: dict, blobs: list[bytes]) -> None:
        fn = self.codec.kept.get(int(header["id"]))
        args, kwargs = wire.Codec.decode(self.codec, header["args"], blobs)
        out: list[bytes] = []
        try:
            value = fn(*args, **kwargs)
            reply = {"op": "callback_result", "value": wire.Codec.encode(self.codec, value, out)}
        except Exception as exc:  # the test's own function failed on the student's input
            reply = {"op": "callback_result", "error": f"{type(exc).__name__}: {exc}"[:500]}
        wire.send(self.proc.to_child, reply, out)

    def close(self) -> None:
        if self.proc is not None:
            try:
                wire.send(self.proc.to_child, {"op": "exit"})
            except OSError:
                pass
            self.proc.kill()
            self.proc = None


def _stand_in(remote: Remote, name: str):
    def call(*args, **kwargs):
        return remote.call(name, args, kwargs)

    call.__name__ = call.__qualname__ = name
    return call


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if not isinstance(exc, AssertionError):
        text = f"{type(exc).__name__}: {text}"
    return text[:600]


def judge(
    blueprint: Blueprint, submission: nbformat.NotebookNode, limits: Limits, bwrap: str | None
) -> Verdict:
    """Run every test of ``blueprint`` against the answers in ``submission``."""
    verdict = Verdict()
    cells = [["setup", i, src] for i, src in enumerate(blueprint.setup)]
    answers = answer_cells(submission, blueprint)
    missing = sorted({gid for gid, _ in blueprint.answers} - {gid for _, gid, _ in answers})
    if missing:
        verdict.notes.append(f"answer cells missing from the notebook: {', '.join(missing)}")
    with tempfile.TemporaryDirectory(prefix="relu-student-") as scratch:
        remote = Remote(cells + answers, limits, bwrap, Path(scratch) / "work")
        base: dict = {"__name__": "__main__"}
        with warnings.catch_warnings():
            for src in blueprint.setup:
                exec(compile(src, "<setup>", "exec"), base)
        for name in blueprint.names:
            base[name] = _stand_in(remote, name)
        try:
            try:
                remote._ensure()
            except StudentCrash as exc:
                verdict.notes.append(f"the answers could not be loaded: {exc}")
            for err in remote.cell_errors:
                verdict.notes.append(
                    f"answer cell {err.get('cell')} raised {err.get('type')}: "
                    f"{str(err.get('message'))[:300]}"
                )
            for grade_id, points, source in blueprint.tests:
                verdict.outcomes.append(_run_test(remote, base, grade_id, points, source))
        finally:
            remote.close()
    return verdict


def _run_test(remote: Remote, base: dict, grade_id: str, points: float, source: str):
    visible, hidden = split_test(source)
    remote.reset()
    namespace = dict(base)
    with warnings.catch_warnings():
        # The kernel's defaults: each warning shown once per location (see _replay_warning).
        warnings.resetwarnings()
        warnings.simplefilter("default")
        try:
            exec(compile(visible, f"<test {grade_id}>", "exec"), namespace)
        except Exception as exc:
            return TestOutcome(grade_id, 0.0, points, _first_line(exc))
        if hidden.strip():
            try:
                exec(compile(hidden, f"<hidden test {grade_id}>", "exec"), namespace)
            except StudentCrash as exc:
                return TestOutcome(grade_id, 0.0, points, f"hidden checks: {exc}")
            except Exception as exc:
                what = source.lstrip().splitlines()[0].lstrip("# ").strip()
                return TestOutcome(
                    grade_id,
                    0.0,
                    points,
                    f"a hidden check failed. This test checks: {what}",
                    detail=_first_line(exc),
                )
    if remote.printed:
        # nbgrader fails a test cell that wrote to stderr, and a shown warning does.
        return TestOutcome(
            grade_id,
            0.0,
            points,
            f"your code printed a warning during this test: {remote.printed[0][:300]}. "
            "Evaluate each branch only where it applies.",
        )
    return TestOutcome(grade_id, points, points)
