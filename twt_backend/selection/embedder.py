"""Sentence embeddings with a store-backed cache keyed by (model, text hash).

The model loads lazily on the first text that is not cached, so a re-run of the
selection with another threshold never loads it. New texts are sorted by length and
encoded in batches; each chunk is written to the cache as soon as it is encoded, so a
cancelled run keeps what it paid for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from twt_backend.store import Project

CHUNK = 1024  # texts encoded (and cached) per call of the model
LOOKUP_CHUNK = 500  # hashes per `IN (...)` lookup


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def model_key(name_or_path: str) -> str:
    """The cache key of a model: its resolved folder when local, else its name."""
    path = Path(name_or_path).expanduser()
    return str(path.resolve()) if path.is_dir() else name_or_path


class Embedder:
    """A sentence-transformers model given by hub name or local folder, loaded on first use."""

    def __init__(self, name_or_path: str, batch_size: int = 64, device: str | None = None):
        self.name_or_path = name_or_path
        self.key = model_key(name_or_path)
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            import torch
            from sentence_transformers import SentenceTransformer

            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            self._model = SentenceTransformer(self.name_or_path, device=device)
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Float32 vectors, one row per text."""
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


class EmbeddingCache:
    """Vectors for texts under one model, encoding only those the store lacks."""

    def __init__(self, project: Project, embedder: Embedder):
        self.project = project
        self.embedder = embedder
        self.encoded = 0  # texts encoded by the model during this object's life
        self.cached = 0  # texts found in the store

    def vectors(
        self,
        texts: Sequence[str],
        on_progress: Callable[[int, int], None] | None = None,
        check_cancelled: Callable[[], None] | None = None,
    ) -> dict[str, np.ndarray]:
        """Map each distinct text's hash to its vector."""
        by_hash = {text_hash(t): t for t in texts}
        found = self._load(list(by_hash))
        self.cached += len(found)
        missing = sorted((h for h in by_hash if h not in found), key=lambda h: len(by_hash[h]))
        for start in range(0, len(missing), CHUNK):
            if check_cancelled:
                check_cancelled()
            chunk = missing[start : start + CHUNK]
            encoded = self.embedder.encode([by_hash[h] for h in chunk])
            self._save(chunk, encoded)
            found.update(zip(chunk, encoded, strict=True))
            self.encoded += len(chunk)
            if on_progress:
                on_progress(start + len(chunk), len(missing))
        return found

    def _load(self, hashes: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(hashes), LOOKUP_CHUNK):
            chunk = hashes[start : start + LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self.project.conn.execute(
                f"SELECT text_hash, vector FROM embeddings WHERE model=? AND text_hash IN ({marks})",
                (self.embedder.key, *chunk),
            )
            for digest, blob in rows:
                found[digest] = np.frombuffer(blob, dtype="<f4")
        return found

    def _save(self, hashes: list[str], vectors: np.ndarray) -> None:
        key, dim = self.embedder.key, int(vectors.shape[1])
        little = vectors.astype("<f4", copy=False)
        with self.project.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO embeddings(model, text_hash, dim, vector) VALUES (?, ?, ?, ?)",
                [(key, h, dim, little[i].tobytes()) for i, h in enumerate(hashes)],
            )
