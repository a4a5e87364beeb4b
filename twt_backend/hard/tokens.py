"""Token counts of rationales (original and refined) and fixed-length truncation.

One counter per refinement run, so both counts of a row are comparable: the student's
own tokenizer when the student is a local folder (what the stages train on), else
whitespace-separated words (no download, no hub). `name` says which was used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

WORDS = "words"


class TokenCounter:
    def __init__(self, tokenizer: Any = None, name: str = WORDS):
        self.tokenizer = tokenizer
        self.name = name

    @classmethod
    def for_student(cls, student_path: str | None) -> TokenCounter:
        """The student's tokenizer when `student_path` is a local model folder."""
        if not student_path or not (Path(student_path) / "config.json").is_file():
            return cls()
        try:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(student_path)
        except (OSError, ValueError):
            return cls()
        return cls(tokenizer, f"tokenizer of {student_path}")

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def count(self, text: str | None) -> int:
        if not text:
            return 0
        if self.tokenizer is None:
            return len(text.split())
        return len(self._ids(text))

    def truncate(self, text: str, n_tokens: int) -> str:
        """The first `n_tokens` tokens of `text` (whole text when shorter)."""
        if self.tokenizer is None:
            words = text.split()
            return text.strip() if len(words) <= n_tokens else " ".join(words[:n_tokens])
        ids = self._ids(text)
        if len(ids) <= n_tokens:
            return text.strip()
        return str(self.tokenizer.decode(ids[:n_tokens], skip_special_tokens=True)).strip()
