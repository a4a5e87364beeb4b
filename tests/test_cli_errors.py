"""Errors a developer can debug: `--debug`/`TWT_DEBUG=1` print the traceback of a failed
command, a command module that fails to import is an error, logging is set up once."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from twt_backend import cli, secrets
from twt_backend.cli import job_cmds
from twt_backend.log_setup import configure_logging

REPO_ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-debugtest-0123456789abcdefXYZ"


@pytest.fixture
def failing_runs(project, monkeypatch):
    """`twt runs DIR` failing inside the command with an unexpected error naming a key."""
    secrets.remember(KEY)

    def broken_listing(args):
        raise RuntimeError(f"internal failure while listing (key {KEY})")

    monkeypatch.setattr(job_cmds, "_list", broken_listing)
    monkeypatch.delenv("TWT_DEBUG", raising=False)
    return str(project.root)


def test_without_debug_one_line_and_the_hint(failing_runs, capsys) -> None:
    assert cli.main(["runs", failing_runs]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "RuntimeError: internal failure while listing" in err
    assert "--debug or TWT_DEBUG=1" in err
    assert KEY not in err


@pytest.mark.parametrize(
    "argv, env",
    [
        (["--debug", "runs", "DIR"], {}),
        (["runs", "DIR", "--debug"], {}),
        (["runs", "DIR"], {"TWT_DEBUG": "1"}),
    ],
)
def test_debug_prints_the_traceback(failing_runs, capsys, monkeypatch, argv, env) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli.main([failing_runs if a == "DIR" else a for a in argv]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "in broken_listing" in err
    assert err.strip().splitlines()[-1].startswith("twt: error: RuntimeError: internal failure")
    assert KEY not in err and secrets.REDACTED in err
    assert "TWT_DEBUG" not in os.environ or env  # --debug is for the command's duration


def test_debug_with_a_usage_error_keeps_exit_2(tmp_path, capsys) -> None:
    assert cli.main(["--debug", "runs", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("twt: error: ")


def test_debug_from_the_real_entry_point(tmp_path) -> None:
    env = {**os.environ, "TWT_DEBUG": "1", "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "twt_backend", "runs", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert "not a TwT project" in result.stderr.strip().splitlines()[-1]


@pytest.fixture
def broken_module(tmp_path, monkeypatch):
    """A command module whose own import fails (a missing dependency)."""
    (tmp_path / "twt_broken_cmds.py").write_text(
        "import twt_no_such_dependency\n\ndef register(sub):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "twt_broken_cmds"


@pytest.mark.parametrize("missing", ["module itself", "its dependency"])
def test_a_command_module_that_fails_to_import_is_an_error(
    project, broken_module, monkeypatch, capsys, missing
) -> None:
    name = "twt_backend.cli.no_such_cmds" if missing == "module itself" else broken_module
    monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, name))
    assert cli.main(["runs", str(project.root)]) == 1
    err = capsys.readouterr().err
    assert f"command module {name} failed to import" in err
    with pytest.raises(cli.CommandModuleError):
        cli.build_parser()


def own_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if getattr(h, "_twt_handler", False)]


def test_logging_is_configured_once_per_entry(project, capsys) -> None:
    log = logging.getLogger("twt_backend.test_probe")
    for _ in range(2):
        assert cli.main(["runs", str(project.root)]) == 0
    assert len(own_handlers()) == 1  # replaced, not stacked
    capsys.readouterr()
    log.info("quiet on a terminal")
    log.warning("a warning with key %s", KEY)
    err = capsys.readouterr().err
    assert "quiet on a terminal" not in err
    assert "WARNING twt_backend.test_probe: a warning with key [REDACTED]" in err
    assert err.count("a warning") == 1

    assert cli.main(["--debug", "runs", str(project.root)]) == 0
    capsys.readouterr()
    log.debug("debug detail")
    assert "DEBUG twt_backend.test_probe: debug detail" in capsys.readouterr().err
    configure_logging("cli")  # leave the usual level for the next tests
    log.debug("debug detail")
    assert "debug detail" not in capsys.readouterr().err


def test_worker_and_app_roles(tmp_path, monkeypatch, capsys) -> None:
    log = logging.getLogger("twt_backend.test_probe")
    assert configure_logging("worker") is None
    log.info("worker progress")
    assert "INFO twt_backend.test_probe: worker progress" in capsys.readouterr().err

    monkeypatch.setenv("TWT_LOG_DIR", str(tmp_path / "logs"))
    path = configure_logging("app")
    assert path == tmp_path / "logs" / "twt-studio.log"
    try:
        raise ValueError(f"boom with {KEY}")
    except ValueError:
        log.exception("an action failed")
    log.info("app detail")
    for handler in own_handlers():
        handler.flush()
    text = path.read_text(encoding="utf-8")
    assert "ERROR twt_backend.test_probe: an action failed" in text
    assert "Traceback" in text and "ValueError: boom with [REDACTED]" in text and KEY not in text
    assert "app detail" in text
    err = capsys.readouterr().err
    assert "an action failed" in err and "app detail" not in err  # terminal: warnings up
    configure_logging("cli")  # closes the file handler
