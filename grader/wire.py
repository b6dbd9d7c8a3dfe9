"""The wire between the trusted grader and the sandboxed student process.

Messages are a JSON header followed by binary blobs, over a pipe. Values cross by copy:
numbers, strings, ``None``, tuples, lists, dicts, numpy arrays (their raw bytes, with a dtype of
a plain numeric kind and a shape that must account for every byte; dtype, shape, order,
strides, read-only and broadcast views are kept), numpy random generators (by their state)
and, where torch is loaded, tensors and modules (see :mod:`grader.torchwire`). Everything else
stays where it was made and crosses as a numbered reference. Nothing is ever unpickled, so a
hostile student process can send wrong values but never run code in the grader.

This module is imported on both sides; on the student's side it needs only numpy.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import select
import struct
import sys
import time

import numpy as np

_HEADER = struct.Struct(">I")
_BLOB = struct.Struct(">Q")
#: No message may be larger: a flood from the student's side is cut off, not buffered.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
#: No JSON header may be larger, or nest deeper (json would raise RecursionError first).
MAX_HEADER_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64
#: No decoded array may hold more elements, or span more bytes, than these (a stride-0 view
#: of one number is tiny on the wire and huge once copied).
MAX_ELEMENTS = 64 * 1024 * 1024
MAX_ARRAY_BYTES = 512 * 1024 * 1024
#: No container may hold more items (a list of a million Nones is small JSON).
MAX_ITEMS = 1_000_000
#: Longest text (an exception message, printed output) taken from the student's side.
MAX_TEXT = 2000
_PLAIN_KINDS = set("biufc")


class WireError(Exception):
    """A malformed or oversized message (from the other side of the pipe)."""


class Ref:
    """A value that stays on the other side; ``id`` names it there."""

    __slots__ = ("id",)

    def __init__(self, ref_id: int):
        self.id = ref_id

    def __repr__(self) -> str:
        return f"<value #{self.id} held by the student process>"


def _read_exact(fd: int, n: int, deadline: float | None = None) -> bytes:
    chunks, left = [], n
    while left:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError("no answer from the other side in time")
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes, deadline: float | None = None) -> None:
    view = memoryview(data)
    while view:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([], [fd], [], remaining)[1]:
                raise TimeoutError("the other side stopped reading")
            # A pipe that is writable takes at least PIPE_BUF bytes without blocking.
            view = view[os.write(fd, view[: select.PIPE_BUF]) :]
        else:
            view = view[os.write(fd, view) :]


def send(fd: int, header: dict, blobs: list[bytes] = (), deadline: float | None = None) -> None:
    """Write one message: the header (JSON) and its blobs.

    With a ``deadline``, raise ``TimeoutError`` once it passes (a reader that stopped reading
    cannot block the writer for ever).
    """
    head = json.dumps({**header, "nblobs": len(blobs)}).encode()
    parts = [_HEADER.pack(len(head)), head]
    for blob in blobs:
        parts += [_BLOB.pack(len(blob)), blob]
    _write_all(fd, b"".join(parts), deadline)


def _check_depth(raw: bytes) -> None:
    """Refuse JSON nested deeper than MAX_DEPTH before parsing it."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return  # so few brackets cannot nest deeper
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                raise WireError(f"message nested deeper than {MAX_DEPTH} levels")
        elif byte in (0x5D, 0x7D):
            depth -= 1


def recv(fd: int, deadline: float | None = None) -> tuple[dict, list[bytes]]:
    """Read one message; raise :class:`WireError` if it is malformed or too large.

    With a ``deadline`` (a ``time.monotonic()`` value), raise ``TimeoutError`` once it passes.
    """
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    if size > MAX_HEADER_BYTES:
        raise WireError(f"message header of {size} bytes")
    raw = _read_exact(fd, size, deadline)
    _check_depth(raw)
    try:
        header = json.loads(raw)
        count = int(header["nblobs"])
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise WireError(f"unreadable message header: {type(exc).__name__}") from None
    if not isinstance(header, dict) or not 0 <= count <= 100_000:
        raise WireError("unreadable message header")
    blobs, total = [], size
    for _ in range(count):
        (n,) = _BLOB.unpack(_read_exact(fd, _BLOB.size, deadline))
        total += n
        if total > MAX_MESSAGE_BYTES:
            raise WireError(f"message larger than {MAX_MESSAGE_BYTES} bytes")
        blobs.append(_read_exact(fd, n, deadline))
    return header, blobs


#: The dtypes an array may cross with: byte order, kind (bool, int, uint, float, complex), size.
_DTYPE = re.compile(r"[<>|=][biufc](1|2|4|8|16)")


def _array_blob(arr: np.ndarray) -> tuple[dict, bytes]:
    """An array's raw bytes and what reading them back needs: dtype, shape and order (a
    Fortran-ordered array stays Fortran-ordered, as ``np.save`` keeps it)."""
    fortran = arr.ndim > 1 and arr.flags.f_contiguous and not arr.flags.c_contiguous
    data = arr.T.tobytes() if fortran else arr.tobytes()
    return {"dt": arr.dtype.str, "sh": list(arr.shape), "f": fortran}, data


def _load_blob(spec: dict, blob: bytes) -> np.ndarray:
    """The array ``spec`` and ``blob`` describe, writeable, after checking that they agree."""
    try:
        dt, shape, fortran = spec["dt"], spec["sh"], bool(spec.get("f"))
        if not isinstance(dt, str) or not _DTYPE.fullmatch(dt) or not isinstance(shape, list):
            raise ValueError
        dtype = np.dtype(dt)
        if len(shape) > 32:
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise WireError("unreadable array") from None
    _check_size(shape, dtype.itemsize)
    count = 1
    for n in shape:
        count *= n
    if count * dtype.itemsize != len(blob):
        raise WireError("array data of the wrong length")
    flat = np.frombuffer(bytearray(blob), dtype)
    return flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)


def _check_size(shape, itemsize: int) -> None:
    count = 1
    for n in shape:
        if not isinstance(n, int) or n < 0:
            raise WireError("bad array shape")
        count *= n
    if count > MAX_ELEMENTS or count * itemsize > MAX_ARRAY_BYTES:
        raise WireError(f"array of {count} elements is larger than the grader accepts")


def _root(arr: np.ndarray) -> np.ndarray:
    while isinstance(arr.base, np.ndarray):
        arr = arr.base
    return arr


def digest(value) -> bytes:
    """A short hash of an array's or tensor's values, to notice in-place changes."""
    if not isinstance(value, np.ndarray):
        from grader.torchwire import as_numpy

        value = as_numpy(value)
    return hashlib.blake2b(value.tobytes(), digest_size=16).digest()


def _encode_array(arr: np.ndarray, blobs: list[bytes]) -> dict:
    out = {"nd": len(blobs), "ro": not arr.flags.writeable}
    root = _root(arr)
    if arr.flags.c_contiguous or root is arr or not root.flags.c_contiguous:
        layout, data = _array_blob(arr)
        blobs.append(data)
        return {**out, **layout}
    # A view (transposed, sliced, broadcast): send its root and where the view sits in it.
    offset = arr.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    layout, data = _array_blob(root)
    blobs.append(data)
    out["view"] = [offset, list(arr.shape), list(arr.strides)]
    return {**out, **layout}


def _decode_array(spec: dict, blobs: list[bytes]) -> np.ndarray:
    try:
        arr = _load_blob(spec, blobs[spec["nd"]])
    except (IndexError, TypeError, KeyError):
        raise WireError("missing array data") from None
    if "view" in spec:
        try:
            offset, shape, strides = spec["view"]
            shape, strides = [int(n) for n in shape], [int(s) for s in strides]
            offset = int(offset)
        except (TypeError, ValueError):
            raise WireError("bad array view") from None
        if len(shape) != len(strides) or len(shape) > 32:
            raise WireError("bad array view")
        itemsize = arr.dtype.itemsize
        _check_size(shape, itemsize)
        if offset % itemsize or offset < 0:
            raise WireError("misaligned array view")
        # Bounds-check the view against the root before building it.
        lo = offset + sum(min(0, s * (n - 1)) for s, n in zip(strides, shape, strict=True))
        hi = offset + sum(max(0, s * (n - 1)) for s, n in zip(strides, shape, strict=True))
        if 0 in shape:
            lo = hi = offset
        if lo < 0 or hi + itemsize > arr.nbytes:
            raise WireError("array view outside its data")
        arr = np.lib.stride_tricks.as_strided(
            arr.reshape(-1)[offset // itemsize :] if arr.size else arr,
            shape=shape,
            strides=strides,
            writeable=not spec["ro"],
        )
    if spec["ro"]:
        arr.flags.writeable = False
    return arr


class Codec:
    """Turns values into JSON plus blobs and back, for one side of the wire.

    ``keep`` decides what a value that cannot be copied becomes: the student's side keeps it
    and sends a :class:`Ref`; the grader's side keeps functions as callbacks.
    """

    def __init__(self) -> None:
        self.kept: dict[int, object] = {}

    def keep(self, value: object) -> int:
        ref_id = len(self.kept) + 1
        self.kept[ref_id] = value
        return ref_id

    def encode(self, value: object, blobs: list[bytes]) -> object:
        # Exact types only: np.float64 subclasses float, and must keep its dtype.
        if value is None or type(value) in (int, float, str):
            return value
        if type(value) is bool:
            return {"py": value}
        if isinstance(value, np.ndarray) and value.dtype.kind in _PLAIN_KINDS:
            return _encode_array(value, blobs)
        if isinstance(value, np.generic) and value.dtype.kind in _PLAIN_KINDS:
            return {"scalar": _encode_array(np.asarray(value), blobs)}
        if isinstance(value, tuple | list):
            items = [self.encode(v, blobs) for v in value]
            return {"tuple": items} if isinstance(value, tuple) else {"list": items}
        if isinstance(value, dict):
            return {
                "dict": [[self.encode(k, blobs), self.encode(v, blobs)] for k, v in value.items()]
            }
        if isinstance(value, np.random.Generator):
            bitgen = value.bit_generator
            return {"rng": [type(bitgen).__name__, bitgen.state]}
        if isinstance(value, Ref):
            return {"ref": value.id}
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(value, torch.Tensor):
            return self.encode_tensor(value, blobs)
        if torch is not None and isinstance(value, torch.nn.Module):
            return self.encode_module(value, blobs)
        return self.encode_other(value)

    def encode_tensor(self, value, blobs: list[bytes]) -> dict:
        from grader.torchwire import as_numpy

        return {
            "tensor": _encode_array(as_numpy(value), blobs),
            "dtype": str(value.dtype),
            "rg": bool(value.requires_grad),
        }

    def encode_module(self, value, blobs: list[bytes]) -> object:
        return self.encode_other(value)

    def encode_other(self, value: object) -> object:
        return {"ref": self.keep(value)}

    def decode(self, data: object, blobs: list[bytes]) -> object:
        if data is None or isinstance(data, bool | int | float | str):
            return data
        if not isinstance(data, dict) or len(data) == 0:
            raise WireError("unknown value")
        for key in ("tuple", "list", "dict"):
            if key in data and (not isinstance(data[key], list) or len(data[key]) > MAX_ITEMS):
                raise WireError(f"bad or oversized {key}")
        if "py" in data:
            return bool(data["py"])
        if "nd" in data:
            return _decode_array(data, blobs)
        if "scalar" in data:
            return _decode_array(data["scalar"], blobs)[()]
        if "tuple" in data:
            return tuple(self.decode(v, blobs) for v in data["tuple"])
        if "list" in data:
            return [self.decode(v, blobs) for v in data["list"]]
        if "dict" in data:
            return {self.decode(k, blobs): self.decode(v, blobs) for k, v in data["dict"]}
        if "tensor" in data:
            from grader.torchwire import tensor_from

            try:
                return tensor_from(
                    _decode_array(data["tensor"], blobs),
                    str(data["dtype"]),
                    bool(data["rg"]),
                    bool(data.get("param")),
                )
            except (KeyError, ValueError, RuntimeError, TypeError) as exc:
                raise WireError(f"unreadable tensor: {exc}") from None
        if "rng" in data:
            name, state = data["rng"]
            if name not in {"PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"}:
                raise WireError(f"unknown bit generator {name!r}")
            bitgen = getattr(np.random, name)()
            bitgen.state = state
            return np.random.Generator(bitgen)
        return self.decode_other(data)

    def decode_other(self, data: dict) -> object:
        if "ref" in data:
            return Ref(int(data["ref"]))
        raise WireError("unknown value")
