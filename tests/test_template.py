"""Warm templates (grader/template.py): each claim of the module's docstring, tested on the
real sandbox. A submission's process is driven through :class:`grader.remote.Remote`, the path
grading takes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
import pytest

from grader import autograde as grading
from grader import pool, template
from grader.intake import collect
from grader.remote import Remote, StudentCrash
from grader.sandbox import Limits, StudentProcess, bwrap_path
from tests.course_factory import ASSIGNMENT, NOTEBOOK, make_course, student_notebook

BWRAP = bwrap_path()
pytestmark = pytest.mark.skipif(
    template.unavailable_reason(BWRAP) is not None,
    reason=f"no warm template here: {template.unavailable_reason(BWRAP)}",
)

PROBE = """
import ctypes, os, signal, sys, time
libc = ctypes.CDLL(None, use_errno=True)

def ids():
    return [os.getuid(), os.geteuid(), os.getpid(), os.getppid()]

def limits():
    import resource
    names = ("AS", "NPROC", "CPU")
    return [resource.getrlimit(getattr(resource, f"RLIMIT_{n}"))[0] for n in names]

def listing(path):
    try:
        return sorted(os.listdir(path))
    except OSError as exc:
        return type(exc).__name__

def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return True

def signal_template():
    try:
        os.kill(os.getppid(), signal.SIGTERM)
        return "sent"
    except OSError as exc:
        return type(exc).__name__

def trace_template():
    return [libc.ptrace(16, os.getppid(), None, None), ctypes.get_errno()]  # PTRACE_ATTACH

def shm_create(key):
    return libc.shmget(key, 4096, 0o1666)  # IPC_CREAT | 0666

def shm_find(key):
    return libc.shmget(key, 0, 0o666)

def daemon():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(300)
        os._exit(0)
    os.wait()
    return True

def hang():
    daemon()
    time.sleep(60)

def modules():
    return sorted(m for m in ("torch", "numpy") if m in sys.modules)

def draws():
    import numpy as np
    out = [float(np.random.rand())]
    if "torch" in sys.modules:
        import torch
        out.append(float(torch.rand(1)))
    return out

def set_leak():
    import numpy
    numpy.LEAKED = 1
    globals()["LEAKED"] = 1
    return True

def leaked():
    import numpy
    return [hasattr(numpy, "LEAKED"), "LEAKED" in globals()]
"""


def start(tmp_path: Path, uses_torch: bool = False, limits: Limits | None = None) -> Remote:
    remote = Remote(limits or Limits(), BWRAP, tmp_path / "cold", uses_torch)
    remote.run_cells([["answer", "probe", PROBE]])
    return remote


def test_the_template_is_used_here(tmp_path):
    assert template.get(BWRAP, False) is not None
    assert "warm template" in template.mode(BWRAP)
    remote = start(tmp_path)
    try:
        assert isinstance(remote.proc, template.WarmProcess)
        assert remote.scratch.parent == template.get(BWRAP, False).root
    finally:
        remote.close()


def test_a_fresh_process_per_submission(tmp_path):
    a = start(tmp_path)
    try:
        assert a.call("set_leak", (), {}) is True
        assert a.call("leaked", (), {}) == [True, True]
        first = a.call("ids", (), {})
    finally:
        a.close()
    b = start(tmp_path)
    try:
        assert b.call("leaked", (), {}) == [False, False]
        second = b.call("ids", (), {})
    finally:
        b.close()
    assert first[2] != second[2], "the same process served two submissions"
    assert first[3] == second[3] != first[2], "not forked from the template"


def test_own_scratch_tmp_and_shm_no_view_of_another(tmp_path):
    a, b = start(tmp_path), start(tmp_path)
    try:
        for path in ("/scratch/mine", "/tmp/mine", "/dev/shm/mine"):
            assert a.call("write", (path, "a"), {}) is True
        assert a.call("listing", ("/scratch",), {}) == ["mine"]
        assert (a.scratch / "mine").read_text() == "a"  # the folder is really A's own
        for path in ("/scratch", "/tmp", "/dev/shm"):
            assert b.call("listing", (path,), {}) == [], path
        assert b.call("listing", ("/run/scratch",), {}) in ([], "PermissionError")
        assert b.call("listing", ("/proc",), {}) == "FileNotFoundError"
    finally:
        a.close()
        b.close()


def test_no_shared_system_v_ipc(tmp_path):
    key = 0x52454C55
    a, b = start(tmp_path), start(tmp_path)
    try:
        assert a.call("shm_create", (key,), {}) >= 0
        assert a.call("shm_find", (key,), {}) >= 0  # the probe can see a segment
        assert b.call("shm_find", (key,), {}) == -1
    finally:
        a.close()
        b.close()


def test_limits_and_an_unprivileged_user_per_submission_no_signal_or_trace_of_template(tmp_path):
    a, b = start(tmp_path), start(tmp_path)
    try:
        uid_a, euid_a, *_ = a.call("ids", (), {})
        uid_b, *_ = b.call("ids", (), {})
        assert uid_a == euid_a != 0 and uid_b != 0 and uid_a != uid_b
        expected = Limits()
        assert a.call("limits", (), {}) == [
            expected.memory_mb * 1024 * 1024, expected.processes, expected.cpu_s
        ]  # fmt: skip
        assert a.call("signal_template", (), {}) == "PermissionError"
        result, errno = a.call("trace_template", (), {})
        assert result == -1 and errno == 1  # EPERM
    finally:
        a.close()
        b.close()
    assert template.get(BWRAP, False).alive()


def users_running() -> set[int]:
    """The user ids of every process on this machine (the host sees into every sandbox)."""
    out = subprocess.run(["ps", "-eo", "uid="], capture_output=True, text=True, check=True)
    return {int(u) for u in out.stdout.split()}


def gone(uid: int, within_s: float = 3.0) -> bool:
    """Whether no process of ``uid`` is left (killed processes vanish once bubblewrap's init
    has reaped them, a moment after the SIGKILL)."""
    deadline = time.monotonic() + within_s
    while uid in users_running():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_nothing_left_behind(tmp_path):
    a = start(tmp_path)
    uid = a.call("ids", (), {})[0]
    folder = a.scratch
    assert a.call("daemon", (), {}) is True
    assert uid in users_running(), "the check could not fail: the daemon is not there"
    a.close()
    assert gone(uid), "a process of the submission outlived it"
    assert not folder.exists(), "the submission's folder was left behind"


def test_a_timeout_kills_every_process_of_the_submission(tmp_path):
    a = start(tmp_path, limits=Limits(timeout_s=2))
    uid = a.call("ids", (), {})[0]
    with pytest.raises(StudentCrash, match="time limit"):
        a.call("hang", (), {})
    assert gone(uid)
    a.close()


def test_crash_is_described_as_for_a_cold_process(tmp_path):
    a = start(tmp_path, limits=Limits(timeout_s=5))
    try:
        a.run_cells([["answer", "bye", "import os\ndef bye():\n    os.kill(os.getpid(), 9)\n"]])
        with pytest.raises(StudentCrash, match="SIGKILL"):
            a.call("bye", (), {})
        assert a.call("ids", (), {})[0] != 0  # restarted, from the template again
    finally:
        a.close()


def test_random_state_is_fresh_in_each_process(tmp_path):
    a, b = start(tmp_path), start(tmp_path)
    try:
        assert a.call("draws", (), {}) != b.call("draws", (), {})
    finally:
        a.close()
        b.close()


def test_torch_only_in_the_torch_template(tmp_path):
    pytest.importorskip("torch")
    plain = start(tmp_path)
    torch_ = start(tmp_path, uses_torch=True, limits=Limits(memory_mb=2048))
    try:
        assert plain.call("modules", (), {}) == ["numpy"]
        assert torch_.call("modules", (), {}) == ["numpy", "torch"]
        assert len(torch_.call("draws", (), {})) == 2
    finally:
        plain.close()
        torch_.close()


def test_a_dead_template_is_started_again(tmp_path):
    old = template.get(BWRAP, False)
    os.killpg(old.process.pid, signal.SIGKILL)
    old.process.wait(timeout=10)
    new = template.get(BWRAP, False)
    assert new is not old and new.alive()
    assert not old.root.exists()
    remote = start(tmp_path)
    try:
        assert isinstance(remote.proc, template.WarmProcess)
    finally:
        remote.close()


def test_a_template_that_dies_mid_submission_falls_back(tmp_path):
    remote = Remote(Limits(timeout_s=5), BWRAP, tmp_path / "cold")
    warm, _ = remote.warm
    os.killpg(warm.process.pid, signal.SIGKILL)
    warm.process.wait(timeout=10)
    remote.run_cells([["answer", "probe", PROBE]])
    try:
        assert isinstance(remote.proc, StudentProcess)
        assert remote.call("listing", ("/scratch",), {}) == []
    finally:
        remote.close()


@pytest.mark.parametrize("how", ["env", "not root"])
def test_fallback_to_a_cold_process(tmp_path, monkeypatch, how):
    if how == "env":
        monkeypatch.setenv(template.ENV_WARM, "0")
    else:
        monkeypatch.setattr(template.os, "geteuid", lambda: 1000)
    assert template.get(BWRAP, False) is None
    assert "cold process" in template.mode(BWRAP)
    monkeypatch.undo()  # the cold process itself starts as usual
    monkeypatch.setenv(template.ENV_WARM, "0")
    remote = start(tmp_path)
    try:
        assert isinstance(remote.proc, StudentProcess) and remote.warm is None
        assert remote.call("ids", (), {})[0] != 0
    finally:
        remote.close()


def _worker_template() -> tuple[int, str]:
    found = template.get(bwrap_path(), False)
    return found.process.pid, str(found.root)


def _gone(pid: int) -> bool:
    """Whether no process ``pid`` exists (not even one ended and not yet reaped)."""
    ps = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True)
    return not ps.stdout.strip()


def test_a_pool_worker_closes_its_template():
    with ProcessPoolExecutor(1) as executor:
        pid, root = executor.submit(_worker_template).result()
        assert Path(root).exists()
    time.sleep(0.5)
    assert not Path(root).exists()
    assert _gone(pid), "the worker's template outlived it"


def test_a_process_that_exits_closes_its_template():
    code = (
        "from grader import template; from grader.sandbox import bwrap_path; "
        "t = template.get(bwrap_path(), False); print(t.process.pid, t.root)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    pid, root = out.stdout.split()
    assert not Path(root).exists()
    assert _gone(int(pid))


def test_a_template_whose_start_up_check_fails_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setattr(template, "_CACHE", {})
    monkeypatch.setattr(template, "_UNAVAILABLE", {})
    broken = template.get(BWRAP, False)
    (broken.root / "probe" / "seen").unlink()  # the child's check will not find its folder
    remote = start(tmp_path)
    try:
        assert isinstance(remote.proc, StudentProcess)
        assert remote.call("ids", (), {})[0] != 0
    finally:
        remote.close()
    assert not broken.alive()
    assert template.get(BWRAP, False) is None
    assert "cannot make children" in template.mode(BWRAP)


def test_the_scratch_root_of_a_killed_grading_process_is_removed(tmp_path):
    code = (
        "import os, signal; from grader import template; from grader.sandbox import bwrap_path; "
        "t = template.get(bwrap_path(), False); f, _ = t.folder(); (f / 'left').write_text('x'); "
        "print(t.root, flush=True); os.kill(os.getpid(), signal.SIGKILL)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    root = Path(out.stdout.strip())
    assert root.name.startswith(template.ROOT_PREFIX) and root.exists()  # killed: left there
    template.close_all()
    template.get(BWRAP, False)  # the next template's start removes it
    assert not root.exists()


# Templates started by the command before it forks its grading processes (template.offer):
# each grading process takes one (template.take) and it is then its own, as if it had started it.


def _taken(scratch: str) -> dict:
    """In a pool worker: its template, and a submission's process forked from it."""
    found = template.get(bwrap_path(), False)
    remote = start(Path(scratch) / str(os.getpid()))
    try:
        uid = remote.call("ids", (), {})[0]
        folder = str(remote.scratch)
    finally:
        remote.close()
    time.sleep(0.3)  # both workers hold a task at once
    return {
        "worker": os.getpid(),
        "template": found.process.pid,
        "taken": isinstance(found.process, template._Watched),
        "root": found.root.name,
        "folder": folder,
        "uids": found.uids,
        "uid": uid,
    }


def _own_uids(pid: int) -> list[int]:
    from grader.sandbox import SANDBOX_UID_BASE, SANDBOX_UID_SPAN

    per_process = template.UIDS_PER_PROCESS
    first = SANDBOX_UID_BASE + pid % (SANDBOX_UID_SPAN // per_process) * per_process
    return [first + k for k in range(template.UIDS_PER_PROCESS)]


def test_templates_started_before_the_fork_are_taken_one_each(tmp_path):
    template.offer(BWRAP, False, 2)
    offered = {t.process.pid: t.root for t in template._OFFERED}
    assert len(offered) == 2
    try:
        with ProcessPoolExecutor(2, initializer=pool._init_worker, initargs=(0,)) as executor:
            futures = [executor.submit(_taken, str(tmp_path)) for _ in range(4)]
            template.withdraw(handed=True)
            seen = [f.result() for f in futures]
    finally:
        template.withdraw(handed=False)
    by_worker = {s["worker"]: s for s in seen}
    assert len(by_worker) == 2, seen
    # Each took one of the templates offered; no worker started its own.
    assert {s["template"] for s in by_worker.values()} == set(offered)
    for worker, s in by_worker.items():
        assert s["taken"]
        # Its user ids and its scratch root are the worker's own, as for a template it started.
        assert s["uids"] == _own_uids(worker) and s["uid"] in s["uids"]
        assert s["root"].startswith(f"{template.ROOT_PREFIX}{worker}-")
        assert Path(s["folder"]).parent.name == s["root"]
    # The workers have exited: their templates ended with them and left nothing.
    template.close_all()  # reaps the templates this process started
    for pid, root in offered.items():
        assert _gone(pid), f"template {pid} outlived its grading process"
        suffix = root.name.rsplit("-", 1)[1]  # the same under its worker's name, once renamed
        assert not any(root.parent.glob(f"{template.ROOT_PREFIX}*-{suffix}")), root
    assert not template._OFFERED and not template._GIVEN


def _template_pid() -> int:
    return template.get(bwrap_path(), False).process.pid


def test_a_template_ends_when_the_grading_process_that_took_it_is_killed():
    template.offer(BWRAP, False, 1)
    given = template._OFFERED[0].process
    with ProcessPoolExecutor(1, initializer=pool._init_worker, initargs=(0,)) as executor:
        assert executor.submit(_template_pid).result() == given.pid
        template.withdraw(handed=True)
        (worker,) = executor._processes
        os.kill(worker, signal.SIGKILL)  # no clean-up runs in it
        # Its end of the control socket was the last one open: the template ends by itself.
        given.wait(timeout=30)
    template.close_all()


def _replaced_when_dead() -> list:
    old = template.get(bwrap_path(), False)
    os.killpg(old.process.pid, signal.SIGKILL)
    old.process.wait(timeout=10)
    new = template.get(bwrap_path(), False)
    return [old.process.pid, new.process.pid, old.root.exists(), new.alive(), new.root.name]


def test_a_taken_template_that_dies_is_started_again():
    template.offer(BWRAP, False, 1)
    given = template._OFFERED[0].process.pid
    with ProcessPoolExecutor(1, initializer=pool._init_worker, initargs=(0,)) as executor:
        old, new, old_root_left, alive, root = executor.submit(_replaced_when_dead).result()
        template.withdraw(handed=True)
    assert old == given and new != given and alive and not old_root_left
    template.close_all()
    assert _gone(given)


def test_templates_started_but_not_handed_over_are_ended():
    template.offer(BWRAP, False, 2)
    offered = [(t.process, t.root) for t in template._OFFERED]
    template.withdraw(handed=False)
    for process, root in offered:
        assert process.poll() is not None and not root.exists()


def test_no_pidfd_no_templates_offered_and_grading_goes_on(tmp_path, monkeypatch):
    """Where the kernel or a seccomp profile refuses pidfd_open, nothing is offered (and the
    template started to find out is ended); a grading process starts its own as before."""

    def refused(pid, flags=0):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(template.os, "pidfd_open", refused)
    before = set(tmp_path.parent.glob(f"{template.ROOT_PREFIX}{os.getpid()}-*"))
    template.offer(BWRAP, False, 2)
    assert template._OFFERED == [] and template._TICKETS == []
    remote = start(tmp_path)
    try:
        assert isinstance(remote.proc, template.WarmProcess)
        assert remote.call("ids", (), {})[0] != 0
    finally:
        remote.close()
    template.close_all()
    assert set(tmp_path.parent.glob(f"{template.ROOT_PREFIX}{os.getpid()}-*")) <= before


def _nothing() -> int:
    return os.getpid()


def test_a_template_no_grading_process_took_is_ended_and_removed():
    template.offer(BWRAP, False, 2)  # two offered, one grading process forked
    offered = [(t.process, t.root) for t in template._OFFERED]
    with ProcessPoolExecutor(1, initializer=pool._init_worker, initargs=(0,)) as executor:
        executor.submit(_nothing).result()
        template.withdraw(handed=True)
    template.close_all()
    for process, root in offered:
        assert process.poll() is not None, "a template outlived the command"
        assert not root.exists(), f"{root} was left behind"


def test_templates_are_ended_when_the_command_fails_before_its_grading_processes(
    tmp_path, monkeypatch
):
    course = make_course(tmp_path / "course")
    folder = tmp_path / "inbox" / "someone"
    folder.mkdir(parents=True)
    nbformat.write(
        student_notebook(course, "def double(x):\n    return 2 * x\n"), folder / NOTEBOOK
    )
    collect(course=course, assignment=ASSIGNMENT, source=tmp_path / "inbox")
    seen = []

    def failing(*args, **kwargs):
        seen.extend((t.process, t.root) for t in template._OFFERED)
        raise OSError("no room left")

    monkeypatch.setattr(grading.pool, "run", failing)
    with pytest.raises(OSError, match="no room left"):
        grading.autograde(course=course, assignment=ASSIGNMENT, engine="sandbox", workers=2)
    assert seen and template._OFFERED == []
    for process, root in seen:
        assert process.poll() is not None and not root.exists()
