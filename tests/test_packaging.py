"""Packaging: the bundle's entry dispatch, the desktop entry, and (marked `packaging`) a real
PyInstaller build of the lean bundle that must open every page and run a worker job."""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGING = REPO / "packaging"
ICONS = REPO / "twt_gui" / "resources" / "icons"


def _entry_module():
    spec = importlib.util.spec_from_file_location(
        "twt_studio_main", PACKAGING / "twt_studio_main.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


entry = _entry_module()


# ---- the executable's command lines ----------------------------------------------------------
def test_worker_command_line_goes_to_twt():
    launch = entry.parse(["--worker", "job", "run", "/p", "3"])
    assert (launch.kind, launch.args) == ("worker", ["job", "run", "/p", "3"])


def test_python_style_command_lines():
    # training launcher / torchrun children / eval shards / code sandbox / multiprocessing
    assert entry.parse(["-m", "twt_backend.training.entry", "a"])[:3] == (
        "module",
        "twt_backend.training.entry",
        ["a"],
    )
    launch = entry.parse(["-u", "-m", "torch.distributed.run", "--nproc_per_node", "2"])
    assert (launch.kind, launch.target, launch.flags) == (
        "module",
        "torch.distributed.run",
        frozenset({"-u"}),
    )
    launch = entry.parse(["-I", "-B", "main.py", "x"])
    assert (launch.kind, launch.target, launch.args) == ("script", "main.py", ["x"])
    launch = entry.parse(["-B", "-s", "-c", "print(1)", "--multiprocessing-fork"])
    assert (launch.kind, launch.target, launch.args) == (
        "code",
        "print(1)",
        ["--multiprocessing-fork"],
    )
    assert entry.parse(["-X", "utf8", "-m", "m"]).target == "m"


def test_everything_else_opens_the_app():
    assert entry.parse([]) == ("gui", None, [], frozenset())
    assert entry.parse(["--smoke-test", "proj", "--screenshots", "out"]).kind == "gui"
    assert entry.parse(["some/project"]).args == ["some/project"]
    assert entry.parse(["not-a-file.py"]).kind == "gui"  # a project folder may end in .py
    with pytest.raises(SystemExit):
        entry.parse(["-u"])


def test_entry_runs_code_and_scripts_like_python(tmp_path, capsys, monkeypatch):
    script = tmp_path / "hello.py"
    script.write_text("import sys\nprint('hi', sys.argv[1:])\n")
    monkeypatch.setattr(sys, "argv", ["exe"])
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert entry.run(entry.parse(["-I", "-B", str(script), "a"])) == 0
    assert entry.run(entry.parse(["-c", "print('code', 6 * 7)"])) == 0
    assert entry.run(entry.parse(["--worker", "queries", str(tmp_path / "missing")])) != 0
    out = capsys.readouterr().out
    assert "hi ['a']" in out and "code 42" in out


# ---- desktop entry and icons -----------------------------------------------------------------
def test_desktop_entry_and_icons(tmp_path):
    desktop = configparser.ConfigParser(interpolation=None)
    desktop.optionxform = str  # keys are case-sensitive
    desktop.read(PACKAGING / "linux" / "twt-studio.desktop")
    section = desktop["Desktop Entry"]
    assert section["Type"] == "Application" and section["Name"] == "TwT Studio"
    assert section["Exec"].split()[0] == "twt-studio" and section["Icon"] == "twt-studio"
    assert section["Categories"].endswith(";")
    assert (ICONS / "twt-studio.svg").read_text().lstrip().startswith("<?xml")
    for size in (16, 32, 48, 64, 128, 256, 512):
        png = ICONS / f"twt-studio-{size}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png


def test_install_desktop_entry_points_at_the_executable(tmp_path):
    exe = tmp_path / "app dir" / "twt-studio"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    data = tmp_path / "share"
    env = {**os.environ, "XDG_DATA_HOME": str(data)}
    script = PACKAGING / "linux" / "install-desktop-entry.sh"
    subprocess.run([str(script), str(exe)], check=True, env=env, capture_output=True, timeout=60)
    installed = (data / "applications" / "twt-studio.desktop").read_text()
    assert f'Exec="{exe}" %f' in installed and f"TryExec={exe}" in installed
    assert (data / "icons" / "hicolor" / "48x48" / "apps" / "twt-studio.png").is_file()
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / "twt-studio.svg").is_file()


# ---- the real bundle -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bundle() -> Path:
    """Build the lean one-folder bundle (about 2 minutes on 2 cores)."""
    pytest.importorskip("PyInstaller", reason="pyinstaller is not installed (dev extra)")
    # Not under /tmp: the code sandbox mounts a private /tmp, which would hide the executable.
    dist = REPO / "build" / "test-bundle" / "dist"
    env = {**os.environ, "TWT_BUNDLE_LEAN": "1"}
    cmd = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(dist),
        "--workpath",
        str(REPO / "build" / "test-bundle" / "work"),  # PyInstaller's cache: reruns are faster
        str(PACKAGING / "twt-studio.spec"),
    ]
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    print(f"bundle built in {time.monotonic() - start:.0f} s")
    exe = dist / "twt-studio" / "twt-studio"
    assert os.access(exe, os.X_OK)
    assert (
        dist / "twt-studio" / "_internal" / "twt_backend" / "resources" / "samples" / "math.jsonl"
    ).is_file()
    return exe


def _bundle_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return {**env, "QT_QPA_PLATFORM": "offscreen", "TWT_DATA_HOME": str(tmp_path / "data-home")}


@pytest.mark.packaging
def test_bundle_smoke_test_visits_every_page(bundle, tmp_path):
    out = tmp_path / "shots"
    done = subprocess.run(
        [str(bundle), "--smoke-test", "--screenshots", str(out)],
        cwd=tmp_path,  # not the repo: the bundle must not lean on the source tree
        env=_bundle_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    shots = sorted(p.name for p in out.glob("*.png"))
    pages = ("projects", "setup", "labelling", "review", "refinement", "training", "compare")
    assert [name.split("-", 1)[1][:-4] for name in shots] == list(pages)
    assert all((out / name).stat().st_size > 5000 for name in shots)
    # the demo project was written from the bundled package data
    from twt_backend.demo import DEMO_TASK, demo_folder

    demo = tmp_path / "data-home" / demo_folder(DEMO_TASK).name  # demo-categories
    assert (demo / "project.sqlite").is_file()


@pytest.mark.packaging
def test_bundle_runs_a_worker_job(bundle, tmp_path):
    from twt_backend import jobs
    from twt_backend.store import Project

    project = Project.create(tmp_path / "proj", "math", name="bundle-check")
    job_id = jobs.create_job(project, "selftest", {"steps": 3, "delay_s": 0})
    done = subprocess.run(
        [str(bundle), "--worker", "job", "run", str(project.root), str(job_id)],
        cwd=tmp_path,
        env=_bundle_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    job = jobs.get_job(project, job_id)
    assert job["status"] == "finished", job
    assert job["progress"]["bars"]["selftest"] == {"done": 3, "total": 3}
    values = project.rows("SELECT value FROM metrics WHERE job_id=? ORDER BY step", (job_id,))
    assert [row["value"] for row in values] == [1.0, 2.0, 3.0]
    assert job["pid"] != os.getpid()
    project.close()


@pytest.mark.packaging
def test_bundle_runs_the_code_sandbox(bundle, tmp_path):
    """The sandbox runs model code with `sys.executable -I -B main.py`: the bundle must too."""
    code = (
        "import json\n"
        "from twt_backend.evaluation.sandbox import run_python, protections\n"
        "r = run_python('print(6 * 7)', timeout_s=30)\n"
        "c = run_python('import cmath; print(cmath.sqrt(-4))', timeout_s=30)\n"
        "print(json.dumps({'isolation': protections()['isolation'], 'reason': r.reason, "
        "'stdout': r.stdout, 'stderr': r.stderr, 'cmath': c.stdout + c.stderr}))\n"
    )
    done = subprocess.run(
        [str(bundle), "-c", code],
        cwd=tmp_path,
        env=_bundle_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["reason"], result["stdout"].strip()) == ("ok", "42"), result
    assert result["cmath"].strip() == "2j", result  # a module only model code imports
    from twt_backend.evaluation.sandbox import protections

    # as isolated from the bundle as from the source tree (bubblewrap where this machine has it)
    assert result["isolation"] == protections()["isolation"], result
