"""Imports refuse what would corrupt results: duplicate ids in one file, and fields or files
beyond the documented limits (overridable), each with `FILE:LINE: reason`, storing nothing."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from twt_backend.cli import main
from twt_backend.errors import DataError
from twt_backend.importers import DEFAULT_LIMITS, Limits, import_file, parse_file


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), "utf-8")
    return path


def _row(i: int, qid: str | None = None, **extra: object) -> dict:
    return {"id": qid or f"q{i}", "question": f"What is {i} + {i}?", "answer": str(2 * i), **extra}


# ---- duplicate ids ------------------------------------------------------------------------------
def test_duplicate_ids_in_one_file_are_refused_with_both_lines(project, tmp_path) -> None:
    path = write_jsonl(tmp_path / "dup.jsonl", [_row(0, "q1"), _row(1, "q2"), _row(2, "q1")])
    with pytest.raises(DataError) as caught:
        import_file(project, path)
    assert str(caught.value) == f"{path}:3: duplicate id q1 (first at line 1)"
    assert project.scalar("SELECT COUNT(*) FROM queries") == 0


def test_duplicate_ids_in_csv_and_json_array_name_their_lines(project, tmp_path) -> None:
    csv_path = tmp_path / "dup.csv"
    csv_path.write_text("id,question,answer\na,one?,1\nb,two?,2\na,three?,3\n", "utf-8")
    with pytest.raises(DataError, match=r"dup\.csv:4: duplicate id a \(first at line 2\)$"):
        import_file(project, csv_path)
    array = tmp_path / "dup.json"
    array.write_text("[\n" + ",\n".join(json.dumps(_row(i, "x")) for i in range(2)) + "\n]")
    with pytest.raises(DataError, match=r"dup\.json:3: duplicate id x \(first at line 2\)$"):
        import_file(project, array)


def test_the_cli_refuses_duplicates_with_exit_2_and_one_line(project, tmp_path, capsys) -> None:
    path = write_jsonl(tmp_path / "dup.jsonl", [_row(i, "q1") for i in range(3)])
    assert main(["import", str(project.root), str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"twt: error: {path}:2: duplicate id q1 (first at line 1)"]


def test_reimporting_the_same_file_stays_idempotent(project, tmp_path) -> None:
    path = write_jsonl(tmp_path / "ok.jsonl", [_row(i) for i in range(3)])
    assert import_file(project, path).added == 3
    again = import_file(project, path)
    assert (again.read, again.added, again.present) == (3, 0, 3)


def test_made_up_ids_never_collide(project, tmp_path) -> None:
    rows = [{"question": "Same?", "answer": "1"}, {"question": "Same?", "answer": "1"}]
    path = write_jsonl(tmp_path / "noid.jsonl", rows)
    assert import_file(project, path).read == 2


# ---- size limits --------------------------------------------------------------------------------
def test_a_field_over_the_limit_is_refused_with_its_line(project, tmp_path) -> None:
    big = "x" * 5_000_000  # the 5 MB field
    path = write_jsonl(tmp_path / "big.jsonl", [_row(0), _row(1, question=big)])
    with pytest.raises(DataError) as caught:
        import_file(project, path)
    message = str(caught.value)
    assert message.startswith(f"{path}:2: field 'question' is 5000000 bytes")
    assert f"{DEFAULT_LIMITS.max_field_bytes}" in message and "--max-field-bytes" in message
    assert project.scalar("SELECT COUNT(*) FROM queries") == 0


def test_the_field_limit_counts_nested_values_and_utf8_bytes(project, tmp_path) -> None:
    limits = Limits(max_field_bytes=100)
    nested = write_jsonl(tmp_path / "n.jsonl", [_row(0, tags=["ab" * 30, "cd" * 30])])
    with pytest.raises(DataError, match=r"n\.jsonl:1: field 'tags' is \d+ bytes"):
        parse_file(nested, "math", limits=limits)
    wide = write_jsonl(tmp_path / "w.jsonl", [_row(0, question="é" * 60)])  # 120 bytes
    with pytest.raises(DataError, match=r"w\.jsonl:1: field 'question' is 120 bytes"):
        parse_file(wide, "math", limits=limits)
    assert parse_file(wide, "math", limits=Limits(max_field_bytes=120)).queries


def test_a_file_over_the_limit_is_refused_with_the_line_it_crosses(project, tmp_path) -> None:
    path = write_jsonl(tmp_path / "many.jsonl", [_row(i) for i in range(100)])
    line_bytes = len(path.read_bytes().splitlines(keepends=True)[0])
    limit = Limits(max_file_bytes=line_bytes * 10 + 5)
    with pytest.raises(DataError) as caught:
        parse_file(path, "math", limits=limit)
    assert str(caught.value).startswith(f"{path}:11: file is larger than the limit of")
    assert "--max-file-bytes" in str(caught.value)


def test_the_file_limit_holds_for_the_unpacked_size_of_gzip(project, tmp_path) -> None:
    rows = "".join(json.dumps(_row(i)) + "\n" for i in range(2000))
    path = tmp_path / "bomb.jsonl.gz"
    path.write_bytes(gzip.compress(rows.encode()))
    assert path.stat().st_size < 50_000 < len(rows)
    with pytest.raises(DataError, match=r"bomb\.jsonl\.gz:\d+: file is larger than"):
        parse_file(path, "math", limits=Limits(max_file_bytes=50_000))


def test_cli_flags_raise_the_limits(project, tmp_path, capsys) -> None:
    path = write_jsonl(tmp_path / "big.jsonl", [_row(0, question="y" * 300_000)])
    root = str(project.root)
    assert main(["import", root, str(path)]) == 2
    assert "--max-field-bytes" in capsys.readouterr().err
    assert main(["import", root, str(path), "--max-field-bytes", "400000"]) == 0
    assert project.scalar("SELECT COUNT(*) FROM queries") == 1
    assert main(["import", root, str(path), "--max-file-bytes", "1000"]) == 2
    assert main(["import", root, str(path), "--max-field-bytes", "0"]) == 2
