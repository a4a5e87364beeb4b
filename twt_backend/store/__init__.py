"""SQLite project store (sqlite-utils): schema, migrations, the Project handle, backups,
job locks."""

from twt_backend.store.connection import ARTIFACTS, DB_NAME, absolute, connect
from twt_backend.store.project import TASKS, Project, migrate, utcnow
from twt_backend.store.schema import SCHEMA_VERSION

__all__ = [
    "ARTIFACTS",
    "DB_NAME",
    "SCHEMA_VERSION",
    "TASKS",
    "Project",
    "absolute",
    "connect",
    "migrate",
    "utcnow",
]
