"""The `code` task type (MBPP): a description and three asserts the solution must pass.

Payload: ``{"text": str, "tests": [str, str, str], "test_setup": str,
"entry_point": str | None}``; reference: a reference solution or None.
Answers are Python source; they are scored by running
:func:`build_test_program` in the sandbox (``twt_backend.evaluation.sandbox``),
never here, so :attr:`CodeTask.needs_sandbox` is True.
"""

from __future__ import annotations

import ast
import builtins
import re
import textwrap
from collections import Counter
from typing import Any

from twt_backend.tasks import textparse as tp
from twt_backend.tasks.base import (
    Criterion,
    ParsedOutput,
    TaskType,
    coerce_text,
    teacher_system_message,
)

CODE_CRITERIA = (
    Criterion("Correctness", 0.50, "the code does what the task asks and passes the tests"),
    Criterion("Readability", 0.20, "clear names and structure, easy to follow"),
    Criterion("Efficiency", 0.20, "no needless work; suitable time and memory use"),
    Criterion("Test coverage", 0.10, "handles the tested cases and the edge cases near them"),
)
PYTHON_FENCES = {"", "python", "py", "python3", "py3", "pycon"}

_CODE_START = re.compile(r"^(?:(?:async\s+)?def\s|class\s|import\s|from\s+\S+\s+import\s|@\w)")
_CODE_CONTINUE = re.compile(
    r"^(?:\s|#|$)|^(?:if|elif|else|for|while|try|except|finally|with|return|print|assert|"
    r"async|def|class|import|from)\b|^[A-Za-z_][\w.\[\], ]*\s*[-+*/]?=[^=]|^[)\]}]"
)
_MAX_TRIMS = 30
_BUILTINS = frozenset(dir(builtins))

_HINTS = {
    "full": "Explain your approach step by step, then write the complete function in a "
    "```python code block.",
    "compressed": "Explain your approach briefly, then write the complete function in a "
    "```python code block.",
    "answer": "Write only the complete function, in a ```python code block.",
}


def parse_python(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def defined_names(source: str) -> set[str]:
    """Top-level functions, classes and assigned names of source (regex when unparsable)."""
    tree = parse_python(source)
    if tree is None:
        return set(re.findall(r"^\s*(?:async\s+)?def\s+([A-Za-z_]\w*)", source, re.M))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def infer_entry_point(tests: list[str], test_setup: str = "") -> str | None:
    """The function the asserts call: the most common non-builtin name called in them."""
    setup_names = defined_names(test_setup) if test_setup else set()
    called: Counter[str] = Counter()
    for test in tests or []:
        called.update(_called_names(str(test)))
    own = Counter({name: n for name, n in called.items() if name not in _BUILTINS})
    for counts in (Counter({k: n for k, n in own.items() if k not in setup_names}), own, called):
        if counts:
            return counts.most_common(1)[0][0]
    return None


def _called_names(test: str) -> list[str]:
    tree = parse_python(test)
    if tree is None:
        return re.findall(r"([A-Za-z_]\w*)\s*\(", test)[:1]
    return [
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    ]


def payload_entry_point(payload: dict) -> str | None:
    entry = payload.get("entry_point")
    if entry:
        return str(entry)
    return infer_entry_point(list(payload.get("tests") or []), str(payload.get("test_setup") or ""))


def _trim_to_valid(lines: list[str]) -> str:
    """Drop trailing lines until the code parses (bounded); keep it all if it never does."""
    while lines and not lines[-1].strip():
        lines.pop()
    for end in range(len(lines), max(0, len(lines) - _MAX_TRIMS), -1):
        candidate = "\n".join(lines[:end]).rstrip()
        if candidate and parse_python(candidate) is not None:
            return candidate
    return "\n".join(lines)


def bare_code_blocks(text: str) -> list[str]:
    """Runs of unfenced lines that start with `def`/`class`/`import` and look like code."""
    blocks: list[str] = []
    run: list[str] = []
    for line in tp.outside_fences(text) + ["<end>"]:
        if run and _CODE_CONTINUE.match(line) and not tp.label_of(line):
            run.append(line)
            continue
        if run:
            blocks.append(_trim_to_valid(run))
        run = [line] if _CODE_START.match(line) else []
    return [block for block in blocks if block.strip()]


def _candidates(text: str) -> list[str]:
    fenced = [
        _strip_prompts(textwrap.dedent(body).strip("\n"))
        for language, body in tp.fenced_blocks(text)
        if (language.split() or [""])[0] in PYTHON_FENCES and body.strip()
    ]
    return fenced + bare_code_blocks(text)


def _strip_prompts(block: str) -> str:
    """Interactive `>>> ` / `... ` prompts removed, when every code line has them."""
    lines = block.splitlines()
    if lines and all(line.startswith((">>>", "...")) or not line.strip() for line in lines):
        return "\n".join(line[4:] for line in lines)
    return block


def extract_code(text: Any, entry_point: str | None = None) -> str | None:
    """The solution code in a model output (fenced or bare), or None.

    With several code blocks, the last one that defines ``entry_point`` wins; with no
    ``entry_point`` (or none defining it), the last one that defines any function or
    class; failing that the last block that parses as Python.
    """
    candidates = _candidates(coerce_text(text))
    names = [defined_names(block) for block in candidates]
    if entry_point:
        chosen = [block for block, got in zip(candidates, names, strict=True) if entry_point in got]
        if chosen:
            return chosen[-1]
    defining = [block for block in candidates if _defines_callable(block)]
    if defining:
        return defining[-1]
    parsable = [block for block in candidates if parse_python(block) is not None]
    return parsable[-1] if parsable else None


def _defines_callable(block: str) -> bool:
    return bool(re.search(r"^\s*(?:async\s+def|def|class)\s+[A-Za-z_]", block, re.M))


def build_test_program(solution: str, payload: dict) -> str:
    """A standalone script: the solution, the test set-up, then the asserts.

    It exits 0 when every assert passes; the set-up comes after the solution
    because MBPP set-ups use classes the solution defines.
    """
    parts = [coerce_text(solution), str(payload.get("test_setup") or "")]
    parts.append("\n".join(str(test) for test in payload.get("tests") or []))
    body = "\n\n".join(part.replace("\r\n", "\n").strip("\n") for part in parts if part.strip())
    return body + "\n"


class CodeTask(TaskType):
    name = "code"
    criteria = CODE_CRITERIA
    needs_sandbox = True

    def query_text(self, payload: dict) -> str:
        tests = "\n".join(str(test) for test in payload.get("tests") or [])
        return (
            f"{str(payload.get('text', '')).strip()}\nYour code should pass these tests:\n{tests}"
        )

    def teacher_messages(self, payload: dict) -> list[dict]:
        entry = payload_entry_point(payload)
        defines = f" that defines `{entry}`" if entry else ""
        user = (
            f"Task:\n{self.query_text(payload)}\n\n"
            "Reply in exactly this format:\n"
            "Rationale: <how your solution works and why it is correct>\n"
            f"Code:\n```python\n<one complete, self-contained Python solution{defines}>\n```\n"
            "score: <your weighted confidence, a number between 0 and 1>"
        )
        system = teacher_system_message("an expert Python programmer", self.criteria)
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def _parse(self, text: str, payload: dict) -> ParsedOutput:
        code = extract_code(text, payload_entry_point(payload))
        sections = tp.split_sections(text)
        rationale = sections.joined("rationale") or sections.other
        rationale = tp.remove_fenced_blocks(rationale)
        if code:
            rationale = rationale.replace(code, "")
        rationale = tp.clean_rationale(rationale, tuple(c.name for c in self.criteria))
        found, confidence = tp.find_score(text)
        status = "no_answer" if code is None else tp.score_status(found, confidence)
        return ParsedOutput(rationale.strip() or None, code, confidence, status)

    hints = _HINTS
    shared_hint = (
        "Solve the task. Your reply must contain the complete function in a ```python code block."
    )
    direct_hint = (
        "Write only the complete Python function in a single ```python code block, "
        "without explanation."
    )

    def final_answer(self, answer: str) -> str:
        return f"```python\n{answer.strip()}\n```"

    def extract_answer(self, output: Any, payload: dict) -> str | None:
        return extract_code(output, payload_entry_point(payload))

    def is_correct(self, predicted: str | None, reference: str | None, payload: dict) -> bool:
        raise NotImplementedError(
            "code answers are scored by running build_test_program() in the sandbox "
            "(twt_backend.evaluation.sandbox); check TaskType.needs_sandbox"
        )
