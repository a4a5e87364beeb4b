"""Statistics of the comparison: paired McNemar exact test, output-token summaries, the
distribution of predicted answers and the majority-class answer of a choice task."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

NO_ANSWER = "(none)"


def mcnemar_exact(a: Mapping[int, int], b: Mapping[int, int]) -> float | None:
    """Two-sided p-value of McNemar's exact test between two methods' per-query correctness
    (query id -> 0/1) on the queries both answered: a binomial test of the discordant pairs
    against 1/2. 1.0 without discordant pairs; None without common queries."""
    common = set(a) & set(b)
    if not common:
        return None
    only_a = sum(1 for q in common if a[q] and not b[q])
    only_b = sum(1 for q in common if b[q] and not a[q])
    if only_a + only_b == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(only_a, only_a + only_b, 0.5).pvalue)


def token_stats(tokens: Iterable[int | None]) -> dict[str, float | None]:
    """mean, median and 90th percentile (linear interpolation) of the output tokens."""
    values = sorted(t for t in tokens if t is not None)
    if not values:
        return {"mean": None, "median": None, "p90": None}
    import numpy as np

    return {
        "mean": float(np.mean(values)),
        "median": float(np.median(values)),
        "p90": float(np.percentile(values, 90)),
    }


def answer_distribution(answers: Iterable[str | None]) -> dict[str, int]:
    """Predicted answer -> count, most frequent first (no answer counts as "(none)")."""
    counts = Counter(NO_ANSWER if a in (None, "") else str(a).strip() for a in answers)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def majority_label(references: Iterable[str | None]) -> str | None:
    """The most frequent gold label (ties: the first in alphabetical order)."""
    counts = Counter(r.strip() for r in references if r)
    if not counts:
        return None
    return min(counts, key=lambda label: (-counts[label], label))


def majority_results(references: Mapping[int, str | None]) -> dict[int, Any]:
    """query id -> (label, correct) of always answering the majority label."""
    label = majority_label(references.values())
    return {q: (label, int((ref or "").strip() == label)) for q, ref in references.items()}
