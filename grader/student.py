"""The student's side of the wire: runs inside the sandbox, in a fresh ``python -I``.

It executes the setup cell and the student's answer cells, then serves calls of the answer
functions from the grader until told to stop. It decides nothing: every check runs in the
grader, on copies of what the functions returned. Started by :mod:`grader.sandbox` as::

    python -I -c "import sys; sys.path.insert(0, ROOT); from grader.student import main; main()" \
        FD_IN FD_OUT
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import traceback
import types
import warnings

import numpy as np

from grader import wire

#: Longest exception or warning text sent back (a student's message can be huge).
MAX_TEXT = wire.MAX_TEXT


class _Capped(io.StringIO):
    """Collects what the student's code prints, up to MAX_TEXT characters."""

    def write(self, s) -> int:
        s = str(s)
        room = MAX_TEXT - self.tell()
        if room > 0:
            super().write(s[:room])
        return len(s)


class _Callback:
    """A function of the grader's test code, called back over the wire."""

    def __init__(self, server: Server, ref_id: int):
        self._server, self._id = server, ref_id

    def __call__(self, *args, **kwargs):
        return self._server.call_back(self._id, args, kwargs)


class _StudentCodec(wire.Codec):
    def __init__(self, server: Server):
        super().__init__()
        self.server = server
        #: While encoding a result: arrays and tensors sent become twins (ids below zero).
        self.returning = False
        self._kept_ids: dict[int, int] = {}
        #: Modules rebuilt from the grader's snapshots in the message being read, by node id.
        self.module_memo: dict[int, object] = {}
        self._blobs: list[bytes] = []

    def keep_once(self, value: object) -> int:
        ref_id = self._kept_ids.get(id(value))
        if ref_id is None or self.kept.get(ref_id) is not value:
            ref_id = self._kept_ids[id(value)] = self.keep(value)
        return ref_id

    def encode(self, value, blobs):
        data = super().encode(value, blobs)
        if self.returning and isinstance(data, dict) and ("nd" in data or "tensor" in data):
            self.server.returned += 1
            twin_id = -self.server.returned
            self.server.twins[twin_id] = (value, wire.digest(value))
            data["twin"] = twin_id
        return data

    def decode(self, data, blobs):
        value = super().decode(data, blobs)
        if isinstance(data, dict) and "twin" in data and ("nd" in data or "tensor" in data):
            self.server.twins[int(data["twin"])] = (value, wire.digest(value))
            if "tensor" in data and value.requires_grad:
                self.server.leaves.append(value)
        return value

    def encode_module(self, module, blobs, memo=None):
        from grader import torchwire

        memo = {} if memo is None else memo
        data = torchwire.snapshot(
            module,
            lambda t: self.encode(t, blobs),
            lambda child: self.encode_module(child, blobs, memo),
            memo,
        )
        if "module" in data:
            data["module"]["ref"] = self.keep_once(module)
        return data

    def encode_other(self, value):
        if isinstance(value, types.ModuleType):
            return {"modname": str(getattr(value, "__name__", ""))[:200]}
        data = {"ref": self.keep_once(value)}
        if isinstance(value, types.FunctionType):
            # Its name only: facts about a function's code come from the submission's source,
            # which the grader holds, never from this process (grader/README.md).
            data["fn"] = {"name": str(value.__name__)[:200]}
        elif isinstance(value, type):
            data["cls"] = str(value.__name__)[:200]
        return data

    def decode_other(self, data: dict) -> object:
        if "ref" in data:
            try:
                return self.kept[int(data["ref"])]
            except KeyError:
                raise wire.WireError(f"no value #{data['ref']}") from None
        if "cb" in data:
            return _Callback(self.server, int(data["cb"]))
        if "twinref" in data:
            try:
                return self.server.twins[int(data["twinref"])][0]
            except KeyError:
                raise wire.WireError(f"no array #{data['twinref']}") from None
        if "sname" in data:
            return self.server.lookup(str(data["sname"]))
        if "module" in data or "mtwin" in data or "mref" in data:
            return self.server.module_twin(data, lambda d: self.decode(d, self._blobs))
        raise wire.WireError("unknown value")

    def decode_message(self, data, blobs):
        self._blobs, self.module_memo = blobs, {}
        return self.decode(data, blobs)


def _copy_into(target, new) -> None:
    if isinstance(target, np.ndarray):
        if isinstance(new, np.ndarray) and new.shape == target.shape and target.flags.writeable:
            np.copyto(target, new, casting="unsafe")
        return
    import torch

    if isinstance(new, torch.Tensor) and new.shape == target.shape:
        # Through .data: the graphs kept for the grader still hold this tensor, and the tests
        # change values in place the same way (gradcheck perturbs its input so).
        target.data.copy_(new)


def _describe(exc: BaseException) -> dict:
    frames = traceback.extract_tb(exc.__traceback__)
    where = [f"{f.name}, line {f.lineno}" for f in frames if f.filename.startswith("<cell")]
    try:
        message = str(exc)[:MAX_TEXT]
    except Exception:  # a student's exception whose __str__ raises
        message = ""
    bases = [c.__name__ for c in type(exc).__mro__[1:] if c.__module__ == "builtins"]
    return {
        "type": type(exc).__name__,
        "bases": bases[:20],
        "message": message,
        "where": where[-3:],
    }


def _chain_refcounts(twins: dict, twin_id) -> list[int]:
    """The reference counts of a twin's array and of each object under it (its ``base``
    chain), as seen from here; an empty list for a chain longer than 32 links or one whose
    ``base`` cannot be read (a result's chain may hold the student's own objects)."""
    value = twins[twin_id][0]
    counts = [sys.getrefcount(value)]
    base = value.base
    del value
    while base is not None:
        if len(counts) > 32:
            return []
        counts.append(sys.getrefcount(base))
        try:
            base = getattr(base, "base", None)
        except Exception:  # noqa: BLE001  (a student's object whose base raises)
            return []
    return counts


def _private_counts() -> tuple[int, int]:
    """The counts :func:`_chain_refcounts` gives for an array held by its table entry only,
    and for a link of its chain held by the link above only."""
    table = {0: (np.frombuffer(bytearray(16), np.float64).reshape(2)[::-1], b"")}
    counts = _chain_refcounts(table, 0)
    return counts[0], counts[1]


_PRIVATE_HEAD, _PRIVATE_LINK = _private_counts()


def _held_by_table_only(twins: dict, twin_id, entries: int) -> bool:
    """Whether nothing in this process but the twin table (``entries`` of its entries) can
    reach the twin's numpy array or the memory under it: no reference to the array or to any
    object of its base chain (a view, a buffer) other than the chain's own. Such an array
    cannot change any more. Torch tensors are always kept (a tensor can share memory without
    a reference)."""
    if type(twins[twin_id][0]) is not np.ndarray:
        return False
    counts = _chain_refcounts(twins, twin_id)
    if not counts:
        return False
    head, *links = counts
    return head == _PRIVATE_HEAD + entries - 1 and all(n == _PRIVATE_LINK for n in links)


class Server:
    def __init__(self, fd_in: int, fd_out: int):
        self.fd_in, self.fd_out = fd_in, fd_out
        self.codec = _StudentCodec(self)
        self.namespace: dict = {"__name__": "__main__"}
        #: Values shared with the grader: twin id -> (array or tensor, digest when last synced).
        self.twins: dict[int, tuple[object, bytes]] = {}
        #: How many arrays and tensors results have sent (their twin ids are -1, -2, ...).
        self.returned = 0
        #: Tensors from the grader that require grad, in the order the current message had them.
        self.leaves: list = []
        #: Gradient graphs kept for the grader: id -> (outputs, leaves).
        self.graphs: dict[int, tuple[list, list]] = {}
        #: Modules rebuilt from the grader's snapshots: twin id -> root module.
        self.mtwins: dict[int, object] = {}
        #: The forward hooks last reported for each module twin.
        self.hooks_seen: dict[int, list] = {}
        #: How many times the namespace's bindings have changed, and the bindings last seen.
        self.generation = 0
        self._bindings: list = []

    def bindings_generation(self) -> int:
        """A number that changes whenever a name of the namespace is bound to another object,
        bound or deleted (compared by identity; the old objects are held, so no id is reused).
        Every reply carries it: the grader looks a name up again only when it changed."""
        now = list(self.namespace.items())
        seen = self._bindings
        if len(now) != len(seen) or any(
            a is not b or k != j for (k, a), (j, b) in zip(now, seen, strict=True)
        ):
            self.generation += 1
            self._bindings = now
        return self.generation

    def lookup(self, name: str):
        if name not in self.namespace:
            raise NameError(f"name {name!r} is not defined: run its answer cell")
        return self.namespace[name]

    def module_twin(self, data: dict, decode):
        """A module the grader sent (a snapshot of genuine torch.nn modules) or named."""
        from grader import torchwire

        if "mref" in data:
            return self.codec.module_memo[int(data["mref"])]
        if "module" not in data:
            root = self.mtwins[int(data["mtwin"])]
            return root.get_submodule(str(data.get("path", "")))
        node = data["module"]
        if len(self.codec.module_memo) >= torchwire.MAX_MODULES:
            raise wire.WireError("too many modules")
        module = torchwire.build_module(node, torchwire.genuine_class(node["cls"]), decode, decode)
        self.codec.module_memo[int(node["id"])] = module
        if "mtwin" in data:
            self.mtwins[int(data["mtwin"])] = module
        return module

    def _changed_twins(self, blobs: list[bytes]) -> tuple[list, list]:
        """The shared values changed in place since last synced (sent back as updates), and
        the numpy twins nothing here can reach any more (dropped: nothing can change them
        again, so they are neither hashed again nor kept; the grader forgets them too)."""
        updates, dropped = [], []
        for twin_id in list(self.twins):
            value, digest = self.twins[twin_id]
            now = wire.digest(value)
            if now != digest:
                self.twins[twin_id] = (value, now)
                copy = np.array(value) if isinstance(value, np.ndarray) else value.detach().clone()
                updates.append([twin_id, self.codec.encode(copy, blobs)])
            del value
        # One array can be twinned twice (an argument returned as a result): each entry holds it.
        entries: dict[int, list] = {}
        for twin_id in self.twins:
            entries.setdefault(id(self.twins[twin_id][0]), []).append(twin_id)
        for ids in entries.values():
            if _held_by_table_only(self.twins, ids[0], len(ids)):
                for twin_id in ids:
                    del self.twins[twin_id]
                dropped += ids
        return updates, dropped

    def _hook_changes(self) -> list:
        changes = []
        for mid, root in self.mtwins.items():
            state = [
                [path, int(key), self.codec.keep_once(hook)]
                for path, module in root.named_modules()
                for key, hook in module._forward_hooks.items()
            ]
            if state != self.hooks_seen.get(mid, []):
                self.hooks_seen[mid] = state
                changes.append([mid, state])
        return changes

    def call_back(self, ref_id: int, args: tuple, kwargs: dict):
        blobs: list[bytes] = []
        payload = self.codec.encode([list(args), kwargs], blobs)
        wire.send(self.fd_out, {"op": "callback", "id": ref_id, "args": payload}, blobs)
        header, blobs = wire.recv(self.fd_in)
        if header.get("op") != "callback_result":
            raise wire.WireError("expected a callback result")
        if "error" in header:
            raise RuntimeError(f"the grader's test function failed: {header['error']}")
        return self.codec.decode_message(header["value"], blobs)

    # The steps.
    def run_cells(self, cells: list[list]) -> list[dict]:
        errors = []
        for kind, label, source in cells:
            try:
                code = compile(source, f"<cell {label}>", "exec")
                with contextlib.redirect_stdout(_Capped()), contextlib.redirect_stderr(_Capped()):
                    exec(code, self.namespace)
            except BaseException as exc:  # the student's code may raise anything
                if isinstance(exc, KeyboardInterrupt | SystemExit):
                    exc = RuntimeError(f"{type(exc).__name__} raised while defining the answers")
                errors.append({"cell": str(label)[:100], "kind": kind, **_describe(exc)})
        return errors

    def _before(self, header: dict, blobs: list[bytes]) -> None:
        """Take over what changed on the grader's side: shared values, random state."""
        for twin_id, data in header.get("pushes", []):
            entry = self.twins.get(int(twin_id))
            if entry is not None:
                _copy_into(entry[0], self.codec.decode_message(data, blobs))
                self.twins[int(twin_id)] = (entry[0], wire.digest(entry[0]))
        if "rng" in header:
            from grader import torchwire

            torchwire.set_rng_state(self.codec.decode_message(header["rng"], blobs))

    def _contexts(self, stack: contextlib.ExitStack, header: dict, blobs: list[bytes]) -> None:
        """Enter the setup cell's context managers the test is inside of, here too."""
        for name, data in header.get("ctx", []):
            args, kwargs = self.codec.decode_message(data, blobs)
            stack.enter_context(self.lookup(str(name))(*args, **kwargs))
        if "grad" in header:
            import torch

            stack.enter_context(torch.set_grad_enabled(bool(header["grad"])))

    def _target(self, header: dict, blobs: list[bytes]):
        target = header["target"]
        if "sname" in target:
            value = self.lookup(str(target["sname"]))
        else:
            value = self.codec.decode_message(target, blobs)
        for path, training in header.get("train", []):  # train()/eval() as set in the grader
            value.get_submodule(str(path)).training = bool(training)
        if header.get("attr"):
            value = getattr(value, str(header["attr"]))
        return value

    def _extra_leaves(self, header: dict) -> None:
        """Parameters of the modules in the call that require grad (named by the grader)."""
        for kind, key, name in header.get("params", []):
            root = self.codec.kept[int(key)] if kind == "ref" else self.mtwins[int(key)]
            self.leaves.append(root.get_parameter(str(name)))

    def _keep_graph(self, value, reply: dict) -> None:
        from grader import torchwire

        outputs = torchwire.flat_tensors(value)
        diff = [bool(t.requires_grad) for t in outputs]
        if self.leaves and any(diff):
            graph = len(self.graphs) + 1
            kept = [t for t, d in zip(outputs, diff, strict=True) if d]
            self.graphs[graph] = (kept, list(self.leaves))
            reply["graph"], reply["diff"] = graph, diff

    def _backward(self, header: dict, blobs: list[bytes]):
        import torch

        outputs, leaves = self.graphs[int(header["graph"])]
        grads = self.codec.decode_message(header["grads"], blobs)
        return list(
            torch.autograd.grad(outputs, leaves, grads, retain_graph=True, allow_unused=True)
        )

    def call(self, header: dict, blobs: list[bytes]) -> None:
        value = args = kwargs = fn = bound = None
        out_blobs: list[bytes] = []
        reply: dict = {"op": "result"}
        self.leaves = []
        out, err = _Capped(), _Capped()
        with (
            warnings.catch_warnings(record=True) as caught,
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            warnings.simplefilter("always")
            try:
                self._before(header, blobs)
                with contextlib.ExitStack() as stack:
                    self._contexts(stack, header, blobs)
                    if header["op"] == "backward":
                        value = self._backward(header, blobs)
                    elif header["op"] == "set":
                        value = None
                        bound = self.codec.decode_message(header["value"], blobs)
                        self.namespace[str(header["name"])] = bound
                    elif header["op"] == "del":
                        value = None
                        if str(header.get("name")) not in self.namespace:
                            raise NameError(f"name {header.get('name')!r} is not defined")
                        del self.namespace[str(header["name"])]
                    else:
                        fn = self._target(header, blobs)
                        if header.get("get"):
                            value = fn
                        else:
                            args, kwargs = self.codec.decode_message(header["args"], blobs)
                            self._extra_leaves(header)
                            value = fn(*args, **kwargs)
                            if header.get("grad"):
                                self._keep_graph(value, reply)
                self.codec.returning = True
                try:
                    reply["value"] = self.codec.encode(value, out_blobs)
                finally:
                    self.codec.returning = False
            except BaseException as exc:  # reported to the grader, which re-raises it there
                reply.pop("graph", None)
                reply["error"] = _describe(exc)
        reply["warnings"] = [
            [w.category.__name__, str(w.message)[:MAX_TEXT], str(w.filename), int(w.lineno)]
            for w in caught[:20]
        ]
        reply["out"], reply["err"] = out.getvalue(), err.getvalue()
        value = args = kwargs = fn = bound = None  # the call's own frame holds no copy any more
        reply["updates"], reply["dropped"] = self._changed_twins(out_blobs)
        if self.mtwins:
            reply["hooks"] = self._hook_changes()
        reply["gen"] = self.bindings_generation()
        wire.send(self.fd_out, reply, out_blobs)

    def serve(self) -> None:
        while True:
            header, blobs = wire.recv(self.fd_in)
            op = header.get("op")
            if op == "cells":
                errors = self.run_cells(header["cells"])
                reply = {"op": "ready", "errors": errors, "gen": self.bindings_generation()}
                wire.send(self.fd_out, reply)
            elif op in ("call", "backward", "del", "set"):
                self.call(header, blobs)
            elif op == "reset":
                self.twins.clear()
                self.graphs.clear()
                self.mtwins.clear()
                self.hooks_seen.clear()
                wire.send(self.fd_out, {"op": "ready", "errors": []})
            elif op == "exit":
                return
            else:
                raise wire.WireError("unknown operation")


def _drop_privileges() -> None:
    """Become an unprivileged user when the sandbox asks for it (the grader runs as root)."""
    uid = os.environ.get("RELU_SANDBOX_UID")
    if uid and os.getuid() == 0:
        os.setgroups([])
        os.setgid(int(uid))
        os.setuid(int(uid))


def main() -> None:
    _drop_privileges()
    fd_in, fd_out = int(sys.argv[1]), int(sys.argv[2])
    Server(fd_in, fd_out).serve()


if __name__ == "__main__":
    main()
