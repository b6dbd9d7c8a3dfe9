"""Decide a submission's scores outside the student's process.

This is the only module that decides points. The test cells come from the instructor's source
notebook (as nbgrader saved them, AUTOTEST expanded: :mod:`grader.blueprint`), never from the
submission, and run here, in the grader's own interpreter, on genuine numpy. Every other cell
of the submission (answers, helper cells, imports, unmarked cells) runs in the student's
sandboxed process (:mod:`grader.remote`, :mod:`grader.student`), in notebook order, up to each
test cell, as in a kernel.

The test cells share one namespace, as in a kernel: the setup cells' names (run here too), what
earlier test cells defined, and, for any other name, the student's: a value the student's code
bound (an array, a number, a list) arrives as a copy, a function or object as a handle whose
calls run in the student's process, a module as the grader's own import of that module. ``del``
of a student name removes it there. What the student's code prints during a test lands in the
test cell's output: on stderr it fails the cell, as in nbgrader (a shown warning is such
output). The student's exceptions arrive with their class names and builtin bases, so ``except
ValueError`` catches a subclass. The assignment's data files are in the working folder of both
sides.

Trust boundary: the student's process sends values (what its functions returned, what they
printed, what they raised), never verdicts. A test cell passes when it runs to its end without
an exception and wrote nothing on stderr, as in nbgrader; only this module decides that. A
failed visible check's message is shown to the student; a failed hidden check shows only what
the test checks (its first comment line), and its error is kept for the instructor.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import inspect
import io
import os
import shutil
import sys
import tempfile
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grader.audit import audit
from grader.blueprint import Blueprint, Step, plan, split_test
from grader.remote import Handle, ModuleName, Remote, StudentCrash
from grader.sandbox import Limits
from grader.sanitize import clean_text

__all__ = ["Blueprint", "TestOutcome", "Verdict", "judge"]

#: How a note that asks the instructor to review a submission begins.
REVIEW_PREFIX = "needs review:"
#: Longest message kept for a test outcome.
MAX_MESSAGE = 600
#: Modules a test may get from the student's namespace by name (the grader imports its own
#: copy): besides these, any module the instructor's own cells import.
SAFE_MODULES = frozenset(
    {"math", "cmath", "numpy", "scipy", "torch", "statistics", "fractions", "decimal", "random"}
)


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


def clean(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` without terminal control sequences, cut to ``limit`` characters."""
    return clean_text(text, limit)


class TestNamespace(dict):
    """The test cells' globals: their own names first, then builtins, then the student's.

    A name that is neither defined here nor a builtin is looked up in the student's namespace
    (``__missing__``); ``del`` of a name that is not defined here deletes it there.
    """

    def __init__(self, remote: Remote, modules: frozenset[str]):
        super().__init__()
        self._remote, self._modules = remote, modules
        #: Handles of the student's functions and classes, each with the student's namespace
        #: bindings it was looked up in (:attr:`Remote.bindings`): while they are the same,
        #: the name is bound to the same object, so the handle stands for it without asking.
        self._handles: dict[str, tuple[Handle, tuple]] = {}
        #: Names the student's namespace did not have, likewise: the NameError's text.
        self._absent: dict[str, tuple[str, tuple]] = {}

    def __missing__(self, name: str):
        if name in builtins.__dict__ or name.startswith("__"):
            raise KeyError(name)
        bindings = self._remote.bindings
        known = self._handles.get(name)
        if known is not None and known[1] == bindings:
            return known[0]
        absent = self._absent.get(name)
        if absent is not None and absent[1] == bindings:
            raise NameError(absent[0])
        try:
            value = self._remote.call_target({"sname": name}, (), {}, get=True, label=name)
        except NameError as exc:
            if self._remote.bindings is not None:
                self._absent[name] = (str(exc), self._remote.bindings)
            raise
        if isinstance(value, ModuleName):
            return value.load(self._modules)
        if isinstance(value, Handle) and self._remote.bindings is not None:
            self._handles[name] = (value, self._remote.bindings)
        return value

    def __contains__(self, name) -> bool:
        """``name in globals()`` as in a kernel: true for the student's names too."""
        if dict.__contains__(self, name):
            return True
        if not isinstance(name, str) or name in builtins.__dict__ or name.startswith("__"):
            return False
        try:
            self.__missing__(name)
        except (NameError, KeyError):
            return False
        return True

    def get(self, name, default=None):
        try:
            return self[name]
        except (NameError, KeyError):
            return default

    def __setitem__(self, name: str, value) -> None:
        super().__setitem__(name, value)
        if isinstance(value, Handle) and not name.startswith("_"):
            self._handles.pop(name, None)
            self._remote.assign(name, value)

    def __delitem__(self, name: str) -> None:
        if dict.__contains__(self, name):
            dict.__delitem__(self, name)
        else:
            self._handles.pop(name, None)
            self._remote.delete(name)

    def forget_handles(self) -> None:
        """Before each test cell: a handle a test bound to a name was bound in the student's
        namespace too (``__setitem__``), so looking it up again there finds the same object.
        (The handles looked up are kept: they are checked against the bindings at each use.)"""
        for name, value in list(dict.items(self)):
            if isinstance(value, Handle) and not name.startswith("_"):
                dict.__delitem__(self, name)


def _mirrored(remote: Remote, name: str, manager):
    """A setup-cell context manager that is entered in the student's process too, around
    every call made inside it (so that, e.g., a check that blocks PyTorch's built-in ReLU
    holds where the student's code runs)."""

    @contextlib.contextmanager
    def mirrored(*args, **kwargs):
        with manager(*args, **kwargs) as value:
            remote.contexts.append((name, args, kwargs))
            try:
                yield value
            finally:
                remote.contexts.pop()

    mirrored.__name__ = mirrored.__qualname__ = name
    return mirrored


def _is_context_manager(value) -> bool:
    wrapped = getattr(value, "__wrapped__", None)
    return (
        isinstance(value, types.FunctionType)
        and value.__module__ == "__main__"
        and inspect.isgeneratorfunction(wrapped)
    )


def _first_line(exc: BaseException) -> str:
    try:
        text = str(exc).strip() or type(exc).__name__
    except Exception:
        text = type(exc).__name__
    if not isinstance(exc, AssertionError):
        text = f"{type(exc).__name__}: {text}"
    return clean(text)


def judge(
    blueprint: Blueprint,
    submission: nbformat.NotebookNode,
    limits: Limits,
    bwrap: str | None,
    *,
    data_dir: Path | None = None,
) -> Verdict:
    """Run the submission's cells in notebook order and every test of ``blueprint`` on them.

    ``data_dir``: the folder whose non-notebook files the assignment ships (data files); they
    are copied into the working folder of the student's process and of the tests.
    """
    blueprint = blueprint.with_data(data_dir)
    steps, notes = plan(blueprint, submission)
    verdict = Verdict(notes=notes)
    student_cells = [(s.label, s.source) for s in steps if s.kind in ("answer", "plain")]
    findings = audit(student_cells, blueprint.answer_imports)
    if findings:
        # Nothing runs: what the student's process would report could not be believed.
        listed = "; ".join(str(f) for f in findings[:5])
        verdict.notes.append(clean(f"{REVIEW_PREFIX} the code uses {listed}", 800))
        message = clean(
            f"not graded: your code uses {findings[0]}, which answers may not use (it can "
            "reach the grader's own code). Your instructor will review it.",
        )
        verdict.outcomes = [
            TestOutcome(s.label, 0.0, s.points, message) for s in steps if s.kind == "test"
        ]
        return verdict
    modules = SAFE_MODULES | blueprint.instructor_imports
    with (
        tempfile.TemporaryDirectory(prefix="relu-student-") as scratch,
        tempfile.TemporaryDirectory(prefix="relu-tests-") as testdir,
    ):
        for path in blueprint.data_files:
            shutil.copyfile(path, Path(testdir) / path.name)
        remote = Remote(
            limits, bwrap, Path(scratch) / "work", blueprint.uses_torch, blueprint.data_files
        )
        namespace = TestNamespace(remote, modules)
        namespace["__name__"] = "__main__"
        # The student's own code as text, for checks about the code rather than its values
        # (e.g. "no warnings silenced"): established here from the submission, never asked of
        # the student's process.
        # As in a kernel's input history, it holds the cells run so far (grows in _run_steps).
        namespace["_STUDENT_CODE"] = []
        cwd = os.getcwd()
        with _process_state():
            _run_steps(remote, namespace, steps, verdict, testdir, cwd)
        if remote.crash and remote.restarts >= 3:
            verdict.notes.append(f"the student's process: {remote.crash}")
        for err in remote.cell_errors[:20]:
            verdict.notes.append(
                clean(
                    f"cell {err.get('cell')} raised {err.get('type')}: {err.get('message')}", 300
                )
            )
    return verdict


@contextlib.contextmanager
def _process_state():
    """Restore what the instructor's setup and test cells may change in this process (an import
    blocker on ``sys.meta_path``, ``sys.path``, warning filters, numpy's error state, torch's
    defaults), so that one notebook's cells cannot change how the next is graded: a grading
    process, a cluster worker's above all, grades notebooks of several assignments in turn."""
    import numpy as np

    saved = (list(sys.meta_path), list(sys.path), builtins.__import__, np.geterr())
    torch = sys.modules.get("torch")
    torch_state = (torch.get_default_dtype(), torch.is_grad_enabled()) if torch else None
    with warnings.catch_warnings():
        try:
            yield
        finally:
            sys.meta_path[:], sys.path[:] = saved[0], saved[1]
            builtins.__import__ = saved[2]
            np.seterr(**saved[3])
            torch = sys.modules.get("torch")
            if torch is not None and torch_state is not None:
                torch.set_default_dtype(torch_state[0])
                torch.set_grad_enabled(torch_state[1])


def _run_steps(remote, namespace, steps, verdict, testdir, cwd) -> None:
    """Every step in notebook order: student cells to the student's process, tests here."""
    pending: list[list] = []
    try:
        os.chdir(testdir)
        for step in steps:
            if step.kind != "test":
                pending.append([step.kind, step.label, step.source])
                if step.kind in ("answer", "plain"):
                    dict.__getitem__(namespace, "_STUDENT_CODE").append(step.source)
                if step.kind == "setup":
                    _run_setup(remote, namespace, step)
                continue
            remote.run_cells(pending)
            pending = []
            verdict.outcomes.append(_run_test(remote, namespace, step))
    finally:
        os.chdir(cwd)
        remote.close()


@functools.lru_cache(maxsize=512)
def _compiled(source: str, label: str) -> types.CodeType:
    """The instructor's cells, compiled once per grading process (code objects are immutable)."""
    return compile(source, label, "exec")


def _part_label(grade_id: str, hidden: bool) -> str:
    return f"<{'hidden test' if hidden else 'test'} {grade_id}>"


def warm(blueprint: Blueprint) -> None:
    """Compute what the first grading of ``blueprint`` in a process would compute for every
    submission alike: the instructor's cells compiled, the modules they import. The command
    calls it before forking its grading processes, which inherit the results."""
    blueprint.answer_imports, blueprint.instructor_imports, blueprint.uses_torch  # noqa: B018
    for cell in blueprint.cells:
        if cell.kind == "setup":
            _compiled(cell.source, f"<setup {cell.grade_id}>")
        elif cell.kind == "test":
            for code, hidden in zip(split_test(cell.source), (False, True), strict=True):
                if code.strip():
                    _compiled(code, _part_label(cell.grade_id, hidden))


def _run_setup(remote: Remote, namespace: TestNamespace, step: Step) -> None:
    """Run an instructor's locked cell here too, so the tests have its names."""
    before = set(dict.keys(namespace))
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        try:
            exec(_compiled(step.source, f"<setup {step.label}>"), namespace)
        except Exception:  # noqa: S110  the same cell's error is recorded on the student's side
            pass
    for name in set(dict.keys(namespace)) - before:
        value = dict.__getitem__(namespace, name)
        if _is_context_manager(value):
            dict.__setitem__(namespace, name, _mirrored(remote, name, value))


def _run_test(remote: Remote, namespace: TestNamespace, step: Step) -> TestOutcome:
    grade_id, points = step.label, step.points
    visible, hidden = split_test(step.source)
    remote.reset()
    namespace.forget_handles()
    outcome = _run_part(remote, namespace, grade_id, visible, hidden=False)
    if outcome is not None:
        return TestOutcome(grade_id, 0.0, points, *outcome)
    if hidden.strip():
        outcome = _run_part(remote, namespace, grade_id, hidden, hidden=True)
        if outcome is not None:
            what = step.source.lstrip().splitlines()[0].lstrip("# ").strip()
            message = f"a hidden check failed. This test checks: {clean(what, 300)}"
            if outcome[0].startswith("hidden checks:"):
                message = outcome[0]
            return TestOutcome(grade_id, 0.0, points, message, detail=outcome[1] or outcome[0])
    return TestOutcome(grade_id, points, points)


def _run_part(
    remote: Remote, namespace: TestNamespace, grade_id: str, code: str, *, hidden: bool
) -> tuple[str, str] | None:
    """Run one part of a test cell; ``None`` when it passed, else (message, detail)."""
    if not code.strip():
        return None
    out, err = io.StringIO(), io.StringIO()
    label = _part_label(grade_id, hidden)
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        # The kernel's defaults: each warning shown once per location (see Remote).
        warnings.resetwarnings()
        warnings.simplefilter("default")
        try:
            exec(_compiled(code, label), namespace)
        except StudentCrash as exc:
            return f"hidden checks: {exc}" if hidden else clean(str(exc)), ""
        except Exception as exc:
            return _first_line(exc), _first_line(exc) if hidden else ""
    if remote.printed:
        # A shown warning is output on stderr, which fails the test cell in nbgrader.
        text = remote.printed[0]
        remote.printed = []
        return (
            clean(
                f"your code printed a warning during this test: {text}. "
                "A warning fails the check, as in grading: evaluate each branch only where "
                "it applies."
            ),
            "",
        )
    if err.getvalue().strip():
        return clean(err.getvalue().strip()), ""
    return None
