"""Write docs/cli.md, the command reference, from the argparse parsers of `twt` and `twt-studio`.

    .venv/bin/python scripts/gen_cli_reference.py           # rewrite docs/cli.md
    .venv/bin/python scripts/gen_cli_reference.py --check   # exit 1 when docs/cli.md is stale

The output does not depend on the terminal width or the Python version: synopses and
argument lists are rendered here, not by argparse's help formatter.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parents[1]
CLI_DOC = REPO / "docs" / "cli.md"
REGENERATE = ".venv/bin/python scripts/gen_cli_reference.py"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@dataclass
class Command:
    path: list[str]  # e.g. ["twt", "teacher", "add"]
    parser: argparse.ArgumentParser
    help: str | None
    subcommands: list[str]

    @property
    def name(self) -> str:
        return " ".join(self.path)

    @property
    def anchor(self) -> str:
        return "-".join(self.path)

    def arguments(self) -> list[argparse.Action]:
        return [a for a in self.parser._actions if is_documented_argument(a)]


def is_documented_argument(action: argparse.Action) -> bool:
    hidden = action.help == argparse.SUPPRESS
    return not hidden and not isinstance(
        action, argparse._HelpAction | argparse._SubParsersAction | argparse._VersionAction
    )


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def walk(parser: argparse.ArgumentParser, path: list[str], help_: str | None) -> Iterator[Command]:
    """Every command and subcommand, depth first, in the order they were registered."""
    sub = _subparsers(parser)
    helps = {choice.dest: choice.help for choice in sub._choices_actions} if sub else {}
    seen: set[int] = set()
    children = []
    for name, child in sub.choices.items() if sub else ():
        if id(child) not in seen:  # aliases map to the same parser
            seen.add(id(child))
            children.append((name, child))
    yield Command(path, parser, help_, [name for name, _ in children])
    for name, child in children:
        yield from walk(child, [*path, name], helps.get(name))


def value_text(action: argparse.Action) -> str:
    """What follows the option string, like argparse's usage: `N`, `{a,b}`, `[X ...]`."""
    if action.nargs == 0:
        return ""
    if action.metavar is not None:
        metavar = action.metavar if isinstance(action.metavar, str) else " ".join(action.metavar)
    elif action.choices is not None:
        metavar = "{" + ",".join(str(c) for c in action.choices) + "}"
    else:
        metavar = action.dest.upper() if action.option_strings else action.dest
    nargs = action.nargs
    if nargs is None or " " in metavar:  # a metavar that spells out its own shape stays as is
        return metavar
    if nargs == "?":
        return f"[{metavar}]"
    if nargs == "*":
        return f"[{metavar} ...]"
    if nargs == "+":
        return f"{metavar} [{metavar} ...]"
    if nargs == argparse.REMAINDER:
        return "..."
    if isinstance(nargs, int):
        return " ".join([metavar] * nargs)
    return metavar


def invocation(action: argparse.Action, short: bool = False) -> str:
    value = value_text(action)
    if not action.option_strings:
        return value
    names = action.option_strings[-1:] if short else action.option_strings
    return " ".join(filter(None, [", ".join(names), value]))


def expanded_help(action: argparse.Action, prog: str) -> str:
    text = action.help or ""
    if "%" not in text:
        return text
    params = {k: v for k, v in vars(action).items() if v is not argparse.SUPPRESS}
    params["prog"] = prog
    if params.get("choices") is not None:
        params["choices"] = ", ".join(str(c) for c in params["choices"])
    return text % params


def synopsis(cmd: Command) -> str:
    parts = [cmd.name]
    if cmd.subcommands:
        parts.append("{" + ",".join(cmd.subcommands) + "} ...")
    for action in cmd.arguments():
        text = invocation(action, short=True)
        optional = action.option_strings and not action.required
        parts.append(f"[{text}]" if optional else text)
    return " ".join(parts)


def default_note(action: argparse.Action) -> str:
    default = action.default
    if action.nargs == 0 or default in (None, [], argparse.SUPPRESS) or not action.option_strings:
        return ""
    if "default" in (action.help or "").lower():  # the help says it already
        return ""
    return f" Default: `{default}`."


def argument_line(action: argparse.Action, prog: str) -> str:
    required = " (required)" if action.option_strings and action.required else ""
    help_text = expanded_help(action, prog).strip()
    if help_text and not help_text.endswith((".", "?", "!", ")")):
        help_text += "."
    text = f"{help_text}{default_note(action)}".strip()
    return f"- `{invocation(action)}`{required}" + (f": {text}" if text else "")


def section(cmd: Command, level: int) -> list[str]:
    lines = [f"{'#' * level} `{cmd.name}`", ""]
    for text in (cmd.help, cmd.parser.description):
        if text and text != argparse.SUPPRESS:
            lines += [" ".join(text.split()), ""]
    lines += ["```text", synopsis(cmd), "```", ""]
    if cmd.subcommands:
        lines.append(
            "Subcommands: "
            + ", ".join(f"[`{s}`](#{cmd.anchor}-{s})" for s in cmd.subcommands)
            + "."
        )
        lines.append("")
    arguments = cmd.arguments()
    if arguments:
        lines += [argument_line(action, cmd.name) for action in arguments] + [""]
    if cmd.parser.epilog:
        lines += [" ".join(cmd.parser.epilog.split()), ""]
    return lines


def twt_parser() -> argparse.ArgumentParser:
    from twt_backend.cli import build_parser

    return build_parser()


class _Captured(Exception):
    pass


def studio_parser() -> argparse.ArgumentParser:
    """The parser of `twt-studio` (its `build_parser()` if it has one, else the one it parses with)."""
    from twt_gui import app

    if hasattr(app, "build_parser"):
        return app.build_parser()  # type: ignore[no-any-return]
    with mock.patch.object(
        argparse.ArgumentParser, "parse_args", autospec=True, side_effect=_Captured
    ) as parse:
        try:
            app.parse_args([])
        except _Captured:
            pass
    return parse.call_args.args[0]  # type: ignore[no-any-return]


def commands() -> list[Command]:
    """Every command documented in docs/cli.md: `twt-studio`, then `twt` and its subcommands."""
    studio = studio_parser()
    return [
        Command(["twt-studio"], studio, None, []),
        *walk(twt_parser(), ["twt"], None),
    ]


def render() -> str:
    cmds = commands()
    lines = [
        "# Command reference",
        "",
        f"<!-- Generated by scripts/gen_cli_reference.py; do not edit. Regenerate: {REGENERATE} -->",
        "",
        "TwT Studio has two commands: `twt-studio`, the desktop app, and `twt`, the headless",
        "command line for servers and clusters. Both work on the same project folders.",
        "",
        "Every `twt` command exits 0 on success, 2 on bad input or usage with a one-line",
        "reason (`FILE:LINE: reason` for data files) and 1 on other failures; a failed",
        "command leaves the project as it was. Listing commands take `--json`.",
        "",
        "Exit code 3 means *finished with failures*: `twt generate`, `twt refine` and",
        "`twt eval` ran to the end but some items failed (a request still failing after",
        "its retries, a rewrite that could not be parsed, a query left without a result).",
        "What succeeded is stored; the first error per teacher is printed (keys scrubbed);",
        "running the command again retries the failed requests. 130: cancelled (Ctrl-C).",
        "See [security.md](security.md#numbers-and-exit-codes).",
        "",
        "## Contents",
        "",
    ]
    for cmd in cmds:
        indent = "  " * max(0, len(cmd.path) - 2)
        summary = f": {' '.join(cmd.help.split())}" if cmd.help else ""
        lines.append(f"{indent}- [`{cmd.name}`](#{cmd.anchor}){summary}")
    lines.append("")
    for cmd in cmds:
        lines += section(cmd, level=min(2 + max(0, len(cmd.path) - 2), 4))
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate docs/cli.md from the CLI parsers.")
    parser.add_argument("--check", action="store_true", help="fail when docs/cli.md is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = CLI_DOC.read_text(encoding="utf-8") if CLI_DOC.exists() else ""
        if current != text:
            print(f"{CLI_DOC.relative_to(REPO)} is out of date: run {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    CLI_DOC.parent.mkdir(parents=True, exist_ok=True)
    CLI_DOC.write_text(text, encoding="utf-8")
    print(f"wrote {CLI_DOC.relative_to(REPO)} ({len(commands())} commands)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
