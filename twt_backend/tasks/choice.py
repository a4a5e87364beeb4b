"""The `choice` task type (CommonsenseQA): a question stem and labelled options.

Payload: ``{"stem": str, "choices": [{"label": "A", "text": "bank"}, ...],
"concept": str | None}``; reference: the correct label, ``"A"``..``"E"``.
Answers are compared by label; an answer written as an option's text is mapped
to that option's label.
"""

from __future__ import annotations

import re
import string
from typing import Any

from twt_backend.tasks import textparse as tp
from twt_backend.tasks.base import (
    ParsedOutput,
    TaskType,
    coerce_text,
    teacher_system_message,
)
from twt_backend.tasks.math import REASONING_CRITERIA

_LEADING_LABEL = re.compile(r"^[(\[]?\s*([A-Za-z])\s*[)\]]|^([A-Za-z])[.:](?:\s|$)")
_NAMED_LABEL = re.compile(
    r"\b(?:option|choice|letter)\s*[:#]?\s*[(\[]?([A-Za-z])[)\]]?(?!\w)", re.I
)
_PAREN_LABEL = re.compile(r"\(([A-Z])\)")
_LONE_CAPITAL = re.compile(r"(?<![\w'’-])([A-Z])(?![\w'’-])")
_ARTICLES = re.compile(r"^(?:a|an|the)\s+")
_PUNCTUATION = str.maketrans({char: " " for char in string.punctuation + "“”‘’"})

_HINTS = {
    "full": "Think it through step by step, then give the letter of the best option on a "
    "last line in the form 'Answer: <letter>'.",
    "compressed": "Think it through briefly, then give the letter of the best option on a "
    "last line in the form 'Answer: <letter>'.",
    "answer": "Give only the letter of the best option, in the form 'Answer: <letter>'.",
}


def options(payload: dict) -> list[tuple[str, str]]:
    """(label, text) of each option; options without a label get A, B, C, ... by position."""
    result: list[tuple[str, str]] = []
    for index, choice in enumerate(payload.get("choices") or []):
        if isinstance(choice, dict):
            label = str(choice.get("label") or string.ascii_uppercase[index % 26]).upper()
            result.append((label, str(choice.get("text", ""))))
    return result


def _normalise_words(text: str) -> str:
    words = " ".join(text.lower().translate(_PUNCTUATION).split())
    return _ARTICLES.sub("", words)


def _label_by_text(text: str, choices: list[tuple[str, str]]) -> str | None:
    """The option whose text the answer is, or else the only option the answer names."""
    said = _normalise_words(text)
    if not said:
        return None
    normalised = [(label, _normalise_words(option)) for label, option in choices]
    exact = {label for label, option in normalised if option and option == said}
    if len(exact) == 1:
        return exact.pop()
    contained = [(label, opt) for label, opt in normalised if opt and f" {opt} " in f" {said} "]
    # "a piggy bank" names both "piggy bank" and "bank": keep the outermost options only
    outermost = {
        label
        for label, opt in contained
        if not any(opt != other and f" {opt} " in f" {other} " for _, other in contained)
    }
    return outermost.pop() if len(outermost) == 1 else None


def _unique(letters: list[str], labels: set[str]) -> str | None:
    found = {letter.upper() for letter in letters} & labels
    return found.pop() if len(found) == 1 else None


def choice_letter(text: Any, choices: list[tuple[str, str]]) -> str | None:
    """The option label an answer names: `C`, `(C) bank`, `Answer: c`, `bank`, `option C`."""
    labels = {label for label, _ in choices} or set("ABCDE")
    raw = coerce_text(text)
    boxed = tp.find_boxed(raw)
    cleaned = tp.strip_markdown(boxed[-1] if boxed else raw).replace("\\text", "").strip()
    bare = cleaned.strip(" \t.:;!?()[]{}\"'")
    if len(bare) == 1 and bare.upper() in labels:
        return bare.upper()
    leading = _LEADING_LABEL.match(cleaned)
    if leading and (leading.group(1) or leading.group(2)).upper() in labels:
        return (leading.group(1) or leading.group(2)).upper()
    if len(cleaned) > 2 and cleaned[0] in labels and cleaned[1] == " ":
        own_text = dict(choices).get(cleaned[0], "")
        if own_text and _normalise_words(cleaned[2:]) == _normalise_words(own_text):
            return cleaned[0]
    named = _unique(_NAMED_LABEL.findall(cleaned), labels)
    if named:
        return named
    return (
        _label_by_text(cleaned, choices)
        or _unique(_PAREN_LABEL.findall(cleaned), labels)
        or _unique(_lone_capitals(cleaned), labels)
    )


def _lone_capitals(text: str) -> list[str]:
    """Single capital letters standing alone, except an article `A` starting a phrase."""
    return [
        match.group(1)
        for match in _LONE_CAPITAL.finditer(text)
        if not (match.group(1) == "A" and re.match(r"\s+[a-z]", text[match.end() :]))
    ]


class ChoiceTask(TaskType):
    name = "choice"
    criteria = REASONING_CRITERIA

    def query_text(self, payload: dict) -> str:
        lines = [str(payload.get("stem", "")).strip()]
        lines += [f"{label}. {text}" for label, text in options(payload)]
        return "\n".join(lines)

    def teacher_messages(self, payload: dict) -> list[dict]:
        user = (
            "Question (choose the single best option):\n"
            f"{self.query_text(payload)}\n\n"
            "Reply in exactly this format:\n"
            "Rationale: <your step-by-step reasoning about the options>\n"
            "Answer: <the letter of the best option>\n"
            "score: <your weighted confidence, a number between 0 and 1>"
        )
        system = teacher_system_message("an expert in commonsense reasoning", self.criteria)
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def _parse(self, text: str, payload: dict) -> ParsedOutput:
        sections = tp.split_sections(text)
        answer = self._marked_answer(text, sections, options(payload))
        found, confidence = tp.find_score(text)
        rationale = tp.clean_rationale(
            sections.joined("rationale") or sections.other, tuple(c.name for c in self.criteria)
        )
        status = "no_answer" if answer is None else tp.score_status(found, confidence)
        return ParsedOutput(rationale or None, answer, confidence, status)

    @staticmethod
    def _marked_answer(
        text: str, sections: tp.Sections, choices: list[tuple[str, str]]
    ) -> str | None:
        section = sections.get("answer")
        candidates = [section.splitlines()[0], section] if section else []
        candidates += list(reversed(tp.find_boxed(text)))
        candidates += list(reversed(tp.inline_answers(text)))
        for candidate in candidates:
            letter = choice_letter(candidate, choices)
            if letter is not None:
                return letter
        return None

    hints = _HINTS
    shared_hint = (
        "Choose the best option. End your reply with a last line in the form 'Answer: <letter>'."
    )
    direct_hint = (
        "Answer directly without explanation. Write only one line in the form 'Answer: <letter>'."
    )

    def extract_answer(self, output: Any, payload: dict) -> str | None:
        text = tp.unwrap_format_fences(coerce_text(output))
        choices = options(payload)
        marked = self._marked_answer(text, tp.split_sections(text), choices)
        if marked is not None:
            return marked
        lines = [line for line in tp.without_score_lines(text).splitlines() if line.strip()]
        return choice_letter(lines[-1], choices) if lines else None

    def is_correct(self, predicted: str | None, reference: str | None, payload: dict) -> bool:
        choices = options(payload)
        if predicted is None or reference is None:
            return False
        letter = choice_letter(predicted, choices)
        return letter is not None and letter == choice_letter(reference, choices)
