"""Schema of the project store, as an ordered list of migrations.

Each migration is applied once, in order, inside one transaction; the applied
version is recorded in `meta.schema_version`. Never edit a released migration:
append a new one.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable

MIGRATION_1 = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT
);

CREATE TABLE queries (
    id INTEGER PRIMARY KEY,
    source_id TEXT NOT NULL,
    split TEXT NOT NULL DEFAULT 'train',
    payload TEXT NOT NULL,              -- JSON: the task-specific fields of the query
    reference TEXT,                     -- reference answer (letter, number, code) when known
    source TEXT,                        -- file or dataset it came from
    content_hash TEXT NOT NULL UNIQUE,  -- re-importing the same record adds nothing
    created_at TEXT NOT NULL
);
CREATE INDEX idx_queries_split ON queries(split);
CREATE INDEX idx_queries_source_id ON queries(source_id);

CREATE TABLE teachers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    config TEXT NOT NULL,               -- JSON TeacherConfig, never a secret, only the env var name
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
);

CREATE TABLE generations (
    id INTEGER PRIMARY KEY,
    query_id INTEGER NOT NULL REFERENCES queries(id),
    teacher_id INTEGER NOT NULL REFERENCES teachers(id),
    purpose TEXT NOT NULL DEFAULT 'label',   -- label | refine | compress
    request_hash TEXT NOT NULL,              -- hash of (teacher config, prompt): the cache key
    status TEXT NOT NULL DEFAULT 'pending',  -- pending | ok | failed
    raw_text TEXT,
    rationale TEXT,
    answer TEXT,
    confidence REAL,
    parse_status TEXT,
    logprob_mean REAL,
    tokens_in INTEGER,
    tokens_out INTEGER,
    cost_usd REAL,
    latency_s REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    job_id INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (teacher_id, request_hash)
);
CREATE INDEX idx_generations_query ON generations(query_id);
CREATE INDEX idx_generations_status ON generations(status);

CREATE TABLE sample_edits (
    id INTEGER PRIMARY KEY,
    generation_id INTEGER NOT NULL REFERENCES generations(id),
    version INTEGER NOT NULL,
    rationale TEXT,
    answer TEXT,
    note TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (generation_id, version)
);

CREATE TABLE selections (
    generation_id INTEGER PRIMARY KEY REFERENCES generations(id),
    query_id INTEGER NOT NULL,
    strategy TEXT,
    selected INTEGER NOT NULL DEFAULT 0,     -- automatic decision
    reason TEXT,                             -- why kept or rejected
    score REAL,
    similarity REAL,                         -- similarity of the kept pair, when diversity applied
    override TEXT,                           -- accept | reject | NULL (manual decision wins)
    override_note TEXT,
    override_at TEXT,
    updated_at TEXT
);
CREATE INDEX idx_selections_query ON selections(query_id);

CREATE TABLE similarities (
    query_id INTEGER NOT NULL,
    generation_a INTEGER NOT NULL,
    generation_b INTEGER NOT NULL,
    model TEXT NOT NULL,
    similarity REAL NOT NULL,
    PRIMARY KEY (query_id, generation_a, generation_b, model)
);

CREATE TABLE embeddings (
    model TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,                    -- float32 little-endian
    PRIMARY KEY (model, text_hash)
);

CREATE TABLE student_outputs (
    id INTEGER PRIMARY KEY,
    query_id INTEGER NOT NULL,
    stage INTEGER NOT NULL,
    job_id INTEGER,
    output TEXT NOT NULL,
    tokens INTEGER,
    created_at TEXT NOT NULL,
    UNIQUE (query_id, stage)
);

CREATE TABLE refinements (
    id INTEGER PRIMARY KEY,
    generation_id INTEGER NOT NULL REFERENCES generations(id),  -- the original teacher sample
    round INTEGER NOT NULL DEFAULT 1,        -- 1 before stage 2, 2 for the four-stage variant
    method TEXT NOT NULL,                    -- teacher | fixed-length | compressor
    student_output TEXT,
    refine_generation_id INTEGER,            -- the teacher request that produced it
    refined_text TEXT,
    edited_text TEXT,                        -- manual edit, wins over refined_text
    status TEXT NOT NULL DEFAULT 'pending',  -- pending | ok | failed | accepted | rejected
    tokens_original INTEGER,
    tokens_refined INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (generation_id, round)
);

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT,
    config TEXT NOT NULL,                    -- JSON
    status TEXT NOT NULL,                    -- queued | running | finished | failed | cancelled | interrupted
    pid INTEGER,
    host TEXT,
    heartbeat_at REAL,
    progress TEXT,                           -- JSON: latest progress snapshot
    artifact_dir TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
);

CREATE TABLE job_events (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL,
    time REAL NOT NULL,
    type TEXT NOT NULL,
    payload TEXT
);
CREATE INDEX idx_job_events_job ON job_events(job_id, id);

CREATE TABLE metrics (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL,
    step INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    time REAL NOT NULL
);
CREATE INDEX idx_metrics_job ON metrics(job_id, name, step);

CREATE TABLE eval_results (
    id INTEGER PRIMARY KEY,
    method TEXT NOT NULL,                    -- 'stage0'..'stage4', or a baseline name
    query_id INTEGER NOT NULL,
    job_id INTEGER,
    output TEXT,
    answer TEXT,
    tokens INTEGER,
    correct INTEGER,
    created_at TEXT NOT NULL,
    UNIQUE (method, query_id)
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id INTEGER,
    before TEXT,
    after TEXT,
    note TEXT
);
"""


# Per-project job locks (store/locks.py): the job that started this one, and the lock
# a job holds while queued or running.
MIGRATION_JOB_LOCKS = """
ALTER TABLE jobs ADD COLUMN parent_id INTEGER;
ALTER TABLE jobs ADD COLUMN lock_key TEXT;
CREATE INDEX idx_jobs_status ON jobs(status);
"""


def statements(sql: str) -> list[str]:
    """The statements of an SQL script, split where SQLite itself says one is complete
    (`sqlite3.complete_statement`): a `;` inside a string literal, a comment or a trigger's
    BEGIN ... END body does not end a statement. (`executescript` would commit the
    migration's transaction first.)"""
    found, pending = [], ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if re.sub(r"--[^\n]*", "", pending).strip(" \n;"):
                found.append(pending)
            pending = ""
    if re.sub(r"--[^\n]*", "", pending).strip():
        raise ValueError(f"incomplete SQL statement at the end of a migration: {pending!r}")
    return found


def _apply_script(sql: str) -> Callable[[sqlite3.Connection], None]:
    parts = statements(sql)

    def apply(conn: sqlite3.Connection) -> None:
        for statement in parts:
            conn.execute(statement)

    return apply


# Every stored evaluation output records the prompt mode it was asked under (see
# tasks.base). Results from before this migration were asked with each stage's own hint
# ("stage"); the vanilla student then was told to answer directly: those rows are the
# direct-answer baseline ("direct"), which is what they are now called.
MIGRATION_EVAL_PROMPT_MODE = """
ALTER TABLE eval_results ADD COLUMN prompt_mode TEXT;
UPDATE eval_results SET method = 'direct' WHERE method = 'stage0';
UPDATE eval_results SET prompt_mode = CASE method
    WHEN 'direct' THEN 'direct' WHEN 'dss' THEN 'dss' ELSE 'stage' END;
"""

# Named runs (variants) of the pipeline in one project (store/variants.py). "main" is the
# project's own layout (artifacts/stages, the tables here); every other run keeps its
# adapters, selections, refinements, student outputs and evaluations in a store of its own
# under `folder`, seeded from this one's queries, teachers, labels and embeddings.
MIGRATION_VARIANTS = """
CREATE TABLE variants (
    name TEXT PRIMARY KEY,
    folder TEXT NOT NULL,                    -- relative to the project folder; '.' for main
    settings TEXT NOT NULL,                  -- JSON: selection, teachers, pipeline options
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
INSERT INTO variants(name, folder, settings, created_at, updated_at)
    VALUES ('main', '.', '{}', datetime('now'), datetime('now'));
"""

# Provenance of every stored student output (evaluation/provenance.py): the sha256 of the
# adapter weights (NULL: the untrained student), the base model, the generation settings
# (JSON) and a key over all of them with the prompt mode. Older rows have none: unknown
# provenance, so `twt eval` asks them again.
MIGRATION_OUTPUT_PROVENANCE = """
ALTER TABLE eval_results ADD COLUMN adapter_sha256 TEXT;
ALTER TABLE eval_results ADD COLUMN base_model TEXT;
ALTER TABLE eval_results ADD COLUMN generation TEXT;
ALTER TABLE eval_results ADD COLUMN provenance TEXT;
ALTER TABLE student_outputs ADD COLUMN prompt_mode TEXT;
ALTER TABLE student_outputs ADD COLUMN adapter_sha256 TEXT;
ALTER TABLE student_outputs ADD COLUMN base_model TEXT;
ALTER TABLE student_outputs ADD COLUMN generation TEXT;
ALTER TABLE student_outputs ADD COLUMN provenance TEXT;
"""

MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _apply_script(MIGRATION_1),
    _apply_script(MIGRATION_JOB_LOCKS),
    _apply_script(MIGRATION_EVAL_PROMPT_MODE),
    _apply_script(MIGRATION_VARIANTS),
    _apply_script(MIGRATION_OUTPUT_PROVENANCE),
]

SCHEMA_VERSION = len(MIGRATIONS)
