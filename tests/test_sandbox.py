"""The code sandbox against hostile programs, under each protection level this machine has."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
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
    deadline = time.monotonic() + 60.0  # killed already: only the reaping may lag on a busy host
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
    result = run_python("while True:\n    pass", timeout_s=1.0, isolation=isolation)
    assert result.timed_out and result.reason == "timeout" and not result.passed


def test_memory_bomb_hits_the_limit(isolation):
    result = run_python("chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 2**20))",
                        memory_mb=256, timeout_s=60.0, isolation=isolation)  # fmt: skip
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
    result = run_python(program, timeout_s=60.0, max_processes=32, isolation=isolation)
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
    result = run_python(program, timeout_s=60.0, isolation=isolation)
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
    socket.create_connection(('127.0.0.1', {port}), timeout=30).close()
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
    result = run_python(program, timeout_s=120.0, max_file_mb=8, isolation=isolation)
    assert result.reason == "output_limit" and not result.passed  # not "timeout"
    assert len(result.stdout) <= sandbox.OUTPUT_CHARS + 100


def _running_programs() -> set[int]:
    """Pids of the sandboxed programs (`python -I -B main.py`) this test process started."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")[:-1]
            if argv[-2:] != [b"-B", b"main.py"] or b"bwrap" in argv[0]:
                continue
            pid = int(entry.name)
            while pid > 1:  # a descendant of ours (not another test run's)?
                stat = (Path("/proc") / str(pid) / "stat").read_text()
                pid = int(stat.rsplit(")", 1)[1].split()[1])
                if pid == os.getpid():
                    found.add(int(entry.name))
                    break
        except (OSError, ValueError, IndexError):
            continue
    return found


def _sleeping_programs() -> set[int]:
    """Those of `_running_programs` that have printed (their stdout file is not empty)."""
    found = set()
    for pid in _running_programs():
        try:
            if os.stat(f"/proc/{pid}/fd/1").st_size > 0:
                found.add(pid)
        except OSError:
            continue
    return found


def _wait_for(predicate, bound_s: float = 600.0) -> None:
    """Wait for something that will happen; the bound only ends a broken run."""
    deadline = time.monotonic() + bound_s
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)


@linux_only
def test_run_many_keeps_order_and_runs_in_parallel():
    """Programs that only end when killed: seeing 4 alive at once proves 4 run in parallel,
    however slow the machine."""
    programs = [f"import time\nprint({i}, flush=True)\ntime.sleep(3600)" for i in range(8)]
    with ThreadPoolExecutor(1) as pool:
        batch = pool.submit(run_many, programs, workers=4, timeout_s=900)
        try:
            for _ in range(2):
                _wait_for(lambda: len(_sleeping_programs()) >= 4 or batch.done())
                running = _sleeping_programs()
                assert len(running) == 4
                for pid in running:
                    os.kill(pid, signal.SIGKILL)
                _wait_for(lambda: not _running_programs() & running)  # noqa: B023
            results = batch.result(timeout=600)
        finally:
            for pid in _running_programs():
                os.kill(pid, signal.SIGKILL)
    assert [r.stdout.strip() for r in results] == [str(i) for i in range(8)]
    assert all(not r.timed_out and r.reason == "failed" for r in results)  # killed by us


# ---- what the sandbox can see: the interpreter and the system, nothing of the user's ----------
STDLIB_PROGRAM = """
import array, bisect, cmath, collections, copy, datetime, decimal, fractions, functools
import hashlib, heapq, itertools, json, math, operator, random, re, statistics, string, sys
from typing import List


def smallest_k(nums: List[int], k: int) -> List[int]:
    return heapq.nsmallest(k, nums)


assert smallest_k([5, 1, 4, 2], 2) == [1, 2]
assert collections.Counter("abca").most_common(1) == [("a", 2)]
assert list(itertools.accumulate([1, 2, 3])) == [1, 3, 6]
assert re.findall(r"[A-Z][a-z]+", "HelloWorld") == ["Hello", "World"]
assert math.isclose(math.sqrt(2) ** 2, 2) and cmath.sqrt(-1) == 1j
assert bisect.bisect_left([1, 3, 5], 4) == 2 and fractions.Fraction(1, 3) * 3 == 1
assert decimal.Decimal("0.1") + decimal.Decimal("0.2") == decimal.Decimal("0.3")
assert statistics.median([3, 1, 2]) == 2 and functools.reduce(operator.mul, [1, 2, 3]) == 6
assert json.loads(json.dumps({"a": [1]})) == {"a": [1]} and string.ascii_lowercase[0] == "a"
assert hashlib.sha256(b"x").hexdigest().startswith("2d71")
assert datetime.date(2024, 2, 29).isoformat() == "2024-02-29" and copy.deepcopy([[1]]) == [[1]]
assert array.array("i", [1, 2]).tolist() == [1, 2] and random.Random(0).random() < 1
print("ok")
"""


def _reader(*paths: Path | str) -> str:
    """A hostile program: prints, for each path, what it could read there (or the error)."""
    return f"""
import os
for path in {[str(p) for p in paths]!r}:
    try:
        if os.path.isdir(path):
            print(path, 'listed', sorted(os.listdir(path)))
        else:
            print(path, 'read', repr(open(path).read()))
    except OSError as exc:
        print(path, 'blocked', type(exc).__name__)
"""


def _outcomes(result) -> dict[str, str]:
    assert result.passed, result.stderr
    return dict(line.split(" ", 1) for line in result.stdout.splitlines())


def test_stdlib_programs_still_pass(isolation):
    result = run_python(STDLIB_PROGRAM, isolation=isolation)
    assert result.passed and result.stdout.strip() == "ok", result.stderr


@needs_bwrap
def test_a_canary_in_the_home_folder_is_not_readable():
    canary = Path.home() / f".twt-canary-{uuid.uuid4().hex}"
    canary.write_text("home secret")
    try:
        program = _reader(canary, Path.home(), "/home", "/root")
        seen = _outcomes(run_python(program))
        control = _outcomes(run_python(program, isolation="process"))
    finally:
        canary.unlink()
    assert control[str(canary)] == "read 'home secret'"  # the host can read it
    assert seen[str(canary)].startswith("blocked FileNotFoundError")
    assert canary.name not in seen[str(Path.home())]
    for folder in ("/home", "/root", str(Path.home())):  # empty, or the interpreter bound back
        shown = _interpreter_entries(folder)
        assert seen[folder] == f"listed {shown}" or (
            not shown and seen[folder] == "blocked FileNotFoundError"
        ), seen[folder]


def _interpreter_entries(folder: str) -> list[str]:
    """What a hidden folder may list: the first step towards the interpreter's folders."""
    from twt_backend.evaluation import sandbox_mounts

    visible = [*sandbox_mounts.interpreter_roots(), *sandbox_mounts.extra_libraries()]
    inside = [Path(p).relative_to(folder) for p in visible if Path(p).is_relative_to(folder)]
    return sorted({p.parts[0] for p in inside if p.parts})


@needs_bwrap
def test_the_project_folder_and_the_callers_folder_are_not_readable(monkeypatch):
    # Not under /tmp nor the home folder, which are hidden anyway: beside the repository.
    project = Path(__file__).resolve().parents[1] / f".twt-canary-project-{uuid.uuid4().hex}"
    project.mkdir()
    canary = project / "project.sqlite"
    canary.write_text("project secret")
    try:
        program = _reader(canary, project)
        control = _outcomes(run_python(program, isolation="process"))
        given = _outcomes(run_python(program, hide=[project]))
        monkeypatch.chdir(project)
        as_cwd = _outcomes(run_python(program))
        in_batch = [_outcomes(r) for r in run_many([program] * 2)]
    finally:
        shutil.rmtree(project)
    assert control[str(canary)] == "read 'project secret'"
    for seen in (given, as_cwd, *in_batch):
        assert seen[str(canary)].startswith("blocked"), seen
        assert seen[str(project)].startswith("blocked") or seen[str(project)] == "listed []"


@needs_bwrap
def test_a_project_inside_a_visible_tree_gets_an_empty_folder(tmp_path, monkeypatch):
    """The caller's folder, or one given, hidden even where it lies in a folder the sandbox
    shows (an interpreter prefix here; /usr/src/app in container images)."""
    from twt_backend.evaluation import sandbox_mounts

    prefix = tmp_path / "prefix"
    (prefix / "lib").mkdir(parents=True)
    (prefix / "lib" / "module.py").write_text("visible")
    project = prefix / "project"
    project.mkdir()
    (project / "canary.txt").write_text("project secret")
    roots = sandbox_mounts.interpreter_roots()
    monkeypatch.setattr(sandbox_mounts, "interpreter_roots", lambda: (*roots, str(prefix)))
    program = _reader(prefix / "lib" / "module.py", project / "canary.txt", project)
    for hidden in (run_python(program, hide=[project]), run_python(program, hide=[str(project)])):
        seen = _outcomes(hidden)
        assert seen[str(prefix / "lib" / "module.py")] == "read 'visible'"
        assert seen[str(project / "canary.txt")].startswith("blocked")
        assert seen[str(project)] == "listed []"
    monkeypatch.chdir(project)
    assert _outcomes(run_python(program))[str(project)] == "listed []"


@needs_bwrap
def test_secrets_of_etc_are_empty_but_etc_is_readable():
    secrets = [p for p in ("/etc/shadow", "/etc/gshadow") if Path(p).exists()]
    planted = None
    if os.geteuid() == 0 and os.access("/etc", os.W_OK):  # root can plant one: prove the rule
        planted = Path("/etc") / f"twt-canary-{uuid.uuid4().hex}"
        planted.write_text("etc secret")
        planted.chmod(0o600)
        secrets.append(str(planted))
    try:
        program = _reader(*secrets, "/etc/passwd")
        seen = _outcomes(run_python(program))
        control = _outcomes(run_python(program, isolation="process"))
    finally:
        if planted is not None:
            planted.unlink()
    assert seen["/etc/passwd"] == control["/etc/passwd"] and "root" in seen["/etc/passwd"]
    assert secrets, "no /etc secret to check on this machine"
    for secret in secrets:
        assert seen[secret] in ("read ''", "blocked PermissionError"), seen
    if planted is not None:
        assert control[str(planted)] == "read 'etc secret'"


@needs_bwrap
def test_a_venv_under_tmp_runs_in_the_sandbox(tmp_path):
    """CI checks out under /tmp with its venv inside: the hidden /tmp must not hide it."""
    import subprocess
    import venv

    env_dir = tmp_path / "checkout" / ".venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
    (tmp_path / "checkout" / "notes.txt").write_text("checkout secret")
    code = (
        "import json, sys\n"
        "from twt_backend.evaluation.sandbox import protections, run_python\n"
        f"r = run_python({STDLIB_PROGRAM + 'print(sys.prefix)'!r})\n"
        f"s = run_python({_reader(tmp_path / 'checkout' / 'notes.txt')!r})\n"
        "print(json.dumps([protections()['bwrap'], r.passed, r.stdout, r.stderr, s.stdout]))\n"
    )
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", code],
        cwd=tmp_path / "checkout",
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    bwrap, passed, stdout, stderr, notes = json.loads(done.stdout.splitlines()[-1])
    assert bwrap and passed, stderr
    assert stdout.split() == ["ok", str(env_dir)]  # the venv's own interpreter ran it
    assert "blocked FileNotFoundError" in notes  # and the rest of the checkout stays hidden
