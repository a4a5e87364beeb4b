"""Run untrusted (model-written) Python programs and report how they ended.

Layers, strongest first, each used when this machine allows it:

- bubblewrap (`bwrap`): a read-only view of only the interpreter and the system
  (`sandbox_mounts`: home folders, `/root`, `/run`, `/var`, the caller's folder
  and `/etc`'s secrets hidden), a writable work folder, a private `/tmp`, no
  network, private PID/IPC/UTS namespaces, all capabilities dropped, the sandbox
  killed with its parent;
- a cgroup with `pids.max` (a fork bomb stays bounded even for root, for whom
  RLIMIT_NPROC does not apply), also used to kill every process at the end;
- always: rlimits (CPU, address space, file size, processes), a new session and
  process group killed at the end, a fresh temporary folder, a minimal
  environment without secrets, output captured to size-limited files.
"""

from __future__ import annotations

import logging
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from twt_backend.evaluation import sandbox_cgroup as cgroups
from twt_backend.evaluation import sandbox_mounts as mounts

log = logging.getLogger(__name__)

OUTPUT_CHARS = 4096
MARKER_VAR = "TWT_SANDBOX_RUN"
_PROBE_TIMEOUT_S = 10.0
SCRATCH_MB = 64  # size of each writable tmpfs under bwrap: the work folder, /tmp, /dev/shm
_warned = False


@dataclass
class SandboxResult:
    passed: bool
    returncode: int | None
    timed_out: bool
    stdout: str
    stderr: str
    duration_s: float
    reason: str  # ok | failed | timeout | memory | cpu_limit | output_limit | process_limit | error


@dataclass(frozen=True)
class _Limits:
    timeout_s: float
    memory_mb: int
    max_processes: int
    max_file_mb: int
    output_chars: int


def _bwrap_argv(base: Path, view: mounts.View) -> list[str]:
    """bwrap around a program at `base/main.py`, run in `base/work`: a size-limited tmpfs.

    What the program sees of the filesystem is `view` (see `sandbox_mounts`)."""
    work, size = str(base / "work"), str(SCRATCH_MB * 1024 * 1024)
    empty = base / "empty"  # bound over the secrets of /etc
    empty.touch()
    return [
        "bwrap",
        "--dev", "/dev",
        "--size", size, "--tmpfs", "/dev/shm",
        "--remount-ro", "/dev",
        "--proc", "/proc",
        *view.mount_args(work, base / "main.py", empty, size),
        "--chdir", work,
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
        "--cap-drop", "ALL",
        "--die-with-parent", "--new-session",
    ]  # fmt: skip


def current_view(hide: Iterable[str | os.PathLike[str]] = ()) -> mounts.View:
    """The filesystem view for programs run now: `hide` and the caller's working folder
    (a job's is its project folder) hidden."""
    try:
        cwd = [os.getcwd()]
    except OSError:  # deleted under us
        cwd = []
    return mounts.View.current([*cwd, *hide])


@lru_cache(maxsize=1)
def _bwrap_status() -> tuple[bool, str]:
    """Whether bwrap exists and can really start a sandbox here (user namespaces may be off)."""
    if sys.platform != "linux":
        return False, f"bubblewrap is Linux-only (platform {sys.platform})"
    if shutil.which("bwrap") is None:
        return False, "bwrap not found on PATH (Debian/Ubuntu: apt-get install bubblewrap)"
    with tempfile.TemporaryDirectory(prefix="twt-sbx-probe-") as tmp:
        base = Path(tmp)
        imports = "".join(f"import {name}\n" for name in mounts.probe_modules())
        (base / "main.py").write_text(f"{imports}open('probe', 'w').write('1')\nprint('ok')\n")
        argv = [*_bwrap_argv(base, current_view()), mounts.interpreter(), "-I", "main.py"]
        try:
            done = subprocess.run(
                argv, capture_output=True, timeout=_PROBE_TIMEOUT_S, env=_clean_env(base), cwd=base
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"bwrap failed to start: {exc}"
        if done.returncode != 0 or done.stdout.strip() != b"ok":
            detail = done.stderr.decode(errors="replace").strip().splitlines()
            reason = detail[-1] if detail else f"exit status {done.returncode}"
            return False, f"bwrap cannot create a sandbox here: {reason}"
    return True, "bwrap works"


def _use_bwrap(isolation: str) -> bool:
    if isolation not in ("auto", "process"):
        raise ValueError(f"isolation must be 'auto' or 'process', not {isolation!r}")
    if isolation == "process" or os.environ.get("TWT_SANDBOX") == "process":
        return False
    return _bwrap_status()[0]


def protections(isolation: str = "auto") -> dict[str, Any]:
    """Which protections `run_python` applies on this machine; warns once when isolation is weak."""
    bwrap = _use_bwrap(isolation)
    pids_root = cgroups.pids_root()
    as_root = os.geteuid() == 0
    info: dict[str, Any] = {
        "isolation": "bubblewrap" if bwrap else "process",
        "bwrap": bwrap,
        "bwrap_detail": _bwrap_status()[1],
        "network": "isolated (bwrap --unshare-net)" if bwrap else "NOT isolated",
        "filesystem": (
            "read-only view of the interpreter and the system only (/usr, /etc without its "
            "secrets); home folders, /root, /run, /var, /tmp and the caller's folder hidden; "
            f"writable: the work folder, /tmp and /dev/shm (bwrap; private tmpfs of {SCRATCH_MB} "
            "MB each)"
            if bwrap
            else "NOT protected outside the fresh work folder: every file the user can read "
            "is readable"
        ),
        "pid_namespace": bwrap,
        "capabilities": "dropped (bwrap --cap-drop ALL)" if bwrap else "unchanged",
        "process_limit": (
            f"cgroup pids.max ({pids_root})"
            if pids_root
            else ("none: RLIMIT_NPROC does not bind root" if as_root else "RLIMIT_NPROC")
        ),
        "rlimits": "cpu, address space, file size, processes",
        "view": current_view().describe() if bwrap else {},
        "process_group": True,
        "clean_env": True,
        "kill_all_at_end": " + ".join(
            (["pid namespace"] if bwrap else ["process group"])
            + (["cgroup"] if pids_root else [] if bwrap else ["environment marker scan"])
        ),
    }
    if not bwrap:
        works, detail = _bwrap_status()
        why = "isolation='process' requested" if works else detail
        info["warning"] = (
            f"no sandbox isolation ({why}): model-written code can reach the "
            "network and write files outside its folder; install bubblewrap for isolation"
        )
        _warn_once(str(info["warning"]))
    return info


def _warn_once(message: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        log.warning(message)


def _clean_env(work: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(work),
        "TMPDIR": str(work),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
    }


def _preexec(limits: _Limits, cgroup_fd: int | None) -> Callable[[], None]:
    cpu_s = int(limits.timeout_s) + 1
    memory = limits.memory_mb * 1024 * 1024
    fsize = limits.max_file_mb * 1024 * 1024
    nproc = cgroups.user_process_count() + limits.max_processes if os.geteuid() != 0 else 0

    def apply() -> None:  # runs in the child between fork and exec: keep it to system calls
        if cgroup_fd is not None:
            os.write(cgroup_fd, str(os.getpid()).encode())
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if nproc:
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))

    return apply


def _read_capped(path: Path, limit: int) -> tuple[str, int]:
    """The file's text, keeping its start and its end when longer than `limit` characters."""
    size = path.stat().st_size
    half = max(1, limit // 2)
    with path.open("rb") as fh:
        if size <= limit:
            return fh.read().decode("utf-8", errors="replace"), size
        head = fh.read(half).decode("utf-8", errors="replace")
        fh.seek(size - half)
        tail = fh.read().decode("utf-8", errors="replace")
    return f"{head}\n[... {size - 2 * half} bytes cut ...]\n{tail}", size


def _wait_exit(proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """Whether the process ended within the timeout; woken at its exit, not by polling."""
    try:
        pidfd = os.pidfd_open(proc.pid)  # Linux 5.3+
    except (AttributeError, OSError):
        try:
            proc.wait(timeout=timeout_s)  # sleeps in steps of up to 50 ms
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        return bool(poller.poll(max(0, int(timeout_s * 1000))))
    finally:
        os.close(pidfd)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_marked(marker: str) -> None:
    """Last resort without bwrap or cgroups: kill processes that still carry this run's marker."""
    needle = f"{MARKER_VAR}={marker}".encode()
    if not Path("/proc").is_dir():
        return
    for _ in range(3):
        found = False
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if needle in (entry / "environ").read_bytes():
                    os.kill(int(entry.name), signal.SIGKILL)
                    found = True
            except OSError:
                continue
        if not found:
            return
        time.sleep(0.01)


def _reason(
    returncode: int | None, timed_out: bool, stderr: str, output_hit: bool, pids_hit: bool
) -> str:
    if timed_out:
        return "timeout"
    if output_hit:
        return "output_limit"
    if returncode == 0:
        return "ok"
    if "MemoryError" in stderr:
        return "memory"
    rc = returncode or 0
    signum = -rc if rc < 0 else rc - 128  # bwrap reports death by signal N as 128 + N
    if signum == signal.SIGXCPU:
        return "cpu_limit"
    if pids_hit:
        return "process_limit"
    return "failed"


def run_python(
    source: str,
    timeout_s: float = 10.0,
    memory_mb: int = 1024,
    max_processes: int = 64,
    max_file_mb: int = 16,
    output_chars: int = OUTPUT_CHARS,
    isolation: str = "auto",
    hide: Sequence[str | os.PathLike[str]] = (),
    view: mounts.View | None = None,
) -> SandboxResult:
    """Run `source` as a Python program under every protection available (see `protections`).

    Under bwrap, `hide` adds folders (a project folder) to the hidden ones; the caller's
    working folder is always hidden. `view` is one prepared by `current_view` (`run_many`
    prepares one per batch); it replaces `hide`."""
    limits = _Limits(timeout_s, memory_mb, max_processes, max_file_mb, output_chars)
    bwrap = _use_bwrap(isolation)
    if not bwrap:
        protections(isolation)  # emits the one-time warning
    base = Path(tempfile.mkdtemp(prefix="twt-sbx-"))
    cgroup = cgroups.PidsCgroup.create(max_processes)
    try:
        if bwrap and view is None:
            view = current_view(hide)
        return _run_in(base, source, limits, view if bwrap else None, cgroup)
    finally:
        if cgroup is not None:
            cgroup.remove()
        shutil.rmtree(base, ignore_errors=True)


def _run_in(
    base: Path,
    source: str,
    limits: _Limits,
    view: mounts.View | None,
    cgroup: cgroups.PidsCgroup | None,
) -> SandboxResult:
    bwrap = view is not None
    work = base / "work"  # under bwrap a tmpfs at this path, holding a read-only main.py
    (base / "main.py").write_text(source, encoding="utf-8")
    if not bwrap:
        work.mkdir()
        (base / "main.py").rename(work / "main.py")
    out_path, err_path = base / "stdout", base / "stderr"
    env = _clean_env(work)
    marker = uuid.uuid4().hex
    env[MARKER_VAR] = marker
    argv = [sys.executable, "-I", "-B", "main.py"]
    if view is not None:
        argv = [*_bwrap_argv(base, view), mounts.interpreter(), *argv[1:]]
    start = time.monotonic()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            argv,
            cwd=base if bwrap else work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            preexec_fn=_preexec(limits, cgroup.procs_fd if cgroup else None),  # noqa: PLW1509
        )
        timed_out = not _wait_exit(proc, limits.timeout_s)
        _kill_group(proc.pid)
        if cgroup is not None:
            cgroup.kill_all()
        elif not bwrap:
            _kill_marked(marker)
        returncode = proc.wait()
    duration = time.monotonic() - start
    cap = limits.max_file_mb * 1024 * 1024
    stdout, out_size = _read_capped(out_path, limits.output_chars)
    stderr, err_size = _read_capped(err_path, limits.output_chars)
    output_hit = max(out_size, err_size) >= cap
    pids_hit = cgroup.limit_hit() if cgroup else False
    reason = _reason(None if timed_out else returncode, timed_out, stderr, output_hit, pids_hit)
    return SandboxResult(
        passed=reason == "ok",
        returncode=None if timed_out else returncode,
        timed_out=timed_out,
        stdout=stdout,
        stderr=stderr,
        duration_s=duration,
        reason=reason,
    )


def run_many(
    sources: Sequence[str],
    workers: int = 4,
    timeout_s: float = 10.0,
    memory_mb: int = 1024,
    isolation: str = "auto",
    on_done: Callable[[int], None] | None = None,
    hide: Sequence[str | os.PathLike[str]] = (),
) -> list[SandboxResult]:
    """Run programs in parallel threads (each in its own sandbox); results in input order."""
    if not sources:
        return []
    view = current_view(hide) if _use_bwrap(isolation) else None  # one look at /etc a batch

    def one(index_source: tuple[int, str]) -> SandboxResult:
        result = run_python(
            index_source[1],
            timeout_s=timeout_s,
            memory_mb=memory_mb,
            isolation=isolation,
            view=view,
        )
        if on_done is not None:
            on_done(index_source[0])
        return result

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(one, enumerate(sources)))
