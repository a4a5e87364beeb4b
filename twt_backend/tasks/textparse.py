"""Text helpers shared by the task parsers: labelled sections, the score line, markers.

Every regular expression here runs in linear time on its input line, so huge
outputs parse quickly; nothing here raises on odd text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_LABELS = {
    "rationale": (
        r"rationale|reasoning|explanation|reason|justification|analysis|approach|"
        r"thought process|thinking|step[- ]by[- ]step(?: reasoning| solution)?|solution"
    ),
    "answer": r"(?:the )?(?:final |correct )?answer",
    "code": r"(?:python |final )?code|implementation",
    "assessment": r"(?:self[- ]|confidence )?(?:assessment|evaluation)|scoring|criteria",
    "score": r"(?:final |overall |weighted |self[- ]assessed |confidence )?(?:score|confidence)",
}
_LABEL_ALT = "|".join(f"(?P<{key}>{pattern})" for key, pattern in _LABELS.items())
# A label line: optional markdown header, optional bold/italic, the label, an
# optional "(...)" note, then a colon (required unless the line is a header or
# the label is wrapped in bold) and the rest of the line.
_LABEL_LINE = re.compile(
    rf"^\s*(?P<hash>#{{1,6}}\s*)?(?P<open>[*_`]{{1,3}})?\s*(?:{_LABEL_ALT})"
    r"(?:\s*\([^)\n]{0,80}\))?\s*(?P<close>[*_`]{1,3})?\s*(?P<colon>[:：])?\s*(?:[*_`]{1,3})?"
    r"(?P<rest>.*)$",
    re.IGNORECASE,
)
_BOXED_MAX = 2000  # longest boxed{} content looked at; keeps odd inputs linear
_FENCE = re.compile(r"^\s*(```|~~~)")
_MARKDOWN = re.compile(r"[*_`]+")
_SCORE_LINE = re.compile(
    r"^[\s>*#•-]*(?:(?:final|overall|weighted|self[- ]assessed|confidence)\s+){0,2}"
    r"(?:score|confidence)"
    r"(?:\s*\([^)\n]{0,80}\))?\s*[:=]\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_SCORE_VALUE = re.compile(
    r"^\s*(?P<num>[-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*(?:(?P<pct>%)|/\s*(?P<den>\d+(?:\.\d+)?))?"
)
_ARITHMETIC = re.compile(r"^[\d\s.,*×x+\-−()/%]*$")
_PLAIN_FENCES = {"", "text", "txt", "plaintext", "markdown", "md"}
_INLINE_ANSWER = re.compile(
    r"\banswer(?:\s+(?:is|would be|should be|will be)\b\s*[:：]?|\s*[:：])\s*(?P<rest>[^\n]*)",
    re.IGNORECASE,
)


@dataclass
class Sections:
    """A text split at its label lines; `other` holds unlabelled text (e.g. a preamble)."""

    parts: dict[str, list[str]] = field(default_factory=dict)
    other: str = ""

    def get(self, key: str) -> str | None:
        """The last non-blank section with this label, stripped; None when absent."""
        found = [part.strip() for part in self.parts.get(key, []) if part.strip()]
        return found[-1] if found else None

    def joined(self, key: str) -> str | None:
        text = "\n\n".join(part.strip() for part in self.parts.get(key, []) if part.strip())
        return text or None


def strip_markdown(text: str) -> str:
    """Drop bold/italic/code markers and a leading header mark."""
    return _MARKDOWN.sub("", text).lstrip("# ").strip()


def label_of(line: str) -> tuple[str, str] | None:
    """(label, rest of line) when the line starts a labelled section."""
    match = _LABEL_LINE.match(line)
    if not match:
        return None
    rest = match.group("rest").strip()
    decorated = bool(match.group("hash")) or bool(match.group("open") and match.group("close"))
    if not (match.group("colon") or (decorated and not rest)):
        return None
    label = next(key for key in _LABELS if match.group(key))
    return label, rest


def split_sections(text: str) -> Sections:
    """Split text at label lines (Rationale:, **Answer:**, ## Code, score: ...).

    Lines inside fenced code blocks never start a section.
    """
    blocks: list[tuple[str, list[str]]] = [("", [])]
    in_fence = False
    for line in text.splitlines():
        fence = bool(_FENCE.match(line))
        found = None if in_fence or fence else label_of(line)
        if fence:
            in_fence = not in_fence
        if found is None:
            blocks[-1][1].append(line)
        else:
            blocks.append((found[0], [found[1]] if found[1] else []))
    sections = Sections(other="\n".join(blocks[0][1]))
    for label, lines in blocks[1:]:
        sections.parts.setdefault(label, []).append("\n".join(lines))
    return sections


def outside_fences(text: str) -> list[str]:
    """The lines of text that are not inside fenced code blocks."""
    lines: list[str] = []
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence:
            lines.append(line)
    return lines


def parse_score_value(rest: str) -> float | None:
    """The confidence in the text after `score:`, normalised; None when there is no number.

    `0.9`, `**0.9**`, `95%`, `9.5/10`, `0.5*1 + ... = 0.9` (the value after the last
    `=`), with any remark after the number. Out-of-range values are returned as is.
    """
    value = strip_markdown(rest).replace("$", "")
    if "=" in value:
        before, after = value.rsplit("=", 1)
        if not _ARITHMETIC.match(before):
            return None
        value = after
    match = _SCORE_VALUE.match(value)
    if not match:
        return None
    number = float(match.group("num"))
    if match.group("pct"):
        return number / 100
    if match.group("den"):
        denominator = float(match.group("den"))
        return number / denominator if denominator > 0 else None
    return number


def find_score(text: str) -> tuple[bool, float | None]:
    """(found, confidence) from the last score line outside code fences.

    `found` is False when no score line with a number exists; the confidence is None
    when the number lies outside [0, 1] after normalisation.
    """
    values = [value for value in _score_values(outside_fences(text)) if value is not None]
    if not values:
        return False, None
    return True, values[-1] if 0.0 <= values[-1] <= 1.0 else None


def _score_values(lines: list[str]) -> list[float | None]:
    """The score on each score line; a bare `## Score` header takes the next line's."""
    values: list[float | None] = []
    for index, line in enumerate(lines):
        match = _SCORE_LINE.search(strip_markdown(line))
        if match:
            values.append(parse_score_value(match.group("rest")))
        elif label_of(line) == ("score", ""):
            following = [later for later in lines[index + 1 : index + 3] if later.strip()]
            values.append(parse_score_value(following[0]) if following else None)
    return values


def score_status(found: bool, confidence: float | None) -> str:
    if not found:
        return "no_confidence"
    return "ok" if confidence is not None else "confidence_out_of_range"


def without_score_lines(text: str) -> str:
    """Text without its score lines (outside fences), e.g. to read a rationale."""
    kept: list[str] = []
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        is_score = not in_fence and _is_score_line(line)
        if not is_score:
            kept.append(line)
    return "\n".join(kept)


def _is_score_line(line: str) -> bool:
    match = _SCORE_LINE.search(strip_markdown(line))
    return match is not None and parse_score_value(match.group("rest")) is not None


def find_boxed(text: str) -> list[str]:
    r"""Contents of every `\boxed{...}` / `\fbox{...}`, with nested braces."""
    found: list[str] = []
    for match in re.finditer(r"\\(?:boxed|fbox)\s*\{", text):
        depth, start = 1, match.end()
        for index in range(start, min(len(text), start + _BOXED_MAX)):
            char = text[index]
            depth += 1 if char == "{" else -1 if char == "}" else 0
            if depth == 0:
                found.append(text[start:index])
                break
    return found


def inline_answers(text: str) -> list[str]:
    """What follows `answer is` / `answer:` anywhere in the text, outside code fences."""
    found: list[str] = []
    for line in outside_fences(text):
        found.extend(m.group("rest").strip() for m in _INLINE_ANSWER.finditer(line))
    return [item for item in found if strip_markdown(item)]


def gsm8k_marker(text: str) -> str | None:
    """The text after the last `####` (GSM8K's answer marker)."""
    if "####" not in text:
        return None
    rest = text.rsplit("####", 1)[1].strip()
    return rest.splitlines()[0] if rest else None


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block; an unclosed last fence runs to the end."""
    blocks: list[tuple[str, str]] = []
    language, in_fence = "", False
    body: list[str] = []
    for line in text.splitlines():
        match = _FENCE.match(line)
        if match and not in_fence:
            in_fence, body = True, []
            language = line.strip()[3:].strip().lower()
        elif match and in_fence:
            in_fence = False
            blocks.append((language, "\n".join(body)))
        elif in_fence:
            body.append(line)
    if in_fence and body:
        blocks.append((language, "\n".join(body)))
    return blocks


def remove_fenced_blocks(text: str) -> str:
    return "\n".join(outside_fences(text))


def unwrap_format_fences(text: str) -> str:
    """Remove the fence lines around a plain block that holds the reply's own fields.

    Teachers sometimes wrap their whole `Answer: ... score: ...` reply in a code
    fence, copying the format example; such a block is prose, not code.
    """
    lines = text.splitlines()
    drop: set[int] = set()
    opening: int | None = None
    for index, line in enumerate(lines):
        if not _FENCE.match(line):
            continue
        if opening is None:
            opening = index
            continue
        plain = lines[opening].strip()[3:].strip().lower() in _PLAIN_FENCES
        if plain and _holds_fields(lines[opening + 1 : index]):
            drop.update((opening, index))
        opening = None
    if not drop:
        return text
    return "\n".join(line for index, line in enumerate(lines) if index not in drop)


def _holds_fields(lines: list[str]) -> bool:
    if any(re.match(r"\s*(?:async\s+def|def|class)\s", line) for line in lines):
        return False
    return any(_is_score_line(line) or _is_plain_label(line) for line in lines)


def _is_plain_label(line: str) -> bool:
    found = label_of(line)
    is_field = found is not None and found[0] in ("answer", "rationale")
    return is_field and not line.lstrip().startswith("#")


def clean_rationale(text: str, criteria_names: tuple[str, ...]) -> str:
    """A rationale without the self-assessment: score lines, criterion ratings, rules."""
    names = "|".join(re.escape(name) for name in criteria_names) or "(?!)"
    rating = re.compile(
        rf"^[-*+\d.)\s]*(?:{names})\s*(?:\([^)\n]{{0,40}}\))?\s*[:=\-–]\s*[\d.]", re.I
    )
    kept = [
        line
        for line in without_score_lines(text).splitlines()
        if not rating.match(strip_markdown(line)) and line.strip() not in ("---", "***", "___")
    ]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
