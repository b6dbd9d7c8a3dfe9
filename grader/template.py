"""Warm templates: a fresh student process per submission, forked from a process that has
already started Python and imported numpy and scipy.special (and torch), inside the same
bubblewrap sandbox.

Each grading process (a pool worker, a Dask worker process) keeps one **template** per kind
(numpy only, or numpy and torch for an assignment whose tests use torch,
:attr:`grader.blueprint.Blueprint.uses_torch`) in a module-level cache, :func:`get`; one that
died is started again. The template runs in exactly the confinement of
:func:`grader.sandbox.command` (no network, no ``/proc``, its own PID, IPC and UTS namespaces,
neutral read-only paths), as root inside it (privileged bubblewrap: the grader runs as root and
no user namespace is made). It runs only the grader's code: it imports the libraries, makes
itself undumpable (``PR_SET_DUMPABLE`` 0), checks that it can make a child as below, and then
waits on a unix socket for requests from its grading process. For each submission the grading
process creates the two pipes of the wire and passes their ends over that socket
(``SCM_RIGHTS``); the template forks a child, which inherits them and runs
:class:`grader.student.Server` exactly as a cold student process does.

Why isolation is exactly as strong as with a cold process per submission (each claim is tested
in ``tests/test_template.py``):

- **A fresh process per submission.** Every submission (and every restart after a crash) gets
  its own fork of the template, with a fresh namespace for the student's code; it shares no
  memory with the template or another child (fork copies on write), and numpy's and torch's
  global random generators are seeded anew, as at a cold start.
- **Its own scratch, no view of another submission.** The template sees its grading process's
  scratch root (``/run/scratch``); before any student code runs, the child unshares its mount
  and IPC namespaces, makes every mount private, binds its own folder on ``/scratch``, mounts
  fresh tmpfs on ``/tmp`` and ``/dev/shm``, and detaches the scratch root (``umount2``
  ``MNT_DETACH``): the other folders, and other children's ``/tmp``, ``/dev/shm`` and System V
  IPC objects, are not reachable from it. It then closes every descriptor but the wire's two
  (the template's control socket included).
- **No shared writable state; no signals or ptrace into the template.** After its resource
  limits are set, the child drops to an unprivileged user id of its own for this submission
  (``setgroups``/``setgid``/``setuid``; ids rotate over a range per grading process), losing
  every capability. The template stays root: a process of another user can neither signal
  nor trace it (and it is undumpable besides); the template's memory, the libraries and the
  grader's code are read-only binds or copies on write. The template's scratch root is
  detached in the child before the drop and cannot be mounted back without capabilities.
- **Nothing left behind.** When the submission is done, or its process is ended (a timeout,
  a broken bound), the template kills the child, then forks a reaper that becomes the
  submission's user and calls ``kill(-1, SIGKILL)``, which reaches every process of that user
  in the sandbox (anything the student's code started, daemons included) and nothing else; the
  grading process removes the submission's folder. Its tmpfs and IPC objects go with its
  namespaces. (Killed processes vanish once bubblewrap's init has reaped them, a moment
  later; they run no code in between.)

- **Started before the grading processes, then one process's alone.** A command may start
  its grading processes' templates itself, just before it forks them (:func:`offer`), so
  that they import their libraries (torch takes a second) while it imports what the tests
  import. Each grading process takes one first thing after the fork (:func:`take`: one ticket
  each, read from a pipe) and it is then its own exactly as one it started: it waits for it
  to be ready, hands out its own user ids, renames the scratch root for its own pid (the
  clean-up of a killed grading process applies), watches the process through a pidfd (it is
  not its child) and ends it when it exits. The other grading processes close their copies
  of its control socket at once, and the command closes its own once they are forked
  (:func:`withdraw`) without ever sending a request: a grading process that is killed closes
  the last one, and the template ends (its sandbox with it). At its exit the command waits
  for the templates it started.

What children do share is what the template held before any of them ran, read-only in effect:
the loaded libraries and Python's string-hash seed (a cold ``python -I`` draws a new one). The
network namespace is the template's, as empty as a cold sandbox's: a socket a student opens
dies with its processes. In grading, a template's children never run at the same time (its
grading process grades one submission at a time, and kills a crashed process before its
restart); the tests run two at once to show that they could not see each other anyway.

When any of this is unavailable (no bubblewrap, the grader not running as root so bubblewrap
makes a user namespace, ``RELU_WARM=0`` in the environment, or the template's own start-up
check fails), grading falls back to a cold process per submission (:class:`StudentProcess`),
with a warning in the log; :func:`mode` says which is in use.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import multiprocessing.util
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

ENV_WARM = "RELU_WARM"
#: Seconds the grading process waits for the template's answer to one request (start-up,
#: which imports torch, gets ``START_TIMEOUT_S``).
REQUEST_TIMEOUT_S = 30.0
START_TIMEOUT_S = 120.0
#: Seconds the template waits for a child to exit when asked whether it has.
POLL_WAIT_S = 0.5
#: Unprivileged user ids handed out by one grading process, in turn (one per submission).
UIDS_PER_PROCESS = 16

# Linux constants (sched.h, mount.h, prctl.h).
CLONE_NEWNS, CLONE_NEWIPC = 0x00020000, 0x08000000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_DUMPABLE, PR_SET_PDEATHSIG = 4, 1


# ---------------------------------------------------------------------------------------------
# The template's side (runs inside the sandbox, as root there).


class _Libc:
    def __init__(self) -> None:
        import ctypes

        self.ctypes = ctypes
        self.lib = ctypes.CDLL(None, use_errno=True)

    def call(self, what: str, name: str, *args) -> None:
        if getattr(self.lib, name)(*args) != 0:
            errno = self.ctypes.get_errno()
            raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _enter(libc: _Libc, folder: str, uid: int, limits: list, keep: tuple[int, ...]) -> None:
    """In the forked child, before any student code: its own mounts and IPC, its own folder on
    /scratch, fresh /tmp and /dev/shm, no scratch root, limits, then the submission's user."""
    import resource

    from grader.sandbox import TEMPLATE_SCRATCH_ROOT

    os.setsid()
    libc.call("unshare", "unshare", CLONE_NEWNS | CLONE_NEWIPC)
    libc.call("make mounts private", "mount", b"none", b"/", None, MS_REC | MS_PRIVATE, None)
    own = f"{TEMPLATE_SCRATCH_ROOT}/{folder}".encode()
    libc.call("bind scratch", "mount", own, b"/scratch", None, MS_BIND | MS_REC, None)
    for where in (b"/tmp", b"/dev/shm"):
        flags = MS_NOSUID | MS_NODEV
        libc.call(
            f"tmpfs {where.decode()}", "mount", b"tmpfs", where, b"tmpfs", flags, b"mode=1777"
        )
    libc.call("detach scratch root", "umount2", TEMPLATE_SCRATCH_ROOT.encode(), MNT_DETACH)
    os.chdir("/scratch")
    high, low = 1 << 20, 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, high)
    memory_mb, cpu_s, file_mb, processes = (int(v) for v in limits)
    mib = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * mib,) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb * mib,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (processes,) * 2)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise OSError("could not become the submission's user")
    libc.call("parent-death signal", "prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _reseed() -> None:
    """Fresh global random states, as a cold process would have."""
    import numpy as np

    np.random.seed()
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.seed()


def _child(libc: _Libc, folder: str, uid: int, limits: list, fds: tuple[int, int]) -> None:
    """The forked child: never returns."""
    code = 0
    try:
        try:
            _enter(libc, folder, uid, limits, fds)
        except BaseException:
            os._exit(71)  # the sandbox could not be set up: no student code runs
        _reseed()
        from grader.student import Server

        Server(*fds).serve()
    except BaseException:
        code = 1
    os._exit(code)


def _probe(libc: _Libc, uid: int) -> str | None:
    """Make one child as for a submission and check it; None when it works, else why."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            _enter(libc, "probe", uid, [1024, 10, 1, 8], (write,))
            if os.listdir("/scratch") != ["seen"] or os.path.exists("/run/scratch/probe"):
                raise OSError("the child's folders are not as intended")
            os.write(write, b"ok")
        except BaseException as exc:
            with contextlib.suppress(BaseException):
                os.write(write, f"{type(exc).__name__}: {exc}".encode()[:500])
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        said = pipe.read().decode(errors="replace")
    os.waitpid(pid, 0)
    return None if said == "ok" else said or "the probe child said nothing"


def _status(code: int) -> int:
    """A wait status as subprocess's returncode (negative: the signal)."""
    return -os.WTERMSIG(code) if os.WIFSIGNALED(code) else os.WEXITSTATUS(code)


def _reap(uid: int) -> None:
    """Kill every process of ``uid`` in this sandbox: a forked reaper becomes that user and
    calls ``kill(-1, SIGKILL)``, which reaches each process it may signal (that user's, and no
    other) but itself and init. The kernel delivers it to all of them at once, a process being
    forked included (a fork fails once its parent has a pending SIGKILL), so nothing that user
    started runs student code again; bubblewrap's init reaps the orphans."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            if os.getuid() == uid and os.geteuid() == uid:
                for _ in range(2):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _wait(pid: int, done: dict[int, int], within_s: float | None) -> None:
    """Record ``pid``'s exit status in ``done`` if it exits within ``within_s`` (None: wait).
    The grading process asks only once the wire has failed, and a process that closed its
    end of the wire may take a moment to become reapable."""
    deadline = time.monotonic() + (within_s or 0)
    with contextlib.suppress(ChildProcessError):
        while True:
            got, code = os.waitpid(pid, 0 if within_s is None else os.WNOHANG)
            if got == pid:
                done[pid] = _status(code)
                return
            if time.monotonic() >= deadline:
                return
            time.sleep(0.01)


#: What every template imports before its first child: numpy and what the course's setup cells
#: import besides (scipy.special alone takes about 0.2 s to import); a module that is not
#: installed is skipped. The torch kind imports torch too, and what torch imports on first use.
PRELOAD = ("numpy", "scipy.special")
#: Modules a library imports only when first used, and what uses them: without them each child
#: would import them again. ``torch.autograd.grad`` with explicit gradients imports
#: torch.fx.experimental.symbolic_shapes and with it sympy (about 0.4 s a child).
FIRST_USE_IMPORTS = {"torch": ("torch.fx.experimental.symbolic_shapes",)}


def serve(ctl: socket.socket, torch: bool) -> None:
    """The template's loop: one request, one answer, until the grading process goes."""
    import importlib

    import grader.student  # noqa: F401  (and grader.wire, numpy)

    for name in PRELOAD + (("torch", *FIRST_USE_IMPORTS["torch"]) if torch else ()):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    libc = _Libc()
    libc.call("undumpable", "prctl", PR_SET_DUMPABLE, 0, 0, 0, 0)
    first = json.loads(ctl.recv(4096))
    why = None if os.getuid() == 0 else "the template is not root in its sandbox"
    why = why or _probe(libc, int(first["uid"]))
    ctl.send(json.dumps({"ready": why is None, "why": why}).encode())
    if why:
        return
    done: dict[int, int] = {}
    while True:
        data, fds, _, _ = socket.recv_fds(ctl, 65536, 2)
        if not data:
            return
        request = json.loads(data)
        op, reply = request.get("op"), {}
        if op == "spawn":
            pid = os.fork()
            if pid == 0:
                ctl.close()
                _child(libc, request["folder"], int(request["uid"]), request["limits"], fds)
            for fd in fds:
                os.close(fd)
            reply = {"pid": pid}
        elif op in ("poll", "kill"):
            pid = int(request["pid"])
            if op == "kill" and pid not in done:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if pid not in done:
                _wait(pid, done, None if op == "kill" else POLL_WAIT_S)
            if op == "kill":
                _reap(int(request["uid"]))
            reply = {"status": done.get(pid) if op == "poll" else done.pop(pid, None)}
        elif op == "exit":
            return
        ctl.send(json.dumps(reply).encode())


def main() -> None:
    """Entry point inside the sandbox: ``... -c "from grader.template import main; main()"
    CONTROL_FD MODE``."""
    ctl = socket.socket(fileno=int(sys.argv[1]))
    serve(ctl, sys.argv[2] == "torch")


# ---------------------------------------------------------------------------------------------
# The grading process's side.


class _Exit:
    """What :class:`grader.remote.Remote` reads of a process: ``poll()`` and ``pid``."""

    def __init__(self, process: WarmProcess):
        self._process = process
        self.pid = process.pid

    def poll(self) -> int | None:
        return self._process.status()


class WarmProcess:
    """A student process forked from a template: the interface of
    :class:`grader.sandbox.StudentProcess` (``to_child``, ``from_child``, ``proc.poll()``,
    ``kill()``, ``exit_description()``)."""

    def __init__(self, template: Template, folder: Path, uid: int, limits):
        self.template, self.folder, self.uid = template, folder, uid
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()
        request = {
            "op": "spawn",
            "folder": folder.name,
            "uid": uid,
            "limits": [limits.memory_mb, limits.cpu_s, limits.file_mb, limits.processes],
        }
        try:
            reply = template.request(request, (to_child_r, from_child_w))
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self.pid = int(reply["pid"])
        self.code: int | None = None
        self.proc = _Exit(self)

    def status(self) -> int | None:
        if self.code is None:
            try:
                self.code = self.template.request({"op": "poll", "pid": self.pid}).get("status")
            except OSError:
                return -signal.SIGKILL  # the template is gone, and its children with it
        return self.code

    def kill(self) -> None:
        """End the student's process and every process of its user; close the wire."""
        for fd in (self.to_child, self.from_child):
            with contextlib.suppress(OSError):
                os.close(fd)
        try:
            code = self.template.request({"op": "kill", "pid": self.pid, "uid": self.uid})
            if self.code is None:
                self.code = code.get("status")
        except OSError:
            pass

    def exit_description(self) -> str:
        from grader.sandbox import StudentProcess

        return StudentProcess.exit_description(self)  # type: ignore[arg-type]


#: A template's scratch root is ``<tmp>/relu-warm-<pid of its grading process>-<random>``.
ROOT_PREFIX = "relu-warm-"


def _sweep() -> None:
    """Remove the scratch roots of grading processes that were killed (a worker killed for
    memory cannot remove its own): nothing a submission wrote outlives its grading process
    for longer than the next template's start."""
    for root in Path(tempfile.gettempdir()).glob(f"{ROOT_PREFIX}*-*"):
        owner = root.name[len(ROOT_PREFIX) :].split("-", 1)[0]
        if not owner.isdigit():
            continue
        try:
            os.kill(int(owner), 0)
        except ProcessLookupError:
            shutil.rmtree(root, ignore_errors=True)
        except PermissionError:
            pass


def _kill_group(process) -> None:
    """Kill a template's process group (bubblewrap and all it runs) and wait for it to end."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


class _Watched:
    """``poll`` and ``wait`` of a template's process in a grading process that took it
    (:func:`take`): not its child, so through the pidfd its starter opened."""

    def __init__(self, pid: int, pidfd: int | None):
        self.pid, self.pidfd, self.returncode = pid, pidfd, None

    def _ended(self, timeout_s: float) -> bool:
        if self.pidfd is None:
            return True
        watch = select.poll()
        watch.register(self.pidfd, select.POLLIN)
        return bool(watch.poll(int(timeout_s * 1000)))

    def poll(self) -> int | None:
        if self.returncode is None and self._ended(0):
            self.returncode = -signal.SIGKILL  # ended (its status is its starter's to read)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None and not self._ended(-0.001 if timeout is None else timeout):
            raise subprocess.TimeoutExpired("the warm template", timeout)
        return self.poll()


class TemplateUnavailable(OSError):
    """A template could not be started here (see :func:`mode`)."""


class Template:
    """A warm template process and its scratch root, seen from the grading process."""

    def __init__(self, bwrap: str, torch: bool):
        from grader.sandbox import command

        self.torch = torch
        self.lock = threading.Lock()
        self._own_uids()
        self.turn = 0
        self.count = 0
        _sweep()
        self.root = Path(tempfile.mkdtemp(prefix=f"{ROOT_PREFIX}{os.getpid()}-"))
        os.chmod(self.root, 0o711)
        probe = self.root / "probe"
        probe.mkdir()
        (probe / "seen").write_text("")
        self.ctl, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = command(self.root, theirs.fileno(), 0, bwrap, template=True)
        argv[-1] = "torch" if torch else "numpy"
        env = {"PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),),
            env=env,
            start_new_session=True,
            preexec_fn=lambda: __import__("resource").setrlimit(
                __import__("resource").RLIMIT_CORE, (0, 0)
            ),
        )
        theirs.close()
        # A handle on the process that a forked process inherits and that cannot come to mean
        # another process: what a grading process that takes this template (:func:`take`)
        # watches it by.
        # (None where the kernel or a seccomp profile refuses it: then it is not offered.)
        self.pidfd: int | None = None
        with contextlib.suppress(OSError, AttributeError):
            self.pidfd = os.pidfd_open(self.process.pid)
        # The template imports its libraries while this process goes on (it imports torch
        # for the tests too): its readiness is read at the first request.
        self.ready: bool | None = None
        self.why = ""
        try:
            uid = self.next_uid()
            os.chown(probe, uid, uid)
            self.ctl.settimeout(REQUEST_TIMEOUT_S)
            socket.send_fds(self.ctl, [json.dumps({"uid": uid}).encode()], [])
        except OSError as exc:
            self.close()
            raise TemplateUnavailable(f"the template did not start: {exc}") from None

    def _own_uids(self) -> None:
        """The user ids this process hands out, in turn: a range of its own (by its pid)."""
        from grader.sandbox import SANDBOX_UID_BASE, SANDBOX_UID_SPAN

        slots = SANDBOX_UID_SPAN // UIDS_PER_PROCESS
        first = SANDBOX_UID_BASE + (os.getpid() % slots) * UIDS_PER_PROCESS
        self.uids = [first + k for k in range(UIDS_PER_PROCESS)]

    def adopt(self) -> None:
        """Become the template of this process, forked from the one that started it: its user
        ids and its scratch root's name are this process's own, as if it had started it, and
        it is watched through its pidfd (it is not this process's child). Raises
        TemplateUnavailable if it could not start (as its first request would)."""
        self.process = _Watched(self.process.pid, self.pidfd)
        self.wait_ready()  # bubblewrap has mounted the scratch root by then: it may be renamed
        self._own_uids()
        suffix = self.root.name.rsplit("-", 1)[-1]
        root = self.root.with_name(f"{ROOT_PREFIX}{os.getpid()}-{suffix}")
        os.rename(self.root, root)  # the template's bind mount follows the folder
        self.root = root

    def release(self) -> None:
        """Let go of this template without ending it (another process has it, or it has
        ended): close this process's control socket and pidfd."""
        with contextlib.suppress(OSError):
            self.ctl.close()
        if self.pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self.pidfd)
            self.pidfd = None
            if isinstance(self.process, _Watched):
                self.process.pidfd = None

    def _await_ready(self) -> None:
        """Read the template's start-up answer (once); raise TemplateUnavailable unless ready."""
        if self.ready is None:
            self.ctl.settimeout(START_TIMEOUT_S)
            try:
                reply = json.loads(self.ctl.recv(4096) or b"{}")
            except (OSError, TimeoutError, ValueError) as exc:
                reply = {"why": f"the template did not start: {exc}"}
            self.ready = bool(reply.get("ready"))
            self.why = str(reply.get("why") or "the template exited while starting")
            if self.ready:
                shutil.rmtree(self.root / "probe", ignore_errors=True)
            else:
                _UNAVAILABLE[self.torch] = f"the template cannot make children: {self.why}"
                log.warning("%s; grading with a cold process per submission", self.why)
        if not self.ready:
            self.close()
            raise TemplateUnavailable(_UNAVAILABLE.get(self.torch, self.why))

    def wait_ready(self) -> None:
        """Wait until the template has started (raises TemplateUnavailable if it cannot)."""
        with self.lock:
            self._await_ready()

    def next_uid(self) -> int:
        uid = self.uids[self.turn % len(self.uids)]
        self.turn += 1
        return uid

    def alive(self) -> bool:
        return self.process.poll() is None

    def request(self, message: dict, fds: tuple = (), timeout: float = REQUEST_TIMEOUT_S):
        with self.lock:
            self._await_ready()
            self.ctl.settimeout(timeout)
            try:
                socket.send_fds(self.ctl, [json.dumps(message).encode()], list(fds))
                data = self.ctl.recv(65536)
            except (OSError, TimeoutError) as exc:
                self.close()
                raise OSError(f"the template did not answer: {exc}") from None
        if not data:
            self.close()
            raise OSError("the template has exited")
        return json.loads(data)

    def folder(self) -> tuple[Path, int]:
        """A new, empty folder for one submission, owned by the user it will run as."""
        self.count += 1
        uid = self.next_uid()
        path = self.root / f"s{self.count}"
        path.mkdir(mode=0o700)
        os.chown(path, uid, uid)
        return path, uid

    def spawn(self, folder: Path, uid: int, limits) -> WarmProcess:
        return WarmProcess(self, folder, uid, limits)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.ctl.close()
        if self.process.poll() is None:
            _kill_group(self.process)
        self.release()  # its pidfd, once it is known to have ended
        shutil.rmtree(self.root, ignore_errors=True)


_CACHE: dict[bool, Template] = {}
_UNAVAILABLE: dict[bool, str] = {}
_CACHE_LOCK = threading.Lock()
_SAID: list[str] = []


def unavailable_reason(bwrap: str | None) -> str | None:
    """Why no template can be used here (None: it can)."""
    if os.environ.get(ENV_WARM, "1") == "0":
        return f"{ENV_WARM}=0"
    if not bwrap:
        return "no usable bubblewrap"
    if os.geteuid() != 0:
        return "the grader does not run as root (unprivileged bubblewrap)"
    return None


def get(bwrap: str | None, torch: bool) -> Template | None:
    """This process's template of that kind (started, or started again if it died), or None
    when templates cannot be used here: then grade with a cold process per submission."""
    why = unavailable_reason(bwrap)
    if why:
        if not _SAID and bwrap and why != f"{ENV_WARM}=0":
            _SAID.append(why)
            log.warning("no warm template (%s): a cold process per submission", why)
        return None
    with _CACHE_LOCK:
        template = _CACHE.get(torch)
        if template is not None and template.alive():
            return template
        if template is not None:
            log.warning(
                "the warm template (pid %d) died; starting a new one", template.process.pid
            )
            template.close()
            del _CACHE[torch]
        if torch in _UNAVAILABLE:  # its start-up check failed in this process
            return None
        if not _CACHE:
            # A pool worker leaves through multiprocessing's exit, which skips atexit.
            multiprocessing.util.Finalize(None, close_all, exitpriority=100)
        try:
            template = _CACHE[torch] = Template(bwrap, torch)
        except TemplateUnavailable as exc:
            _UNAVAILABLE[torch] = str(exc)
            log.warning("%s; grading with a cold process per submission", exc)
            return None
        return template


def mode(bwrap: str | None) -> str:
    """One line saying how student processes start in this process."""
    why = unavailable_reason(bwrap)
    if why is None and _UNAVAILABLE:
        why = next(iter(_UNAVAILABLE.values()))
    if why:
        return f"a cold process per submission (no warm template: {why})"
    return "forked from a warm template per grading process (numpy/torch imported once)"


def close_all() -> None:
    with _CACHE_LOCK:
        for template in _CACHE.values():
            template.close()
        _CACHE.clear()
    withdraw(handed=False)
    while _GIVEN:  # templates this process started and handed over: wait for them to end
        process, root = _GIVEN.pop()
        try:
            process.wait(timeout=GIVEN_WAIT_S)
        except subprocess.TimeoutExpired:
            _kill_group(process)
        # A template no grading process took (it died first) still has its first root; a
        # taken one's was renamed and is its grading process's to remove.
        shutil.rmtree(root, ignore_errors=True)


# Templates started before the grading processes exist. A command starts one per grading
# process it is about to fork (:func:`offer`), so that the templates import their libraries
# (torch takes a second) while the command itself prepares; each grading process takes one
# (:func:`take`, first thing after the fork) and it is then that process's template as if it
# had started it; the command lets go of them once they are forked (:func:`withdraw`).

#: Templates offered, and the read end of a pipe holding one ticket (an index) for each.
_OFFERED: list[Template] = []
_TICKETS: list[int] = []
#: Templates this process started and handed over (process, first scratch root): reaped at
#: its exit.
_GIVEN: list[tuple[subprocess.Popen, Path]] = []
#: Seconds this process waits at its exit for a template it handed over to end.
GIVEN_WAIT_S = 5.0


def offer(bwrap: str | None, torch: bool, count: int) -> None:
    """Start ``count`` templates of that kind for the grading processes about to be forked."""
    if unavailable_reason(bwrap) or count < 1 or _OFFERED:
        return
    for _ in range(min(count, 255)):
        try:
            started = Template(bwrap, torch)
        except TemplateUnavailable as exc:
            log.warning("%s; the grading processes start their own", exc)
            break
        if started.pidfd is None:  # a grading process could not watch it
            started.close()
            break
        _OFFERED.append(started)
    if _OFFERED:
        read, write = os.pipe()
        os.write(write, bytes(range(len(_OFFERED))))
        os.close(write)
        os.set_blocking(read, False)
        _TICKETS.append(read)


def take() -> None:
    """In a process just forked from one that offered templates: take one, if any is left,
    as this process's own; let go of the others (another process takes each)."""
    if not _TICKETS:
        return
    try:
        ticket = os.read(_TICKETS[0], 1)
    except BlockingIOError:
        ticket = b""
    finally:
        os.close(_TICKETS.pop())
    mine = _OFFERED[ticket[0]] if ticket else None
    for template in _OFFERED:
        if template is not mine:
            template.release()
    _OFFERED.clear()
    if mine is None:
        return
    try:
        mine.adopt()
    except (TemplateUnavailable, OSError) as exc:
        log.warning("the template started for this process is not usable (%s)", exc)
        mine.close()
        return
    with _CACHE_LOCK:  # empty: a forked process forgets its parent's (_forget_in_child)
        multiprocessing.util.Finalize(None, close_all, exitpriority=100)
        _CACHE[mine.torch] = mine


def withdraw(handed: bool) -> None:
    """In the process that offered templates: once its grading processes are forked
    (``handed``), let go of the templates (theirs now; reaped at this process's exit);
    otherwise end them."""
    for template in _OFFERED:
        if handed:
            _GIVEN.append((template.process, template.root))
            template.release()
        else:
            template.close()
    _OFFERED.clear()
    while _TICKETS:
        os.close(_TICKETS.pop())


def _forget_in_child() -> None:
    """A forked process (a pool worker) starts its own templates, or takes one offered
    (:func:`take`): the parent's own stay its own."""
    for template in _CACHE.values():
        template.release()
    _CACHE.clear()
    _GIVEN.clear()


atexit.register(close_all)
os.register_at_fork(after_in_child=_forget_in_child)
