"""`twt eval DIR --teacher NAME`: a teacher answers the test split, scored like a student.

The teacher is asked through the labelling engine (a "generate" job over the split: the
same prompt, cache, retries and parser as labelling, so answers it already gave are not
bought twice). Its parsed final answer is judged like a student's answer and stored in
`eval_results` as method ``teacher:NAME`` (prompt mode "teacher", tokens = the teacher's
output tokens), so reports show the teachers beside the stages as the paper's Tables 1-2
do. A request that failed (no reply) is left out and counted; a reply that could not be
parsed counts as wrong. The rows are copied into every named run of the project.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twt_backend.errors import UsageError
from twt_backend.store import Project, utcnow

TEACHER_PREFIX = "teacher:"
TEACHER_PROMPT_MODE = "teacher"


def method_name(teacher: str) -> str:
    return f"{TEACHER_PREFIX}{teacher}"


@dataclass
class TeacherScore:
    method: str
    n: int
    correct: int
    failed: int
    mean_tokens: float | None

    @property
    def message(self) -> str:
        accuracy = f"{100.0 * self.correct / self.n:.1f}%" if self.n else "n/a"
        tokens = f"{self.mean_tokens:.1f}" if self.mean_tokens is not None else "n/a"
        unanswered = f"; {self.failed} request(s) failed, left out" if self.failed else ""
        return (
            f"{self.method}: {self.correct}/{self.n} correct ({accuracy}), "
            f"mean {tokens} output tokens{unanswered}"
        )


def label_config(project: Project, teacher: str, split: str, limit: int | None) -> dict[str, Any]:
    """The "generate" job config that makes the teacher answer the split."""
    import dataclasses

    from twt_backend.generation import LabelOptions, load_teachers

    load_teachers(project, [teacher])  # UsageError on an unknown name
    if not project.scalar("SELECT COUNT(*) FROM queries WHERE split = ?", (split,)):
        raise UsageError(f"{project.root}: no {split} queries; import some with --split {split}")
    return dataclasses.asdict(LabelOptions(teachers=[teacher], split=split, limit=limit))


def store_scores(project: Project, teacher: str, split: str, limit: int | None) -> TeacherScore:
    """Judge the teacher's stored answers to the split and write them as eval rows."""
    from twt_backend.evaluation.judge import judge_outputs
    from twt_backend.generation import load_queries, load_teachers, request_hash
    from twt_backend.tasks import get_task

    ((teacher_id, config),) = load_teachers(project, [teacher])
    task = get_task(project.task)
    queries = load_queries(project, split, limit)
    hashes = {request_hash(config, task.teacher_messages(q["payload"])): q for q in queries}
    answered = [
        (hashes[row["request_hash"]], row)
        for row in project.rows(
            "SELECT request_hash, raw_text, answer, tokens_out, job_id FROM generations "
            "WHERE teacher_id = ? AND status = 'ok'",
            (teacher_id,),
        )
        if row["request_hash"] in hashes
    ]
    verdicts = judge_outputs(
        project.task,
        [row["answer"] or "" for _, row in answered],
        [q["payload"] for q, _ in answered],
        [q["reference"] for q, _ in answered],
    )
    method, now = method_name(teacher), utcnow()
    rows = [
        # an unparsed reply (no answer) counts as wrong, whatever the judge reads into ""
        (method, q["id"], row["job_id"], row["raw_text"], v.answer if row["answer"] else None,
         row["tokens_out"], int(v.correct and bool(row["answer"])), TEACHER_PROMPT_MODE, now)
        for (q, row), v in zip(answered, verdicts, strict=True)
    ]  # fmt: skip
    with project.transaction() as conn:
        conn.execute("DELETE FROM eval_results WHERE method = ?", (method,))
        conn.executemany(
            "INSERT INTO eval_results(method, query_id, job_id, output, answer, tokens, "
            "correct, prompt_mode, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    tokens = [row["tokens_out"] for _, row in answered if row["tokens_out"] is not None]
    return TeacherScore(
        method=method,
        n=len(rows),
        correct=sum(r[6] for r in rows),
        failed=len(queries) - len(rows),
        mean_tokens=sum(tokens) / len(tokens) if tokens else None,
    )


def share_with_runs(project: Project) -> None:
    """Copy the teacher rows into every named run (each run's report shows them)."""
    from twt_backend.store import variants

    for run in variants.list_runs(project):
        if run["name"] == variants.MAIN:
            continue
        with variants.open_run(project, run["name"]) as store:
            variants.sync_run(project, store)
