"""Teacher-output parsing: every format real teachers write, and robustness."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator

import pytest

from twt_backend.tasks import PARSE_STATUSES, ParsedOutput, get_task

CHOICE = {
    "stem": "Where would you keep money you don't need right away?",
    "choices": [
        {"label": "A", "text": "river"},
        {"label": "B", "text": "pocket"},
        {"label": "C", "text": "bank"},
        {"label": "D", "text": "piggy bank"},
        {"label": "E", "text": "shoe"},
    ],
    "concept": "money",
}
MATH = {"question": "Tom has 3 bags of 6 apples. How many apples does he have?"}
CODE = {
    "text": "Write a function to add two numbers.",
    "tests": ["assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(-1, 1) == 0"],
    "test_setup": "",
    "entry_point": None,
}
RATIONALE = "Money is kept safe in a bank."


@pytest.fixture(autouse=True)
def _no_swallowed_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The parser never raises; this checks its last-resort guard never had to act either."""
    caplog.set_level(logging.WARNING, logger="twt_backend.tasks.base")
    yield
    assert not [r for r in caplog.records if r.name == "twt_backend.tasks.base"]


def parse(task: str, text: object) -> ParsedOutput:
    payload = {"choice": CHOICE, "math": MATH, "code": CODE}[task]
    return get_task(task).parse_teacher_output(text, payload)


@pytest.mark.parametrize(
    ("score_line", "expected"),
    [
        ("score: 0.85", 0.85),
        ("Score: **0.9**", 0.9),
        ("**Score:** 0.9", 0.9),
        ("score: 95%", 0.95),
        ("score: 0.95/1", 0.95),
        ("Score: 9.5/10", 0.95),
        ("score: 0.9 (I am confident in the arithmetic, less in the wording)", 0.9),
        ("score: 0.8. The reasoning is sound.", 0.8),
        ("`score: 0.85`", 0.85),
        ("### Score\n0.7", 0.7),
        ("Confidence: 0.75", 0.75),
        ("Final score (weighted sum): 0.92", 0.92),
        ("score: 0.5*1.0 + 0.25*0.8 + 0.15*1 + 0.1*1 = 0.95", 0.95),
        ("score: 1", 1.0),
        ("score: 0", 0.0),
    ],
)
def test_score_formats(score_line: str, expected: float) -> None:
    parsed = parse("choice", f"Rationale: {RATIONALE}\nAnswer: C\n{score_line}")
    assert parsed.status == "ok"
    assert parsed.confidence == pytest.approx(expected)
    assert parsed.answer == "C"


@pytest.mark.parametrize("score_line", ["score: 85", "score: 1.5", "score: -0.2", "score: 150%"])
def test_score_out_of_range_gives_null(score_line: str) -> None:
    parsed = parse("choice", f"Answer: C\n{score_line}")
    assert (parsed.status, parsed.confidence, parsed.answer) == (
        "confidence_out_of_range",
        None,
        "C",
    )


@pytest.mark.parametrize(
    "text", ["Answer: C", "Answer: C\nscore: high", "Answer: C\nscore: ", "Answer: C\nscore 0.9"]
)
def test_no_confidence(text: str) -> None:
    parsed = parse("choice", text)
    assert (parsed.status, parsed.confidence, parsed.answer) == ("no_confidence", None, "C")


def test_last_score_line_wins_over_echoed_example() -> None:
    text = "I will end with `score: 0.85` as asked.\nAnswer: C\nscore: 0.6"
    assert parse("choice", text).confidence == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Rationale: {RATIONALE}\nAnswer: C\nscore: 0.9", "C"),
        (f"{RATIONALE} The answer is: (C) bank\nscore: 0.9", "C"),
        (f"{RATIONALE}\nAnswer: c\nscore: 0.9", "C"),
        (f"{RATIONALE}\nAnswer: bank\nscore: 0.9", "C"),
        (f"{RATIONALE}\nAnswer: piggy bank\nscore: 0.9", "D"),
        (f"{RATIONALE}\nAnswer: a piggy bank.\nscore: 0.9", "D"),
        (f"**Rationale:** {RATIONALE}\n**Answer:** (C)\n**Score:** 0.9", "C"),
        (f"## Rationale\n{RATIONALE}\n\n## Answer\n**C. bank**\n\n## Score\nscore: 0.9", "C"),
        (f"score: 0.9\nAnswer: C\nRationale: {RATIONALE}", "C"),
        (f"Answer: C\n\nRationale: {RATIONALE}\n\nscore: 0.9", "C"),
        (f"```\nRationale: {RATIONALE}\nAnswer: C\nscore: 0.9\n```", "C"),
        (f"`Rationale: {RATIONALE}`\n`Answer: C`\n`score: 0.9`", "C"),
        (f"{RATIONALE} So the answer is option C.\nscore: 0.9", "C"),
        (f"{RATIONALE} Final answer: $\\boxed{{C}}$\nscore: 0.9", "C"),
        (f"Rationale: {RATIONALE}\nFinal Answer: E) shoe\nscore: 0.9", "E"),
        (f"Rationale: {RATIONALE}\nAnswer:\n\n(B) pocket\nscore: 0.9", "B"),
    ],
)
def test_choice_answer_formats(text: str, expected: str) -> None:
    parsed = parse("choice", text)
    assert parsed.answer == expected
    assert parsed.status == "ok"
    assert parsed.confidence == pytest.approx(0.9)


def test_choice_rationale_is_kept_without_fields() -> None:
    parsed = parse("choice", f"## Rationale\n{RATIONALE}\n\n**Answer:** C\nscore: 0.9")
    assert parsed.rationale == RATIONALE


def test_choice_unlabelled_rationale_is_the_prose() -> None:
    parsed = parse("choice", f"{RATIONALE}\nThe answer is (C).\nscore: 0.9")
    assert parsed.rationale is not None and RATIONALE in parsed.rationale
    assert "score" not in parsed.rationale


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Rationale: 3 bags of 6 is 3*6 = 18.\nAnswer: 18\nscore: 0.9", "18"),
        ("3*6 = 18, so \\boxed{18}\nscore: 0.9", "18"),
        ("Rationale: total cost.\nAnswer: $1,250.50\nscore: 0.9", "1250.5"),
        ("Rationale: 4 + 5.\nAnswer: 9 apples\nscore: 0.9", "9"),
        ("Rationale: ...\n**Answer:** **18**\nscore: 0.9", "18"),
        ("Rationale: ...\nAnswer: 3 * 6 = 18 apples\nscore: 0.9", "18"),
        ("3 bags times 6 apples. The answer is 18.\nscore: 0.9", "18"),
        ("3 bags times 6 apples.\n#### 18\nscore: 0.9", "18"),
        ("Answer: \\boxed{\\frac{3}{4}}\nscore: 0.9", "0.75"),
        ("Answer: -7\nscore: 0.9", "-7"),
        ("Answer: 18.0\nscore: 0.9", "18"),
        ("score: 0.9\nAnswer: 18\nRationale: three bags of six", "18"),
    ],
)
def test_math_answer_formats(text: str, expected: str) -> None:
    parsed = parse("math", text)
    assert (parsed.answer, parsed.status) == (expected, "ok")
    assert parsed.confidence == pytest.approx(0.9)


def test_math_without_an_answer_marker_is_no_answer_but_keeps_the_rest() -> None:
    parsed = parse("math", "I am not sure how many there are, maybe 3 or 6.\nscore: 0.4")
    assert (parsed.answer, parsed.status) == (None, "no_answer")
    assert parsed.confidence == pytest.approx(0.4)
    assert parsed.rationale is not None and "not sure" in parsed.rationale


FENCED = "```python\ndef add(a, b):\n    return a + b\n```"
BARE = "def add(a, b):\n    return a + b"


@pytest.mark.parametrize(
    "text",
    [
        f"Rationale: Add them.\nCode:\n{FENCED}\nscore: 0.9",
        f"Rationale: Add them.\n{BARE}\n\nThis is simple.\nscore: 0.9",
        f"score: 0.9\n{FENCED}\nRationale: Add them.",
        f"Add them. Usage:\n```python\nprint(add(1, 2))\n```\n{FENCED}\nscore: 0.9",
        f"{FENCED}\nExample:\n```python\nassert add(2, 2) == 4\n```\nscore: 0.9",
        "Add them.\n```py\n    def add(a, b):\n        return a + b\n```\nscore: 0.9",
        "Add them.\n```python\n>>> def add(a, b):\n...     return a + b\n```\nscore: 0.9",
    ],
)
def test_code_answer_formats(text: str) -> None:
    parsed = parse("code", text)
    assert parsed.status == "ok"
    assert parsed.answer == BARE
    assert parsed.confidence == pytest.approx(0.9)


def test_code_takes_the_block_defining_the_tested_function() -> None:
    text = (
        "First a helper:\n```python\ndef helper(x):\n    return x\n```\n"
        f"Then the solution:\n{FENCED}\n"
        "And a variant for floats:\n```python\ndef add_floats(a, b):\n    return a + b\n```\n"
        "score: 0.8"
    )
    assert parse("code", text).answer == BARE


def test_code_rationale_excludes_code_and_score() -> None:
    parsed = parse("code", f"Rationale: Add the two numbers.\nCode:\n{FENCED}\nscore: 0.9")
    assert parsed.rationale == "Add the two numbers."


def test_code_score_annotation_inside_code_is_not_a_score() -> None:
    text = "```python\ndef add(a, b):\n    score: float = 0.1\n    return a + b\n```"
    parsed = parse("code", text)
    assert (parsed.status, parsed.confidence) == ("no_confidence", None)
    assert parsed.answer is not None and "score: float" in parsed.answer


def test_code_without_code_is_no_answer() -> None:
    assert parse("code", "You could add the numbers.\nscore: 0.3").status == "no_answer"


@pytest.mark.parametrize("text", [None, "", "   \n\t ", b"", b"  "])
@pytest.mark.parametrize("task", ["code", "choice", "math"])
def test_empty(task: str, text: object) -> None:
    parsed = parse(task, text)
    assert (parsed.status, parsed.answer, parsed.confidence, parsed.rationale) == (
        "empty",
        None,
        None,
        None,
    )


def test_status_precedence_no_answer_beats_confidence_problems() -> None:
    assert parse("choice", "I can't tell.\nscore: 7").status == "no_answer"
    assert parse("choice", "I can't tell.").status == "no_answer"


_PIECES = [
    "score:", "Score: **", "Answer:", "answer is", "Rationale:", "## ", "**", "```", "```python",
    "\\boxed{", "{", "}", "(", ")", "%", "/", "=", "0.9", "95", "9.5/10", "-", "1,250.50",
    "def f(x):", "    return x", "\n", "\n\n", " ", "é", "数学", "🙂", "\x00", "\u202e", "\r\n",
    "A", "c", "bank", "#### ", "$", "\\frac{1}{0}", "1/0", "0/0", "1e309", "nan", "inf",
]  # fmt: skip


def _random_texts(count: int) -> list[str]:
    rng = random.Random(1234)
    texts = ["".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 40))) for _ in range(count)]
    texts += ["".join(chr(rng.randint(0, 0x2FFF)) for _ in range(200)) for _ in range(count // 4)]
    return texts


@pytest.mark.parametrize("task", ["code", "choice", "math"])
def test_fuzz_never_raises(task: str) -> None:
    odd_inputs: list[object] = [None, 42, 3.5, b"\xff\xfeAnswer: 3", ["Answer: 3"], {"a": 1}]
    for text in _random_texts(300) + odd_inputs:
        parsed = parse(task, text)
        assert parsed.status in PARSE_STATUSES
        assert parsed.confidence is None or 0.0 <= parsed.confidence <= 1.0
        assert parsed.answer is None or isinstance(parsed.answer, str)


@pytest.mark.parametrize("task", ["code", "choice", "math"])
def test_fuzz_with_bad_payloads(task: str) -> None:
    for payload in [{}, {"choices": None, "tests": None}, {"choices": ["x", 3]}, None]:
        parsed = get_task(task).parse_teacher_output("Answer: C 18\nscore: 0.5", payload)  # type: ignore[arg-type]
        assert parsed.status in PARSE_STATUSES


@pytest.mark.parametrize("task", ["code", "choice", "math"])
def test_huge_input_parses_quickly(task: str) -> None:
    huge = ("Step: 3 * 6 = 18. " * 20 + "\n") * 3000 + "\\boxed{" * 2000 + "```\n" * 501
    huge += f"{FENCED}\nAnswer: 18\nscore: 0.9"
    # the baseline: plain text of the same length, parsed in the same run (the machine may be
    # busy); runaway backtracking over the nested openers would take many times longer
    plain = "Step: 3 * 6 = 18.\n" * (len(huge) // 18) + f"{FENCED}\nAnswer: 18\nscore: 0.9"
    started = time.perf_counter()
    parse(task, plain)
    baseline = time.perf_counter() - started
    started = time.perf_counter()
    parsed = parse(task, huge)
    elapsed = time.perf_counter() - started
    assert elapsed < 10 * baseline + 0.5, f"{elapsed:.2f} s against {baseline:.2f} s for plain text"
    assert parsed.status in PARSE_STATUSES


def test_self_assessment_is_not_part_of_the_rationale() -> None:
    text = (
        "Let's check each option.\nC. bank keeps money safe.\nThe answer is C.\n\n---\n"
        "**Self-assessment:**\n- Correctness (50%): 1.0\n- Logical reasoning: 0.9\n"
        "Clarity: 1, Completeness: 1\nscore = 0.5*1 + 0.25*0.9 + 0.15*1 + 0.1*1 = 0.975"
    )
    parsed = parse("choice", text)
    assert (parsed.answer, parsed.confidence) == ("C", pytest.approx(0.975))
    assert (
        parsed.rationale == "Let's check each option.\nC. bank keeps money safe.\nThe answer is C."
    )


def test_criterion_ratings_inside_the_rationale_section_are_dropped() -> None:
    text = "Rationale: 3*6 = 18.\nCorrectness: 1.0\nClarity (15%) - 0.9\nAnswer: 18\nscore: 0.97"
    assert parse("math", text).rationale == "3*6 = 18."


@pytest.mark.parametrize(
    "text",
    [
        "Rationale: The total score = 24 + 18 = 42.\nAnswer: 42",
        "Rationale: The team's score: 42 points.\nAnswer: 42",
    ],
)
def test_a_score_inside_the_reasoning_is_not_the_confidence(text: str) -> None:
    parsed = parse("math", text)
    assert (parsed.answer, parsed.status, parsed.confidence) == ("42", "no_confidence", None)


@pytest.mark.parametrize(
    "line", ["Overall confidence score: 0.9", "- **Self-assessed score:** 0.9", "> score: 0.9"]
)
def test_score_line_prefixes(line: str) -> None:
    assert parse("math", f"Answer: 42\n{line}").confidence == pytest.approx(0.9)
