"""Run a selection strategy over every labelled generation and store the decisions.

Automatic decisions go to `selections.selected/reason/score/similarity`; manual
overrides (`selections.override*`) and edits (`sample_edits`) are never touched, so a
re-run keeps every manual decision. The `similarities` table is replaced by the pairs of
this run (the GUI shows why a pair was kept). Diversity uses the original rationales,
not edited ones: the automatic decision is about what the teachers wrote.

When one teacher has several outputs for a query that pass the first stage, its
highest-confidence output (then lowest id) represents it in the diversity step; the
others are rejected as `teacher_duplicate`. Queries with fewer than `min_teachers`
teachers keep every output that passed.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from twt_backend.config import SelectionConfig, validate_fields
from twt_backend.selection.decide import (
    DIVERSITY_STRATEGIES,
    Candidate,
    Decision,
    Matcher,
    cosine_matrix,
    first_stage,
    least_similar_pair,
    majority,
    random_picks,
    representatives,
)
from twt_backend.selection.embedder import Embedder, EmbeddingCache, text_hash
from twt_backend.store import Project, utcnow
from twt_backend.store.backup import backup_project

LAST_RUN_META = "selection.last_run"
Progress = Callable[[str, int, int], None]


@dataclass
class SelectionResult:
    strategy: str
    generations: int
    queries: int
    kept: int
    diversity_queries: int
    encoded: int
    cached: int
    seconds: float
    model: str | None
    reasons: dict[str, int] = field(default_factory=dict)


def load_candidates(project: Project) -> dict[int, list[Candidate]]:
    """Completed label generations grouped by query, in id order."""
    rows = project.conn.execute(
        "SELECT g.id, g.query_id, t.name, g.rationale, g.answer, g.confidence, g.parse_status,"
        " g.logprob_mean FROM generations g JOIN teachers t ON t.id = g.teacher_id"
        " WHERE g.status = 'ok' AND g.purpose = 'label' ORDER BY g.query_id, g.id"
    )
    by_query: dict[int, list[Candidate]] = defaultdict(list)
    for row in rows:
        by_query[row[1]].append(Candidate(*row))
    return dict(by_query)


def _first_stage_all(
    project: Project, by_query: dict[int, list[Candidate]], cfg: SelectionConfig
) -> dict[int, Decision]:
    matcher: Matcher | None = None
    payloads: dict[int, dict] = {}
    if cfg.strategy == "hard" or cfg.require_agreement:
        from twt_backend.selection.agreement import answer_matcher

        matcher = answer_matcher(project.task)
        payloads = {
            qid: json.loads(payload)
            for qid, payload in project.conn.execute("SELECT id, payload FROM queries")
        }
    decisions: dict[int, Decision] = {}
    for qid, cands in by_query.items():
        agreeing: set[int] | None = None
        failure = None
        if matcher is not None:
            agreeing, failure = majority(cands, matcher, payloads.get(qid, {}))
        for c in cands:
            decisions[c.id] = first_stage(c, cfg, agreeing, failure == "no_majority")
    return decisions


def _random_picks(by_query: dict[int, list[Candidate]], decisions: dict[int, Decision]) -> None:
    """The random strategy: per query, `PICKS` parsed outputs drawn at random are kept."""
    for qid, cands in by_query.items():
        parsed = [c for c in cands if decisions[c.id].selected]
        picked = random_picks(qid, parsed)
        for c in parsed:
            score = decisions[c.id].score
            decisions[c.id] = Decision(
                c.id in picked, "random_pick" if c.id in picked else "not_picked", score
            )


def _diversity(
    by_query: dict[int, list[Candidate]],
    decisions: dict[int, Decision],
    cfg: SelectionConfig,
    cache: EmbeddingCache,
    on_progress: Progress | None,
    check_cancelled: Callable[[], None] | None,
) -> tuple[list[tuple[int, int, int, float]], int]:
    """Apply the diversity step in place; returns the similarity rows and the query count."""
    pending: dict[int, list[Candidate]] = {}
    for qid, cands in by_query.items():
        passed = [c for c in cands if decisions[c.id].selected]
        reps = representatives(passed)
        if len(reps) < cfg.min_teachers:
            continue
        pending[qid] = reps
        rep_ids = {r.id for r in reps}
        for c in passed:
            if c.id not in rep_ids:
                decisions[c.id] = Decision(False, "teacher_duplicate", decisions[c.id].score)
    texts = [r.rationale or "" for reps in pending.values() for r in reps]
    progress = (lambda done, total: on_progress("embed", done, total)) if on_progress else None
    vectors = cache.vectors(texts, progress, check_cancelled)
    similarity_rows = []
    for qid, reps in pending.items():
        ids = [r.id for r in reps]
        sims = cosine_matrix(np.stack([vectors[text_hash(r.rationale or "")] for r in reps]))
        a, b, pair_sim = least_similar_pair(ids, sims)
        for i, ri in enumerate(reps):
            others = [float(sims[i, j]) for j in range(len(reps)) if j != i]
            similarity_rows += [
                (qid, ri.id, reps[j].id, float(sims[i, j])) for j in range(i + 1, len(reps))
            ]
            score = decisions[ri.id].score
            if ri.id in (a, b):
                decisions[ri.id] = Decision(True, "diverse_pair", score, pair_sim)
            else:
                decisions[ri.id] = Decision(False, "not_diverse", score, min(others))
    return similarity_rows, len(pending)


def run_selection(
    project: Project,
    cfg: SelectionConfig,
    embedder: Embedder | None = None,
    on_progress: Progress | None = None,
    check_cancelled: Callable[[], None] | None = None,
) -> SelectionResult:
    """Decide every completed label generation; store decisions and similarities."""
    validate_fields(cfg)
    started = time.perf_counter()
    by_query = load_candidates(project)
    decisions = _first_stage_all(project, by_query, cfg)
    similarity_rows: list[tuple[int, int, int, float]] = []
    diversity_queries, model = 0, None
    cache = None
    if cfg.strategy == "random":
        _random_picks(by_query, decisions)
    if cfg.strategy in DIVERSITY_STRATEGIES:
        embedder = embedder or Embedder(cfg.embedder, batch_size=cfg.batch_size)
        model = embedder.key
        cache = EmbeddingCache(project, embedder)
        similarity_rows, diversity_queries = _diversity(
            by_query, decisions, cfg, cache, on_progress, check_cancelled
        )
    if check_cancelled:
        check_cancelled()
    result = SelectionResult(
        strategy=cfg.strategy,
        generations=len(decisions),
        queries=len(by_query),
        kept=sum(d.selected for d in decisions.values()),
        diversity_queries=diversity_queries,
        encoded=cache.encoded if cache else 0,
        cached=cache.cached if cache else 0,
        seconds=0.0,
        model=model,
        reasons=dict(Counter(d.reason for d in decisions.values())),
    )
    result.seconds = time.perf_counter() - started
    if project.scalar("SELECT 1 FROM selections LIMIT 1"):  # a reselection replaces decisions
        backup_project(project, "before-reselection")
    _store(project, cfg, by_query, decisions, similarity_rows, model, result)
    result.seconds = time.perf_counter() - started
    return result


def _store(
    project: Project,
    cfg: SelectionConfig,
    by_query: dict[int, list[Candidate]],
    decisions: dict[int, Decision],
    similarity_rows: list[tuple[int, int, int, float]],
    model: str | None,
    result: SelectionResult,
) -> None:
    now = utcnow()
    rows = [
        (c.id, qid, cfg.strategy, int(d.selected), d.reason, d.score, d.similarity, now)
        for qid, cands in by_query.items()
        for c in cands
        for d in (decisions[c.id],)
    ]
    with project.transaction() as conn:
        conn.executemany(
            "INSERT INTO selections(generation_id, query_id, strategy, selected, reason, score,"
            " similarity, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(generation_id) DO UPDATE SET query_id=excluded.query_id,"
            " strategy=excluded.strategy, selected=excluded.selected, reason=excluded.reason,"
            " score=excluded.score, similarity=excluded.similarity,"
            " updated_at=excluded.updated_at",
            rows,
        )
        conn.execute("DELETE FROM similarities")
        conn.executemany(
            "INSERT INTO similarities(query_id, generation_a, generation_b, model, similarity)"
            " VALUES (?, ?, ?, ?, ?)",
            [(q, a, b, model, s) for q, a, b, s in similarity_rows],
        )
        summary: dict[str, Any] = {"config": asdict(cfg), "result": asdict(result), "at": now}
        project.set_meta(LAST_RUN_META, json.dumps(summary, sort_keys=True))
