"""Prompts of teacher-guided compression and the compressor, and the parser of their replies.

The teacher method shows the teacher its own reasoning and the stage-N student's answer
to the same query and asks for the reasoning rewritten the way the student writes: its
style, its length, its depth, with the steps that lead to the answer kept. The compressor
method (a paper ablation) asks for a shorter reasoning without showing the student.
Both ask for the reasoning alone between <reasoning> tags; the parser also copes with
replies that ignore the tags, add a preamble, an answer line or a score line.
"""

from __future__ import annotations

import re
from typing import Any

from twt_backend.tasks import ParsedOutput, TaskType
from twt_backend.tasks.base import coerce_text
from twt_backend.tasks.textparse import split_sections, unwrap_format_fences, without_score_lines

OPEN, CLOSE = "<reasoning>", "</reasoning>"

_REPLY_FORMAT = (
    f"Reply with the new reasoning only, between {OPEN} and {CLOSE}. Leave out the final "
    "answer, any self-assessment or score, and any comment about what you changed."
)

REWRITE_SYSTEM = (
    "You help train a small student model. A strong model wrote the reference reasoning "
    "below; the student cannot yet imitate reasoning written that way. Your job is to "
    "rewrite the reference reasoning so that it reads as if the student had written it: "
    "the same style and tone, about the same length and the same level of detail as the "
    "student's own attempt. Keep every step that is needed to reach the reference answer, "
    "and keep the reasoning correct: never copy the student's mistakes, and never change "
    "the reference answer. " + _REPLY_FORMAT
)

COMPRESS_SYSTEM = (
    "You compress worked reasoning for a small student model. Shorten the reasoning you "
    "are given: keep only the steps needed to reach the answer, drop repetition, "
    "restatements of the question and commentary, and keep it correct. Aim for at most "
    "half of the original length. " + _REPLY_FORMAT
)


def _words(text: str) -> int:
    return len(text.split())


def rewrite_messages(
    task: TaskType,
    payload: dict[str, Any],
    rationale: str,
    answer: str | None,
    student_output: str,
) -> list[dict[str, Any]]:
    """The teacher-method request: reference reasoning plus the student's own answer."""
    user = (
        f"Problem:\n{task.query_text(payload)}\n\n"
        f"Reference reasoning:\n{rationale.strip()}\n\n"
        f"Reference answer:\n{(answer or '').strip()}\n\n"
        f"The student's own attempt ({_words(student_output)} words):\n"
        f"{student_output.strip()}\n\n"
        "Rewrite the reference reasoning in the student's style, at about the length and "
        "depth of the student's attempt, keeping the essential steps. " + _REPLY_FORMAT
    )
    return [{"role": "system", "content": REWRITE_SYSTEM}, {"role": "user", "content": user}]


def compress_messages(
    task: TaskType, payload: dict[str, Any], rationale: str, answer: str | None
) -> list[dict[str, Any]]:
    """The compressor request: the reasoning to shorten, without any student answer."""
    user = (
        f"Problem:\n{task.query_text(payload)}\n\n"
        f"Reasoning ({_words(rationale)} words):\n{rationale.strip()}\n\n"
        f"Answer:\n{(answer or '').strip()}\n\n"
        "Compress the reasoning, keeping the essential steps. " + _REPLY_FORMAT
    )
    return [{"role": "system", "content": COMPRESS_SYSTEM}, {"role": "user", "content": user}]


_TAGGED = re.compile(r"<reasoning>(.*?)(?:</reasoning>|$)", re.IGNORECASE | re.DOTALL)
_PREAMBLE = re.compile(
    r"^\s*(?:sure|certainly|okay|ok|here(?:'s| is| are)|below is|the (?:rewritten|compressed))"
    r"[^\n]{0,120}[:.!]\s*$",
    re.IGNORECASE,
)


def _untagged(text: str) -> str:
    """The reasoning of a reply without tags: its rationale section, else the text before
    any answer/score section, without a chatty first line."""
    sections = split_sections(unwrap_format_fences(text))
    body = sections.joined("rationale") or sections.other
    lines = body.strip().splitlines()
    if lines and _PREAMBLE.match(lines[0]):
        lines = lines[1:]
    return "\n".join(lines)


def parse_rewrite(text: Any, payload: dict[str, Any] | None = None) -> ParsedOutput:
    """The rewritten reasoning of a reply (never raises); status "empty" when none."""
    raw = coerce_text(text).strip()
    tagged = [m.strip() for m in _TAGGED.findall(raw) if m.strip()]
    body = tagged[-1] if tagged else _untagged(raw)
    body = re.sub(r"</?reasoning>", "", without_score_lines(body), flags=re.IGNORECASE)
    body = re.sub(r"\n{3,}", "\n\n", body).strip()
    return ParsedOutput(body or None, None, None, "ok" if body else "empty")
