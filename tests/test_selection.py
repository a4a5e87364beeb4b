"""DCRS and the other strategies on a real store, with real MiniLM embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_selection_support import CountingEmbedder, add_generation, add_query, add_teacher

from twt_backend.config import SelectionConfig
from twt_backend.errors import UsageError
from twt_backend.selection.curation import edit_sample, sample_history, set_override
from twt_backend.selection.run import run_selection
from twt_backend.selection.samples import effective_samples, list_samples
from twt_backend.selection.stats import similarity_matrix

APPLES = "First we add 12 apples and 8 apples to get 20 apples, then we give away 5, so 15 apples remain."
APPLES_2 = "First we add 12 apples and 8 apples to get 20 apples, then we give 5 away, so 15 apples remain."
PLANTS = (
    "Photosynthesis in plant leaves turns sunlight, water and carbon dioxide into sugar and oxygen."
)
TRAINS = (
    "The train covers 60 miles each hour, so over 3 hours it travels 180 miles along the track."
)


@pytest.fixture(scope="session")
def minilm_model(minilm_dir: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_dir), device="cpu")


@pytest.fixture
def embedder(minilm_dir: Path, minilm_model) -> CountingEmbedder:
    return CountingEmbedder(str(minilm_dir), minilm_model)


def teachers(project, n: int = 3) -> list[int]:
    return [add_teacher(project, f"t{i}") for i in range(n)]


def decisions(project) -> dict[int, dict]:
    return {row["id"]: row for row in list_samples(project)}


@pytest.mark.slow
def test_keeps_the_least_similar_pair_with_real_embeddings(project, embedder):
    t = teachers(project)
    q = add_query(project, "apples", "15")
    g = [
        add_generation(project, q, t[i], r, "15", 0.97)
        for i, r in enumerate((APPLES, APPLES_2, PLANTS))
    ]
    result = run_selection(project, SelectionConfig(), embedder=embedder)
    rows = decisions(project)
    kept = {gid for gid, row in rows.items() if row["selected"]}
    assert len(kept) == 2 and g[2] in kept
    dropped = (set(g) - kept).pop()
    assert rows[dropped]["reason"] == "not_diverse"
    assert {rows[gid]["reason"] for gid in kept} == {"diverse_pair"}
    assert result.diversity_queries == 1 and result.encoded == 3

    matrix = similarity_matrix(project, q)
    assert matrix["generation_ids"] == g and matrix["teachers"] == ["t0", "t1", "t2"]
    sims = matrix["matrix"]
    assert sims[0][1] > 0.9 and sims[0][2] < 0.5 and sims[1][2] < 0.5
    assert sorted(matrix["kept_pair"]) == sorted(kept)
    pair_sim = min(sims[0][2], sims[1][2])
    assert rows[g[2]]["similarity"] == pytest.approx(pair_sim)
    assert project.scalar("SELECT COUNT(*) FROM similarities WHERE query_id=?", (q,)) == 3


@pytest.mark.slow
def test_four_teachers_keep_the_two_most_different(project, embedder):
    t = teachers(project, 4)
    q = add_query(project, "mixed", "15")
    texts = (APPLES, APPLES_2, PLANTS, TRAINS)
    g = [add_generation(project, q, t[i], r, "15", 0.99) for i, r in enumerate(texts)]
    run_selection(project, SelectionConfig(), embedder=embedder)
    sims = similarity_matrix(project, q)["matrix"]
    pairs = {(i, j): sims[i][j] for i in range(4) for j in range(i + 1, 4)}
    i, j = min(pairs, key=pairs.get)
    kept = {gid for gid, row in decisions(project).items() if row["selected"]}
    assert kept == {g[i], g[j]}
    assert project.scalar("SELECT COUNT(*) FROM similarities") == 6


@pytest.mark.slow
def test_ties_go_to_the_smallest_ids(project, embedder):
    t = teachers(project)
    q = add_query(project, "same", "15")
    g = [add_generation(project, q, tid, APPLES, "15", 0.99) for tid in t]
    run_selection(project, SelectionConfig(), embedder=embedder)
    kept = sorted(gid for gid, row in decisions(project).items() if row["selected"])
    assert kept == g[:2]
    assert embedder.texts == 1  # one distinct text, encoded once


def test_threshold_boundary_and_parse_failures(project):
    t = teachers(project, 2)
    q = add_query(project, "boundary", "15")
    at = add_generation(project, q, t[0], APPLES, "15", 0.95)
    below = add_generation(project, q, t[1], APPLES_2, "15", 0.9499)
    missing = add_generation(project, q, t[1], APPLES_2, "15", None, parse_status="no_confidence")
    unparsed = add_generation(project, q, t[0], "", None, None, parse_status="no_answer")
    failed_request = add_generation(project, q, t[0], None, None, None, status="failed")
    result = run_selection(project, SelectionConfig())  # one teacher kept: no embedding needed
    rows = decisions(project)
    assert rows[at]["selected"] and rows[at]["reason"] == "few_teachers"
    assert rows[below]["reason"] == "low_confidence" and not rows[below]["selected"]
    assert rows[missing]["reason"] == "no_confidence"
    assert rows[unparsed]["reason"] == "parse_failed:no_answer"
    assert failed_request not in rows
    assert result.encoded == 0 and result.model is not None


@pytest.mark.slow
def test_rerun_with_another_threshold_hits_the_cache(project, minilm_dir, minilm_model):
    t = teachers(project)
    for n in range(4):
        q = add_query(project, f"q{n}", "15")
        for i, text in enumerate((APPLES, PLANTS, TRAINS)):
            add_generation(project, q, t[i], f"{text} (case {n})", "15", 0.9 + 0.03 * i)
    first = CountingEmbedder(str(minilm_dir), minilm_model)
    run_selection(project, SelectionConfig(threshold=0.85), embedder=first)
    assert first.texts == 12 and first.calls == 1

    second = CountingEmbedder(str(minilm_dir))  # no model: loading one would show
    result = run_selection(project, SelectionConfig(threshold=0.8), embedder=second)
    assert second.calls == 0 and second._model is None
    assert result.cached == 12 and result.encoded == 0

    q = add_query(project, "new", "15")
    for i, text in enumerate((APPLES, PLANTS, TRAINS)):
        add_generation(
            project, q, t[i], f"{text} (case 0)" if i else "A new rationale.", "15", 0.99
        )
    third = CountingEmbedder(str(minilm_dir), minilm_model)
    run_selection(project, SelectionConfig(threshold=0.8), embedder=third)
    assert third.texts == 1  # only the text never seen before


@pytest.mark.slow
def test_overrides_and_edits_survive_reselection(project, embedder):
    t = teachers(project)
    q = add_query(project, "apples", "15")
    g = [
        add_generation(project, q, t[i], r, "15", 0.97)
        for i, r in enumerate((APPLES, APPLES_2, PLANTS))
    ]
    run_selection(project, SelectionConfig(), embedder=embedder)
    auto = decisions(project)
    dropped = next(gid for gid, row in auto.items() if not row["selected"])
    set_override(project, dropped, "accept", note="good anyway")
    set_override(project, g[2], "reject", note="off topic")
    version = edit_sample(project, dropped, rationale="Edited: 12 + 8 - 5 = 15.", note="tidy")
    assert version == 1
    assert edit_sample(project, dropped, answer="15.0") == 2
    assert edit_sample(project, dropped, answer="15.0") == 2  # no change, no new version

    run_selection(project, SelectionConfig(threshold=0.5), embedder=embedder)
    rows = decisions(project)
    assert rows[dropped]["override"] == "accept" and rows[dropped]["selected"]
    assert rows[dropped]["override_note"] == "good anyway"
    assert rows[dropped]["auto_selected"] is False
    assert rows[g[2]]["override"] == "reject" and not rows[g[2]]["selected"]
    assert (
        rows[dropped]["rationale"] == "Edited: 12 + 8 - 5 = 15."
        and rows[dropped]["edit_version"] == 2
    )

    history = sample_history(project, dropped)
    assert [h["version"] for h in history] == [0, 1, 2]
    assert history[0]["rationale"] in (APPLES, APPLES_2) and history[2]["answer"] == "15.0"
    actions = [r["action"] for r in project.rows("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["override", "override", "edit", "edit"]

    set_override(project, g[2], None)
    assert decisions(project)[g[2]]["override"] is None

    g_set = effective_samples(project)
    by_id = {row["generation_id"]: row for row in g_set}
    assert dropped in by_id and by_id[dropped]["answer"] == "15.0"
    assert by_id[dropped]["payload"] == {"question": "apples"} and by_id[dropped]["teacher"]


def test_override_refuses_unknown_generation(project):
    with pytest.raises(UsageError):
        set_override(project, 999, "accept")
    with pytest.raises(UsageError):
        edit_sample(project, 999, rationale="x")


def test_quality_and_none_strategies(project):
    t = teachers(project, 3)
    q = add_query(project, "q", "15")
    high = [add_generation(project, q, tid, f"{APPLES} {tid}", "15", 0.99) for tid in t]
    low = add_generation(project, q, t[0], APPLES, "15", 0.3)
    unparsed = add_generation(project, q, t[1], "", "", None, parse_status="empty")
    run_selection(project, SelectionConfig(strategy="quality"))
    rows = decisions(project)
    assert [rows[g]["selected"] for g in high] == [True] * 3 and not rows[low]["selected"]
    assert rows[high[0]]["reason"] == "quality"
    assert project.scalar("SELECT COUNT(*) FROM similarities") == 0

    run_selection(project, SelectionConfig(strategy="none"))
    rows = decisions(project)
    assert rows[low]["selected"] and rows[low]["reason"] == "parsed"
    assert not rows[unparsed]["selected"]


def test_random_strategy_keeps_a_seeded_pair_blind_to_confidence(project):
    """The paper's random-sampling ablation: two parsed outputs a query, drawn without a
    look at confidence or similarity, the same draw on a rerun; unparsed ones never."""
    t = teachers(project, 4)
    picked_low = 0
    for i in range(20):
        q = add_query(project, f"q{i}", "15")
        low = add_generation(project, q, t[0], f"{APPLES} low {i}", "15", 0.1)
        for tid in t[1:]:
            add_generation(project, q, tid, f"{APPLES} {tid} {i}", "15", 0.99)
        add_generation(project, q, t[1], "", "", None, parse_status="empty")
        run_selection(project, SelectionConfig(strategy="random"))
        rows = decisions(project)
        mine = {g: r for g, r in rows.items() if r["query_id"] == q}
        kept = {g for g, r in mine.items() if r["selected"]}
        assert len(kept) == 2 and all(mine[g]["reason"] == "random_pick" for g in kept)
        assert {r["reason"] for g, r in mine.items() if g not in kept} == {
            "not_picked",
            "parse_failed:empty",
        }
        picked_low += low in kept
    assert 0 < picked_low < 20  # confidence plays no part: the 0.1 output is drawn sometimes
    before = {g: r["selected"] for g, r in decisions(project).items()}
    run_selection(project, SelectionConfig(strategy="random"))
    assert {g: r["selected"] for g, r in decisions(project).items()} == before  # seeded
    assert project.scalar("SELECT COUNT(*) FROM similarities") == 0


def test_hard_strategy_keeps_the_majority_answer(project):
    t = teachers(project, 3)
    q = add_query(project, "q", None)
    a = add_generation(project, q, t[0], APPLES, "15", 0.2)
    b = add_generation(project, q, t[1], APPLES_2, "15.0", 0.1)
    c = add_generation(project, q, t[2], PLANTS, "14", 0.99)
    tie = add_query(project, "tie", None)
    x = add_generation(project, tie, t[0], APPLES, "1", 0.9)
    y = add_generation(project, tie, t[1], APPLES, "2", 0.9)
    run_selection(project, SelectionConfig(strategy="hard", min_teachers=3))
    rows = decisions(project)
    assert rows[a]["selected"] and rows[b]["selected"]
    assert rows[c]["reason"] == "disagrees"
    assert rows[x]["reason"] == rows[y]["reason"] == "no_majority"


def test_agreement_filter_on_top_of_quality(project):
    t = teachers(project, 3)
    q = add_query(project, "q", None)
    a = add_generation(project, q, t[0], APPLES, "15", 0.99)
    b = add_generation(project, q, t[1], APPLES_2, "15", 0.2)
    c = add_generation(project, q, t[2], PLANTS, "14", 0.99)
    run_selection(project, SelectionConfig(require_agreement=True))
    rows = decisions(project)
    assert rows[a]["selected"] and not rows[b]["selected"]
    assert rows[c]["reason"] == "disagrees"


def test_logprob_strategy(project):
    t = teachers(project, 2)
    q = add_query(project, "q", None)
    good = add_generation(project, q, t[0], APPLES, "15", 0.1, logprob_mean=-0.2)
    bad = add_generation(project, q, t[1], APPLES_2, "15", 0.99, logprob_mean=-0.9)
    none = add_generation(project, q, t[1], APPLES_2, "15", 0.99)
    run_selection(project, SelectionConfig(strategy="logprob", logprob_threshold=-0.5))
    rows = decisions(project)
    assert rows[good]["selected"] and rows[good]["score"] == pytest.approx(-0.2)
    assert rows[bad]["reason"] == "low_logprob" and rows[none]["reason"] == "no_logprob"


@pytest.mark.slow
def test_one_teacher_with_several_outputs_is_represented_by_its_best(project, embedder):
    t = teachers(project)
    q = add_query(project, "q", "15")
    best = add_generation(project, q, t[0], PLANTS, "15", 0.99)
    second = add_generation(project, q, t[0], TRAINS, "15", 0.96)
    others = [add_generation(project, q, tid, APPLES, "15", 0.97) for tid in t[1:]]
    run_selection(project, SelectionConfig(), embedder=embedder)
    rows = decisions(project)
    assert rows[second]["reason"] == "teacher_duplicate"
    assert rows[best]["selected"]  # PLANTS differs most from the apple rationales
    assert sum(rows[g]["selected"] for g in others) == 1


def test_bad_config_is_refused(project):
    with pytest.raises(UsageError):
        run_selection(project, SelectionConfig(threshold=1.5))
    with pytest.raises(UsageError):
        run_selection(project, SelectionConfig(strategy="best"))


def test_effective_samples_skips_test_split_and_missing_answers(project):
    t = teachers(project, 1)
    train = add_query(project, "train q", "15")
    test = add_query(project, "test q", "15", split="test")
    kept = add_generation(project, train, t[0], APPLES, "15", 0.99)
    add_generation(project, test, t[0], APPLES, "15", 0.99)
    no_answer = add_generation(project, train, t[0], "", None, None, parse_status="no_answer")
    run_selection(project, SelectionConfig())
    set_override(project, no_answer, "accept")
    assert [r["generation_id"] for r in effective_samples(project)] == [kept]
    edit_sample(project, no_answer, answer="15")
    assert [r["generation_id"] for r in effective_samples(project)] == [kept, no_answer]
    assert len(effective_samples(project, split=None)) == 3
    assert json.loads(json.dumps(effective_samples(project)))  # plain data


@pytest.mark.slow
def test_select_job_runs_dcrs_and_reports_progress(project, minilm_dir):
    from twt_backend import jobs
    from twt_backend.selection import run_job

    t = teachers(project)
    q = add_query(project, "apples", "15")
    for i, text in enumerate((APPLES, APPLES_2, PLANTS)):
        add_generation(project, q, t[i], text, "15", 0.97)
    config = {"embedder": str(minilm_dir), "threshold": 0.9}
    job_id = jobs.create_job(project, "select", config)
    job = jobs.get_job(project, job_id)
    ctx = jobs.JobContext(project.root, job_id, "select", config, Path(job["artifact_dir"]))
    run_job(ctx)
    progress = jobs.get_job(project, job_id)["progress"]
    assert progress["bars"]["embed"] == {"done": 3, "total": 3}
    assert "kept 2 of 3" in progress["message"]
    last = json.loads(project.get_meta("selection.last_run"))
    assert last["config"]["threshold"] == 0.9 and last["result"]["encoded"] == 3
    ctx.project.close()
