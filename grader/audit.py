"""Read the student's code, as text, for what no answer may contain.

Some facts the tests need cannot be observed from outside the student's process: that a
function changed its argument in place, that it printed or warned. The student's process
reports them (:mod:`grader.student` is the grader's own code, but it runs beside the student's),
and a student who could reach that code could make it report anything. So before any of the
student's code runs, the grader reads the submission's source (which it holds, not the student's
process) and refuses code that can reach the interpreter's own machinery:

* imports of modules that expose it (``sys``, ``os``, ``gc``, ``ctypes``, ``inspect``,
  ``importlib``, ``builtins``, ``threading``, ``traceback``, ...), and attributes of those names
  reached through another module (``plt.sys``);
* dynamic code and names: ``eval``, ``exec``, ``compile``, ``__import__``, ``globals``,
  ``locals``, ``vars``, ``getattr``/``setattr``/``delattr`` with a computed name;
* dunder attributes other than a few harmless ones (``__class__.__mro__``, ``__globals__``,
  ``__code__``, ``__dict__``, ``__subclasses__`` walk to anything), frame and traceback
  attributes (``f_back``, ``tb_frame``, ...);
* private attributes of imported modules (``np._core``, ``torch._C``) and the parts of PyTorch
  that register or compile code (``torch.ops``, ``torch.library``, ``torch.jit``, ...).

A submission with any of these runs nothing and earns nothing until an instructor has looked at
it (``status`` lists it with the cell and line). No course answer needs any of them; a module
the instructor's own cells import is allowed to the student too. The sandbox (no ctypes in the
student's reach would not be enough on its own: pure Python can patch a running program through
frames and the garbage collector) stays the second line of defence.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

#: Modules that expose the interpreter's machinery (frames, the module table, the collector,
#: raw memory, threads, other processes).
FORBIDDEN_MODULES = frozenset(
    {
        "sys", "os", "posix", "nt", "gc", "ctypes", "_ctypes", "cffi", "inspect", "importlib",
        "builtins", "types", "threading", "_thread", "multiprocessing", "concurrent",
        "subprocess", "signal", "faulthandler", "atexit", "traceback", "code", "codeop", "pdb",
        "bdb", "runpy", "site", "sysconfig", "marshal", "pickle", "dill", "cloudpickle",
        "mmap", "resource", "socket", "tracemalloc", "weakref", "grader", "dis", "linecache",
        "asyncio", "selectors", "select", "pty", "fcntl", "shelve", "copyreg", "cython",
    }
)  # fmt: skip
FORBIDDEN_CALLS = frozenset(
    {"eval", "exec", "compile", "__import__", "globals", "locals", "vars", "breakpoint"}
)
DYNAMIC_ATTR_CALLS = frozenset({"getattr", "setattr", "delattr", "hasattr"})
ALLOWED_DUNDERS = frozenset(
    {"__init__", "__name__", "__doc__", "__call__", "__len__", "__repr__", "__str__",
     "__iter__", "__next__", "__getitem__", "__setitem__", "__contains__", "__enter__",
     "__exit__", "__add__", "__mul__", "__eq__", "__hash__", "__post_init__", "__main__"}
)  # fmt: skip
FRAME_ATTRS = frozenset(
    {"f_back", "f_locals", "f_globals", "f_builtins", "f_code", "f_trace", "tb_frame",
     "tb_next", "gi_frame", "cr_frame", "ag_frame", "gi_code", "settrace", "setprofile",
     "_getframe", "ctypeslib", "f2py", "distutils"}
)  # fmt: skip
TORCH_CODE_ATTRS = frozenset(
    {"ops", "library", "jit", "compile", "fx", "overrides", "package", "hub",
     "cpp_extension", "_C", "_dynamo", "_ops"}
)  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One construct no answer may use: where it is and what it is."""

    cell: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.what} (cell {self.cell}, line {self.line})"


def audit(cells: list[tuple[str, str]], allowed: frozenset[str] = frozenset()) -> list[Finding]:
    """The forbidden constructs in the student's cells ``(label, source)``.

    ``allowed``: modules the instructor's own cells import (allowed to the student too).
    A cell that does not parse is not an audit finding (it fails when it runs).
    """
    findings: list[Finding] = []
    for label, source in cells:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        findings += _Visitor(label, allowed).run(tree)
    return findings


class _Visitor(ast.NodeVisitor):
    def __init__(self, label: str, allowed: frozenset[str]):
        self.label, self.allowed = label, allowed
        self.findings: list[Finding] = []
        #: Local names bound to imported modules, and those bound to torch.
        self.modules: set[str] = set()
        self.torch: set[str] = set()
        #: Names bound to a tuple or list of string literals (``classes = ("ReLU", "ELU")``):
        #: ``getattr(nn, classes[i])`` may pick one of them.
        self.literals: dict[str, list[str]] = {}

    def run(self, tree: ast.AST) -> list[Finding]:
        self.visit(tree)
        return self.findings

    def _flag(self, node: ast.AST, what: str) -> None:
        self.findings.append(Finding(self.label, getattr(node, "lineno", 0), what))

    def _module(self, node: ast.AST, name: str) -> None:
        top = name.split(".")[0]
        if top in FORBIDDEN_MODULES and top not in self.allowed:
            self._flag(node, f"import of {name}")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._module(node, alias.name)
            bound = alias.asname or alias.name.split(".")[0]
            self.modules.add(bound)
            if alias.name.split(".")[0] == "torch":
                self.torch.add(bound)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self._flag(node, "a relative import")
        module = node.module or ""
        self._module(node, module)
        for alias in node.names:
            if alias.name == "*":
                self._flag(node, f"from {module} import *")
            self._attribute(node, alias.name, module.split(".")[0] in ("torch",) or module == "")
            bound = alias.asname or alias.name
            self.modules.add(bound)
            if module.split(".")[0] == "torch":
                self.torch.add(bound)
        self.generic_visit(node)

    def _attribute(self, node: ast.AST, attr: str, on_torch: bool, on_module: bool = True):
        if attr in FORBIDDEN_MODULES and attr not in self.allowed:
            self._flag(node, f"the attribute .{attr}")
        elif attr.startswith("__") and attr.endswith("__") and attr not in ALLOWED_DUNDERS:
            self._flag(node, f"the attribute .{attr}")
        elif attr in FRAME_ATTRS:
            self._flag(node, f"the attribute .{attr}")
        elif on_torch and attr in TORCH_CODE_ATTRS:
            self._flag(node, f"torch's .{attr}")
        elif on_module and attr.startswith("_") and not attr.startswith("__"):
            self._flag(node, f"the private attribute .{attr} of a module")

    def _attribute_of(self, node: ast.AST, attr: str, base: ast.AST) -> None:
        """``base.attr``: judged by the name ``base``'s chain of attributes starts from."""
        while isinstance(base, ast.Attribute):
            base = base.value
        root = base.id if isinstance(base, ast.Name) else None
        self._attribute(node, attr, on_torch=root in self.torch, on_module=root in self.modules)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._attribute_of(node, node.attr, node.value)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        value = node.value
        if (
            len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(value, ast.Tuple | ast.List)
            and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in value.elts)
        ):
            self.literals[node.targets[0].id] = [e.value for e in value.elts]
        self.generic_visit(node)

    def _names(self, node: ast.AST) -> list[str] | None:
        """The attribute names a getattr() argument can be, when they are known literals."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id in self.literals
        ):
            return self.literals[node.value.id]
        return None

    def visit_Name(self, node: ast.Name) -> None:
        if node.id.startswith("__") and node.id.endswith("__") and node.id != "__name__":
            self._flag(node, f"the name {node.id}")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name):
            if func.id in FORBIDDEN_CALLS:
                self._flag(node, f"{func.id}()")
            elif func.id in DYNAMIC_ATTR_CALLS:
                names = self._names(node.args[1]) if len(node.args) > 1 else None
                if names is None:
                    self._flag(node, f"{func.id}() with a computed name")
                else:
                    for name in names:
                        self._attribute_of(node, name, node.args[0])
        self.generic_visit(node)
