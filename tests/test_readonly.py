"""A read-only project (a shared folder, another user's) stays readable: read commands
open it with `mode=ro` (and `immutable=1` where the folder cannot hold SQLite's WAL
index); a command that writes says so in one line (exit 2).

The tests run as root, which `chmod` does not stop. Read-only is made real with
`chattr +i` on the folder and its files (root cannot write an immutable inode), or, where
the file system has no such flag, by running the command under bubblewrap with the
project folder bind-mounted read-only (EROFS, also for root). TWT_TEST_READONLY=bwrap
forces the second way.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_selection_support import add_generation, add_query, add_teacher

from twt_backend.cli import main
from twt_backend.config import SelectionConfig
from twt_backend.errors import ReadOnlyProjectError
from twt_backend.selection.run import run_selection
from twt_backend.store import DB_NAME, Project

REPO_ROOT = Path(__file__).resolve().parents[1]

READS = [
    (["queries", "{dir}", "--json"], 3),
    (["samples", "{dir}", "--json"], 3),
    (["teacher", "list", "{dir}", "--json"], 1),
    (["runs", "{dir}", "--json"], 1),
]
WRITES = [
    ["import", "{dir}", "{data}"],
    ["samples", "override", "{dir}", "1", "--reject"],
    ["select", "{dir}"],
    ["generate", "{dir}", "--quiet"],
    ["runs", "cancel", "{dir}", "1"],
]


def make_project(root: Path) -> Path:
    with Project.create(root, "math") as project:
        teacher = add_teacher(project, "t")
        for i in range(3):
            qid = add_query(project, f"What is {i} plus {i}?", str(2 * i))
            add_generation(project, qid, teacher, "add them", str(2 * i), 0.99)
        run_selection(project, SelectionConfig(strategy="quality"))
        with project.transaction() as conn:
            conn.execute(
                "INSERT INTO jobs(kind, name, config, status, created_at) "
                "VALUES ('check', 'old', '{}', 'finished', 'then')"
            )
    return root


def _chattr(flag: str, paths: list[Path]) -> bool:
    done = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True)
    return done.returncode == 0


@contextmanager
def immutable(root: Path) -> Iterator[bool]:
    """chattr +i on the project's files and folders; yields False where unsupported."""
    paths = [p for p in root.rglob("*")] + [root]
    if os.environ.get("TWT_TEST_READONLY") == "bwrap" or not shutil.which("chattr"):
        yield False
        return
    if not _chattr("+i", paths):
        _chattr("-i", paths)
        yield False
        return
    try:
        try:
            (root / "probe").touch()
        except OSError:
            yield True
        else:
            (root / "probe").unlink()
            yield False
    finally:
        _chattr("-i", paths)


def bwrap_works(root: Path) -> bool:
    if not shutil.which("bwrap"):
        return False
    probe = ["bwrap", "--bind", "/", "/", "--ro-bind", str(root), str(root)]
    done = subprocess.run([*probe, "touch", str(root / "probe")], capture_output=True)
    return done.returncode != 0 and b"Read-only" in done.stderr


class ReadOnlyRunner:
    """Runs `twt` on a read-only project: in this process under chattr +i, else in a
    bubblewrap child with the folder bound read-only."""

    def __init__(self, root: Path, data: Path, capsys, in_process: bool):
        self.root, self.data, self.capsys, self.in_process = root, data, capsys, in_process

    def __call__(self, argv: list[str]) -> tuple[int, str, str]:
        args = [a.format(dir=self.root, data=self.data) for a in argv]
        if self.in_process:
            code = main(args)
            out, err = self.capsys.readouterr()
            return code, out, err
        root = str(self.root)
        command = ["bwrap", "--bind", "/", "/", "--dev", "/dev", "--ro-bind", root, root]
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        done = subprocess.run(
            [*command, sys.executable, "-m", "twt_backend", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        return done.returncode, done.stdout, done.stderr


@pytest.fixture
def read_only_project(tmp_path, capsys) -> Iterator[ReadOnlyRunner]:
    root = make_project(tmp_path / "shared")
    data = tmp_path / "more.jsonl"
    data.write_text('{"question": "What is 6 times 7?", "answer": "#### 42"}\n')
    assert not (root / f"{DB_NAME}-shm").exists()  # closed cleanly: no WAL index to reuse
    with immutable(root) as locked:
        if not locked and not bwrap_works(root):
            pytest.skip("no way to make a folder read-only for root here (chattr, bwrap)")
        yield ReadOnlyRunner(root, data, capsys, in_process=locked)


def test_read_commands_work_on_a_read_only_project(read_only_project, tmp_path):
    run = read_only_project
    for argv, rows in READS:
        code, out, err = run(argv)
        assert code == 0, (argv, err)
        assert len(out.splitlines()) == rows, (argv, out)
        assert all(json.loads(line) for line in out.splitlines())
    code, out, err = run(["report", "{dir}", "--out", str(tmp_path / "report")])
    assert code == 0, err
    assert (tmp_path / "report" / "comparison.json").is_file()
    code, out, err = run(["report", "{dir}"])  # the default folder is inside the project
    assert code == 2 and "choose a writable folder with --out" in err
    code, out, err = run(["doctor", "{dir}"])
    assert code in (0, 1) and "store cannot be used" not in out and not err.strip(), (out, err)


@pytest.mark.parametrize("argv", WRITES, ids=lambda a: "-".join(a[:2]).replace("-{dir}", ""))
def test_a_write_command_says_the_project_is_read_only(read_only_project, argv):
    code, out, err = read_only_project(argv)
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1
    assert "read-only" in err and "attempt to write" not in err and "Traceback" not in err


def test_read_only_opening_cannot_write(tmp_path, capsys):
    root = make_project(tmp_path / "p")
    before = hashlib.sha256((root / DB_NAME).read_bytes()).hexdigest()
    for argv, _ in READS:
        assert main([a.format(dir=root) for a in argv]) == 0
    capsys.readouterr()
    with Project.open(root, readonly=True) as project:
        assert project.scalar("SELECT COUNT(*) FROM queries") == 3
        with pytest.raises(ReadOnlyProjectError, match="opened read-only"):
            with project.transaction():
                pass
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            project.conn.execute("DELETE FROM queries")
    assert hashlib.sha256((root / DB_NAME).read_bytes()).hexdigest() == before
    wal = root / f"{DB_NAME}-wal"
    assert not wal.exists() or wal.stat().st_size == 0
