"""Docs: the CLI reference is current and complete, and every relative link in docs/ resolves."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
REGENERATE = ".venv/bin/python scripts/gen_cli_reference.py"


def _generator():
    path = REPO / "scripts" / "gen_cli_reference.py"
    spec = importlib.util.spec_from_file_location("gen_cli_reference", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


gen = _generator()


@pytest.fixture(scope="module")
def commands():
    return gen.commands()


@pytest.fixture(scope="module")
def cli_doc() -> str:
    return (DOCS / "cli.md").read_text(encoding="utf-8")


def sections(doc: str) -> dict[str, str]:
    """Command name -> the text of its section in docs/cli.md."""
    parts = re.split(r"^#{2,4} `([^`]+)`\s*$", doc, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_cli_reference_is_up_to_date(cli_doc):
    assert gen.render() == cli_doc, f"docs/cli.md is out of date: run {REGENERATE}"


def undocumented(commands, doc: str) -> list[str]:
    """Commands and options of the parsers missing from `doc` or without help text."""
    documented = sections(doc)
    problems = []
    for cmd in commands:
        if cmd.name not in documented:
            problems.append(f"{cmd.name}: no section in docs/cli.md")
            continue
        text = documented[cmd.name]
        if len(cmd.path) > 1 and not (cmd.help or cmd.parser.description):
            problems.append(f"{cmd.name}: the command has no help text")
        for action in cmd.arguments():
            names = action.option_strings or [gen.value_text(action)]
            problems += [f"{cmd.name} {n}: not in its section" for n in names if n not in text]
            if not (action.help or "").strip():
                problems.append(f"{cmd.name} {names[-1]}: the option has no help text")
    return problems


def test_every_command_and_option_is_documented(commands, cli_doc):
    problems = undocumented(commands, cli_doc)
    assert not problems, "\n".join(problems)


def test_the_completeness_check_catches_omissions(commands, cli_doc):
    without_option = cli_doc.replace("--task", "--tsk")
    assert "twt init --task: not in its section" in undocumented(commands, without_option)
    without_section = cli_doc.replace("## `twt queries`", "## queries")
    assert "twt queries: no section in docs/cli.md" in undocumented(commands, without_section)


def test_reference_covers_the_documented_contract(commands):
    """The commands of DESIGN's CLI contract exist (and so are documented)."""
    names = {cmd.name for cmd in commands}
    for name in ("init", "import", "queries", "teacher add", "teacher list", "teacher test"):
        assert f"twt {name}" in names
    for name in ("generate", "select", "samples", "train", "eval", "runs", "score", "report"):
        assert f"twt {name}" in names


# ---- links ---------------------------------------------------------------------------------
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")


def slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", FENCE.sub("", text), flags=re.M)
    return {slug(h) for h in headings}


def links(text: str) -> list[str]:
    return LINK.findall(CODE_SPAN.sub("", FENCE.sub("", text)))


def markdown_files() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def test_docs_exist():
    names = {p.name for p in markdown_files()}
    expected = {"quickstart.md", "user-guide.md", "cli.md", "scaling-out.md", "troubleshooting.md"}
    assert expected <= names


@pytest.mark.parametrize("doc", markdown_files(), ids=lambda p: p.name)
def test_relative_links_and_images_resolve(doc):
    text = doc.read_text(encoding="utf-8")
    broken = []
    for target in links(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, flags=re.I):  # http:, mailto:, ...
            continue
        path, _, fragment = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif fragment and file.suffix == ".md":
            if fragment not in anchors(file.read_text(encoding="utf-8")):
                broken.append(f"{target}: no such heading")
    assert not broken, f"{doc.name}: " + "; ".join(broken)


def test_link_checker_catches_broken_links():
    text = "[a](missing.md) ![b](images/nope.png) `[c](in-code.md)` [d](https://x.org) [e](#top)"
    assert links(text) == ["missing.md", "images/nope.png", "https://x.org", "#top"]
    assert slug("`twt teacher add`") == "twt-teacher-add"
    assert slug("Missing API keys (401)") == "missing-api-keys-401"
