"""Start the student's code in a confined process.

With bubblewrap (``bwrap``, Debian package ``bubblewrap``) the student process gets its own
namespaces: no network, its own process tree (everything it starts dies with it), and a file
system that shows only the Python runtime, numpy & co. (read-only) and an empty scratch folder
(read-write). When the grader runs as root, the student's code then drops to an unprivileged
user of its own before it starts, so the process limit holds and the sandbox cannot be undone.
The repository (``solutions/``), the gradebook, other submissions and the instructor's home
are simply not there. Resource limits cap its memory, CPU time, file sizes
and number of processes in every case.

Without bubblewrap (the documented fallback) only the resource limits, a fresh session
(process group, killed as a whole afterwards), a scrubbed environment and the scratch folder
as working directory apply: the student's code can then read files the grader's user can
read. ``python -m grader status`` says which mode is in use; install bubblewrap to grade
untrusted work.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from grader.layout import REPO_ROOT

#: Where the grader package appears inside the sandbox (read-only).
SANDBOX_CODE_ROOT = "/opt/relu"


@dataclass(frozen=True)
class Limits:
    """Resource limits of one student process."""

    #: Seconds a single call of a student function may take (wall clock).
    timeout_s: float = 30.0
    #: Address-space limit in MiB (numpy needs about 300 MiB with one BLAS thread).
    memory_mb: int = 1024
    #: CPU seconds for the whole process, all calls together.
    cpu_s: int = 120
    #: Largest file the student's code may write, in MiB.
    file_mb: int = 16
    #: Processes and threads the sandbox may hold at once.
    processes: int = 64
    #: Wall-clock seconds for the whole notebook, all cells and calls together (a student
    #: whose every call sleeps just under ``timeout_s`` is stopped here); default 10 ×
    #: ``timeout_s``.
    notebook_budget_s: float | None = None

    @property
    def notebook_s(self) -> float:
        if self.notebook_budget_s is not None:
            return float(self.notebook_budget_s)
        return 10 * self.timeout_s


def bwrap_path() -> str | None:
    """The bubblewrap executable, or None when it is not installed or not usable here."""
    path = shutil.which("bwrap")
    if not path:
        return None
    probe = subprocess.run(
        [path, "--unshare-all", "--ro-bind", "/", "/", "true"], capture_output=True, timeout=20
    )
    return path if probe.returncode == 0 else None


#: Where the interpreter and the virtual environment's packages appear inside the sandbox:
#: neutral paths, so that nothing there shows where the grader lives on the host.
SANDBOX_PYTHON = "/opt/python"
SANDBOX_PACKAGES = "/opt/site-packages"


def _python_layout() -> tuple[Path, str, list[Path]]:
    """The base interpreter's prefix, its executable's name, and the package folders of the
    virtual environment in use (empty when there is none)."""
    import site
    import sysconfig

    base = Path(sys.base_prefix).resolve()
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if not (base / "bin" / name).exists():
        name = Path(sys.executable).resolve().name
    packages = []
    if Path(sys.prefix).resolve() != base:
        found = site.getsitepackages() + [sysconfig.get_paths()["purelib"]]
        packages = sorted({Path(p).resolve() for p in found if Path(p).is_dir()})
    return base, name, packages


def _student_argv(fd_in: int, fd_out: int, code_root: str, paths: list[str], exe: str, entry: str):
    boot = f"import sys; sys.path[:0] = {[code_root, *paths]!r}; from {entry} import main; main()"
    return [exe, "-I", "-c", boot, str(fd_in), str(fd_out)]


#: Unprivileged user ids for the student's code when the grader runs as root: one per grading
#: process, so that the process limit (counted per user) of one sandbox is not used up by
#: another's. They need no entry in /etc/passwd.
SANDBOX_UID_BASE, SANDBOX_UID_SPAN = 61000, 4000


def sandbox_uid() -> int:
    return SANDBOX_UID_BASE + os.getpid() % SANDBOX_UID_SPAN


def _ancestors(path: str) -> list[str]:
    parts = Path(path).parts[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


#: Where a warm template (:mod:`grader.template`) sees its grading process's scratch root.
TEMPLATE_SCRATCH_ROOT = "/run/scratch"


def command(
    scratch: Path, fd_in: int, fd_out: int, bwrap: str | None, *, template: bool = False
) -> list[str]:
    """The command line that runs the student process (inside bubblewrap when available).

    With ``template``, the same confinement runs a warm template instead
    (:mod:`grader.template`, privileged bubblewrap only): ``scratch`` is then the root of the
    per-submission folders, seen at :data:`TEMPLATE_SCRATCH_ROOT`, ``/scratch`` is an empty
    mount point for each child's own folder, and ``fd_in`` is the control socket."""
    entry = "grader.template" if template else "grader.student"
    if not bwrap:
        return _student_argv(fd_in, fd_out, str(REPO_ROOT), [], sys.executable, entry)
    if os.geteuid() == 0:
        # Privileged bubblewrap: no user namespace, so that the student process can then drop
        # to a real unprivileged user (limited by RLIMIT_NPROC, unable to undo the sandbox).
        isolate = [
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
        ]
    else:
        isolate = ["--unshare-all"]
    base, exe_name, packages = _python_layout()
    if str(base).startswith("/usr"):
        binds, exe = [], str(base / "bin" / exe_name)  # already under /usr, bound below
    else:
        binds, exe = [(str(base), SANDBOX_PYTHON)], f"{SANDBOX_PYTHON}/bin/{exe_name}"
    inside = [f"{SANDBOX_PACKAGES}/{i}" for i in range(len(packages))]
    binds += [(str(p), dest) for p, dest in zip(packages, inside, strict=True)]
    binds.append((str(REPO_ROOT / "grader"), f"{SANDBOX_CODE_ROOT}/grader"))
    dirs = sorted({a for _, dest in binds for a in _ancestors(dest)} - {"/usr"})
    argv = [bwrap, *isolate, "--die-with-parent", "--new-session", "--clearenv",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/lib", "/lib",
            "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin",
            "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
            "--ro-bind-try", "/etc/localtime", "/etc/localtime",
            # No /proc: its mount table would show host paths, and /proc/self/mem would let
            # the student's code rewrite its own memory (the grader's code in it included).
            "--dev", "/dev",
            "--tmpfs", "/tmp"]  # fmt: skip
    for d in dirs:
        argv += ["--perms", "0755", "--dir", d]
    for src, dest in binds:
        argv += ["--ro-bind", src, dest]
    if template:
        where = ["--dir", "/scratch", "--bind", str(scratch), TEMPLATE_SCRATCH_ROOT]
    else:
        where = ["--bind", str(scratch), "/scratch"]
    argv += [
        *where,
        "--chdir", "/scratch",
        "--setenv", "HOME", "/scratch",
        "--setenv", "PATH", "/usr/bin",
        "--setenv", "OPENBLAS_NUM_THREADS", "1",
        "--setenv", "OMP_NUM_THREADS", "1",
        "--setenv", "MPLBACKEND", "Agg",
        "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
    ]  # fmt: skip
    if os.geteuid() == 0 and not template:
        argv += ["--setenv", "RELU_SANDBOX_UID", str(sandbox_uid())]
    return argv + _student_argv(fd_in, fd_out, SANDBOX_CODE_ROOT, inside, exe, entry)


def _limit(limits: Limits):
    def apply() -> None:
        mib = 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mib,) * 2)
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 5))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mib,) * 2)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes,) * 2)

    return apply


class StudentProcess:
    """A running student process and the two pipes to talk to it."""

    def __init__(self, scratch: Path, limits: Limits, bwrap: str | None):
        scratch.mkdir(parents=True, exist_ok=True)
        if bwrap and os.geteuid() == 0:
            uid = sandbox_uid()
            os.chown(scratch, uid, uid)  # the student's code runs as this user there
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(scratch),
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MPLBACKEND": "Agg",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        self.proc = subprocess.Popen(
            command(scratch, to_child_r, from_child_w, bwrap),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # a student's print flood goes nowhere
            stderr=subprocess.DEVNULL,
            pass_fds=(to_child_r, from_child_w),
            cwd=scratch,
            env=env,
            start_new_session=True,
            preexec_fn=_limit(limits),
        )
        os.close(to_child_r)
        os.close(from_child_w)

    def kill(self) -> None:
        """End the student process and everything it started."""
        for fd in (self.to_child, self.from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def exit_description(self) -> str:
        code = self.proc.poll()
        if code is None:
            return "the student's process stopped answering"
        if code < 0:
            name = signal.Signals(-code).name
            hint = {"SIGXCPU": " (CPU time limit)", "SIGKILL": " (killed: memory or time limit)"}
            return f"the student's process was ended by {name}{hint.get(name, '')}"
        return f"the student's process exited with status {code}"
