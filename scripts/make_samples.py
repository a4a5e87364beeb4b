"""Write the bundled sample data under twt_backend/resources/samples/ from scripts/sample_items.py.

    .venv/bin/python scripts/make_samples.py

Writes, per task type (code, choice, math), a data file in its benchmark's shape
with a `split` field (every fifth item is `test`, the rest `train`) and a replay
file of teacher-style outputs (2-3 per train item) for the replay provider.
Deterministic: running it twice gives the same files.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sample_items import CHOICE, CODE, MATH  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "twt_backend" / "resources" / "samples"
TEACHERS = ("gpt-4", "gpt-4o-mini", "mistral-large")
NAMES = {
    "Leo",
    "Priya",
    "Maya",
    "Tom",
    "Nina",
    "Sam",
    "Ben",
    "Ana",
    "Kim",
    "Oliver",
    "Grace",
    "Ella",
}


def split_of(number: int) -> str:
    return "test" if number % 5 == 0 else "train"


def format_number(value: float) -> str:
    value = round(value, 6)
    return str(int(value)) if value == int(value) else f"{value:g}"


def evaluate(expression: str) -> str:
    return format_number(eval(expression, {"__builtins__": {}}))  # our own constant expressions


# ---- math --------------------------------------------------------------------------------
def math_records() -> list[dict[str, Any]]:
    records = []
    for number, (question, steps) in enumerate(MATH, start=1):
        lines = [
            text.format(f"{expr} = <<{expr}={evaluate(expr)}>>{evaluate(expr)}")
            for text, expr in steps
        ]
        answer = evaluate(steps[-1][1])
        records.append(
            {
                "id": f"math-{number:02d}",
                "question": question,
                "answer": "\n".join(lines) + f"\n#### {answer}",
                "split": split_of(number),
            }
        )
    return records


def _calc_sentences(steps: list[tuple[str, str]], times: str) -> list[str]:
    def pretty(expr: str) -> str:
        return (
            expr.replace("*", f" {times} ")
            .replace("/", " / ")
            .replace("+", " + ")
            .replace("-", " - ")
        )

    return [text.format(f"{pretty(expr)} = {evaluate(expr)}") for text, expr in steps]


def _lower_first(sentence: str) -> str:
    first = sentence.split(" ", 1)[0]
    return (
        sentence
        if first in NAMES or not first[:1].isalpha()
        else sentence[0].lower() + sentence[1:]
    )


def math_outputs(index: int) -> dict[str, str]:
    question, steps = MATH[index]
    answer = evaluate(steps[-1][1])
    numbered = "\n".join(
        f"Step {i}: {s}" for i, s in enumerate(_calc_sentences(steps, "×"), start=1)
    )
    terse = "; ".join(f"{expr} = {evaluate(expr)}" for _, expr in steps)
    sentences = _calc_sentences(steps, "x")
    connectors = ["First, ", *(["Next, "] * (len(sentences) - 2)), "Finally, "][-len(sentences) :]
    story = " ".join(c + _lower_first(s) for c, s in zip(connectors, sentences, strict=True))
    return {
        "gpt-4": f"Rationale:\n{numbered}\nAnswer: {answer}",
        "gpt-4o-mini": f"Rationale: {terse}.\nAnswer: {answer}",
        "mistral-large": (
            f"**Rationale:** Let me work through the problem carefully. {story} "
            f"So the quantity asked for is {answer}.\n\n**Answer:** {answer}\n\n"
            "Self-check: every number in the question was used and the arithmetic was verified."
        ),
    }


# ---- choice ------------------------------------------------------------------------------
def _shuffled(number: int, options: list[str]) -> tuple[list[dict[str, str]], str]:
    order = list(options)
    random.Random(f"choice-{number}").shuffle(order)
    labelled = [{"label": "ABCDE"[i], "text": text} for i, text in enumerate(order)]
    return labelled, "ABCDE"[order.index(options[0])]


def choice_records() -> list[dict[str, Any]]:
    records = []
    for number, (stem, options, concept, _) in enumerate(CHOICE, start=1):
        labelled, key = _shuffled(number, options)
        records.append(
            {
                "answerKey": key,
                "id": f"choice-{number:02d}",
                "question": {"question_concept": concept, "choices": labelled, "stem": stem},
                "split": split_of(number),
            }
        )
    return records


def choice_outputs(index: int) -> dict[str, str]:
    stem, options, concept, explanation = CHOICE[index]
    labelled, key = _shuffled(index + 1, options)
    right = options[0]
    others = ", ".join(f'"{o}"' for o in options[1:])
    review = "\n".join(
        f"- {o['label']}) {o['text']}: "
        + (f"fits. {explanation}" if o["label"] == key else "does not fit the situation.")
        for o in labelled
    )
    return {
        "gpt-4": (
            f"Rationale:\nThe question is about {concept}. {explanation} Of the options, "
            f'"{right}" matches best, while {others} do not fit what is described.\n'
            f"Answer: ({key}) {right}"
        ),
        "gpt-4o-mini": f"Rationale: {explanation}\nAnswer: {key}",
        "mistral-large": f"Rationale:\nChecking the options one by one:\n{review}\n\nAnswer: {key}) {right}",
    }


# ---- code --------------------------------------------------------------------------------
def code_records() -> list[dict[str, Any]]:
    return [
        {
            "task_id": f"code-{number:02d}",
            "text": text,
            "code": code,
            "test_list": tests,
            "test_setup_code": "",
            "challenge_test_list": [],
            "split": split_of(number),
        }
        for number, (text, code, tests, _) in enumerate(CODE, start=1)
    ]


def code_outputs(index: int) -> dict[str, str]:
    text, code, tests, explanation = CODE[index]
    name = code.split("def ", 1)[1].split("(", 1)[0]
    fenced = f"```python\n{code}\n```"
    sentence = explanation[0].upper() + explanation[1:]
    return {
        "gpt-4": (
            f"Rationale:\nTo solve this, {explanation}. This handles ordinary inputs as well as "
            f"edge cases such as empty or single-item inputs.\nAnswer:\n{fenced}"
        ),
        "gpt-4o-mini": f"Rationale: {sentence}.\nAnswer:\n{fenced}",
        "mistral-large": (
            f"Rationale:\nPlan:\n1. Read the input described in the task.\n2. {sentence}.\n"
            f"3. Return the result directly.\nThe function is named `{name}`, as the tests "
            f"expect, and needs no imports.\n\nAnswer:\n{fenced}"
        ),
    }


# ---- replay files ------------------------------------------------------------------------
def confidence(rng: random.Random) -> str:
    value = rng.uniform(0.95, 0.99) if rng.random() < 0.7 else rng.uniform(0.80, 0.94)
    return f"{value:.2f}"


def replay_records(task: str, records: list[dict[str, Any]], outputs: Any) -> list[dict[str, str]]:
    rows = []
    id_field = "task_id" if task == "code" else "id"
    for index, record in enumerate(records):
        if record["split"] != "train":
            continue
        texts = outputs(index)
        teachers = TEACHERS if index % 3 else TEACHERS[index % 2 : index % 2 + 2]
        for teacher in teachers:
            rng = random.Random(f"{task}-{record[id_field]}-{teacher}")
            output = f"{texts[teacher]}\nscore: {confidence(rng)}"
            rows.append({"id": record[id_field], "teacher": teacher, "output": output})
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), "utf-8")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for task, records, outputs in (
        ("math", math_records(), math_outputs),
        ("choice", choice_records(), choice_outputs),
        ("code", code_records(), code_outputs),
    ):
        write_jsonl(OUT / f"{task}.jsonl", records)
        replay = replay_records(task, records, outputs)
        write_jsonl(OUT / f"replay_{task}.jsonl", replay)
        print(f"{task}: {len(records)} items, {len(replay)} replay outputs")


if __name__ == "__main__":
    main()
