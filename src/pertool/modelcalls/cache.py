"""A response cache in SQLite: a repeated request is answered without calling the model.

Key = sha256 of the backend's identity (backend, model, base URL, adapter) and the whole
request (messages or prompt, tools, sampling settings). Never the API key. Each answer is
committed at once, so a killed run keeps what it paid for. Read and written through
`CachedCalls` (cached_calls.py), which stores an answer only once its caller found it usable
(the runner: once its record was written) and deletes one that no longer is, so a bad answer
is asked again rather than replayed into every resume.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from pertool.fileio import user_cache_dir
from pertool.models.base import Completion, Request

__all__ = ["ResponseCache", "cache_key", "default_cache_path"]


def default_cache_path() -> Path:
    return user_cache_dir() / "responses.sqlite3"


def cache_key(identity: dict[str, Any], request: Request) -> str:
    blob = json.dumps({"identity": identity, "request": request.to_json()}, sort_keys=True,
                      ensure_ascii=False, default=str)  # fmt: skip
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


class ResponseCache:
    def __init__(self, path: Path | None = None):
        self.path = path or default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(exist_ok=True)  # as a plain open would (SQLite itself creates 0644 files)
        self._db = sqlite3.connect(self.path, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, completion TEXT NOT NULL)"
        )
        self._db.commit()

    def get(self, key: str) -> Completion | None:
        row = self._db.execute("SELECT completion FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            completion = Completion.from_json(json.loads(row[0]))
        except (ValueError, RecursionError, TypeError, KeyError, AttributeError):
            return None  # a damaged entry is a miss: the model is asked again and the entry rewritten
        completion.cached = True
        return completion

    def put(self, key: str, completion: Completion) -> None:
        data = {**completion.to_json(), "cached": False}
        self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?)", (key, json.dumps(data)))
        self._db.commit()

    def delete(self, key: str) -> None:
        """Forget an answer (one that could not be recorded): the next run asks again."""
        self._db.execute("DELETE FROM responses WHERE key = ?", (key,))
        self._db.commit()

    def close(self) -> None:
        self._db.close()
