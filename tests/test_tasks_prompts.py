"""Teacher prompts, student formats and the stage-to-mode mapping."""

from __future__ import annotations

import re

import pytest

from twt_backend.errors import UsageError
from twt_backend.tasks import MODES, TASK_NAMES, TaskType, get_task, mode_for_stage
from twt_backend.tasks.code import CodeTask

PAYLOADS = {
    "choice": {
        "stem": "Where do you keep money?",
        "choices": [
            {"label": label, "text": text}
            for label, text in zip(
                "ABCDE", ["river", "pocket", "bank", "piggy bank", "shoe"], strict=True
            )
        ],
        "concept": "money",
    },
    "math": {"question": "Tom has 3 bags of 6 apples. How many apples?"},
    "code": {
        "text": "Write a function to add two numbers.",
        "tests": ["assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(-1, 1) == 0"],
        "test_setup": "",
        "entry_point": None,
    },
}
ANSWERS = {"choice": "C", "math": "1250.5", "code": "def add(a, b):\n    return a + b"}
WEIGHTS = {
    "code": {"Correctness": 50, "Readability": 20, "Efficiency": 20, "Test coverage": 10},
    "choice": {"Correctness": 50, "Logical reasoning": 25, "Clarity": 15, "Completeness": 10},
    "math": {"Correctness": 50, "Logical reasoning": 25, "Clarity": 15, "Completeness": 10},
}


def test_registry() -> None:
    assert TASK_NAMES == ("code", "choice", "math")
    for name in TASK_NAMES:
        task = get_task(name)
        assert isinstance(task, TaskType) and task.name == name
    for bad in ("Code", "qa", "", None):
        with pytest.raises(UsageError):
            get_task(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", TASK_NAMES)
def test_teacher_messages_carry_query_criteria_and_score_line(name: str) -> None:
    messages = get_task(name).teacher_messages(PAYLOADS[name])
    assert [m["role"] for m in messages] == ["system", "user"]
    system, user = messages[0]["content"], messages[1]["content"]
    for criterion, percent in WEIGHTS[name].items():
        assert f"{criterion} ({percent}%)" in system
    assert sum(c.weight for c in get_task(name).criteria) == pytest.approx(1.0)
    assert "score: 0.85" in system and "last line" in system
    assert get_task(name).query_text(PAYLOADS[name]) in user
    assert user.splitlines()[-1].startswith("score:")
    assert "Rationale:" in user


def test_code_teacher_prompt_names_the_tested_function() -> None:
    user = get_task("code").teacher_messages(PAYLOADS["code"])[1]["content"]
    assert "`add`" in user and "assert add(1, 2) == 3" in user


def test_query_texts() -> None:
    choice = get_task("choice").query_text(PAYLOADS["choice"])
    assert choice.splitlines() == [
        "Where do you keep money?",
        "A. river",
        "B. pocket",
        "C. bank",
        "D. piggy bank",
        "E. shoe",
    ]
    code = get_task("code").query_text(PAYLOADS["code"])
    assert code.startswith("Write a function to add two numbers.")
    assert code.endswith("assert add(-1, 1) == 0")


@pytest.mark.parametrize(
    ("stage", "n_stages", "mode"),
    [(1, 3, "full"), (2, 3, "compressed"), (3, 3, "answer")]
    + [(1, 4, "full"), (2, 4, "compressed"), (3, 4, "compressed"), (4, 4, "answer")]
    + [(1, 2, "full"), (2, 2, "answer")],
)
def test_mode_for_stage(stage: int, n_stages: int, mode: str) -> None:
    assert mode_for_stage(stage, n_stages) == mode


@pytest.mark.parametrize(("stage", "n_stages"), [(0, 3), (4, 3), (-1, 3), (1, 1), (5, 4)])
def test_mode_for_stage_rejects(stage: int, n_stages: int) -> None:
    with pytest.raises(UsageError):
        mode_for_stage(stage, n_stages)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_unknown_mode_is_a_usage_error(name: str) -> None:
    task = get_task(name)
    with pytest.raises(UsageError):
        task.student_prompt(PAYLOADS[name], "stage1")
    with pytest.raises(UsageError):
        task.student_target("why", ANSWERS[name], "terse")


@pytest.mark.parametrize("name", TASK_NAMES)
@pytest.mark.parametrize("mode", MODES)
def test_student_prompt_and_target(name: str, mode: str) -> None:
    task = get_task(name)
    prompt = task.student_prompt(PAYLOADS[name], mode)
    assert prompt.startswith(task.query_text(PAYLOADS[name]))
    assert prompt.endswith("\n") and not prompt.endswith("\n\n")
    rationale = "First, think about it.\nThen conclude."
    target = task.student_target(rationale, ANSWERS[name], mode)
    assert (rationale in target) == (mode != "answer")
    assert target.strip() == target
    # the student's output in this format gives back the same answer
    assert task.extract_answer(target, PAYLOADS[name]) == ANSWERS[name]


def test_prompts_are_shared_by_default_and_differ_by_mode_per_stage() -> None:
    for name in TASK_NAMES:
        task = get_task(name)
        shared = {task.student_prompt(PAYLOADS[name], mode) for mode in MODES}
        assert shared == {task.vanilla_prompt(PAYLOADS[name])}
        per_stage = {task.student_prompt(PAYLOADS[name], mode, "stage") for mode in MODES}
        assert len(per_stage) == len(MODES) and not per_stage & shared
        # a forced mode asks any stage with that format's hint
        for mode in MODES:
            assert task.student_prompt(PAYLOADS[name], "answer", mode) == task.student_prompt(
                PAYLOADS[name], mode, "stage"
            )
        # in per-stage mode the vanilla student is asked like a full-reasoning stage
        assert task.vanilla_prompt(PAYLOADS[name], "stage") == task.student_prompt(
            PAYLOADS[name], "full", "stage"
        )


@pytest.mark.parametrize("name", TASK_NAMES)
def test_answer_only_target_is_just_the_answer(name: str) -> None:
    target = get_task(name).student_target(None, ANSWERS[name], "answer")
    expected = {
        "choice": "Answer: C",
        "math": "Answer: 1250.5",
        "code": "```python\ndef add(a, b):\n    return a + b\n```",
    }
    assert target == expected[name]
    # a missing rationale in a reasoning mode falls back to the answer alone
    assert get_task(name).student_target("  ", ANSWERS[name], "full") == expected[name]


@pytest.mark.parametrize("name", TASK_NAMES)
def test_vanilla_and_direct_prompts_ask_for_the_extractable_format(name: str) -> None:
    task = get_task(name)
    expected = {"choice": r"Answer: <letter>", "math": r"Answer: <number>", "code": r"```python"}
    for prompt in (task.vanilla_prompt(PAYLOADS[name]), task.direct_prompt(PAYLOADS[name])):
        assert prompt.startswith(task.query_text(PAYLOADS[name]))
        assert re.search(re.escape(expected[name]), prompt)
    assert "without explanation" in task.direct_prompt(PAYLOADS[name])
    assert "explanation" not in task.vanilla_prompt(PAYLOADS[name])


def test_code_needs_sandbox() -> None:
    assert CodeTask.needs_sandbox and not get_task("math").needs_sandbox
    with pytest.raises(NotImplementedError, match="sandbox"):
        get_task("code").is_correct("def add(a, b): return a + b", None, PAYLOADS["code"])
