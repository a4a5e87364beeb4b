"""What a bubblewrap sandbox sees: the interpreter and the system, read-only; nothing of the user's.

Visible, read-only: `/usr` and the `/bin`, `/sbin`, `/lib*` folders or links, `/etc`
except what the system itself keeps from other users (not world-readable: shadow,
gshadow, private keys; replaced by empty ones), the interpreter's prefixes (a venv
and the Python it was made from, wherever they live) and any shared library the
interpreter maps from elsewhere (found once by running it).

Hidden: `/home`, `/root`, `/run` and `/var` are empty and read-only, `/tmp` is
empty and writable (size-limited); the caller's working folder and the folders
given to hide get an empty tmpfs wherever they lie inside a visible tree. Anything
else of the host (`/work`, `/opt`, `/mnt`, `/srv`, `/sys`, ...) is not there at all.
An interpreter under a hidden folder (pyenv in `/root`, a CI checkout in `/tmp`) is
bound back on top, read-only.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

SYSTEM_TREES = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
EMPTY_TREES = ("/home", "/root", "/run", "/var")
# Standard-library modules that MBPP/HumanEval-style tests import: running them once tells
# which shared libraries the interpreter needs outside its prefixes and /usr.
PROBE_MODULES = (
    "array bisect cmath collections copy dataclasses datetime decimal fractions functools "
    "hashlib heapq itertools json math operator random re statistics string sys typing"
).split()
_PROBE = (
    "import importlib\n"
    "for name in {modules!r}:\n"
    "    try:\n"
    "        importlib.import_module(name)\n"
    "    except ImportError:\n"
    "        pass\n"
    "import json\n"
    "rows = [line.split(None, 5) for line in open('/proc/self/maps')]\n"
    "print(json.dumps(sorted({{row[5].strip() for row in rows if len(row) == 6}})))\n"
)


@lru_cache(maxsize=1)
def probe_modules() -> tuple[str, ...]:
    """The PROBE_MODULES this interpreter has (a frozen app bundles only what it uses)."""
    return tuple(name for name in PROBE_MODULES if importlib.util.find_spec(name) is not None)


def interpreter() -> str:
    """The interpreter to run inside: `sys.executable` with its folder's symlinks resolved,
    so a venv reached through a symlink is still found as a venv (by its pyvenv.cfg)."""
    executable = Path(sys.executable)
    return str(Path(os.path.realpath(executable.parent)) / executable.name)


def _inside(path: str, tree: str) -> bool:
    return path != tree and Path(path).is_relative_to(tree)


def _within(path: str, tree: str) -> bool:
    return Path(path).is_relative_to(tree)


@lru_cache(maxsize=1)
def interpreter_roots() -> tuple[str, ...]:
    """The interpreter's prefixes as real paths, outermost only."""
    candidates = {
        os.path.realpath(p)
        for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
    }
    candidates.add(os.path.realpath(Path(interpreter()).parent))
    candidates.add(os.path.realpath(Path(os.path.realpath(sys.executable)).parent))
    existing = sorted(p for p in candidates if Path(p).is_dir() and p != "/")
    return tuple(p for p in existing if not any(_inside(p, other) for other in existing))


def etc_secrets() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Files and folders of /etc that other users may not read (shadow, private keys, ...).

    Not cached: a secret written since the last look must be hidden too (one walk of /etc,
    some 10-30 ms, per `View`)."""
    files: list[str] = []
    folders: list[str] = []
    for top, dirs, names in os.walk("/etc"):
        for name in list(dirs):
            path = os.path.join(top, name)
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue
            if stat.S_ISDIR(mode) and (mode & 0o005) != 0o005:
                folders.append(path)
                dirs.remove(name)
        for name in names:
            path = os.path.join(top, name)
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue
            if stat.S_ISREG(mode) and not mode & stat.S_IROTH:
                files.append(path)
    return tuple(files), tuple(folders)


@lru_cache(maxsize=1)
def extra_libraries() -> tuple[str, ...]:
    """Files the interpreter maps (its binary, shared libraries) outside the visible trees."""
    argv = [interpreter(), "-I", "-c", _PROBE.format(modules=probe_modules())]
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    try:
        done = subprocess.run(argv, capture_output=True, timeout=30, env=env, cwd="/", check=True)
        mapped = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        log.debug("interpreter probe failed, no extra libraries bound: %s", exc)
        return ()
    visible = (*_system_binds(), *interpreter_roots())
    real = {os.path.realpath(p) for p in mapped if isinstance(p, str) and p.startswith("/")}
    return tuple(
        sorted(
            p for p in real if Path(p).is_file() and not any(_within(p, tree) for tree in visible)
        )
    )


def _system_binds() -> list[str]:
    return [t for t in SYSTEM_TREES if Path(t).is_dir() and not Path(t).is_symlink()]


@dataclass(frozen=True)
class _Mount:
    path: str
    args: tuple[str, ...]
    read_only_after: bool = False  # remounted read-only once everything inside is mounted


def _hidden_folders(hide: Iterable[str | os.PathLike[str]], binds: Sequence[str]) -> list[str]:
    """The folders to hide that would otherwise show through a visible tree."""
    found: list[str] = []
    for folder in hide:
        real = os.path.realpath(folder)
        if not Path(real).is_dir() or real == "/" or real in binds:
            continue
        if any(_within(tree, real) for tree in (*SYSTEM_TREES, *EMPTY_TREES, "/tmp")):
            continue  # hiding it would hide the system, or it is hidden already
        if any(_inside(real, tree) for tree in binds) and real not in found:
            found.append(real)
    return found


def _needed(path: str, binds: Sequence[str], hides: Sequence[str]) -> bool:
    """False where an outer bind already shows `path` and no hide lies between them."""
    for outer in binds:
        if _inside(path, outer) and not any(_inside(h, outer) and _within(path, h) for h in hides):
            return False
    return True


@dataclass(frozen=True)
class View:
    """What one sandbox (or a batch of them) sees; build it with `View.current`."""

    system: tuple[str, ...]
    roots: tuple[str, ...]
    libraries: tuple[str, ...]
    secret_files: tuple[str, ...]
    secret_folders: tuple[str, ...]
    hides: tuple[str, ...]

    @classmethod
    def current(cls, hide: Iterable[str | os.PathLike[str]] = ()) -> View:
        system = tuple(_system_binds())
        roots = interpreter_roots()
        files, folders = etc_secrets()
        hides = _hidden_folders(hide, [*system, *roots])
        return cls(system, roots, extra_libraries(), files, folders, tuple(hides))

    def mount_args(self, work: str, main_py: Path, empty_file: Path, size: str) -> list[str]:
        """bwrap's mount options: this view, plus `work` (a tmpfs holding `main_py`)."""
        all_hides = [*EMPTY_TREES, "/tmp", *self.secret_folders, *self.hides]
        mounts = [
            _Mount(t, ("--symlink", os.readlink(t), t))
            for t in SYSTEM_TREES
            if Path(t).is_symlink()
        ]
        mounts += [_Mount(t, ("--ro-bind", t, t)) for t in self.system]
        mounts += [_Mount(f, ("--ro-bind", str(empty_file), f)) for f in self.secret_files]
        emptied = (*EMPTY_TREES, *self.secret_folders, *self.hides)
        mounts += [_Mount(d, ("--tmpfs", d), read_only_after=True) for d in emptied]
        mounts += [_Mount("/tmp", ("--size", size, "--tmpfs", "/tmp"))]
        binds = [*self.system, *self.roots, *self.libraries]
        mounts += [
            _Mount(p, ("--ro-bind", p, p))
            for p in (*self.roots, *self.libraries)
            if p not in self.system and _needed(p, binds, all_hides)
        ]
        mounts += [
            _Mount(work, ("--size", size, "--tmpfs", work)),
            _Mount(f"{work}/main.py", ("--ro-bind", str(main_py), f"{work}/main.py")),
        ]
        mounts.sort(key=lambda m: len(Path(m.path).parts))  # outer first: inner ones on top
        args = [arg for m in mounts for arg in m.args]
        args += [arg for m in mounts if m.read_only_after for arg in ("--remount-ro", m.path)]
        return [*args, "--remount-ro", "/"]

    def describe(self) -> dict[str, list[str]]:
        """What the sandbox shows and hides, for `protections()`."""
        return {
            "visible_read_only": [*self.system, *self.roots, *self.libraries],
            "emptied": [*EMPTY_TREES, "/tmp", *self.hides],
            "etc_secrets_emptied": [*self.secret_files, *self.secret_folders],
        }
