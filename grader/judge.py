"""Decide a submission's scores outside the student's process.

The test cells come from the instructor's source notebook, never from the submission. They run
here, in the grader's own interpreter, with the setup cell's names and one stand-in per
answer function; calling a stand-in runs the student's function in the sandboxed student
process (:mod:`grader.student`) on copies of the arguments and returns copies of its results.
Whatever the student's code does to its own interpreter (patching numpy or the checking
helpers, silencing tracebacks, rewriting cells, exiting) cannot touch the checks, which run
here on genuine numpy. A test cell passes when it runs to its end without an exception, as in
nbgrader; the student only ever sees the visible part's messages.

Classes the answers define (a5's ``ReLUFunction``, ``MLP``, ``DeadUnitMonitor``) get a
:class:`Handle` instead: reading an attribute or calling it asks the student's process, and
objects that are not plain values come back as handles too. PyTorch tensors, gradients and
modules cross as described in :mod:`grader.torchwire`.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import inspect
import re
import sys
import tempfile
import time
import types
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
    classes: frozenset[str] = frozenset()  # the names the reference answers define as classes

    @classmethod
    def from_source(cls, path: Path) -> Blueprint:
        setup, answers, tests, classes = [], [], [], set()
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
                classes |= {n.name for n in ast.parse(code).body if isinstance(n, ast.ClassDef)}
            elif meta.get("locked"):
                setup.append(cell.source)
        return cls(setup, answers, tests, frozenset(classes))

    @property
    def names(self) -> list[str]:
        return [name for _, names in self.answers for name in names]

    @property
    def uses_torch(self) -> bool:
        """Whether the instructor's own cells (setup, tests) import torch."""
        return any(_imports_torch(src) for src in [*self.setup, *(t[2] for t in self.tests)])


def _imports_torch(source: str) -> bool:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return re.search(r"^\s*(import|from)\s+torch\b", source, re.M) is not None
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(
            a.name.split(".")[0] == "torch" for a in node.names
        ):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch":
            return True
    return False


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


class Handle(wire.Ref):
    """A value the student's process holds (an object, a method, a class): reading one of
    its attributes or calling it asks that process, and the answer crosses by copy."""

    def __init__(self, remote: Remote, ref_id: int | None, target: dict, label: str):
        super().__init__(ref_id)
        self._remote, self._target, self._label = remote, target, label

    def __getattr__(self, name: str):
        if name.startswith("_") and name not in ("__name__", "__qualname__", "__doc__"):
            raise AttributeError(name)
        return self._remote.call_target(
            self._target, (), {}, attr=name, get=True, label=f"{self._label}.{name}"
        )

    def __call__(self, *args, **kwargs):
        return self._remote.call_target(self._target, args, kwargs, label=self._label)

    def __repr__(self) -> str:
        return f"<{self._label} (in the student's process)>"


class _CodeInfo:
    """What a test may read of a student function's code object (``co_names``, nested code)."""

    def __init__(self, info: dict):
        self.co_names = tuple(str(n) for n in info.get("names", []))
        self.co_consts = tuple(_CodeInfo(c) for c in info.get("consts", []) if isinstance(c, dict))


class _Bound:
    """Stands for a global a student function uses: only its ``__module__`` is known."""

    def __init__(self, module: str):
        self.__module__ = module


def _function_handle(remote: Remote, ref_id: int, info: dict) -> Handle:
    name = str(info.get("name", "function"))
    handle = Handle(remote, ref_id, {"ref": ref_id}, name)
    handle.__dict__.update(
        __name__=name,
        __qualname__=name,
        __code__=_CodeInfo(info.get("code", {})),
        __globals__={
            str(k): None if v.get("none") else _Bound(str(v.get("module", "")))
            for k, v in dict(info.get("globals", {})).items()
            if isinstance(v, dict)
        },
    )
    return handle


class _ModulePath:
    """A submodule of a module twin, named by its path (what a forward hook relay passes)."""

    def __init__(self, twin: int, path: str):
        self.twin, self.path = twin, path


class _JudgeCodec(wire.Codec):
    """The grader's side: arrays and tensors become twins, test functions become callbacks,
    modules cross as snapshots, the student's objects come back as handles."""

    def __init__(self, remote: Remote) -> None:
        super().__init__()
        self.remote = remote
        self.by_obj: dict[int, tuple[object, int]] = {}
        self.by_twin: dict[int, object] = {}
        #: Twins: a digest of the values when last synchronised with the student's side and,
        #: for tensors, their version counter then; changes found while encoding a message.
        self.synced: dict[int, bytes] = {}
        self.versions: dict[int, int] = {}
        self.pending: list = []
        #: Modules rebuilt from the student's snapshots: id -> (module, the student's ref).
        self.origin: dict[int, tuple[object, int]] = {}
        #: Modules sent to the student's side as twins: id -> (module, twin id); by twin id.
        self.mtwin_by_obj: dict[int, tuple[object, int]] = {}
        self.mtwins: dict[int, object] = {}
        #: Forward-hook relays on module twins: twin id -> {(path, key): handle}.
        self.relays: dict[int, dict] = {}
        #: While encoding one message: the tensors that require grad, and the modules sent
        #: by reference whose parameters do, in order.
        self.grad_inputs: list = []
        self.grad_modules: list[tuple[str, int, object]] = []
        self.module_memo: dict[int, object] = {}
        #: Classes standing for the student's module classes, by (name, torch.nn base).
        self.classes: dict[tuple[str, str], type] = {}

    def reset(self) -> None:
        for relays in self.relays.values():
            for handle in relays.values():
                handle.remove()
        for store in (self.by_obj, self.by_twin, self.synced, self.versions, self.origin):
            store.clear()
        for store in (self.mtwin_by_obj, self.mtwins, self.relays):
            store.clear()

    def begin(self) -> None:
        self.grad_inputs, self.grad_modules, self.module_memo = [], [], {}
        self.pending = []

    def _shared(self, value) -> bool:
        torch = sys.modules.get("torch")
        return isinstance(value, np.ndarray) or (
            torch is not None and isinstance(value, torch.Tensor)
        )

    def encode(self, value, blobs):
        if isinstance(value, Handle):
            return dict(value._target)
        if isinstance(value, _ModulePath):
            return {"mtwin": value.twin, "path": value.path}
        if self._shared(value):
            known = self.by_obj.get(id(value))
            if known is not None and known[0] is value:
                digest = wire.digest(value)
                if digest != self.synced.get(known[1]):  # changed here since last sent
                    self.synced[known[1]] = digest
                    copy = np.array(value) if isinstance(value, np.ndarray) else value.detach()
                    self.pending.append([known[1], wire.Codec.encode(self, copy, blobs)])
                return {"twinref": known[1]}
            data = super().encode(value, blobs)
            if isinstance(data, dict) and ("nd" in data or "tensor" in data):
                twin = len(self.by_twin) + 1
                while twin in self.by_twin:
                    twin += 1
                data["twin"] = twin
                self._register(value, twin)
                if "tensor" in data and value.requires_grad:
                    self.grad_inputs.append(value)
            return data
        return super().encode(value, blobs)

    def _register(self, value, twin: int) -> None:
        self.by_obj[id(value)] = (value, twin)
        self.by_twin[twin] = value
        self.synced[twin] = wire.digest(value)
        if not isinstance(value, np.ndarray):
            self.versions[twin] = value._version

    def encode_module(self, module, blobs):
        from grader import torchwire

        known = self.origin.get(id(module))
        if known is not None and known[0] is module:
            self.grad_modules.append(("ref", known[1], module))
            return {"ref": known[1]}
        known = self.mtwin_by_obj.get(id(module))
        if known is not None and known[0] is module:
            self.grad_modules.append(("mtwin", known[1], module))
            return {"mtwin": known[1]}
        for sub in module.modules():
            if not torchwire.genuine(type(sub)) and id(sub) not in self.origin:
                raise TypeError(
                    f"a test passed a {type(sub).__name__} module: only torch.nn's own "
                    "modules can cross to the student's process"
                )
        twin = len(self.mtwins) + 1
        self.mtwins[twin] = module
        self.mtwin_by_obj[id(module)] = (module, twin)
        return {"mtwin": twin, **self._snapshot(module, blobs, {})}

    def _snapshot(self, module, blobs, memo: dict) -> dict:
        from grader import torchwire

        known = self.origin.get(id(module))
        if known is not None and known[0] is module:
            return {"ref": known[1]}
        return torchwire.snapshot(
            module,
            lambda t: self.encode(t, blobs),
            lambda child: self._snapshot(child, blobs, memo),
            memo,
        )

    def decode(self, data, blobs):
        value = super().decode(data, blobs)
        if isinstance(data, dict) and "twin" in data and self._shared(value):
            self._register(value, int(data["twin"]))
        return value

    def decode_other(self, data: dict) -> object:
        if "mref" in data:
            try:
                return self.module_memo[int(data["mref"])]
            except (KeyError, ValueError, TypeError):
                raise wire.WireError("unknown module reference") from None
        if "module" in data:
            return self._rebuild(data["module"])
        if "ref" in data:
            ref_id = int(data["ref"])
            if isinstance(data.get("fn"), dict):
                return _function_handle(self.remote, ref_id, data["fn"])
            handle = Handle(self.remote, ref_id, {"ref": ref_id}, "a value")
            if "cls" in data:
                name = str(data["cls"])
                handle._label = name
                handle.__dict__.update(__name__=name, __qualname__=name)
            return handle
        raise wire.WireError(f"unknown value {str(data)[:80]}")

    def _rebuild(self, node: dict):
        """The grader's copy of a module the student's side described."""
        from grader import torchwire

        if not isinstance(node, dict) or len(self.module_memo) >= torchwire.MAX_MODULES:
            raise wire.WireError("unreadable module")
        try:
            if node.get("genuine"):
                cls = torchwire.genuine_class(node["cls"])
            else:
                cls = self._student_class(str(node["cls"]), str(node.get("base", "Module")))
            blobs = self._blobs
            module = torchwire.build_module(
                node, cls, lambda d: self.decode(d, blobs), lambda d: self.decode(d, blobs)
            )
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise wire.WireError(f"unreadable module: {exc}") from None
        self.module_memo[int(node.get("id", -1))] = module
        if "ref" in node:
            ref_id = int(node["ref"])
            self.origin[id(module)] = (module, ref_id)
            if not node.get("genuine"):
                module.__dict__["_student"] = (self.remote, ref_id)
        return module

    def _student_class(self, name: str, base: str) -> type:
        from grader import torchwire

        key = (name, base)
        if key not in self.classes:
            try:
                parent = torchwire.genuine_class(base)
            except ValueError:
                parent = torchwire.nn.Module
            self.classes[key] = type(name, (_remote_module_mixin(), parent), {})
        return self.classes[key]

    def decode_message(self, data, blobs):
        self._blobs, self.module_memo = blobs, {}
        return self.decode(data, blobs)

    def encode_other(self, value):
        if callable(value):
            return {"cb": self.keep(value)}
        raise TypeError(f"a test passed a {type(value).__name__}, which cannot cross the wire")

    def pushes(self, blobs: list[bytes]) -> list:
        """Tensor twins the tests changed in place since the student's side last saw them."""
        out, self.pending = self.pending, []
        pushed = {twin for twin, _ in out}
        for twin, version in list(self.versions.items()):
            tensor = self.by_twin[twin]
            if tensor._version != version and twin not in pushed:
                self.versions[twin] = tensor._version
                self.synced[twin] = wire.digest(tensor)
                out.append([twin, wire.Codec.encode(self, tensor.detach().clone(), blobs)])
        return out

    def apply_updates(self, updates, blobs) -> None:
        """Copy in-place changes the student's code made to shared arrays and tensors."""
        for twin, data in updates:
            target = self.by_twin.get(int(twin))
            new = wire.Codec.decode(self, data, blobs)
            if target is None or getattr(new, "shape", None) != target.shape:
                continue
            if not isinstance(target, np.ndarray):
                import torch

                if isinstance(new, torch.Tensor):
                    with torch.no_grad():
                        target.copy_(new)
                    self.versions[int(twin)] = target._version
                    self.synced[int(twin)] = wire.digest(target)
                continue
            if not isinstance(new, np.ndarray):
                continue
            was = target.flags.writeable
            try:
                target.flags.writeable = True
                np.copyto(target, new, casting="unsafe")
                self.synced[int(twin)] = wire.digest(target)
            except ValueError:
                pass  # a broadcast view cannot change here; it could not there either
            finally:
                if not was:
                    target.flags.writeable = False

    def mirror_hooks(self, changes) -> None:
        """Give the grader's modules one relay per forward hook the student's code put on
        their twins (and remove the relays of hooks it removed)."""
        for twin, state in changes:
            module = self.mtwins.get(int(twin))
            if module is None:
                continue
            named = dict(module.named_modules())
            relays = self.relays.setdefault(int(twin), {})
            wanted = {(str(path), int(key)): int(ref) for path, key, ref in state}
            for key in [k for k in relays if k not in wanted]:
                relays.pop(key).remove()
            for (path, key), ref in wanted.items():
                if (path, key) not in relays and path in named:
                    relays[(path, key)] = named[path].register_forward_hook(
                        _relay(self.remote, ref, int(twin), path)
                    )


def _relay(remote: Remote, ref: int, twin: int, path: str):
    def relay(module, inputs, output):
        return remote.call_target(
            {"ref": ref}, (_ModulePath(twin, path), inputs, output), {}, label="a forward hook"
        )

    return relay


_MIXIN: list[type] = []


def _remote_module_mixin() -> type:
    """The mixin of the grader's stand-ins for the student's module classes (made once)."""
    if _MIXIN:
        return _MIXIN[0]

    class RemoteModule:
        """``forward`` runs in the student's process; attributes that are not parameters,
        buffers or submodules are read from the student's object."""

        def forward(self, *args, **kwargs):
            remote, ref = self.__dict__["_student"]
            return remote.call_target({"ref": ref}, args, kwargs, module=self, label="forward")

        def __getattr__(self, name: str):
            try:
                return super().__getattr__(name)
            except AttributeError:
                student = self.__dict__.get("_student")
                if student is None or name.startswith("_"):
                    raise
                remote, ref = student
                return remote.call_target(
                    {"ref": ref}, (), {}, attr=name, get=True, label=f"{type(self).__name__}"
                )

    _MIXIN.append(RemoteModule)
    return RemoteModule


class Remote:
    """The connection to one student process; restarts it after a crash."""

    def __init__(
        self,
        cells: list[list],
        limits: Limits,
        bwrap: str | None,
        scratch: Path,
        uses_torch: bool = False,
    ):
        self.cells, self.limits, self.bwrap, self.scratch = cells, limits, bwrap, scratch
        #: Whether the assignment's tests use torch: only then do calls carry torch's state
        #: (grad mode, parameters, random state); a numpy student process never imports torch,
        #: even where the grader has it loaded (a1–a4's setup blocks the import, and torch needs
        #: more than 512 MiB of address space).
        self.uses_torch = uses_torch
        self.codec = _JudgeCodec(self)
        self.proc: StudentProcess | None = None
        self.restarts = -1
        self.crash: str | None = None
        self.cell_errors: list[dict] = []
        #: The kernel's once-per-location warning registry, for the whole notebook.
        self.warning_registry: dict = {}
        #: Warnings shown (not raised) during the current test cell.
        self.printed: list[str] = []
        #: The setup cell's context managers the test is inside of: (name, args, kwargs).
        self.contexts: list[tuple[str, tuple, dict]] = []
        #: The test's global torch random state as last sent to the student's process.
        self.rng_sent: bytes | None = None

    def _ensure(self) -> None:
        if self.proc is not None:
            return
        if self.restarts >= MAX_RESTARTS:
            raise StudentCrash(f"{self.crash}; not restarted again")
        self.restarts += 1
        self.rng_sent = None
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
        elif isinstance(exc, wire.WireError) and self.proc and self.proc.proc.poll() is None:
            why = f"the student's process sent something unreadable {when} ({exc})"
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
        self.contexts = []
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
        return self.call_target({"sname": name}, args, kwargs, label=name)

    def call_target(
        self,
        target: dict,
        args: tuple,
        kwargs: dict,
        *,
        attr: str | None = None,
        get: bool = False,
        module=None,
        label: str = "a student function",
    ):
        """Call the student's ``target`` (or its attribute ``attr``) with copies of the
        arguments; with ``get``, read the attribute instead. Returns copies of the result."""
        self._ensure()
        codec = self.codec
        codec.begin()
        blobs: list[bytes] = []
        header: dict = {"op": "call", "target": target, "attr": attr, "get": get}
        header["args"] = codec.encode([list(args), kwargs], blobs)
        torch = sys.modules.get("torch") if self.uses_torch else None
        inputs: list = []
        if torch is not None:
            header["grad"] = grad = torch.is_grad_enabled() and not get
            if module is not None:
                codec.grad_modules.append(("ref", target["ref"], module))
                header["train"] = [[p, m.training] for p, m in module.named_modules()]
            inputs = list(codec.grad_inputs)
            header["params"] = []
            for kind, key, mod in codec.grad_modules if grad else ():
                for pname, param in mod.named_parameters():
                    if param.requires_grad:
                        header["params"].append([kind, key, pname])
                        inputs.append(param)
        reply, value = self._exchange(header, blobs, label)
        if "graph" in reply and inputs:
            value = self._link(value, reply, inputs)
        return value

    def _link(self, value, reply: dict, inputs: list):
        """Connect the results to the arguments, for gradients computed on the other side."""
        from grader import torchwire

        outputs = torchwire.flat_tensors(value)
        diff = reply.get("diff")
        if not isinstance(diff, list) or len(diff) != len(outputs) or not outputs:
            return value
        diff = [bool(d) for d in diff]
        linked = torchwire.Bridge.apply(self, (reply["graph"], diff), outputs, diff, *inputs)
        return torchwire.replace_tensors(value, list(linked))

    def backward(self, graph, grads: list) -> list:
        """The gradients for the inputs of a call, from the graph the student's side kept."""
        graph_id, diff = graph
        grads = [g for g, d in zip(grads, diff, strict=True) if d]
        self._ensure()
        self.codec.begin()
        blobs: list[bytes] = []
        header = {"op": "backward", "graph": graph_id, "grads": self.codec.encode(grads, blobs)}
        header["grad"] = False
        _, value = self._exchange(header, blobs, "backward")
        return list(value) if isinstance(value, list) else []

    def _exchange(self, header: dict, blobs: list[bytes], label: str):
        """Send one request (with what changed here since the last), serve the callbacks it
        causes, take over the student's side's changes; returns the reply and its value."""
        torch = sys.modules.get("torch") if self.uses_torch else None
        header["pushes"] = self.codec.pushes(blobs)
        if self.contexts:
            header["ctx"] = [
                [name, wire.Codec.encode(self.codec, [list(a), k], blobs)]
                for name, a, k in self.contexts
            ]
        if torch is not None:
            from grader import torchwire

            # The test's global random state, when it changed (a seed, draws): the student's
            # code then draws what it would have drawn in the kernel. Never taken back: the
            # student's code cannot choose the numbers the tests draw next.
            state = torchwire.rng_state()
            if state.tobytes() != self.rng_sent:
                self.rng_sent = state.tobytes()
                header["rng"] = wire.Codec.encode(self.codec, state, blobs)
        deadline = self._deadline()
        try:
            wire.send(self.proc.to_child, header, blobs)
            while True:
                reply, rblobs = wire.recv(self.proc.from_child, deadline)
                if reply.get("op") == "callback":
                    self._serve_callback(reply, rblobs)
                    continue
                break
            self.codec.apply_updates(reply.get("updates", []), rblobs)
            if reply.get("hooks"):
                self.codec.mirror_hooks(reply["hooks"])
        except (OSError, EOFError, TimeoutError, wire.WireError, KeyError, TypeError) as exc:
            self._died(exc, f"during a call of {label}")
        for category, message, filename, lineno in reply.get("warnings", []):
            self._replay_warning(label, str(category), str(message), str(filename), int(lineno))
        if "error" in reply:
            _raise_student_error(reply["error"])
        try:
            value = self.codec.decode_message(reply.get("value"), rblobs)
        except (wire.WireError, KeyError, TypeError, ValueError, IndexError) as exc:
            self._died(wire.WireError(str(exc)), f"returning from {label}")
        return reply, value

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


def _class_stand_in(remote: Remote, name: str) -> Handle:
    handle = Handle(remote, None, {"sname": name}, name)
    handle.__dict__.update(__name__=name, __qualname__=name)
    return handle


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
        remote = Remote(
            cells + answers, limits, bwrap, Path(scratch) / "work", blueprint.uses_torch
        )
        base: dict = {"__name__": "__main__"}
        with warnings.catch_warnings():
            for src in blueprint.setup:
                exec(compile(src, "<setup>", "exec"), base)
        for name in blueprint.names:
            if name in blueprint.classes:
                base[name] = _class_stand_in(remote, name)
            else:
                base[name] = _stand_in(remote, name)
        for name, value in list(base.items()):
            if _is_context_manager(value):
                base[name] = _mirrored(remote, name, value)
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
