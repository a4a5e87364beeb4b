"""The task-type interface: prompts, teacher-output parsing, student formats, scoring.

Conventions shared by every task type:

* **Payloads** are the JSON objects the importer stores in ``queries.payload``
  (see each task module for its shape); references are plain strings.
* **Teacher output parsing** never raises. The parse status says what was
  missing, with this precedence (first that applies wins):

  1. ``"empty"``: the text is None, not text, or only whitespace;
  2. ``"no_answer"``: no answer (or, for code, no code) could be found;
  3. ``"no_confidence"``: no ``score:`` line (or equivalent) was found;
     ``"confidence_out_of_range"``: a score was found but, after normalising
     percentages (``95%``) and fractions (``9.5/10``), it lies outside [0, 1];
  4. ``"ok"``.

  Whatever was found is still returned (e.g. the rationale of a ``no_answer``
  output); a confidence that is missing or out of range is always ``None``.
* **Student formats** are built from a *mode* rather than a stage number:
  ``"full"`` (full reasoning), ``"compressed"`` (compressed reasoning) or
  ``"answer"`` (answer only). :func:`mode_for_stage` maps HaRD stages to modes
  for the three-stage method and the four-stage variant. Stage 0 (the vanilla,
  untrained student) has no target; use :meth:`TaskType.vanilla_prompt`.
* **Prompt modes** say which instruction follows the query (the student's mode only
  chooses the target): ``"shared"`` (the default, the paper's setting) is one
  instruction for every stage and for the vanilla student, so a drop in output tokens
  is a learnt habit, not an instruction; ``"stage"`` gives each stage the hint of its
  own format (the vanilla student gets the full-reasoning one); ``"full"``,
  ``"compressed"`` and ``"answer"`` force that format's hint on any stage (evaluation
  only). ``"direct"`` is the direct-answer baseline's "answer without explanation".
* Prompts are plain text; the caller applies any chat template. A student
  prompt ends with a newline and the target follows it directly; the caller
  appends the end-of-sequence token to the target.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from twt_backend.errors import UsageError
from twt_backend.tasks.textparse import unwrap_format_fences

log = logging.getLogger(__name__)

PARSE_STATUSES = ("ok", "no_confidence", "confidence_out_of_range", "no_answer", "empty")
TRUNCATED = "truncated"
"""The parse status of a teacher reply cut at its max_tokens (finish_reason "length")
that did not parse "ok": stored instead of the parser's status (set by the engine)."""
MODES = ("full", "compressed", "answer")
TRAINING_PROMPT_MODES = ("shared", "stage")
PROMPT_MODES = (*TRAINING_PROMPT_MODES, *MODES)
DEFAULT_PROMPT_MODE = "shared"
DIRECT = "direct"


@dataclass
class ParsedOutput:
    """A teacher output split into its triplet, with a parse status (see module doc)."""

    rationale: str | None
    answer: str | None
    confidence: float | None
    status: str


@dataclass(frozen=True)
class Criterion:
    """One criterion of the teacher's self-assessment and its weight in the score."""

    name: str
    weight: float
    description: str


def mode_for_stage(stage: int, n_stages: int = 3) -> str:
    """The student format of a HaRD stage.

    Stage 1 is ``"full"``, the last stage (``n_stages``) is ``"answer"`` and every
    stage in between is ``"compressed"``: with three stages 1/2/3 give
    full/compressed/answer; with the four-stage variant 1/2/3/4 give
    full/compressed/compressed/answer. Stage 0 (vanilla student) has no mode.
    """
    if n_stages < 2:
        raise UsageError(f"a HaRD schedule needs at least 2 stages, got {n_stages}")
    if not 1 <= stage <= n_stages:
        raise UsageError(f"stage must be between 1 and {n_stages}, got {stage}")
    if stage == 1:
        return "full"
    return "answer" if stage == n_stages else "compressed"


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise UsageError(f"unknown student mode {mode!r}; expected one of {', '.join(MODES)}")
    return mode


def check_prompt_mode(prompt_mode: str) -> str:
    if prompt_mode not in (*PROMPT_MODES, DIRECT):
        raise UsageError(
            f"unknown prompt mode {prompt_mode!r}; expected one of {', '.join(PROMPT_MODES)}"
        )
    return prompt_mode


def coerce_text(text: Any) -> str:
    """Any value as text: None gives "", bytes are decoded leniently."""
    if text is None:
        return ""
    if isinstance(text, bytes | bytearray):
        return bytes(text).decode("utf-8", errors="replace")
    return text if isinstance(text, str) else str(text)


class TaskType(ABC):
    """One kind of query (code, choice, math) and everything the pipeline does with it."""

    name: str = ""
    criteria: tuple[Criterion, ...] = ()
    needs_sandbox: bool = False
    """True where answers are scored by running them (code): use the sandbox scorer."""

    @abstractmethod
    def query_text(self, payload: dict) -> str:
        """The query as teachers and students see it."""

    @abstractmethod
    def teacher_messages(self, payload: dict) -> list[dict]:
        """Chat messages asking a teacher for rationale, answer and a ``score:`` line."""

    def parse_teacher_output(self, text: Any, payload: dict) -> ParsedOutput:
        """Split a teacher's raw output into rationale, answer and confidence; never raises."""
        raw = coerce_text(text)
        if not raw.strip():
            return ParsedOutput(None, None, None, "empty")
        try:
            return self._parse(
                unwrap_format_fences(raw), payload if isinstance(payload, dict) else {}
            )
        except Exception:  # the contract is "never raises": keep the row, report no answer
            log.warning("%s parser failed on a %d-char output", self.name, len(raw), exc_info=True)
            return ParsedOutput(None, None, None, "no_answer")

    @abstractmethod
    def _parse(self, text: str, payload: dict) -> ParsedOutput:
        """Parse non-empty text (may raise; :meth:`parse_teacher_output` guards it)."""

    hints: dict[str, str] = {}
    """Per student mode, its own instruction (prompt mode "stage", or forced by name)."""
    shared_hint: str = ""
    """The one instruction of every stage and the vanilla student (prompt mode "shared"):
    the extractable answer format, saying nothing about how much to reason."""
    direct_hint: str = ""
    """The direct-answer baseline's instruction: answer at once, in the extractable format."""

    def instruction(self, prompt_mode: str, mode: str | None = None) -> str:
        """The instruction after the query for a prompt mode and a student mode (None: the
        vanilla student, asked like a full-reasoning stage in prompt mode "stage")."""
        check_prompt_mode(prompt_mode)
        if prompt_mode == "shared":
            return self.shared_hint
        if prompt_mode == DIRECT:
            return self.direct_hint
        if prompt_mode == "stage":
            return self.hints[check_mode(mode or "full")]
        return self.hints[prompt_mode]

    def student_prompt(
        self, payload: dict, mode: str, prompt_mode: str = DEFAULT_PROMPT_MODE
    ) -> str:
        """The prompt part of a student example (no loss on it), ending with a newline."""
        check_mode(mode)
        return f"{self.query_text(payload)}\n\n{self.instruction(prompt_mode, mode)}\n"

    def final_answer(self, answer: str) -> str:
        """The answer as the last part of a student target."""
        return f"Answer: {answer}"

    def student_target(self, rationale: str | None, answer: str, mode: str) -> str:
        """The target part: rationale then answer for full/compressed, answer only otherwise."""
        final = self.final_answer(answer)
        if check_mode(mode) == "answer" or not (rationale and rationale.strip()):
            return final
        return f"{rationale.strip()}\n{final}"

    def vanilla_prompt(self, payload: dict, prompt_mode: str = DEFAULT_PROMPT_MODE) -> str:
        """The untrained student's prompt: by default the very prompt of every stage."""
        return f"{self.query_text(payload)}\n\n{self.instruction(prompt_mode)}\n"

    def direct_prompt(self, payload: dict) -> str:
        """The direct-answer baseline's prompt: no explanation, the extractable format."""
        return self.vanilla_prompt(payload, DIRECT)

    @abstractmethod
    def extract_answer(self, output: Any, payload: dict) -> str | None:
        """The normalised answer in a model's output (lenient), or None."""

    @abstractmethod
    def is_correct(self, predicted: str | None, reference: str | None, payload: dict) -> bool:
        """Whether a predicted answer matches the reference (both are normalised first)."""


def format_criteria(criteria: tuple[Criterion, ...]) -> str:
    return "\n".join(f"- {c.name} ({round(c.weight * 100)}%): {c.description}" for c in criteria)


def teacher_system_message(role: str, criteria: tuple[Criterion, ...]) -> str:
    """The system message shared by all task types: role, format and self-assessment."""
    weights = " + ".join(f"{c.weight:g} x {c.name.lower()}" for c in criteria)
    return (
        f"You are {role}. Solve the task you are given and explain your thinking so "
        "that a student can learn from it.\n\n"
        "After solving, judge your own response honestly. Rate it from 0 to 1 on each "
        "criterion below:\n"
        f"{format_criteria(criteria)}\n\n"
        f"Your confidence is the weighted sum: {weights}. It must be a number between "
        "0 and 1. The very last line of your reply must be exactly `score: <number>`, "
        "for example `score: 0.85`, with nothing after it."
    )
