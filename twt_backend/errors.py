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
