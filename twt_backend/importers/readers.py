"""Read data files into (line number, record) pairs, naming the line of any fault.

Supported containers: JSON Lines, a JSON array of objects, and CSV with a header
row; any of them may be gzip-compressed (`.gz`). Text must be UTF-8 (a BOM is fine).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from twt_backend.errors import DataError

Record = tuple[int, dict[str, Any]]


def read_text(path: Path, max_bytes: int | None = None) -> str:
    """The whole file as text; DataError on a missing file, bad encoding, no content, or
    more than `max_bytes` (unpacked, for .gz), naming the line the limit falls on."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise DataError(str(path), None, "no such file") from None
    except IsADirectoryError:
        raise DataError(str(path), None, "is a folder, not a data file") from None
    except (OSError, EOFError) as exc:
        raise DataError(str(path), None, f"cannot read: {exc}") from None
    if max_bytes is not None and len(data) > max_bytes:
        raise DataError(
            str(path),
            data.count(b"\n", 0, max_bytes) + 1,
            f"file is larger than the limit of {max_bytes} bytes (raise it with --max-file-bytes)",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(
            str(path),
            line,
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8",
        ) from None
    if not text.strip():
        raise DataError(str(path), 1, "empty file: no records")
    return text


def is_csv(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(".csv") or name.endswith(".csv.gz")


def read_records(path: Path, text: str, as_csv: bool) -> list[Record]:
    """Every record of a JSON Lines, JSON array or CSV file with its 1-based line number."""
    if as_csv:
        records = list(_iter_csv(path, text))
    elif text.lstrip().startswith("["):
        records = list(_iter_json_array(path, text))
    else:
        records = list(_iter_jsonl(path, text))
    if not records:
        raise DataError(str(path), 1, "no records found")
    return records


def _require_object(path: Path, line: int, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DataError(str(path), line, f"expected a JSON object, got {type(value).__name__}")
    return value


def _iter_jsonl(path: Path, text: str) -> Iterator[Record]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                str(path), number, f"invalid JSON: {exc.msg} (column {exc.colno})"
            ) from None
        yield number, _require_object(path, number, value)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _iter_json_array(path: Path, text: str) -> Iterator[Record]:
    """Decode a JSON array element by element so each record keeps its line number."""
    decoder = json.JSONDecoder()

    def fail(pos: int, reason: str) -> DataError:
        return DataError(str(path), text.count("\n", 0, pos) + 1, reason)

    pos = _skip_space(text, text.index("[") + 1)
    if pos < len(text) and text[pos] == "]":
        return
    while True:
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise fail(exc.pos, f"invalid JSON: {exc.msg}") from None
        line = text.count("\n", 0, pos) + 1
        yield line, _require_object(path, line, value)
        pos = _skip_space(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_space(text, pos + 1)
            continue
        if pos < len(text) and text[pos] == "]":
            if text[pos + 1 :].strip():
                raise fail(pos + 1, "invalid JSON: extra data after the array")
            return
        raise fail(pos, "invalid JSON: expected ',' or ']' between array items")


def _iter_csv(path: Path, text: str) -> Iterator[Record]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except csv.Error as exc:
        raise DataError(str(path), 1, f"invalid CSV: {exc}") from None
    names = [name.strip() for name in header]
    if not any(names) or len(set(names)) != len(names):
        raise DataError(str(path), 1, "CSV header must name every column once")
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(str(path), line, f"invalid CSV: {exc}") from None
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(names):
            raise DataError(
                str(path), line, f"expected {len(names)} columns as in the header, got {len(row)}"
            )
        yield line, dict(zip(names, row, strict=True))
