"""The project store: create/open, WAL, busy timeout, migrations, version refusal, atomicity."""

from __future__ import annotations

import sqlite3

import pytest

from twt_backend.errors import StoreVersionError, UsageError
from twt_backend.store import ARTIFACTS, DB_NAME, SCHEMA_VERSION, Project

TABLES = {
    "meta", "queries", "teachers", "generations", "selections", "embeddings", "refinements",
    "jobs", "metrics", "eval_results", "audit_log",
}  # fmt: skip


def _insert_query(conn: sqlite3.Connection, content_hash: str) -> None:
    conn.execute(
        "INSERT INTO queries(source_id, split, payload, content_hash, created_at)"
        " VALUES ('q', 'train', '{}', ?, 'now')",
        (content_hash,),
    )


def test_create_makes_folder_database_and_metadata(tmp_path):
    root = tmp_path / "p"
    with Project.create(root, "choice", name="My project") as project:
        assert project.task == "choice"
        assert project.name == "My project"
    assert (root / DB_NAME).is_file()
    assert (root / ARTIFACTS).is_dir()
    with Project.open(root) as project:
        assert project.task == "choice"
        names = {row["name"] for row in project.rows("SELECT name FROM sqlite_master")}
        assert TABLES <= names


def test_default_name_is_folder_name(tmp_path):
    with Project.create(tmp_path / "folder-name", "math") as project:
        assert project.name == "folder-name"


def test_wal_and_busy_timeout_are_on(project):
    assert project.scalar("PRAGMA journal_mode").lower() == "wal"
    assert project.scalar("PRAGMA busy_timeout") >= 1000


def test_migrations_are_recorded(project):
    assert project.get_meta("schema_version") == str(SCHEMA_VERSION)
    project.close()
    with Project.open(project.root) as again:  # opening again applies nothing new
        assert again.get_meta("schema_version") == str(SCHEMA_VERSION)


def test_newer_schema_version_is_refused_with_a_clear_message(project):
    with project.transaction():
        project.set_meta("schema_version", str(SCHEMA_VERSION + 5))
    project.close()
    with pytest.raises(StoreVersionError) as info:
        Project.open(project.root)
    message = str(info.value)
    assert "newer" in message and str(SCHEMA_VERSION + 5) in message
    assert "Upgrade" in message


def test_failed_transaction_leaves_nothing(project):
    with pytest.raises(RuntimeError):
        with project.transaction() as conn:
            _insert_query(conn, "a")
            _insert_query(conn, "b")
            raise RuntimeError("boom")
    assert project.scalar("SELECT COUNT(*) FROM queries") == 0


def test_constraint_failure_rolls_back_earlier_rows(project):
    with pytest.raises(sqlite3.IntegrityError):
        with project.transaction() as conn:
            _insert_query(conn, "same")
            _insert_query(conn, "same")
    assert project.scalar("SELECT COUNT(*) FROM queries") == 0
    with project.transaction() as conn:
        _insert_query(conn, "same")
    assert project.scalar("SELECT COUNT(*) FROM queries") == 1


def test_second_connection_sees_committed_rows_only(project):
    other = sqlite3.connect(project.root / DB_NAME)
    try:
        with project.transaction() as conn:
            _insert_query(conn, "x")
            assert other.execute("SELECT COUNT(*) FROM queries").fetchone()[0] == 0
        assert other.execute("SELECT COUNT(*) FROM queries").fetchone()[0] == 1
    finally:
        other.close()


def test_create_refuses_existing_project_and_unknown_task(tmp_path, project):
    with pytest.raises(UsageError, match="already exists"):
        Project.create(project.root, "math")
    with pytest.raises(UsageError, match="unknown task"):
        Project.create(tmp_path / "other", "poetry")


def test_open_refuses_a_folder_without_a_project(tmp_path):
    with pytest.raises(UsageError, match="not a TwT project"):
        Project.open(tmp_path)


def test_migration_scripts_split_where_sqlite_says_a_statement_ends(tmp_path):
    """A trigger's body, a literal and a comment holding ';' stay in one statement (a split
    on every ';' broke all three), and the script applies in one connection."""
    import sqlite3

    from twt_backend.store.schema import _apply_script, statements

    script = """
    CREATE TABLE t (x TEXT); -- a comment; with a semicolon
    CREATE TABLE log (what TEXT);
    CREATE TRIGGER t_log AFTER INSERT ON t BEGIN
        INSERT INTO log(what) VALUES ('added; ' || new.x);
    END;
    INSERT INTO t(x) VALUES ('a;b -- not a comment');
    """
    assert len(statements(script)) == 4
    conn = sqlite3.connect(tmp_path / "s.sqlite")
    _apply_script(script)(conn)
    assert conn.execute("SELECT x FROM t").fetchall() == [("a;b -- not a comment",)]
    assert conn.execute("SELECT what FROM log").fetchall() == [("added; a;b -- not a comment",)]
    with pytest.raises(ValueError, match="incomplete"):
        statements("CREATE TABLE u (x TEXT)")
