"""The `twt` command.

Each command group lives in its own module exposing `register(subparsers)`; a command
sets `func(args) -> int | None` with `set_defaults`. Exit codes: 0 success, 2 bad input
or usage (one line), 1 other failures. `--debug` (or `TWT_DEBUG=1`) adds the traceback
of a failure and debug logging. The project folder (`dir`) is made absolute here, once, so
workers and messages never depend on the current folder.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sqlite3
import sys
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

from twt_backend.errors import TwtError, UsageError
from twt_backend.log_setup import configure_logging, debug_from_env
from twt_backend.secrets import scrub
from twt_backend.store import absolute

COMMAND_MODULES = (
    "twt_backend.cli.project_cmds",  # init, import, queries
    "twt_backend.cli.teacher_cmds",  # teacher add/list/test, generate
    "twt_backend.cli.select_cmds",  # select, samples
    "twt_backend.cli.train_cmds",  # train
    "twt_backend.cli.refine_cmds",  # refine
    "twt_backend.cli.refinement_cmds",  # refinements list/accept/reject/edit/redo
    "twt_backend.cli.pipeline_cmds",  # run
    "twt_backend.cli.eval_cmds",  # eval
    "twt_backend.cli.report_cmds",  # report, export
    "twt_backend.cli.score_cmd",  # score
    "twt_backend.cli.doctor_cmds",  # doctor
    "twt_backend.cli.job_cmds",  # runs, job
    "twt_backend.cli.demo_cmds",  # demo
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="twt", description="TwT Studio: Thinking without Tokens distillation.")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="On failure, print the traceback; log at debug level (also: TWT_DEBUG=1).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # a broken command group is an error, never a missing command
            raise CommandModuleError(f"command module {name} failed to import: {exc!r}") from exc
        module.register(sub)
    return parser


def _absolute_dirs(args: argparse.Namespace) -> None:
    value: Any = getattr(args, "dir", None)
    if isinstance(value, str):
        args.dir = str(absolute(value))
    elif isinstance(value, list):
        args.dir = [str(absolute(v)) if isinstance(v, str) else v for v in value]


def _store_error(exc: sqlite3.DatabaseError, args: argparse.Namespace | None) -> tuple[str, int]:
    """One line and the exit code for an SQLite error that reached the top."""
    where = getattr(args, "dir", None)
    where = where if isinstance(where, str) else "the project"
    text = str(exc)
    if "readonly" in text:
        return f"{where}: the project is read-only here and this command changes it", 2
    if isinstance(exc, sqlite3.OperationalError) and "malformed" not in text:
        return f"{where}: {text}", 1  # busy, disk full, ...
    return f"{where}: the project store is damaged ({text}); see `twt doctor {where}`", 2


class CommandModuleError(TwtError):
    """A module of COMMAND_MODULES could not be imported (an installation or code bug)."""


def _split_debug(argv: Sequence[str]) -> tuple[list[str], bool]:
    """argv without `--debug` (accepted anywhere before `--`, so also after the command),
    and whether debugging is on (the flag or TWT_DEBUG); known before parsing."""
    end = argv.index("--") if "--" in argv else len(argv)
    rest = [a for a in argv[:end] if a != "--debug"] + list(argv[end:])
    return rest, debug_from_env() or len(rest) < len(argv)


@contextlib.contextmanager
def _debug_env(debug: bool) -> Iterator[None]:
    """Workers started by this command inherit the debug setting."""
    if not debug:
        yield
        return
    saved = os.environ.get("TWT_DEBUG")
    os.environ["TWT_DEBUG"] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TWT_DEBUG", None)
        else:
            os.environ["TWT_DEBUG"] = saved


def _fail(message: str, code: int, debug: bool) -> int:
    if debug:
        print(scrub(traceback.format_exc()).rstrip(), file=sys.stderr)
    print(f"twt: {scrub(message)}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv, debug = _split_debug(sys.argv[1:] if argv is None else argv)
    configure_logging("cli", debug=debug)
    args = None
    try:
        args = build_parser().parse_args(argv)
        _absolute_dirs(args)
        if args.command == "job":  # a job worker: its stderr is the job's worker.log
            configure_logging("worker", debug=debug)
        with _debug_env(debug):
            code = args.func(args)
        return int(code or 0)
    except UsageError as exc:
        return _fail(f"error: {exc}", 2, debug)
    except KeyboardInterrupt:
        return _fail("interrupted", 130, debug)
    except TwtError as exc:
        return _fail(f"error: {exc}", 1, debug)
    except sqlite3.DatabaseError as exc:
        message, code = _store_error(exc, args)
        return _fail(f"error: {message}", code, debug)
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line unless --debug
        hint = "" if debug else " (run with --debug or TWT_DEBUG=1 for the traceback)"
        return _fail(f"error: {type(exc).__name__}: {exc}{hint}", 1, debug)


if __name__ == "__main__":
    sys.exit(main())
