"""Exception types shared by the back end, the CLI and the GUI."""

from __future__ import annotations


class TwtError(Exception):
    """A failure the user should see as one clear line (CLI exit 1)."""


class UsageError(TwtError):
    """Bad input or usage (CLI exit 2). For data files, the message is `FILE:LINE: reason`."""


class DataError(UsageError):
    """A data file is malformed; carries its location."""

    def __init__(self, path: str, line: int | None, reason: str):
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")


class StoreVersionError(TwtError):
    """The project was written by a newer TwT Studio."""


class BrokenStoreError(UsageError):
    """project.sqlite is missing, empty, not SQLite, not a TwT store or damaged (exit 2)."""


class ReadOnlyProjectError(UsageError):
    """A command that changes the project was run on a project it cannot write (exit 2)."""


class JobLockedError(UsageError):
    """Another job holding the same per-project lock is running (exit 2)."""

    def __init__(self, message: str, job_id: int):
        self.job_id = job_id
        super().__init__(message)
