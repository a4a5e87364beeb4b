"""Never rebuild over a broken store: only `twt init` creates one; every other command on
a missing, empty, foreign or damaged project.sqlite exits 2 saying what is wrong and how
to recover; automatic backups (migrations, destructive steps) and `twt doctor --restore`."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from test_selection_support import add_generation, add_query, add_teacher

from twt_backend.cli import main
from twt_backend.config import SelectionConfig
from twt_backend.errors import BrokenStoreError
from twt_backend.selection.run import run_selection
from twt_backend.store import DB_NAME, SCHEMA_VERSION, Project, backup
from twt_backend.store.schema import MIGRATION_1

GSM = '{"question": "What is 6 times 7?", "answer": "#### 42"}\n'

# One command of every kind that opens a project (reads, writes, jobs).
COMMANDS = [
    ["queries", "{dir}"],
    ["import", "{dir}", "{data}"],
    ["teacher", "list", "{dir}"],
    ["samples", "{dir}"],
    ["runs", "{dir}"],
    ["generate", "{dir}", "--quiet"],
    ["select", "{dir}"],
    ["train", "{dir}", "--stage", "1"],
    ["run", "{dir}", "--quiet"],
    ["report", "{dir}"],
]


def run_cli(capsys, argv: list[str], root: Path, data: Path | None = None) -> tuple[int, str]:
    code = main([a.format(dir=root, data=data) for a in argv])
    out, err = capsys.readouterr()
    return code, err


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_project(root: Path, queries: int = 3) -> Path:
    with Project.create(root, "math") as project:
        for i in range(queries):
            add_query(project, f"What is {i} plus {i}?", str(2 * i))
    return root


def select_twice(root: Path) -> None:
    """A selection, then a reselection: the second takes a backup first."""
    with Project.open(root) as project:
        teacher = add_teacher(project, "t")
        for qid in [r["id"] for r in project.rows("SELECT id FROM queries")]:
            add_generation(project, qid, teacher, "because", "1", 0.99)
        run_selection(project, SelectionConfig(strategy="quality"))
        run_selection(project, SelectionConfig(strategy="quality", threshold=0.5))


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: a[0] if a[0] != "teacher" else "teacher")
def test_an_empty_store_is_refused_not_rebuilt(tmp_path, capsys, argv):
    root = tmp_path / "p"
    root.mkdir()
    (root / DB_NAME).write_bytes(b"")  # a disk-full or sync-tool accident
    data = tmp_path / "gsm.jsonl"
    data.write_text(GSM)
    code, err = run_cli(capsys, argv, root, data)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1
    assert "is empty (0 bytes)" in err and "left as it is" in err
    assert f"twt init {root}" in err  # no backup yet: how to start again
    assert (root / DB_NAME).stat().st_size == 0
    assert not (root / f"{DB_NAME}-wal").exists()


@pytest.mark.parametrize("kind", ["garbage", "foreign", "damaged"])
def test_foreign_or_damaged_files_are_refused_unchanged(tmp_path, capsys, kind):
    root = tmp_path / "p"
    db = root / DB_NAME
    if kind == "garbage":
        root.mkdir()
        db.write_text("these are my notes, not a database\n" * 100)
        expected = "is not an SQLite database"
    elif kind == "foreign":
        root.mkdir()
        other = sqlite3.connect(db)
        other.execute("CREATE TABLE photos(id INTEGER PRIMARY KEY, path TEXT)")
        other.commit()
        other.close()
        expected = "not a TwT project store"
    else:
        make_project(root)
        raw = bytearray(db.read_bytes())
        page = 4096
        raw[page : 2 * page] = b"\xff" * page  # scribble over the second page (a table root)
        db.write_bytes(bytes(raw))
        expected = "damaged"
    before = digest(db)
    code, err = run_cli(capsys, ["queries", "{dir}"], root)
    assert code == 2 and expected in err, err
    code, err = run_cli(capsys, ["import", "{dir}", "{data}"], root, tmp_path / "none.jsonl")
    assert code == 2 and expected in err, err
    assert digest(db) == before
    assert main(["doctor", str(root)]) == 2
    out = capsys.readouterr().out
    assert out.startswith("error: The project store cannot be used:") and expected in out, out


def test_a_missing_store_is_never_created(tmp_path, capsys):
    root = tmp_path / "p"
    root.mkdir()
    for argv in COMMANDS:
        code, err = run_cli(capsys, argv, root, tmp_path / "x.jsonl")
        assert code == 2 and "not a TwT project" in err, (argv, err)
    assert list(root.iterdir()) == []
    with pytest.raises(BrokenStoreError):
        Project.open(root, readonly=True)
    assert list(root.iterdir()) == []


def test_init_is_the_only_way_and_refuses_over_a_broken_file(tmp_path, capsys):
    root = tmp_path / "p"
    root.mkdir()
    (root / DB_NAME).write_bytes(b"")
    code, err = run_cli(capsys, ["init", "{dir}", "--task", "math"], root)
    assert code == 2 and "already exists" in err
    assert (root / DB_NAME).stat().st_size == 0
    assert [p.name for p in root.iterdir()] == [DB_NAME]  # no half-made store left beside it


def test_reselection_backs_up_and_doctor_restore_brings_it_back(tmp_path, capsys):
    root = make_project(tmp_path / "p")
    select_twice(root)
    backups = backup.list_backups(root)
    assert [p.name.rsplit("-", 2)[-2:] for p in backups] == [["before", "reselection.sqlite"]]
    (root / DB_NAME).write_bytes(b"")
    (root / f"{DB_NAME}-wal").unlink(missing_ok=True)

    code, err = run_cli(capsys, ["queries", "{dir}"], root)
    assert code == 2 and f"`twt doctor {root} --restore`" in err and backups[0].name in err
    code = main(["doctor", str(root), "--json"])
    out = capsys.readouterr().out
    (problem,) = [json.loads(line) for line in out.splitlines()]
    assert code == 2 and problem["area"] == "store" and problem["severity"] == "error"
    assert "empty (0 bytes)" in problem["message"] and "--restore" in problem["fix"]

    assert main(["doctor", str(root), "--restore"]) == 0
    out = capsys.readouterr().out
    assert f"from {backups[0]}" in out and "3 queries" in out
    code = main(["queries", str(root), "--json"])
    assert code == 0 and len(capsys.readouterr().out.splitlines()) == 3
    (aside,) = backup.backups_dir(root).glob("replaced-*")
    assert (aside / DB_NAME).stat().st_size == 0  # the broken file is kept, not deleted
    assert json.loads((aside / "RESTORE.json").read_text())["problem"].endswith("(0 bytes)")
    with Project.open(root) as project:  # the selection as it was before the reselection
        assert project.integrity_ok()
        assert project.scalar("SELECT COUNT(*) FROM selections") == 3


def test_restore_skips_a_damaged_newer_backup(tmp_path, capsys):
    root = make_project(tmp_path / "p")
    with Project.open(root) as project:
        good = backup.backup_project(project, "first")
        add_query(project, "one more", "1")
        newer = backup.backup_project(project, "second")
    assert good is not None and newer is not None
    raw = bytearray(newer.read_bytes())
    raw[4096:8192] = b"\x00\x01" * 2048
    newer.write_bytes(bytes(raw))
    (root / DB_NAME).write_text("overwritten by a sync tool")
    assert main(["doctor", str(root), "--restore"]) == 0
    out = capsys.readouterr().out
    assert f"skipped {newer.name}" in out and f"from {good}" in out
    with Project.open(root) as project:
        assert project.scalar("SELECT COUNT(*) FROM queries") == 3
    assert newer.exists()  # a restore deletes no backup


def test_restore_without_a_good_backup_changes_nothing(tmp_path, capsys):
    root = tmp_path / "p"
    root.mkdir()
    (root / DB_NAME).write_bytes(b"")
    assert main(["doctor", str(root), "--restore"]) == 2
    assert "no backup" in capsys.readouterr().err
    assert [p.name for p in root.iterdir()] == [DB_NAME]


def test_backups_keep_the_newest_n(tmp_path, monkeypatch):
    root = make_project(tmp_path / "p", queries=1)
    monkeypatch.setenv(backup.KEEP_ENV, "2")
    made = []
    with Project.open(root) as project:
        for i in range(4):
            add_query(project, f"extra {i}", "0")
            made.append(backup.backup_project(project, f"step {i}"))
    assert backup.list_backups(root) == made[:1:-1]  # the two newest, newest first
    conn = sqlite3.connect(made[-1])
    assert conn.execute("SELECT COUNT(*) FROM queries").fetchone()[0] == 5
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # self-contained
    conn.close()
    monkeypatch.setenv(backup.KEEP_ENV, "0")
    with Project.open(root) as project:
        assert backup.backup_project(project, "off") is None
    monkeypatch.setenv(backup.KEEP_ENV, "many")
    with Project.open(root) as project, pytest.raises(Exception, match="TWT_KEEP_BACKUPS"):
        backup.backup_project(project, "bad")


def test_a_migration_is_preceded_by_a_backup(tmp_path):
    root = tmp_path / "old"
    (root / "artifacts").mkdir(parents=True)
    conn = sqlite3.connect(root / DB_NAME)  # a store as the first release wrote it
    conn.executescript(MIGRATION_1)
    conn.executemany(
        "INSERT INTO meta(key, value) VALUES (?, ?)",
        [("schema_version", "1"), ("task", "math"), ("name", "old")],
    )
    conn.execute(
        "INSERT INTO queries(source_id, split, payload, content_hash, created_at)"
        " VALUES ('q1', 'train', '{}', 'h1', 'then')"
    )
    conn.commit()
    conn.close()
    with Project.open(root) as project:
        assert project.get_meta("schema_version") == str(SCHEMA_VERSION)
    (saved,) = backup.list_backups(root)
    assert f"before-migration-v1-to-v{SCHEMA_VERSION}" in saved.name
    old = sqlite3.connect(saved)
    assert old.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("1",)
    assert old.execute("SELECT COUNT(*) FROM queries").fetchone() == (1,)
    old.close()


def _with_samples(root: Path) -> Project:
    project = Project.open(root)
    teacher = add_teacher(project, "t")
    for qid in [r["id"] for r in project.rows("SELECT id FROM queries")]:
        add_generation(project, qid, teacher, "first add them, then check the sum", "1", 0.99)
    run_selection(project, SelectionConfig(strategy="quality"))
    return project


def test_a_refinement_rerun_backs_up_first(tmp_path):
    from twt_backend.config import RefineConfig
    from twt_backend.hard.refine import refine

    root = make_project(tmp_path / "p")
    _with_samples(root).close()
    cfg = RefineConfig(method="fixed-length", fixed_length_tokens=3)
    assert refine(root, cfg, 1).counts == {"ok": 3}
    assert backup.list_backups(root) == []  # a first round replaces nothing
    refine(root, RefineConfig(method="fixed-length", fixed_length_tokens=2), 1)
    (saved,) = backup.list_backups(root)
    assert saved.name.endswith("-before-refinement-rerun-round-1.sqlite")
    conn = sqlite3.connect(saved)  # the rows as they were before the rerun
    assert conn.execute("SELECT COUNT(*) FROM refinements WHERE round=1").fetchone() == (3,)
    conn.close()


def test_a_stage_retrain_backs_up_before_it_touches_anything(tmp_path, tiny_model_dir):
    from twt_backend import jobs
    from twt_backend.artifacts import adapter_dir
    from twt_backend.training import job as train_job

    root = make_project(tmp_path / "p")  # no samples: the run stops at its data
    config = {"stage": 1, "training": {"student": str(tiny_model_dir)}}
    with Project.open(root) as project:
        job_id = jobs.create_job(project, "train", config)
        ctx = jobs.JobContext(root, job_id, "train", config, project.artifacts / "jobs" / "t")
        with pytest.raises(Exception, match="select"):
            train_job.run_job(ctx)  # stage 1 never trained: a first run, no backup
        assert backup.list_backups(root) == []
        adapter_dir(root, 1).mkdir(parents=True)
        (adapter_dir(root, 1) / "adapter_config.json").write_text("{}")  # stage 1 trained
        with pytest.raises(Exception, match="select"):
            train_job.run_job(ctx)
        ctx.project.close()
    (saved,) = backup.list_backups(root)
    assert saved.name.endswith("-before-retrain-stage-1.sqlite")
