"""The wheel: built from the sources and installed into a fresh virtual environment outside
the repository, it has its package data (samples, styles, icons): `twt init`, `twt demo`
and `twt-studio --smoke-test` run from it, and so does a worker, with no source folder on
PYTHONPATH. No network: the dependencies come from the test's own environment."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(argv: list[str | Path], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{argv}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    """(work folder, the fresh venv's site-packages, env without PYTHONPATH)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"  # a clean copy: the build never writes into the repository
    for package in ("twt_backend", "twt_gui"):
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(REPO / package, source / package, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", "dist",
         source], work)  # fmt: skip
    [wheel] = (work / "dist").glob("twt_studio-*.whl")
    venv = work / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], work)
    python = venv / "bin" / "python"
    site_packages = Path(
        run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], work).strip()
    )
    # the dependencies (torch, PySide6, ...) from this environment, after the venv's own
    (site_packages / "test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    run([*pip, "--python", python, "install", "--no-deps", "--no-index", wheel], work)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(QT_QPA_PLATFORM="offscreen", TWT_DATA_HOME=str(work / "data-home"))
    return work, site_packages, env


def test_the_wheel_carries_its_package_data(installed) -> None:
    work, site_packages, env = installed
    code = (
        "import json, twt_backend, twt_gui\n"
        "from twt_backend.demo import sample_file\n"
        "from twt_gui.assets import asset\n"
        "print(json.dumps([twt_backend.__file__, twt_gui.__file__, str(sample_file('math')),"
        " str(asset('style', 'dark.qss')), str(asset('icons', 'twt-studio.svg'))]))"
    )
    paths = json.loads(run([site_packages.parents[2] / "bin" / "python", "-c", code], work, env))
    assert all(Path(p).is_relative_to(site_packages) for p in paths), paths


def test_init_demo_and_the_app_run_from_the_wheel(installed) -> None:
    work, site_packages, env = installed
    bin_dir = site_packages.parents[2] / "bin"
    run([bin_dir / "twt", "init", work / "plain", "--task", "math"], work, env)
    assert (work / "plain" / "project.sqlite").is_file()

    run([bin_dir / "twt", "demo", work / "demo"], work, env)
    with sqlite3.connect(work / "demo" / "project.sqlite") as db:
        assert db.execute("SELECT count(*) FROM queries").fetchone()[0] > 0  # the samples
    assert list((work / "demo" / "replay").glob("*.jsonl"))

    # the theme's style sheet and the window icon are read on start: missing ones fail it
    out = run([bin_dir / "twt-studio", "--smoke-test", work / "demo", "--screenshots",
               work / "shots"], work, env)  # fmt: skip
    assert "platform: offscreen" in out
    assert len(list((work / "shots").glob("*.png"))) >= 5


def test_a_worker_runs_from_the_wheel(installed) -> None:
    work, site_packages, env = installed
    code = (
        "import json, sys\n"
        "from twt_backend import jobs\n"
        "from twt_backend.store import Project\n"
        "project = Project.create(sys.argv[1], 'math')\n"
        "job = jobs.create_job(project, 'selftest', {'steps': 2, 'delay_s': 0})\n"
        "code = jobs.start_detached(project, job).wait(timeout=120)\n"
        "print(json.dumps([code, jobs.get_job(project, job)['status'], jobs.same_code_env({})]))"
    )
    python = site_packages.parents[2] / "bin" / "python"
    result = json.loads(run([python, "-c", code, work / "worker"], work, env))
    assert result == [0, "finished", {}]  # an installed package adds nothing to PYTHONPATH


def test_a_source_folder_goes_on_the_workers_pythonpath() -> None:
    from twt_backend import jobs

    env = jobs.same_code_env({"PYTHONPATH": "/elsewhere"})
    assert env["PYTHONPATH"].split(os.pathsep) == [str(REPO), "/elsewhere"]
