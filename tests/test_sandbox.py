"""The code sandbox against hostile programs, under each protection level this machine has."""

from __future__ import annotations

import shutil
import socket
import sys
import time
import uuid
from pathlib import Path

import pytest

from twt_backend.evaluation import sandbox, sandbox_cgroup
from twt_backend.evaluation.sandbox import protections, run_many, run_python

BWRAP = protections()["bwrap"] is True
NO_BWRAP_REASON = f"bubblewrap isolation not active here: {protections()['bwrap_detail']}"
needs_bwrap = pytest.mark.skipif(not BWRAP, reason=NO_BWRAP_REASON)
linux_only = pytest.mark.skipif(sys.platform != "linux", reason="process checks read /proc")


@pytest.fixture(params=["auto", "process", "process-no-cgroup"])
def isolation(request, monkeypatch) -> str:
    """Every protection level: bwrap (where it works), plain processes, and neither bwrap nor cgroup."""
    if request.param == "auto" and not BWRAP:
        pytest.skip(NO_BWRAP_REASON)
    if request.param == "process-no-cgroup":
        monkeypatch.setattr(sandbox_cgroup, "pids_root", lambda: None)
        return "process"
    return request.param


def _alive_with(token: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if token.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _assert_none_alive(token: str) -> None:
    deadline = time.monotonic() + 2.0
    while _alive_with(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _alive_with(token) == []


def test_protections_report_what_is_active():
    info = protections()
    assert info["process_group"] is True and info["clean_env"] is True
    if sys.platform == "linux" and shutil.which("bwrap") and info["bwrap"]:
        assert info["network"].startswith("isolated")
        assert info["pid_namespace"] is True
    weak = protections("process")
    assert weak["bwrap"] is False
    assert weak["network"] == "NOT isolated" and "warning" in weak


def test_falls_back_with_a_warning_when_bwrap_is_missing(monkeypatch, caplog):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    monkeypatch.setattr(sandbox, "_warned", False)
    sandbox._bwrap_status.cache_clear()
    try:
        info = protections()
        assert info["bwrap"] is False and "bwrap not found" in info["warning"]
        with caplog.at_level("WARNING", logger="twt_backend.evaluation.sandbox"):
            assert run_python("print(6 * 7)").stdout.strip() == "42"
            assert run_python("print(1)").passed
        warnings = [r for r in caplog.records if "no sandbox isolation" in r.getMessage()]
        assert len(warnings) == 1 and "bwrap not found" in warnings[0].getMessage()
    finally:
        sandbox._bwrap_status.cache_clear()


def test_correct_and_incorrect_programs(isolation):
    good = run_python(
        "def f(x):\n    return x + 1\nassert f(1) == 2\nprint('fine')", isolation=isolation
    )
    assert good.passed and good.reason == "ok" and good.returncode == 0
    assert good.stdout.strip() == "fine"
    bad = run_python("def f(x):\n    return x\nassert f(1) == 2", isolation=isolation)
    assert not bad.passed and bad.reason == "failed" and bad.returncode != 0
    assert "AssertionError" in bad.stderr
    syntax = run_python("def f(:\n", isolation=isolation)
    assert not syntax.passed and "SyntaxError" in syntax.stderr


def test_infinite_loop_times_out(isolation):
    started = time.monotonic()
    result = run_python("while True:\n    pass", timeout_s=1.0, isolation=isolation)
    assert result.timed_out and result.reason == "timeout" and not result.passed
    assert time.monotonic() - started < 5.0


def test_memory_bomb_hits_the_limit(isolation):
    result = run_python("chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 2**20))",
                        memory_mb=256, timeout_s=10.0, isolation=isolation)  # fmt: skip
    assert not result.passed and result.reason == "memory"


@linux_only
def test_fork_loop_is_bounded_and_leaves_nothing(isolation):
    token = f"twt-fork-{uuid.uuid4().hex}"
    program = f"""
import os, sys
forked = 0
for _ in range(100):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        os.execv(sys.executable, [sys.executable, "-I", "-S", "-c", "import time; time.sleep(60)", "{token}"])
    forked += 1
print(forked)
"""
    info = protections(isolation)
    result = run_python(program, timeout_s=10.0, max_processes=32, isolation=isolation)
    bounded = not str(info["process_limit"]).startswith("none")
    if bounded:
        assert int(result.stdout.strip()) < 32
    _assert_none_alive(token)


@linux_only
def test_daemonised_child_does_not_outlive_the_run(isolation):
    token = f"twt-daemon-{uuid.uuid4().hex}"
    program = f"""
import os, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for fd in range(3):
            os.close(fd)
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", "{token}"])
    os._exit(0)
os.wait()
print("parent done")
"""
    result = run_python(program, timeout_s=5.0, isolation=isolation)
    assert result.passed, result.stderr
    _assert_none_alive(token)


def test_secrets_in_the_environment_stay_out(isolation, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    monkeypatch.setenv("MISTRAL_API_KEY", "mistral-test-secret")
    program = "import os\nprint(sorted(os.environ))\nprint(os.environ.get('OPENAI_API_KEY'))"
    result = run_python(program, isolation=isolation)
    assert result.passed
    assert "sk-test-secret" not in result.stdout and "OPENAI_API_KEY" not in result.stdout
    assert "MISTRAL_API_KEY" not in result.stdout


@needs_bwrap
def test_no_process_of_the_host_is_visible_under_bwrap(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    program = """
import os
leaks = []
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        if b'sk-test-secret' in open(f'/proc/{pid}/environ', 'rb').read():
            leaks.append(pid)
    except OSError:
        pass
print(len(os.listdir('/proc')) > 0, leaks)
"""
    result = run_python(program)
    assert protections()["pid_namespace"] is True
    assert result.passed and result.stdout.strip() == "True []"


@needs_bwrap
def test_files_outside_the_folder_are_protected(tmp_path):
    assert protections()["filesystem"].startswith("read-only")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    beside_tests = Path(__file__).resolve().parent / f"escape-{uuid.uuid4().hex}.txt"
    program = f"""
import os, pathlib
pathlib.Path('local.txt').write_text('mine')
assert pathlib.Path('local.txt').read_text() == 'mine'
for action in (lambda: os.remove({str(victim)!r}),
               lambda: open({str(beside_tests)!r}, 'w').write('escaped'),
               lambda: open({str(tmp_path / "new.txt")!r}, 'w').write('escaped')):
    try:
        action()
        print('escaped')
    except OSError:
        print('blocked')
"""
    try:
        result = run_python(program)
        assert result.passed, result.stderr
        assert result.stdout.split() == ["blocked"] * 3
        assert victim.read_text() == "keep me"
        assert not beside_tests.exists() and not (tmp_path / "new.txt").exists()
    finally:
        beside_tests.unlink(missing_ok=True)


@needs_bwrap
def test_scratch_space_is_bounded_under_bwrap():
    program = """
import os
for folder in ('.', '/tmp', '/dev/shm'):
    written = 0
    try:
        for i in range(100):
            with open(os.path.join(folder, f'fill{i}'), 'wb') as fh:
                fh.write(b'x' * 8 * 2**20)
            written += 8
    except OSError as exc:
        print(folder, written, exc.errno)
try:
    open('/dev/evil', 'w')
    print('dev writable')
except OSError:
    print('dev read-only')
"""
    result = run_python(program, max_file_mb=16)
    lines = result.stdout.splitlines()
    assert result.passed and len(lines) == 4, result.stdout + result.stderr
    for line in lines[:3]:
        written, errno = map(int, line.split()[1:])
        assert written <= sandbox.SCRATCH_MB and errno == 28  # ENOSPC
    assert lines[3] == "dev read-only"


@needs_bwrap
def test_no_network_under_bwrap():
    assert protections()["network"].startswith("isolated")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        program = f"""
import socket
try:
    socket.create_connection(('127.0.0.1', {port}), timeout=3).close()
    print('connected')
except OSError as exc:
    print('blocked', type(exc).__name__)
"""
        result = run_python(program)
        control = run_python(program, isolation="process")
    assert result.passed and result.stdout.startswith("blocked")
    assert control.stdout.startswith("connected")  # the listener was really reachable


def test_output_flood_is_capped(isolation):
    program = "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)"
    started = time.monotonic()
    result = run_python(program, timeout_s=20.0, max_file_mb=8, isolation=isolation)
    assert result.reason == "output_limit" and not result.passed
    assert len(result.stdout) <= sandbox.OUTPUT_CHARS + 100
    assert time.monotonic() - started < 10.0


def test_run_many_keeps_order_and_runs_in_parallel():
    programs = [f"import time\ntime.sleep({1.0 if i % 2 else 0.0})\nprint({i})" for i in range(8)]
    started = time.monotonic()
    results = run_many(programs, workers=4)
    assert [r.stdout.strip() for r in results] == [str(i) for i in range(8)]
    assert all(r.passed for r in results)
    assert time.monotonic() - started < 3.0  # one at a time takes over 4 s
