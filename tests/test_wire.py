"""Values cross the wire as exact copies; nothing crossing it can run code in the grader."""

from __future__ import annotations

import os

import numpy as np
import pytest

from grader import wire
from grader.remote import Remote
from grader.sandbox import Limits, bwrap_path

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
    "Fortran order": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    "big-endian complex": np.array([1 + 2j, -3j], dtype=">c16"),
    "uint8 3-d": np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
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


_F8 = {"nd": 0, "ro": False, "dt": "<f8"}


@pytest.mark.parametrize(
    "data, blobs",
    [
        ({"nd": 0, "ro": False}, [b"\0" * 8]),  # no dtype, no shape
        ({**_F8, "sh": [2]}, [b"\0" * 8]),  # shorter than its shape says
        ({**_F8, "sh": [1]}, [b"\0" * 16]),  # longer
        ({**_F8, "sh": [-1]}, [b"\0" * 8]),
        ({**_F8, "sh": "8"}, [b"\0" * 8]),
        ({**_F8, "sh": [8], "dt": "|O8"}, [b"\0" * 64]),  # object pointers
        ({**_F8, "sh": [1], "dt": "<M8[s]"}, [b"\0" * 8]),  # not a plain number
        ({**_F8, "sh": [1], "dt": "(1000000000,)f8"}, [b"\0" * 8]),  # a subarray dtype
        ({**_F8, "sh": [1], "dt": ["<f8"]}, [b"\0" * 8]),
        ({**_F8, "sh": [1 << 40, 1 << 40]}, [b""]),  # a size the grader refuses
        ({**_F8, "sh": [1]}, []),  # no data at all
        ({"nd": 0, "ro": False, "view": [0, [100], [8]]}, None),  # view outside its data
        ({"rng": ["os.system", {}]}, []),
        ({"pickle": "x"}, []),
    ],
)
def test_malformed_values_are_refused(data, blobs):
    if blobs is None:
        blobs = []
        data = {**codec.encode(np.zeros(3), blobs), "view": data["view"]}
    with pytest.raises(wire.WireError):
        codec.decode(data, blobs)


def test_pickled_arrays_are_refused():
    import io

    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    blob = buf.getvalue()
    for dt in ("|O8", "<f8", "|u1"):  # whatever dtype the sender claims, nothing is unpickled
        size = np.dtype("u1" if dt == "|O8" else dt).itemsize
        spec = {"nd": 0, "ro": False, "dt": dt, "sh": [len(blob) // size + 1]}
        with pytest.raises(wire.WireError):
            codec.decode(spec, [blob])
    sent = codec.encode(np.array([{"a": 1}], dtype=object), [])
    assert "nd" not in sent, "an object array must not cross as data"


def test_messages_roundtrip_and_oversized_ones_are_refused(monkeypatch):
    r, w = os.pipe()
    wire.send(w, {"op": "x", "v": 1}, [b"abc"])
    assert wire.recv(r) == ({"op": "x", "v": 1, "nblobs": 1}, [b"abc"])
    monkeypatch.setattr(wire, "MAX_HEADER_BYTES", 10)
    wire.send(w, {"op": "a long header"})
    with pytest.raises(wire.WireError):
        wire.recv(r)


def test_a_silent_peer_times_out():
    import time

    r, _w = os.pipe()
    with pytest.raises(TimeoutError):
        wire.recv(r, deadline=time.monotonic() + 0.2)


# PyTorch values (a5): tensors by copy, modules as snapshots rebuilt from torch.nn's own classes.
torch = pytest.importorskip("torch")
nn = torch.nn


def _student_to_grader(value):
    """Encode as the student's process does and decode as the grader does."""
    from grader.remote import _JudgeCodec
    from grader.student import Server

    student, grader = Server(-1, -1).codec, _JudgeCodec(None)
    blobs: list[bytes] = []
    student.returning = True
    data = student.encode(value, blobs)
    return grader.decode_message(data, blobs), grader


TENSORS = {
    "float64": torch.tensor([-1.5, 0.0, 2.0], dtype=torch.float64),
    "float32 3-d": torch.arange(24, dtype=torch.float32).reshape(2, 3, 4),
    "transposed": torch.arange(6.0).reshape(2, 3).t(),
    "bfloat16": torch.tensor([1.5, -2.0], dtype=torch.bfloat16),
    "int64": torch.arange(4),
    "bool": torch.tensor([True, False]),
    "0-d": torch.tensor(3.0),
    "requires grad": torch.ones(2, requires_grad=True),
}


@pytest.mark.parametrize("name", TENSORS)
def test_tensor_roundtrip(name):
    original = TENSORS[name]
    before = original.detach().clone()
    copy = _roundtrip(original)
    assert isinstance(copy, torch.Tensor) and copy.dtype == original.dtype
    assert copy.shape == original.shape and copy.stride() == original.stride()
    assert copy.requires_grad == original.requires_grad and copy.grad_fn is None
    assert torch.equal(copy.detach(), original.detach())
    copy.detach().zero_()  # its own memory
    assert torch.equal(original.detach(), before)


def test_module_snapshot_rebuilds_torch_nn_classes():
    shared = nn.ReLU()
    net = nn.Sequential(nn.Linear(3, 4), shared, nn.Conv1d(1, 2, 3, padding=1), shared)
    net[2].eval()
    copy, _ = _student_to_grader(net)
    assert [type(m) for m in copy] == [type(m) for m in net]
    assert copy[1] is copy[3], "a module used twice stays one module"
    assert copy[2].padding == (1,) and copy[2].training is False
    assert all(isinstance(p, nn.Parameter) for p in copy.parameters())
    x = torch.randn(5, 3)
    assert torch.equal(copy[:2](x), net[:2](x))


def test_student_module_class_becomes_a_stand_in():
    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(2, 2)])
            self.width = 2

    copy, grader = _student_to_grader(MLP())
    assert type(copy).__name__ == "MLP" and isinstance(copy, nn.Module)
    assert type(copy).__module__ != MLP.__module__, "the grader's class, not the student's"
    assert isinstance(copy.layers, nn.ModuleList) and copy.width == 2
    assert "_student" in copy.__dict__  # forward and other attributes go to the student's side


def _hostile_node(**changes):
    node = {
        "id": 0,
        "cls": "Linear",
        "genuine": True,
        "base": "Linear",
        "training": True,
        "attrs": [["in_features", 2], ["out_features", 1]],
        "params": [],
        "buffers": [],
        "children": [],
    }
    return {"module": {**node, **changes}}


@pytest.mark.parametrize(
    "node",
    [
        _hostile_node(cls="Popen"),  # not a torch.nn class
        _hostile_node(cls="__class__"),
        _hostile_node(children=[["x", {"nd": 0, "ro": False}]]),  # a child that is no module
        _hostile_node(params=[["w", {"tensor": {"nd": 0, "ro": False}, "dtype": "object"}]]),
    ],
)
def test_hostile_module_snapshots_are_refused(node):
    from grader.remote import _JudgeCodec

    blobs = [wire._array_blob(np.zeros(2))[1]]
    with pytest.raises(wire.WireError):
        _JudgeCodec(None).decode_message(node, blobs)


def test_snapshot_cannot_set_internals_or_dunders():
    from grader.remote import _JudgeCodec

    node = _hostile_node(
        attrs=[
            ["in_features", 2],
            ["out_features", 1],
            ["__class__", "str"],
            ["_forward_hooks", "x"],
            ["_compiled_call_impl", "print"],
        ]
    )
    module = _JudgeCodec(None).decode_message(node, [])
    assert type(module) is nn.Linear and module._compiled_call_impl is None
    assert isinstance(module._forward_hooks, dict)


@pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap")
def test_the_student_side_lets_go_of_arrays_it_no_longer_holds(tmp_path):
    """Every reply hashes the arrays the student's side shares with the grader, to notice
    in-place changes. One that nothing there can reach any more (an argument of a function
    that did not keep it, a result no one kept) is let go on both sides; one the student's
    code keeps is still watched, and a change made to it later still reaches the grader."""
    remote = Remote(Limits(), bwrap_path(), tmp_path / "work", False)
    code = (
        "import numpy as np\n"
        "kept = []\n"
        "def pure(x):\n    return np.maximum(x, 0), x\n"
        "def keep(x):\n    kept.append(x[1:])\n    return x.sum()\n"
        "def bump():\n    kept[0][0] += 100\n"
    )
    remote.run_cells([["answer", "a", code]])
    try:
        for _ in range(50):
            out, same = remote.call("pure", (np.arange(4.0) - 2,), {})
        assert np.array_equal(out, [0, 0, 0, 1]) and np.array_equal(same, [-2, -1, 0, 1])
        assert len(remote.codec.by_twin) <= 3, len(remote.codec.by_twin)  # not 150
        watched = np.arange(3.0)
        remote.call("keep", (watched,), {})
        for _ in range(5):
            remote.call("pure", (np.ones(2),), {})
        remote.call("bump", (), {})
        assert watched.tolist() == [0.0, 101.0, 2.0], watched  # a view of it was kept
        # An array let go and passed again crosses anew, and still works.
        x = np.arange(3.0)
        for _ in range(3):
            out, same = remote.call("pure", (x,), {})
        assert np.array_equal(same, x)
    finally:
        remote.close()
