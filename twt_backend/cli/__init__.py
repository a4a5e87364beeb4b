"""The `twt` command.

Each command group lives in its own module exposing `register(subparsers)`; a command
sets `func(args) -> int | None` with `set_defaults`. Exit codes: 0 success, 2 bad input
or usage (one line), 1 other failures.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from twt_backend.errors import TwtError, UsageError

COMMAND_MODULES = (
    "twt_backend.cli.project_cmds",  # init, import, queries
    "twt_backend.cli.teacher_cmds",  # teacher add/list/test, generate
    "twt_backend.cli.select_cmds",  # select, samples
    "twt_backend.cli.train_cmds",  # train
    "twt_backend.cli.refine_cmds",  # refine
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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # command group not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        code = args.func(args)
        return int(code or 0)
    except UsageError as exc:
        print(f"twt: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("twt: interrupted", file=sys.stderr)
        return 130
    except TwtError as exc:
        print(f"twt: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, no traceback
        print(f"twt: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
