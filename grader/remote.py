"""The grader's end of the wire: one sandboxed student process, seen from the trusted side.

:class:`Remote` starts the student's process (:mod:`grader.sandbox`), has it run the student's
cells, and turns every use of a student name in a test into a request: a call, an attribute
read, a name lookup. Arguments leave as copies and results come back as copies
(:mod:`grader.wire`, :mod:`grader.torchwire`); objects that cannot be copied stay in the
student's process and are represented here by a :class:`Handle`. Nothing here decides a score:
:mod:`grader.judge` does, on the copies.

What the student's process sends is data, never a fact the grader relies on about that
process: every reply is bounded (size, depth, elements, time) and decoded without pickle, and a
student process that breaks a bound is ended and counted as having failed what was left.
"""

from __future__ import annotations

import builtins
import importlib
import logging
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from grader import template, wire
from grader.sandbox import Limits, StudentProcess

log = logging.getLogger(__name__)

#: How many times a crashed student process is restarted within one submission.
MAX_RESTARTS = 3


class StudentCrash(Exception):
    """The student's process died or stopped answering during a call."""


#: Exception classes standing for the student's own ones, by (name, builtin base).
_STUDENT_EXCEPTIONS: dict[tuple[str, str], type] = {}


def _raise_student_error(error: dict) -> None:
    """Raise here what the student's code raised there: a builtin exception as itself, a
    class of the student's as a class of the same name derived from its nearest builtin base
    (so ``except ValueError`` in a test catches a ``ValueError`` subclass)."""
    name = str(error.get("type", "Exception"))[:100]
    message = str(error.get("message", ""))[: wire.MAX_TEXT]
    where = [str(w)[:200] for w in (error.get("where") or [])[-3:]]
    text = f"{message} (in {where[-1]})" if where else message
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        raise cls(text)
    base = Exception
    for candidate in (error.get("bases") or [])[:20]:
        found = getattr(builtins, str(candidate), None)
        if isinstance(found, type) and issubclass(found, Exception):
            base = found
            break
    if not name.isidentifier():
        name = "StudentError"
    key = (name, base.__name__)
    if key not in _STUDENT_EXCEPTIONS:
        _STUDENT_EXCEPTIONS[key] = type(name, (base,), {"__module__": "__main__"})
    raise _STUDENT_EXCEPTIONS[key](text)


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


def _function_handle(remote: Remote, ref_id: int, info: dict) -> Handle:
    name = str(info.get("name", "function"))
    handle = Handle(remote, ref_id, {"ref": ref_id}, name)
    handle.__dict__.update(__name__=name, __qualname__=name)
    return handle


class ModuleName:
    """A module the student's namespace holds, by name: the grader uses its own import."""

    def __init__(self, name: str):
        self.name = name

    def load(self, allowed: frozenset[str]):
        top = self.name.split(".")[0]
        if top not in allowed:
            raise NameError(
                f"the test used the student's module {self.name!r}, which the grader does not "
                "import itself: import it in the test or setup cell"
            )
        return importlib.import_module(self.name)


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
        if "modname" in data:
            return ModuleName(str(data["modname"])[:200])
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
        raise wire.WireError("unknown value")

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

    def forget(self, dropped) -> None:
        """Twins the student's side has let go (nothing there could reach them): the next use
        of the same array here sends it as a new one."""
        if not isinstance(dropped, list):
            return
        for twin in dropped[: wire.MAX_ITEMS]:
            value = self.by_twin.pop(twin, None) if type(twin) is int else None
            if value is None:
                continue
            known = self.by_obj.get(id(value))
            if known is not None and known[0] is value:
                del self.by_obj[id(value)]
            self.synced.pop(twin, None)
            self.versions.pop(twin, None)

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
        limits: Limits,
        bwrap: str | None,
        scratch: Path,
        uses_torch: bool = False,
        data_files: tuple = (),
    ):
        self.limits, self.bwrap, self.scratch = limits, bwrap, scratch
        self.cold_scratch = scratch
        #: The warm template this submission's processes are forked from, and the user they
        #: run as (None: a cold process per start, :class:`StudentProcess`).
        self.warm: tuple | None = None
        warm = template.get(bwrap, uses_torch)
        if warm is not None:
            try:
                self.scratch, uid = warm.folder()
                self.warm = (warm, uid)
            except OSError as exc:
                log.warning("no folder under the warm template's root (%s)", exc)
        #: Whether the assignment's tests use torch: only then do calls carry torch's state
        #: (grad mode, parameters, random state); a numpy student process never imports torch,
        #: even where the grader has it loaded (a1–a4's setup blocks the import, and torch needs
        #: more than 512 MiB of address space).
        self.uses_torch = uses_torch
        #: Files the assignment ships, copied into the student's working folder at each start.
        self.data_files = tuple(data_files)
        self.codec = _JudgeCodec(self)
        self.proc: StudentProcess | None = None
        self.restarts = -1
        self.crash: str | None = None
        self.crash_detail = ""
        #: The cells run so far, in order (run again, in order, after a restart).
        self.ran: list[list] = []
        #: Errors the cells raised (cell label, type, message), for the instructor's notes.
        self.cell_errors: list[dict] = []
        #: The kernel's once-per-location warning registry, for the whole notebook.
        self.warning_registry: dict = {}
        #: Warnings shown (not raised) during the current test cell.
        self.printed: list[str] = []
        #: The setup cell's context managers the test is inside of: (name, args, kwargs).
        self.contexts: list[tuple[str, tuple, dict]] = []
        #: The test's global torch random state as last sent to the student's process.
        self.rng_sent: bytes | None = None
        #: Wall-clock seconds the student's process may take for the whole notebook, all
        #: cells and calls together, and the seconds used so far.
        self.budget_s = limits.notebook_s
        self.spent_s = 0.0
        self._t0 = 0.0
        self._over_budget = False
        #: The student's namespace bindings as of the last reply: (process start, the number
        #: its process reported), None when unknown. A name looked up in the same bindings
        #: is bound to the same object (see :class:`grader.judge.TestNamespace`).
        self.bindings: tuple[int, int] | None = None

    def _ensure(self) -> None:
        if self.proc is not None:
            return
        if self.restarts >= MAX_RESTARTS:
            raise StudentCrash(f"{self.crash}; not restarted again")
        self.restarts += 1
        self.rng_sent = None
        self.scratch.mkdir(parents=True, exist_ok=True)
        for path in self.data_files:
            shutil.copyfile(path, self.scratch / path.name)
        self.proc = self._start()
        if self.ran:
            # Errors are noted on the first start; a restart runs the same cells again.
            self._run(self.ran, record=self.restarts == 0, startup=True)

    def _start(self):
        """A student process: forked from this grading process's warm template when one can
        be used (:mod:`grader.template`), else a cold one."""
        if self.warm is not None:
            try:
                return self.warm[0].spawn(self.scratch, self.warm[1], self.limits)
            except OSError as exc:
                log.warning("the warm template failed (%s); a cold process instead", exc)
                self.release()
                self.scratch = self.cold_scratch
                self.scratch.mkdir(parents=True, exist_ok=True)
                for path in self.data_files:
                    shutil.copyfile(path, self.scratch / path.name)
        return StudentProcess(self.scratch, self.limits, self.bwrap)

    def release(self) -> None:
        """Remove the submission's folder under the template's scratch root."""
        if self.warm is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.warm = None

    def run_cells(self, cells: list[list]) -> None:
        """Run the student's cells ``[kind, label, source]`` in its process, after the ones
        before (a crashed process is restarted and runs them all again, in order)."""
        if not cells:
            return
        self.ran.extend(cells)
        if self.proc is None:
            if self.restarts >= MAX_RESTARTS:
                return  # the tests that need these cells say why
            try:
                self._ensure()  # runs self.ran, these cells included
            except StudentCrash:
                return
            return
        try:
            self._run(cells)
        except StudentCrash:
            pass

    def _run(self, cells: list[list], record: bool = True, startup: bool = False) -> None:
        deadline = self._deadline(len(cells) + (1 if startup else 0))
        try:
            wire.send(self.proc.to_child, {"op": "cells", "cells": cells}, deadline=deadline)
            header, _ = wire.recv(self.proc.from_child, deadline)
        except (OSError, EOFError, TimeoutError, wire.WireError, KeyError) as exc:
            self._charge()
            self._died(exc, "while running the notebook's cells")
        self._charge()
        self._note_bindings(header)
        errors = header.get("errors", []) if isinstance(header, dict) else []
        if record and isinstance(errors, list):
            self.cell_errors.extend(e for e in errors[:50] if isinstance(e, dict))

    def _deadline(self, units: int = 1) -> float:
        """When the next exchange must be over: the per-call time limit (per cell when running
        cells), or the end of the notebook's whole time budget, whichever comes first."""
        self._t0 = now = time.monotonic()
        allowed = self.limits.timeout_s * max(1, units)
        left = self.budget_s - self.spent_s
        self._over_budget = left <= allowed
        return now + max(0.0, min(allowed, left))

    def _charge(self) -> None:
        self.spent_s += time.monotonic() - self._t0

    def _note_bindings(self, reply) -> None:
        gen = reply.get("gen") if isinstance(reply, dict) else None
        self.bindings = (self.restarts, gen) if type(gen) is int else None

    def _died(self, exc: BaseException, when: str):
        if isinstance(exc, TimeoutError) and self._over_budget:
            why = (
                f"the notebook used up its time budget of {self.budget_s:g} s "
                f"(all cells and calls together) {when}"
            )
            self.restarts = MAX_RESTARTS  # no time is left for a restart either
        elif isinstance(exc, TimeoutError):
            why = f"no answer within {self.limits.timeout_s:g} s {when} (time limit)"
        elif isinstance(exc, wire.WireError) and self.proc and self.proc.proc.poll() is None:
            # What the student's process sent is not repeated here: it is the student's text.
            why = f"the student's process sent something unreadable {when}"
        else:
            why = self.proc.exit_description() if self.proc else "the student's process failed"
            why = f"{why} {when}"
        self.crash = why
        self.bindings = None
        self.crash_detail = f"{type(exc).__name__}: {str(exc)[:300]}"
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
            deadline = self._deadline()
            wire.send(self.proc.to_child, {"op": "reset"}, deadline=deadline)
            wire.recv(self.proc.from_child, deadline)
            self._charge()
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
            wire.send(self.proc.to_child, header, blobs, deadline=deadline)
            while True:
                reply, rblobs = wire.recv(self.proc.from_child, deadline)
                if reply.get("op") == "callback":
                    self._serve_callback(reply, rblobs, deadline)
                    continue
                break
            self.codec.apply_updates(reply.get("updates", []), rblobs)
            if reply.get("hooks"):
                self.codec.mirror_hooks(reply["hooks"])
            warned = [
                (str(c), str(m), str(f), int(n)) for c, m, f, n in reply.get("warnings", [])[:20]
            ]
            out, err = str(reply.get("out", "")), str(reply.get("err", ""))
        except (
            OSError, EOFError, TimeoutError, wire.WireError, KeyError, TypeError, ValueError
        ) as exc:  # fmt: skip
            self._charge()
            self._died(exc, f"during a call of {label}")
        self._charge()
        self._note_bindings(reply)
        # What the student's code printed during the call goes where the kernel would have
        # put it: into the test cell's output (stderr there fails the cell, as in nbgrader).
        if out:
            sys.stdout.write(out[: wire.MAX_TEXT])
        if err:
            sys.stderr.write(err[: wire.MAX_TEXT])
        for category, message, filename, lineno in warned:
            self._replay_warning(label, category, message, filename, lineno)
        if "error" in reply:
            self.codec.forget(reply.get("dropped"))
            _raise_student_error(reply["error"])
        try:
            value = self.codec.decode_message(reply.get("value"), rblobs)
        except (wire.WireError, KeyError, TypeError, ValueError, IndexError) as exc:
            self._died(wire.WireError(str(exc)), f"returning from {label}")
        # After the value: a result the student's side let go at once is registered first.
        self.codec.forget(reply.get("dropped"))
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

    def _serve_callback(self, header: dict, blobs: list[bytes], deadline: float) -> None:
        fn = self.codec.kept.get(int(header["id"]))
        args, kwargs = wire.Codec.decode(self.codec, header["args"], blobs)
        out: list[bytes] = []
        try:
            value = fn(*args, **kwargs)
            reply = {"op": "callback_result", "value": wire.Codec.encode(self.codec, value, out)}
        except Exception as exc:  # the test's own function failed on the student's input
            reply = {"op": "callback_result", "error": f"{type(exc).__name__}: {exc}"[:500]}
        wire.send(self.proc.to_child, reply, out, deadline=deadline)

    def assign(self, name: str, value: Handle) -> None:
        """A test binds a name to one of the student's objects (``squares = orig_squares``):
        the student's namespace gets the binding too, as in a kernel."""
        self._ensure()
        self.codec.begin()
        blobs: list[bytes] = []
        header = {"op": "set", "name": name, "value": self.codec.encode(value, blobs)}
        self._exchange(header, blobs, f"{name} = ...")

    def delete(self, name: str) -> None:
        """``del name`` in a test: the name goes from the student's namespace (as in a kernel,
        where tests and answers share one)."""
        self._ensure()
        self._exchange({"op": "del", "name": name}, [], f"del {name}")

    def close(self) -> None:
        if self.proc is not None:
            try:
                wire.send(self.proc.to_child, {"op": "exit"}, deadline=time.monotonic() + 1)
            except (OSError, TimeoutError):
                pass
            self.proc.kill()
            self.proc = None
        self.release()
