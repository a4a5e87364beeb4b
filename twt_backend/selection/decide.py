"""Pure decision rules of the selection strategies (no store, no model).

Reason codes (stored in `selections.reason`):

kept      `quality` (quality strategy), `parsed` (none strategy), `diverse_pair` (one of the
          least similar pair), `few_teachers` (passed, fewer than `min_teachers` teachers),
          `random_pick` (random strategy: one of the outputs picked at random)
rejected  `parse_failed:<status>` (no answer could be parsed), `no_confidence`,
          `low_confidence`, `no_logprob`, `low_logprob`, `disagrees` (answer differs from the
          teachers' majority), `no_majority` (no answer has a strict plurality of teachers),
          `not_diverse` (outside the least similar pair), `teacher_duplicate` (another
          output of the same teacher represents it in the diversity step), `not_picked`
          (random strategy: left out by the draw)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from twt_backend.config import SelectionConfig

UNPARSED = ("empty", "no_answer", "truncated")  # truncated: cut at max_tokens
DIVERSITY_STRATEGIES = ("dcrs", "hard", "logprob")

Matcher = Callable[[str, str, dict], bool]


@dataclass
class Candidate:
    id: int
    query_id: int
    teacher: str
    rationale: str | None
    answer: str | None
    confidence: float | None
    parse_status: str | None
    logprob_mean: float | None = None


@dataclass
class Decision:
    selected: bool
    reason: str
    score: float | None = None
    similarity: float | None = None


def is_parsed(c: Candidate) -> bool:
    return c.parse_status is not None and c.parse_status not in UNPARSED and bool(c.answer)


def majority(
    cands: Sequence[Candidate], same: Matcher, payload: dict
) -> tuple[set[int], str | None]:
    """Ids of parsed outputs in the answer group backed by strictly the most teachers.

    Returns (ids, None), or (empty set, "no_majority") when the top groups tie.
    """
    groups: list[list[Candidate]] = []
    for c in (c for c in cands if is_parsed(c)):
        home = next((g for g in groups if same(str(c.answer), str(g[0].answer), payload)), None)
        if home is None:
            groups.append([c])
        else:
            home.append(c)
    if not groups:
        return set(), None
    votes = sorted((len({c.teacher for c in g}) for g in groups), reverse=True)
    if len(votes) > 1 and votes[0] == votes[1]:
        return set(), "no_majority"
    best = max(groups, key=lambda g: len({c.teacher for c in g}))
    return {c.id for c in best}, None


def first_stage(
    c: Candidate,
    cfg: SelectionConfig,
    agreeing: set[int] | None = None,
    no_majority: bool = False,
) -> Decision:
    """The per-output verdict before any diversity step."""
    if not is_parsed(c):
        return Decision(False, f"parse_failed:{c.parse_status or 'unknown'}", c.confidence)
    strategy = cfg.strategy
    if strategy in ("none", "random"):
        return Decision(True, "parsed", c.confidence)
    if strategy == "logprob":
        if c.logprob_mean is None:
            return Decision(False, "no_logprob")
        if c.logprob_mean < cfg.logprob_threshold:
            return Decision(False, "low_logprob", c.logprob_mean)
        verdict = Decision(True, "few_teachers", c.logprob_mean)
    elif strategy == "hard":
        verdict = Decision(True, "few_teachers", c.confidence)
    else:
        if c.confidence is None:
            return Decision(False, "no_confidence")
        if c.confidence < cfg.threshold:
            return Decision(False, "low_confidence", c.confidence)
        verdict = Decision(
            True, "quality" if strategy == "quality" else "few_teachers", c.confidence
        )
    if agreeing is not None and c.id not in agreeing:
        return Decision(False, "no_majority" if no_majority else "disagrees", verdict.score)
    return verdict


PICKS = 2  # the random strategy keeps as many outputs a query as DCRS's pair


def random_picks(query_id: int, parsed: Sequence[Candidate]) -> set[int]:
    """Ids of `PICKS` outputs drawn at random among a query's parsed ones (all of them when
    there are fewer), with no look at confidence or similarity: the paper's random-sampling
    ablation. The draw is seeded by the query id, so a rerun keeps the same outputs."""
    import random

    ids = sorted(c.id for c in parsed)
    if len(ids) <= PICKS:
        return set(ids)
    return set(random.Random(f"twt-random-{query_id}").sample(ids, PICKS))


def representatives(passed: Sequence[Candidate]) -> list[Candidate]:
    """One output per teacher: its highest confidence, then its lowest id."""
    best: dict[str, Candidate] = {}
    for c in passed:
        current = best.get(c.teacher)
        if current is None or _rank(c) < _rank(current):
            best[c.teacher] = c
    return sorted(best.values(), key=lambda c: c.id)


def _rank(c: Candidate) -> tuple[float, int]:
    return (-(c.confidence if c.confidence is not None else -1.0), c.id)


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms == 0, 1.0, norms)
    return np.asarray(unit @ unit.T, dtype=np.float64)


def least_similar_pair(ids: Sequence[int], sims: np.ndarray) -> tuple[int, int, float]:
    """The pair with the lowest cosine similarity; ties (to 1e-6) go to the smallest ids."""
    best: tuple[float, int, int] | None = None
    for i in range(len(ids)):
        for j in range(i + 1, len(ids)):
            a, b = sorted((ids[i], ids[j]))
            key = (round(float(sims[i, j]), 6), a, b)
            if best is None or key < best:
                best = key
    if best is None:
        raise ValueError("a pair needs at least two outputs")
    return best[1], best[2], float(sims[ids.index(best[1]), ids.index(best[2])])
