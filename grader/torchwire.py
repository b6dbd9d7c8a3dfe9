"""PyTorch values on the wire: tensors, modules and gradients (imported only where torch is).

Both sides use it. Tensors cross by copy, as numpy arrays plus their dtype and
``requires_grad``. A module crosses as a *snapshot*: its class name, plain attributes,
parameters, buffers and children. The receiving side rebuilds genuine ``torch.nn`` classes from
its own ``torch.nn`` (never the sender's code); a module of the student's own class becomes, in
the grader, a stand-in of the same name whose ``forward`` runs in the student's process.

Gradients: a call whose tensor arguments require grad runs in the student's process on fresh
leaves; the student's side keeps that graph, and the grader links its copy of the results to the
arguments with :class:`Bridge`, so ``backward`` in the grader asks the student's side for the
gradients. Plain data only ever crosses; the grader never runs the student's code.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.autograd.function import once_differentiable

#: Tensor dtypes numpy cannot hold cross as float32 and are converted back.
_VIA_FLOAT32 = {"torch.bfloat16"}
_DTYPES = {
    str(d): d
    for d in (
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
        torch.complex64,
        torch.complex128,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.uint8,
        torch.bool,
    )
}
#: Attributes every module has from ``nn.Module.__init__``: never taken from a snapshot.
_MODULE_INTERNALS = frozenset(vars(nn.Module()))
_PLAIN = (type(None), bool, int, float, str)
#: The most modules one snapshot may describe (a hostile one could describe millions).
MAX_MODULES = 10_000


def as_numpy(t: torch.Tensor) -> np.ndarray:
    """A numpy view (or, for dtypes numpy lacks, copy) of a tensor's values."""
    t = torch.Tensor.detach(t)
    if str(t.dtype) in _VIA_FLOAT32:
        t = t.float()
    if t.is_conj():
        t = t.resolve_conj()
    return t.cpu().numpy()


def tensor_from(
    arr: np.ndarray, dtype: str, requires_grad: bool, parameter: bool = False
) -> torch.Tensor:
    """A fresh tensor (own, writable memory, same strides) from a decoded array."""
    if dtype not in _DTYPES:
        raise ValueError(f"tensor dtype {dtype!r} refused")
    t = torch.from_numpy(np.array(arr, copy=True, order="K"))
    if str(t.dtype) != dtype:
        t = t.to(_DTYPES[dtype])
    requires_grad = requires_grad and (t.is_floating_point() or t.is_complex())
    if parameter:
        return nn.Parameter(t, requires_grad=requires_grad)
    return t.requires_grad_(True) if requires_grad else t


def _plain(value, depth: int = 0) -> bool:
    if isinstance(value, _PLAIN):
        return type(value) in _PLAIN
    if type(value) in (tuple, list) and depth < 3 and len(value) <= 64:
        return all(_plain(v, depth + 1) for v in value)
    return False


def _from_plain(value):
    """JSON turns tuples into lists; modules keep tuples (kernel sizes, shapes)."""
    if isinstance(value, list):
        return tuple(_from_plain(v) for v in value)
    return value


def genuine(cls: type) -> bool:
    """Whether ``cls`` is one of ``torch.nn``'s own module classes."""
    return getattr(nn, cls.__name__, None) is cls and cls.__module__.startswith("torch.nn")


def genuine_base(cls: type) -> str:
    """The nearest ``torch.nn`` class ``cls`` derives from (``Module`` at least)."""
    for base in cls.__mro__:
        if isinstance(base, type) and genuine(base):
            return base.__name__
    return "Module"


def snapshot(module: nn.Module, encode_tensor, encode_child, memo: dict) -> dict:
    """``{"module": node}`` describing ``module`` (``encode_child`` encodes each child), or
    ``{"mref": id}`` for a module already described in this message (``memo``: id -> node id)."""
    if id(module) in memo:
        return {"mref": memo[id(module)]}
    if len(memo) >= MAX_MODULES:
        raise ValueError(f"a module with more than {MAX_MODULES} submodules cannot be sent")
    memo[id(module)] = node_id = len(memo)
    cls = type(module)
    node = {
        "id": node_id,
        "cls": cls.__name__[:200],
        "base": genuine_base(cls),
        "genuine": genuine(cls),
        "training": bool(module.training),
        "attrs": [[k, v] for k, v in vars(module).items() if _is_attr(k) and _plain(v)],
        "params": [
            [k, None if p is None else {**encode_tensor(p), "param": True}]
            for k, p in module._parameters.items()
        ],
        "buffers": [
            [k, None if b is None else encode_tensor(b)] for k, b in module._buffers.items()
        ],
        "children": [
            [k, None if c is None else encode_child(c)] for k, c in module._modules.items()
        ],
    }
    return {"module": node}


def _is_attr(key: str, cls: type = nn.Module) -> bool:
    """Whether a snapshot may set the attribute ``key``: never nn.Module's own machinery, a
    dunder, or anything the class defines as a method."""
    return (
        isinstance(key, str)
        and key not in _MODULE_INTERNALS
        and not key.startswith("__")
        and not hasattr(nn.Module, key)
        and not callable(getattr(cls, key, None))
    )


def build_module(node: dict, cls: type, decode_tensor, decode_child) -> nn.Module:
    """An instance of ``cls`` with the node's state, made without running ``cls.__init__``."""
    module = cls.__new__(cls)
    nn.Module.__init__(module)
    for key, value in node.get("attrs", []):
        if _is_attr(key, cls) and _plain(value):
            module.__dict__[key] = _from_plain(value)
    module.training = bool(node.get("training", True))
    for key, data in node.get("params", []):
        value = None if data is None else decode_tensor(data)
        if value is not None and not isinstance(value, nn.Parameter):
            value = nn.Parameter(value, requires_grad=value.requires_grad)
        module._parameters[str(key)] = value
    for key, data in node.get("buffers", []):
        module._buffers[str(key)] = None if data is None else decode_tensor(data)
    for key, data in node.get("children", []):
        child = None if data is None else decode_child(data)
        if child is not None and not isinstance(child, nn.Module):
            raise ValueError("a module's child is not a module")
        module._modules[str(key)] = child
    return module


def genuine_class(name: str) -> type:
    cls = getattr(nn, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module) and genuine(cls)):
        raise ValueError(f"{name!r} is not a torch.nn module class")
    return cls


def flat_tensors(value) -> list[torch.Tensor]:
    """The tensors inside a (nested) tuple, list or dict result, in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, tuple | list):
        return [t for v in value for t in flat_tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in flat_tensors(v)]
    return []


def replace_tensors(value, new: list[torch.Tensor]):
    """``value`` with its tensors (as listed by :func:`flat_tensors`) taken from ``new``."""
    if isinstance(value, torch.Tensor):
        return new.pop(0)
    if isinstance(value, tuple | list):
        items = [replace_tensors(v, new) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {k: replace_tensors(v, new) for k, v in value.items()}
    return value


class Bridge(torch.autograd.Function):
    """Links results computed in the student's process to the grader's arguments.

    ``forward`` returns the (already computed) results; ``backward`` asks the student's side,
    through ``link``, for the gradients of the graph it kept.
    """

    @staticmethod
    def forward(ctx, link, graph, outputs, differentiable, *inputs):
        ctx.link, ctx.graph = link, graph
        ctx.mark_non_differentiable(
            *[t for t, d in zip(outputs, differentiable, strict=True) if not d]
        )
        return tuple(outputs)

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads):
        return (None, None, None, None, *ctx.link.backward(ctx.graph, list(grads)))


def rng_state() -> np.ndarray:
    return torch.random.get_rng_state().numpy().copy()


def set_rng_state(state) -> None:
    """Take over the other side's global random state (ignored when malformed)."""
    if isinstance(state, np.ndarray) and state.dtype == np.uint8 and state.ndim == 1:
        try:
            torch.random.set_rng_state(torch.from_numpy(state.copy()))
        except (RuntimeError, ValueError):
            pass
