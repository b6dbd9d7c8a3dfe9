"""Values cross the wire as exact copies; nothing crossing it can run code in the grader."""

from __future__ import annotations

import os

import numpy as np
import pytest

from grader import wire

codec = wire.Codec()


def _roundtrip(value):
    blobs: list[bytes] = []
    return codec.decode(codec.encode(value, blobs), blobs)


def _readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


ARRAYS = {
    "0-d": np.array(3.5),
    "0-d view": np.zeros(1).reshape(()),
    "float32 4-d": np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5),
    "transposed": np.arange(6.0).reshape(2, 3).T,
    "reversed slice": np.arange(12.0).reshape(3, 4)[:, ::-2],
    "broadcast": np.broadcast_to(np.arange(3.0), (4, 3)),
    "read-only": _readonly(np.arange(4.0)),
    "bool": np.array([True, False]),
    "int": np.arange(5),
    "empty": np.zeros((0, 3)),
}


@pytest.mark.parametrize("name", ARRAYS)
def test_arrays_keep_values_shape_dtype_strides_and_flags(name):
    x = ARRAYS[name]
    y = _roundtrip(x)
    assert isinstance(y, np.ndarray), f"{name}: got {type(y)}"
    assert (y.shape, y.dtype) == (x.shape, x.dtype), f"{name}: {y.shape} {y.dtype}"
    assert np.array_equal(x, y), f"{name}: values changed"
    assert y.strides == x.strides or x.flags.c_contiguous, f"{name}: strides {y.strides}"
    assert y.flags.writeable == x.flags.writeable, f"{name}: writeable flag lost"


def test_containers_scalars_and_generators_cross():
    rng = np.random.default_rng(7)
    value = (1, 2.5, True, None, "s", [np.float32(1.5)], {"a": np.int64(3)}, rng, np.float64(2))
    back = _roundtrip(value)
    assert back[:5] == (1, 2.5, True, None, "s") and type(back[2]) is bool
    assert back[5][0] == np.float32(1.5) and back[5][0].dtype == np.float32
    assert back[6] == {"a": 3}
    assert back[7].uniform(size=3).tolist() == rng.uniform(size=3).tolist(), "rng state lost"
    assert type(back[8]) is np.float64, "np.float64 (a float subclass) must stay np.float64"


def test_other_objects_stay_behind_as_references():
    ref = _roundtrip(object())
    assert isinstance(ref, wire.Ref), f"got {type(ref)}"
    assert isinstance(_roundtrip(np.array([object()])), wire.Ref), "object arrays must not cross"


@pytest.mark.parametrize(
    "data, blobs",
    [
        ({"nd": 0, "ro": False}, [b"not an npy file"]),
        ({"nd": 0, "ro": False, "view": [0, [100], [8]]}, None),  # view outside its data
        ({"rng": ["os.system", {}]}, []),
        ({"pickle": "x"}, []),
    ],
)
def test_malformed_values_are_refused(data, blobs):
    if blobs is None:
        blobs = []
        codec.encode(np.zeros(3), blobs)
    with pytest.raises(wire.WireError):
        codec.decode(data, blobs)


def test_pickled_arrays_are_refused():
    import io

    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(wire.WireError):
        codec.decode({"nd": 0, "ro": False}, [buf.getvalue()])


def test_messages_roundtrip_and_oversized_ones_are_refused(monkeypatch):
    r, w = os.pipe()
    wire.send(w, {"op": "x", "v": 1}, [b"abc"])
    assert wire.recv(r) == ({"op": "x", "v": 1, "nblobs": 1}, [b"abc"])
    monkeypatch.setattr(wire, "MAX_MESSAGE_BYTES", 10)
    wire.send(w, {"op": "a long header"})
    with pytest.raises(wire.WireError):
        wire.recv(r)


def test_a_silent_peer_times_out():
    import time

    r, _w = os.pipe()
    with pytest.raises(TimeoutError):
        wire.recv(r, deadline=time.monotonic() + 0.2)
