"""The `math` task type (GSM8K, MetaMath): a word problem with a numeric answer.

Payload: ``{"question": str}``; reference: a normalised number string such as
``"72"`` or ``"1250.5"`` (see :func:`normalize_number`).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from twt_backend.tasks import textparse as tp
from twt_backend.tasks.base import (
    Criterion,
    ParsedOutput,
    TaskType,
    coerce_text,
    teacher_system_message,
)

REASONING_CRITERIA = (
    Criterion("Correctness", 0.50, "the final answer is right and fully answers the question"),
    Criterion("Logical reasoning", 0.25, "each step follows from the previous ones"),
    Criterion("Clarity", 0.15, "the explanation is easy to follow"),
    Criterion("Completeness", 0.10, "no step or case needed for the answer is left out"),
)
REL_TOLERANCE = 1e-6

_NUMBER = re.compile(
    r"(?<![\w.])(?P<num>[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+)"
    r"(?:\s*/\s*(?P<den>\d+(?:\.\d+)?)(?![\d.]))?"
)
_LATEX_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_LATEX_TEXT = re.compile(r"\\(?:text|mathrm|textbf|mathbf)\s*\{([^{}]*)\}")
_LATEX_SPACING = re.compile(r"\\[,;:! ]|\\\$|\\%|\\left|\\right")
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")

_HINTS = {
    "full": "Solve the problem step by step, then give the final number on a last line "
    "in the form 'Answer: <number>'.",
    "compressed": "Solve the problem with brief reasoning, then give the final number on a "
    "last line in the form 'Answer: <number>'.",
    "answer": "Give only the final number, in the form 'Answer: <number>'.",
}


def format_decimal(value: Decimal) -> str:
    """`Decimal("1250.50")` -> "1250.5", `Decimal("1E+2")` -> "100", never "-0"."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def _clean(text: str) -> str:
    boxed = tp.find_boxed(text)
    text = boxed[-1] if boxed else text
    text = _LATEX_FRAC.sub(r"\1/\2", text)
    text = _LATEX_TEXT.sub(r" \1 ", text)
    text = _LATEX_COMMAND.sub(" ", _LATEX_SPACING.sub(" ", text))
    text = tp.strip_markdown(text)
    return text.replace("−", "-").replace("–", "-").translate(str.maketrans("", "", "${}"))


def _number_from_match(match: re.Match[str]) -> str | None:
    try:
        value = Decimal(match.group("num").replace(",", ""))
        if match.group("den"):
            denominator = Decimal(match.group("den"))
            if denominator == 0:
                return None
            value = value / denominator
    except (InvalidOperation, ArithmeticError):
        return None
    return format_decimal(value) if value.is_finite() else None


def normalize_number(text: Any) -> str | None:
    """The first number in text as a normalised string, or None.

    Handles `$1,250.50` -> "1250.5", `9 apples` -> "9", `\\frac{3}{4}` and `3/4` ->
    "0.75", `25%` -> "25", `-3` -> "-3".
    """
    match = _NUMBER.search(_clean(coerce_text(text)))
    return _number_from_match(match) if match else None


def last_number(text: str) -> str | None:
    matches = list(_NUMBER.finditer(_clean(text)))
    return _number_from_match(matches[-1]) if matches else None


def pick_number(segment: str) -> str | None:
    """The answer number in an answer segment: boxed, else bold, else after `=`, else first."""
    boxed = tp.find_boxed(segment)
    if boxed:
        return normalize_number(boxed[-1])
    lines = [line for line in segment.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    for bold in _BOLD.findall(first):
        if normalize_number(bold) is not None:
            return normalize_number(bold)
    if "=" in first:
        after = normalize_number(first.rsplit("=", 1)[1])
        if after is not None:
            return after
    return normalize_number(first)


def math_reference_from_gsm8k(answer_text: str) -> str:
    """The reference number of a GSM8K answer ("...#### 72" -> "72"); ValueError if none."""
    marker = tp.gsm8k_marker(coerce_text(answer_text))
    number = normalize_number(marker) if marker is not None else None
    if number is None:
        raise ValueError("answer has no '#### <number>' line")
    return number


def numbers_match(predicted: str | None, reference: str | None) -> bool:
    left, right = normalize_number(predicted), normalize_number(reference)
    if left is None or right is None:
        return False
    return math.isclose(float(left), float(right), rel_tol=REL_TOLERANCE, abs_tol=1e-12)


class MathTask(TaskType):
    name = "math"
    criteria = REASONING_CRITERIA

    def query_text(self, payload: dict) -> str:
        return str(payload.get("question", "")).strip()

    def teacher_messages(self, payload: dict) -> list[dict]:
        user = (
            f"Problem:\n{self.query_text(payload)}\n\n"
            "Reply in exactly this format:\n"
            "Rationale: <your step-by-step solution>\n"
            "Answer: <the final answer as a single number, no units>\n"
            "score: <your weighted confidence, a number between 0 and 1>"
        )
        system = teacher_system_message("an expert mathematics teacher", self.criteria)
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def _parse(self, text: str, payload: dict) -> ParsedOutput:
        sections = tp.split_sections(text)
        answer = self._marked_answer(text, sections)
        found, confidence = tp.find_score(text)
        rationale = tp.clean_rationale(
            sections.joined("rationale") or sections.other, tuple(c.name for c in self.criteria)
        )
        status = "no_answer" if answer is None else tp.score_status(found, confidence)
        return ParsedOutput(rationale or None, answer, confidence, status)

    @staticmethod
    def _marked_answer(text: str, sections: tp.Sections) -> str | None:
        """The answer given behind an explicit marker: Answer:, boxed, `answer is`, ####."""
        section = sections.get("answer")
        candidates = [section] if section else []
        candidates += list(reversed(tp.find_boxed(text)))
        candidates += list(reversed(tp.inline_answers(text)))
        candidates.append(tp.gsm8k_marker(text) or "")
        for candidate in candidates:
            number = pick_number(candidate)
            if number is not None:
                return number
        return None

    hints = _HINTS
    shared_hint = (
        "Solve the problem. End your reply with the final number on a last line in the form "
        "'Answer: <number>'."
    )
    direct_hint = (
        "Answer directly without explanation. Write only one line in the form 'Answer: <number>'."
    )

    def extract_answer(self, output: Any, payload: dict) -> str | None:
        text = tp.unwrap_format_fences(coerce_text(output))
        marked = self._marked_answer(text, tp.split_sections(text))
        return marked if marked is not None else last_number(tp.without_score_lines(text))

    def is_correct(self, predicted: str | None, reference: str | None, payload: dict) -> bool:
        return numbers_match(predicted, reference)
