"""Import limits: the largest field and file an import accepts (docs/security.md, "Imports").

A field beyond the limit is almost always a mistake (a whole file pasted into a cell, a
column of base64) and would be sent to every teacher in every prompt. Both limits are
checked before anything is stored and can be raised (`--max-field-bytes`,
`--max-file-bytes`). The file limit applies to the unpacked size of a `.gz` file too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from twt_backend.importers.fields import RecordError


@dataclass(frozen=True)
class Limits:
    max_field_bytes: int = 256 * 1024  # ~64k tokens: more than any student's context
    max_file_bytes: int = 512 * 1024 * 1024  # the whole file is parsed in memory first


DEFAULT_LIMITS = Limits()


def field_bytes(value: Any) -> int:
    """Size of a field as UTF-8: the text itself, or the JSON of a nested value."""
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8"))


def check_fields(record: dict[str, Any], limits: Limits) -> None:
    """RecordError naming the first field of a record above the field limit."""
    for name, value in record.items():
        size = field_bytes(value)
        if size > limits.max_field_bytes:
            raise RecordError(
                f"field {name!r} is {size} bytes, above the limit of "
                f"{limits.max_field_bytes} bytes (raise it with --max-field-bytes)"
            )
