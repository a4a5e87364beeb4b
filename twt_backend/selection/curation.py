"""Manual curation: accept or reject a generation, edit a sample; all in the audit log.

Overrides live in `selections.override*` and edits in `sample_edits` (version 1, 2, ...;
the generation row keeps the original as version 0). Selection re-runs never touch either.
"""

from __future__ import annotations

from typing import Any

from twt_backend.errors import UsageError
from twt_backend.store import Project, utcnow

DECISIONS = ("accept", "reject")


def _generation(project: Project, generation_id: int) -> dict[str, Any]:
    rows = project.rows(
        "SELECT id, query_id, rationale, answer FROM generations"
        " WHERE id=? AND status='ok' AND purpose='label'",
        (generation_id,),
    )
    if not rows:
        raise UsageError(f"no completed label generation with id {generation_id}")
    return rows[0]


def set_override(
    project: Project,
    generation_id: int,
    decision: str | None,
    note: str | None = None,
    actor: str = "user",
) -> dict[str, Any]:
    """Accept or reject a generation by hand (None clears the override)."""
    if decision is not None and decision not in DECISIONS:
        raise UsageError(f"override must be accept, reject or none, not {decision!r}")
    generation = _generation(project, generation_id)
    now = utcnow()
    with project.transaction() as conn:
        conn.execute(
            "INSERT INTO selections(generation_id, query_id, selected, updated_at)"
            " VALUES (?, ?, 0, ?) ON CONFLICT(generation_id) DO NOTHING",
            (generation_id, generation["query_id"], now),
        )
        before = project.rows(
            "SELECT override, override_note FROM selections WHERE generation_id=?",
            (generation_id,),
        )[0]
        after = {"override": decision, "override_note": note}
        conn.execute(
            "UPDATE selections SET override=?, override_note=?, override_at=? WHERE generation_id=?",
            (decision, note, now if decision else None, generation_id),
        )
        action = "override" if decision else "clear_override"
        project.audit(action, "generation", generation_id, before, after, note, actor)
    return {"generation_id": generation_id, **after, "override_at": now if decision else None}


def sample_history(project: Project, generation_id: int) -> list[dict[str, Any]]:
    """Every version of a sample: 0 is the teacher's original, then the edits in order."""
    generation = _generation(project, generation_id)
    original = {
        "version": 0,
        "rationale": generation["rationale"],
        "answer": generation["answer"],
        "note": None,
        "created_at": None,
    }
    edits = project.rows(
        "SELECT version, rationale, answer, note, created_at FROM sample_edits"
        " WHERE generation_id=? ORDER BY version",
        (generation_id,),
    )
    return [original, *edits]


def edit_sample(
    project: Project,
    generation_id: int,
    rationale: str | None = None,
    answer: str | None = None,
    note: str | None = None,
    actor: str = "user",
) -> int:
    """Store a new version of a sample's rationale and/or answer; returns its version.

    A field left as None keeps its latest value. An edit that changes nothing stores
    nothing and returns the current version.
    """
    if rationale is None and answer is None:
        raise UsageError("an edit needs a new rationale or a new answer")
    latest = sample_history(project, generation_id)[-1]
    new = {
        "rationale": latest["rationale"] if rationale is None else rationale,
        "answer": latest["answer"] if answer is None else answer,
    }
    if new["rationale"] == latest["rationale"] and new["answer"] == latest["answer"]:
        return int(latest["version"])
    version = int(latest["version"]) + 1
    with project.transaction() as conn:
        conn.execute(
            "INSERT INTO sample_edits(generation_id, version, rationale, answer, note, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (generation_id, version, new["rationale"], new["answer"], note, utcnow()),
        )
        before = {k: latest[k] for k in ("version", "rationale", "answer")}
        project.audit(
            "edit", "generation", generation_id, before, {"version": version, **new}, note, actor
        )
    return version
