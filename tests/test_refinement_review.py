"""`twt refinements list|accept|reject|edit|redo` and the app's Refinement page: one set of
operations (twt_backend.ops.refinements) with the rules that protect reviewed rows."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from test_refine import FAST, labelled, server  # noqa: F401 - fixtures

from tests.gui_helpers import settings  # noqa: F401 - fixture
from twt_backend import jobs
from twt_backend.cli import main
from twt_backend.config import RefineConfig
from twt_backend.errors import UsageError
from twt_backend.hard.refine import refine
from twt_backend.stage_data import refined_rationales
from twt_backend.store import Project
from twt_gui.pages.refinement_ctl import RefinementController


def run(capsys, *argv: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _refused(capsys, *argv: Any, match: str) -> None:
    code, out, err = run(capsys, *argv)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and match in lines[0], (code, err)


def _row(project: Project, refinement_id: int) -> dict[str, Any]:
    return project.rows("SELECT * FROM refinements WHERE id = ?", (refinement_id,))[0]


def _audit(project: Project) -> list[dict[str, Any]]:
    return project.rows("SELECT action, entity_id, note FROM audit_log WHERE entity='refinement'")


@pytest.fixture
def refined(labelled: Project) -> Project:  # noqa: F811
    refine(labelled.root, RefineConfig(), 1, FAST)
    return labelled


def test_list_prints_one_json_object_per_row(refined: Project, capsys) -> None:
    code, out, _ = run(capsys, "refinements", "list", refined.root, "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    stored = refined.rows("SELECT id, status, refined_text FROM refinements ORDER BY id")
    assert code == 0 and [r["id"] for r in rows] == [s["id"] for s in stored]
    assert [r["refined"] for r in rows] == [s["refined_text"] for s in stored]
    assert {r["teacher"] for r in rows} == {"gpt", "mis"} and not any(r["edited"] for r in rows)
    first = rows[0]["id"]
    assert run(capsys, "refinements", "accept", refined.root, first)[0] == 0
    code, out, _ = run(capsys, "refinements", "list", refined.root, "--status", "accepted",
                       "--json")  # fmt: skip
    assert [json.loads(line)["id"] for line in out.splitlines()] == [first]
    code, out, _ = run(capsys, "refinements", "list", refined.root, "--round", "2", "--json")
    assert code == 0 and out == ""


def test_accept_reject_edit_change_what_trains(refined: Project, capsys) -> None:
    ids = [r["id"] for r in refined.rows("SELECT id FROM refinements ORDER BY id")]
    gens = {r["id"]: r["generation_id"] for r in refined.rows("SELECT * FROM refinements")}
    assert run(capsys, "refinements", "accept", refined.root, ids[0], "--note", "good")[0] == 0
    assert run(capsys, "refinements", "reject", refined.root, ids[1])[0] == 0
    text_file = Path(refined.root) / "edit.txt"
    text_file.write_text("short and right", encoding="utf-8")
    code, out, _ = run(capsys, "refinements", "edit", refined.root, ids[2], "--text-file",
                       text_file)  # fmt: skip
    assert code == 0 and out.strip() == f"refinement {ids[2]}: edited"
    assert _row(refined, ids[0])["status"] == "accepted"
    assert _row(refined, ids[2])["edited_text"] == "short and right"
    assert _row(refined, ids[2])["tokens_refined"] == 3
    training = refined_rationales(refined, 1)
    assert gens[ids[1]] not in training and training[gens[ids[2]]] == "short and right"
    assert [(a["action"], a["entity_id"]) for a in _audit(refined)] == [
        ("accept", ids[0]), ("reject", ids[1]), ("edit", ids[2])
    ]  # fmt: skip
    assert _audit(refined)[0]["note"] == "good"
    # a rerun of the job keeps every reviewed row as it is
    before = [_row(refined, i) for i in ids[:3]]
    refine(refined.root, RefineConfig(), 1, FAST)
    assert [_row(refined, i) for i in ids[:3]] == before


def test_what_the_rules_forbid_is_refused_with_one_line(refined: Project, capsys) -> None:
    ids = [r["id"] for r in refined.rows("SELECT id FROM refinements ORDER BY id")]
    root = refined.root
    _refused(capsys, "refinements", "accept", root, 999, match="no refinement 999")
    assert run(capsys, "refinements", "accept", root, ids[0])[0] == 0
    _refused(capsys, "refinements", "accept", root, ids[0], match="already accepted")
    assert run(capsys, "refinements", "reject", root, ids[1])[0] == 0
    _refused(capsys, "refinements", "reject", root, ids[1], match="already rejected")
    _refused(capsys, "refinements", "edit", root, ids[1], "--text", "x", match="rejected rows")
    _refused(capsys, "refinements", "edit", root, ids[2], "--text", "  ", match="empty")
    _refused(capsys, "refinements", "edit", root, ids[2], match="--text")
    missing = Path(root) / "nope.txt"
    _refused(capsys, "refinements", "edit", root, ids[2], "--text-file", missing, match="nope.txt")
    with refined.transaction() as conn:  # a request that failed: no text to accept
        conn.execute("UPDATE refinements SET status='failed', refined_text=NULL WHERE id=?",
                     (ids[3],))  # fmt: skip
    _refused(capsys, "refinements", "accept", root, ids[3], match="no text to accept")
    assert run(capsys, "refinements", "redo", root, ids[4])[0] == 0
    _refused(capsys, "refinements", "redo", root, ids[4], match="already waiting")
    job = jobs.create_job(refined, "refine", {"method": "teacher"}, name="refine")
    with refined.transaction() as conn:  # a live worker: this process
        conn.execute("UPDATE jobs SET status='running', pid=?, heartbeat_at=? WHERE id=?",
                     (os.getpid(), time.time(), job))  # fmt: skip
    _refused(capsys, "refinements", "redo", root, ids[5], match="refine job is running")
    # refusals changed nothing
    assert [(a["action"], a["entity_id"]) for a in _audit(refined)] == [
        ("accept", ids[0]), ("reject", ids[1]), ("redo", ids[4])
    ]  # fmt: skip
    assert _row(refined, ids[5])["status"] == "ok"


def test_redo_asks_the_teacher_again(refined: Project, server, capsys) -> None:  # noqa: F811
    rid = refined.scalar("SELECT MIN(id) FROM refinements")
    old = _row(refined, rid)["refine_generation_id"]
    assert run(capsys, "refinements", "edit", refined.root, rid, "--text", "mine")[0] == 0
    assert run(capsys, "refinements", "redo", refined.root, rid)[0] == 0
    row = _row(refined, rid)
    assert row["status"] == "pending" and row["edited_text"] is None
    server.reset_counters()
    refine(refined.root, RefineConfig(), 1, FAST)
    row = _row(refined, rid)
    assert server.stats()["requests"] == 1 and row["status"] == "ok"
    assert row["refine_generation_id"] != old


def test_fixed_length_rows_cannot_be_redone(labelled: Project, capsys) -> None:  # noqa: F811
    refine(labelled.root, RefineConfig(method="fixed-length", fixed_length_tokens=4))
    rid = labelled.scalar("SELECT MIN(id) FROM refinements")
    _refused(capsys, "refinements", "redo", labelled.root, rid, match="fixed-length")


def test_the_apps_review_goes_through_the_same_operations(refined: Project) -> None:
    ctl = RefinementController(refined)
    rows = ctl.source()(0, 100)
    assert [r["id"] for r in rows] == [
        r["id"] for r in refined.rows("SELECT id FROM refinements ORDER BY id")
    ]
    ids = [r["id"] for r in rows]
    ctl.accept(ids[0])
    with pytest.raises(UsageError, match="already accepted"):
        ctl.accept(ids[0])
    ctl.reject(ids[1])
    with pytest.raises(UsageError, match="rejected rows never train"):
        ctl.edit(ids[1], "text")
    ctl.edit(ids[2], "hand made")
    assert ctl.detail(ids[2])["refined"] == "hand made"
    ctl.redo(ids[3])
    with pytest.raises(UsageError, match="already waiting"):
        ctl.redo(ids[3])
    assert [a["action"] for a in _audit(refined)] == ["accept", "reject", "edit", "redo"]


def test_the_refinement_page_says_why_and_changes_nothing(
    refined: Project,
    qtbot,
    settings,  # noqa: F811 - the fixture
    monkeypatch,
) -> None:
    from twt_gui.main_window import MainWindow
    from twt_gui.pages import refinement

    warnings: list[str] = []
    monkeypatch.setattr(
        refinement.QMessageBox, "warning", lambda parent, title, text: warnings.append(text)
    )
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    window.show()
    window.page("Projects").controller.open(refined.root)
    try:
        page = window.show_page("Refinement")
        page.refresh()
        rid = page.current_id()
        assert rid == refined.scalar("SELECT MIN(id) FROM refinements")
        page.accept()
        assert _row(refined, rid)["status"] == "accepted" and warnings == []
        page.accept()
        assert warnings == [f"refinement {rid}: already accepted"]
        page.reject()
        page.editor.setPlainText("an edit of a rejected row")
        page.save_edit()
        assert "rejected rows never train" in warnings[-1]
        assert _row(refined, rid)["edited_text"] is None
        assert [a["action"] for a in _audit(refined)] == ["accept", "reject"]
    finally:
        window.session.close()
