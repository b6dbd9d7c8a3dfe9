"""The student's side of the wire: runs inside the sandbox, in a fresh ``python -I``.

It executes the setup cell and the student's answer cells, then serves calls of the answer
functions from the grader until told to stop. It decides nothing: every check runs in the
grader, on copies of what the functions returned. Started by :mod:`grader.sandbox` as::

    python -I -c "import sys; sys.path.insert(0, ROOT); from grader.student import main; main()" \
        FD_IN FD_OUT
"""

from __future__ import annotations

import hashlib
import os
import sys
import traceback
import warnings

import numpy as np

from grader import wire

#: Longest exception or warning text sent back (a student's message can be huge).
MAX_TEXT = 2000


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
        raise wire.WireError(f"unknown value {str(data)[:80]}")


def _digest(arr: np.ndarray) -> bytes:
    return hashlib.blake2b(arr.tobytes(), digest_size=16).digest()


def _arrays_with_specs(value, data):
    """Each array inside ``value`` with its encoded form inside ``data`` (walked together)."""
    if not isinstance(data, dict):
        return
    if isinstance(value, np.ndarray) and "nd" in data:
        yield value, data
    elif isinstance(value, tuple | list):
        for v, d in zip(value, data.get("tuple", data.get("list", [])), strict=False):
            yield from _arrays_with_specs(v, d)
    elif isinstance(value, dict) and "dict" in data:
        for v, (_, d) in zip(value.values(), data["dict"], strict=False):
            yield from _arrays_with_specs(v, d)


def _describe(exc: BaseException) -> dict:
    frames = traceback.extract_tb(exc.__traceback__)
    where = [f"{f.name}, line {f.lineno}" for f in frames if f.filename.startswith("<answer")]
    return {"type": type(exc).__name__, "message": str(exc)[:MAX_TEXT], "where": where[-3:]}


class Server:
    def __init__(self, fd_in: int, fd_out: int):
        self.fd_in, self.fd_out = fd_in, fd_out
        self.codec = _StudentCodec(self)
        self.namespace: dict = {"__name__": "__main__"}
        #: Arrays shared with the grader: twin id -> (array, digest when last synchronised).
        self.twins: dict[int, tuple[np.ndarray, bytes]] = {}

    # Values in and out. Arrays from the grader become twins: changes are reported back.
    def _decode(self, data, blobs):
        value = self.codec.decode(data, blobs)
        self._twin_arrays(value, data)
        return value

    def _twin_arrays(self, value, data) -> None:
        for arr, spec in _arrays_with_specs(value, data):
            if "twin" in spec:
                self.twins[int(spec["twin"])] = (arr, _digest(arr))

    def _changed_twins(self, blobs: list[bytes]) -> list:
        updates = []
        for twin_id, (arr, digest) in self.twins.items():
            now = _digest(arr)
            if now != digest:
                self.twins[twin_id] = (arr, now)
                updates.append([twin_id, self.codec.encode(np.array(arr), blobs)])
        return updates

    def call_back(self, ref_id: int, args: tuple, kwargs: dict):
        blobs: list[bytes] = []
        payload = self.codec.encode([list(args), kwargs], blobs)
        wire.send(self.fd_out, {"op": "callback", "id": ref_id, "args": payload}, blobs)
        header, blobs = wire.recv(self.fd_in)
        if header.get("op") != "callback_result":
            raise wire.WireError("expected a callback result")
        if "error" in header:
            raise RuntimeError(f"the grader's test function failed: {header['error']}")
        return self.codec.decode(header["value"], blobs)

    # The steps.
    def run_cells(self, cells: list[list]) -> list[dict]:
        errors = []
        for kind, index, source in cells:
            try:
                code = compile(source, f"<{kind} cell {index}>", "exec")
                exec(code, self.namespace)
            except BaseException as exc:  # the student's code may raise anything
                if isinstance(exc, KeyboardInterrupt | SystemExit):
                    exc = RuntimeError(f"{type(exc).__name__} raised while defining the answers")
                errors.append({"cell": index, "kind": kind, **_describe(exc)})
        return errors

    def call(self, header: dict, blobs: list[bytes]) -> None:
        name = header["name"]
        out_blobs: list[bytes] = []
        reply: dict = {"op": "result"}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                fn = self.namespace.get(name) if isinstance(name, str) else None
                if fn is None:
                    raise NameError(f"name {name!r} is not defined: run its answer cell")
                args, kwargs = self._decode(header["args"], blobs)
                value = fn(*args, **kwargs)
                reply["value"] = self.codec.encode(value, out_blobs)
                self._twin_returned(value, reply["value"])
            except BaseException as exc:  # reported to the grader, which re-raises it there
                reply["error"] = _describe(exc)
        reply["warnings"] = [
            [w.category.__name__, str(w.message)[:MAX_TEXT], str(w.filename), int(w.lineno)]
            for w in caught[:20]
        ]
        reply["updates"] = self._changed_twins(out_blobs)
        wire.send(self.fd_out, reply, out_blobs)

    def _twin_returned(self, value, data) -> None:
        """Arrays returned to the grader are twins too (a cache may alias them later)."""
        for arr, spec in _arrays_with_specs(value, data):
            twin_id = -(len(self.twins) + 1)
            self.twins[twin_id] = (arr, _digest(arr))
            spec["twin"] = twin_id

    def serve(self) -> None:
        while True:
            header, blobs = wire.recv(self.fd_in)
            op = header.get("op")
            if op == "cells":
                errors = self.run_cells(header["cells"])
                wire.send(self.fd_out, {"op": "ready", "errors": errors})
            elif op == "call":
                self.call(header, blobs)
            elif op == "reset":
                self.twins.clear()
                wire.send(self.fd_out, {"op": "ready", "errors": []})
            elif op == "exit":
                return
            else:
                raise wire.WireError(f"unknown operation {op!r}")


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
