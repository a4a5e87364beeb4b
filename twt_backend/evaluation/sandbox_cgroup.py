"""A throw-away `pids` cgroup per sandboxed program.

It bounds fork bombs even when running as root (for whom RLIMIT_NPROC does not
apply) and lists every process of the program, daemonised ones included, so the
sandbox can kill them all. Used only where the cgroup file system is writable.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

_PREFIX = "twt-sandbox-"


def _own_cgroups() -> tuple[str | None, str | None]:
    """This process's cgroup path in the v1 `pids` hierarchy and in the v2 hierarchy."""
    v1 = v2 = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controllers == "":
                v2 = path
            elif "pids" in controllers.split(","):
                v1 = path
    return v1, v2


def _candidates() -> list[Path]:
    own_v1, own_v2 = _own_cgroups()
    found: list[Path] = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            parts = line.split()
            sep = parts.index("-")
            fstype, options = parts[sep + 1], parts[sep + 3]
            mount_root, mountpoint = parts[3], Path(parts[4])
            if fstype == "cgroup" and own_v1 and "pids" in options.split(","):
                found.append(mountpoint / os.path.relpath(own_v1, mount_root))
            elif fstype == "cgroup2" and own_v2:
                path = mountpoint / os.path.relpath(own_v2, mount_root)
                with contextlib.suppress(OSError):
                    if "pids" in (path / "cgroup.subtree_control").read_text().split():
                        found.append(path)
    return found


def _works(root: Path) -> bool:
    probe = root / f"{_PREFIX}probe-{uuid.uuid4().hex[:8]}"
    try:
        probe.mkdir()
        (probe / "pids.max").write_text("8")
        return True
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            probe.rmdir()


def _remove_stale(root: Path) -> None:
    for path in root.glob(f"{_PREFIX}*-*"):
        owner = path.name[len(_PREFIX) :].split("-")[0]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            with contextlib.suppress(OSError):
                path.rmdir()


@lru_cache(maxsize=1)
def pids_root() -> Path | None:
    """Where this process may create pids cgroups, or None where it can't."""
    for root in _candidates():
        if _works(root):
            _remove_stale(root)
            return root
    return None


def user_process_count() -> int:
    uid = os.getuid()
    count = 0
    if not Path("/proc").is_dir():
        return count
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                count += 1
    return count


@dataclass
class PidsCgroup:
    path: Path
    procs_fd: int

    @classmethod
    def create(cls, max_pids: int) -> PidsCgroup | None:
        root = pids_root()
        if root is None:
            return None
        path = root / f"{_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(max_pids))
            return cls(path, os.open(path / "cgroup.procs", os.O_WRONLY))
        except OSError as exc:
            log.debug("no pids cgroup for this run: %s", exc)
            with contextlib.suppress(OSError):
                path.rmdir()
            return None

    def pids(self) -> list[int]:
        with contextlib.suppress(OSError):
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        return []

    def kill_all(self) -> None:
        with contextlib.suppress(OSError):
            (self.path / "cgroup.kill").write_text("1")  # cgroup v2, Linux 5.14+
        for _ in range(500):  # a forking program may add processes while we kill
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.002)
        log.warning("processes still alive in %s", self.path)

    def limit_hit(self) -> bool:
        with contextlib.suppress(OSError, ValueError):
            for line in (self.path / "pids.events").read_text().splitlines():
                key, value = line.split()
                if key == "max":
                    return int(value) > 0
        return False

    def remove(self) -> None:
        os.close(self.procs_fd)
        self.kill_all()
        for _ in range(100):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.01)
        log.warning("could not remove cgroup %s", self.path)
