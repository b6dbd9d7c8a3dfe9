"""The wire between the trusted grader and the sandboxed student process.

Messages are a JSON header followed by binary blobs, over a pipe. Values cross by copy:
numbers, strings, ``None``, tuples, lists, dicts, numpy arrays (saved with ``np.save``
and read back with ``allow_pickle=False``, keeping dtype, shape, strides, read-only and
broadcast views), numpy random generators (by their state) and, where torch is loaded,
tensors and modules (see :mod:`grader.torchwire`). Everything else stays where it was made and
crosses as a numbered reference. Nothing is ever unpickled, so a hostile student
process can send wrong values but never run code in the grader.

This module is imported on both sides; on the student's side it needs only numpy.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import select
import struct
import sys
import time

import numpy as np

_HEADER = struct.Struct(">I")
_BLOB = struct.Struct(">Q")
#: No message may be larger: a flood from the student's side is cut off, not buffered.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def send(fd: int, header: dict, blobs: list[bytes] = ()) -> None:
    """Write one message: the header (JSON) and its blobs."""
    head = json.dumps({**header, "nblobs": len(blobs)}).encode()
    parts = [_HEADER.pack(len(head)), head]
    for blob in blobs:
        parts += [_BLOB.pack(len(blob)), blob]
    _write_all(fd, b"".join(parts))


def recv(fd: int, deadline: float | None = None) -> tuple[dict, list[bytes]]:
    """Read one message; raise :class:`WireError` if it is malformed or too large.

    With a ``deadline`` (a ``time.monotonic()`` value), raise ``TimeoutError`` once it passes.
    """
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    if size > MAX_MESSAGE_BYTES:
        raise WireError(f"message header of {size} bytes")
    try:
        header = json.loads(_read_exact(fd, size, deadline))
        count = int(header["nblobs"])
    except (ValueError, KeyError, TypeError) as exc:
        raise WireError(f"unreadable message header: {exc}") from None
    blobs, total = [], size
    for _ in range(count):
        (n,) = _BLOB.unpack(_read_exact(fd, _BLOB.size, deadline))
        total += n
        if total > MAX_MESSAGE_BYTES:
            raise WireError(f"message larger than {MAX_MESSAGE_BYTES} bytes")
        blobs.append(_read_exact(fd, n, deadline))
    return header, blobs


def _array_blob(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)  # (np.ascontiguousarray would make 0-d 1-d)
    return buf.getvalue()


def _load_blob(blob: bytes) -> np.ndarray:
    try:
        arr = np.load(io.BytesIO(blob), allow_pickle=False)
    except Exception as exc:  # numpy raises several types for bad data
        raise WireError(f"unreadable array: {exc}") from None
    if arr.dtype.kind not in _PLAIN_KINDS:
        raise WireError(f"array of dtype {arr.dtype} refused")
    return arr


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
        blobs.append(_array_blob(arr))
        return out
    # A view (transposed, sliced, broadcast): send its root and where the view sits in it.
    offset = arr.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    blobs.append(_array_blob(root))
    out["view"] = [offset, list(arr.shape), list(arr.strides)]
    return out


def _decode_array(spec: dict, blobs: list[bytes]) -> np.ndarray:
    arr = _load_blob(blobs[spec["nd"]])
    if "view" in spec:
        offset, shape, strides = spec["view"]
        itemsize = arr.dtype.itemsize
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
            raise WireError(f"unknown value {str(data)[:80]}")
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
        raise WireError(f"unknown value {str(data)[:80]}")
