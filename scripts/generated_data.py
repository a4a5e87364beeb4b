"""What the demo data generators share (`make_arithmetic_data.py`, the demo's; and
`make_demo_data.py`, the choice tour's): the three teacher personas, train/validation/test
splits, the personas' self-assessed confidences and writing the files under
twt_backend/resources/samples/. Deterministic: nothing here draws without a seeded rng.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "twt_backend" / "resources" / "samples"
TEACHERS = ("gpt-4", "gpt-4o-mini", "mistral-large")
Rows = list[dict[str, Any]]


def assign_splits(items: Rows, splits: dict[str, int]) -> None:
    """Give the items, in their order, the splits' sizes in turn (field `split`)."""
    start = 0
    for split, count in splits.items():
        for item in items[start : start + count]:
            item["split"] = split
        start += count


def confidence(rng: random.Random) -> float:
    """A persona's self-assessed confidence: about one in four below the paper's 0.95."""
    return rng.uniform(0.95, 0.99) if rng.random() < 0.75 else rng.uniform(0.82, 0.94)


def compressed_records(rows: Rows, rationale: Callable[[dict[str, Any]], str]) -> Rows:
    """One compressed rationale per train query, in reasoning tags (the compressor's
    replies, replayed before stage 2)."""
    return [
        {"id": row["id"], "output": f"<reasoning>{rationale(row)}</reasoning>"}
        for row in rows
        if row["split"] == "train"
    ]


def write_jsonl(path: Path, rows: Rows) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), "utf-8")


def write_files(files: Callable[[], dict[str, Rows]]) -> None:
    """Write every file `files()` returns under `OUT`, one line each on stderr."""
    OUT.mkdir(parents=True, exist_ok=True)
    for name, rows in files().items():
        write_jsonl(OUT / name, rows)
        print(f"{name}: {len(rows)} records", file=sys.stderr)
