"""SQLite project store (sqlite-utils): schema, migrations, the Project handle."""

from twt_backend.store.project import ARTIFACTS, DB_NAME, TASKS, Project, connect, migrate, utcnow
from twt_backend.store.schema import SCHEMA_VERSION

__all__ = [
    "ARTIFACTS",
    "DB_NAME",
    "SCHEMA_VERSION",
    "TASKS",
    "Project",
    "connect",
    "migrate",
    "utcnow",
]
