"""What a refinement round has to do: one target per sample of G, and its teacher request.

Round N rewrites, for every sample of the distillation set G, the rationale the stage-N
student learnt from (round 1: the teacher's rationale as edited; round N > 1: the
previous round's refined text, edit first) towards the stage-N student's own answer.

A target's request is cached in `generations` like any teacher request, so a rerun sends
nothing for work already done. Per target (existing row of the round, if any):

* accepted, rejected or hand-edited rows are never touched;
* a row of another method, or whose student answer changed, is a fresh target;
* a row whose request failed retries the same request;
* a row set back to `pending` after an answer (the GUI's "redo") asks again, under a new
  cache key derived from the previous one (the same prompt, a new answer);
* any other `ok` (or unparseable-answer `failed`) row is settled.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from twt_backend.config import RefineConfig, TeacherConfig
from twt_backend.errors import UsageError
from twt_backend.generation import load_teachers, make_item, ok_hashes, request_hash
from twt_backend.generation_lane import WorkItem
from twt_backend.hard.refine_prompts import compress_messages, parse_rewrite, rewrite_messages
from twt_backend.selection.samples import effective_samples
from twt_backend.stage_data import refined_rationales
from twt_backend.store import Project, refinements_repo
from twt_backend.tasks import get_task

PURPOSES = {"teacher": "refine", "compressor": "compress"}
PROTECTED = refinements_repo.PROTECTED


@dataclass
class Target:
    sample: dict[str, Any]
    source: str  # the rationale to compress
    student_output: str | None
    teacher_id: int | None = None
    key: str | None = None  # the cache key of its request (None: fixed-length)
    settled: bool = False


@dataclass
class RefinePlan:
    round: int
    method: str
    targets: list[Target] = field(default_factory=list)
    items: dict[int, list[WorkItem]] = field(default_factory=dict)  # teacher id -> to send
    cached: dict[int, int] = field(default_factory=dict)  # teacher id -> already answered
    teacher_names: list[str] = field(default_factory=list)
    protected: int = 0
    without_student_output: int = 0

    @property
    def to_send(self) -> int:
        return sum(len(items) for items in self.items.values())

    @property
    def pending(self) -> int:
        """Targets whose row is not settled (a request to send or a row to write)."""
        return sum(not t.settled for t in self.targets)


def redo_key(previous: str) -> str:
    return hashlib.sha256(f"{previous}:redo".encode()).hexdigest()


def source_texts(project: Project, round_: int) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """The samples of G and, per generation id, the rationale this round compresses."""
    samples = effective_samples(project)
    if round_ == 1:
        return samples, {s["generation_id"]: s["rationale"] for s in samples if s["rationale"]}
    return samples, refined_rationales(project, round_ - 1)


def student_outputs(project: Project, stage: int) -> dict[int, str]:
    rows = project.rows("SELECT query_id, output FROM student_outputs WHERE stage=?", (stage,))
    return {row["query_id"]: row["output"] for row in rows}


def existing_rows(project: Project, round_: int) -> dict[int, dict[str, Any]]:
    """generation_id -> refinement row of the round, with its request's hash and status."""
    return refinements_repo.plan_rows(project, round_)


def _teachers(
    project: Project, cfg: RefineConfig, samples: list[dict[str, Any]]
) -> dict[str, tuple[int, TeacherConfig]]:
    names = [cfg.teacher] if cfg.teacher else sorted({s["teacher"] for s in samples})
    teachers = {config.name: (tid, config) for tid, config in load_teachers(project, names)}
    for name, (_, config) in teachers.items():
        if config.provider == "replay" and cfg.method == "teacher":
            # a replayed compression (method compressor) never saw the student: fine there
            raise UsageError(
                f"teacher {name} replays stored outputs and cannot rewrite rationales towards "
                "the student's answers; pick a live teacher with --teacher NAME (or use "
                "--method compressor with a replay of compressed rationales, or fixed-length)"
            )
    return teachers


def _key(target: Target, row: dict[str, Any] | None, fresh_key: str, method: str) -> str | None:
    """The cache key to ask under, or None when the row is settled (see module doc)."""
    if row is None:
        return fresh_key
    fresh = (
        row["method"] != method
        or row["prev_hash"] is None
        or (method == "teacher" and row["student_output"] != target.student_output)
    )
    if fresh:
        return fresh_key
    if row["prev_status"] != "ok":
        return str(row["prev_hash"])  # the request failed: try it again
    if row["status"] == "pending":
        return redo_key(str(row["prev_hash"]))
    return None


def plan_round(project: Project, round_: int, cfg: RefineConfig) -> RefinePlan:
    """The targets of a round and, for the teacher methods, the requests still to send."""
    plan = RefinePlan(round_, cfg.method)
    samples, sources = source_texts(project, round_)
    outputs = student_outputs(project, round_)
    rows = existing_rows(project, round_)
    for sample in samples:
        source = sources.get(sample["generation_id"])
        output = outputs.get(sample["query_id"])
        if not source:
            continue
        if cfg.method == "teacher" and output is None:
            plan.without_student_output += 1
            continue
        row = rows.get(sample["generation_id"])
        if row is not None and refinements_repo.is_protected(row):
            plan.protected += 1
            continue
        plan.targets.append(Target(sample, source, output))
    if cfg.method == "fixed-length":
        for target in plan.targets:
            target.settled = _fixed_settled(rows.get(target.sample["generation_id"]))
        return plan
    _plan_requests(project, plan, cfg, rows)
    return plan


def _fixed_settled(row: dict[str, Any] | None) -> bool:
    """Fixed-length rows are recomputed (cheap); settled when one of the method exists."""
    return row is not None and row["method"] == "fixed-length" and row["status"] == "ok"


def _plan_requests(
    project: Project, plan: RefinePlan, cfg: RefineConfig, rows: dict[int, dict[str, Any]]
) -> None:
    if not plan.targets:
        return
    task = get_task(project.task)
    teachers = _teachers(project, cfg, [t.sample for t in plan.targets])
    plan.teacher_names = sorted(teachers)
    answered = {tid: ok_hashes(project, tid) for tid, _ in teachers.values()}
    seen: dict[int, set[str]] = defaultdict(set)
    for target in plan.targets:
        sample = target.sample
        teacher_id, config = teachers[cfg.teacher or sample["teacher"]]
        target.teacher_id = teacher_id
        if cfg.method == "teacher":
            messages = rewrite_messages(
                task,
                sample["payload"],
                target.source,
                sample["answer"],
                target.student_output or "",
            )
        else:
            messages = compress_messages(task, sample["payload"], target.source, sample["answer"])
        key = _key(
            target, rows.get(sample["generation_id"]), request_hash(config, messages), cfg.method
        )
        if key is None:
            target.settled = True
            continue
        target.key = key
        if key in seen[teacher_id]:
            continue
        seen[teacher_id].add(key)
        if key in answered[teacher_id]:
            plan.cached[teacher_id] = plan.cached.get(teacher_id, 0) + 1
            continue
        query = {
            "id": sample["query_id"],
            "source_id": sample["source_id"],
            "payload": sample["payload"],
            "reference": sample["reference"],
        }
        item = make_item(query, messages, key, PURPOSES[cfg.method], parse_rewrite)
        plan.items.setdefault(teacher_id, []).append(item)
