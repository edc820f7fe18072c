"""The arena's vote store: anonymous battles and their votes in one SQLite file (no Gradio).

The protocol follows Chatbot Arena (Chiang et al. 2024, "Chatbot Arena: An Open Platform for Evaluating LLMs by
Human Preference", arXiv:2403.04132): two models, drawn at random and shown without names, answer the same
condition; the user votes ``left`` / ``right`` / ``tie`` / ``both_bad``, and only then are the names revealed.
``ratings.py`` turns the stored votes into a leaderboard.

Design:

* One table ``battles(id, model_a, model_b, condition, created, outcome, voted)``. ``new_battle`` inserts a row
  with ``outcome`` NULL and returns its uuid4 hex id; the id is all the client holds, so the client never sees which
  model is which until ``vote`` returns the reveal. ``model_a`` is the left answer, ``model_b`` the right one.
* A vote is one atomic ``UPDATE ... WHERE id=? AND outcome IS NULL AND created >= ?`` whose row count is checked:
  concurrent votes on one battle record exactly one, and a battle older than ``battle_ttl_s`` cannot be voted
  (stale pages, replayed requests). When nothing was updated, the row is read to say why (unknown / expired /
  already voted). A vote is reported only after its transaction has committed.
* ``voted`` is forced to be non-decreasing (``max(now, max(voted))`` under the write lock), so "vote order" is
  well defined even across processes or a clock that steps back; the online Elo depends on it.
* Every operation opens its own connection (safe across threads and processes): WAL journal, ``busy_timeout``
  30 s, ``synchronous=NORMAL`` (a power cut may lose the last votes, never corrupt the file), writes inside
  ``BEGIN IMMEDIATE``; a remaining "database is locked" is retried a few times with backoff. WAL needs a local
  file system (not NFS).
* The folder and the file are created at the first write; reading a store that does not exist yet gives empty
  results. The schema version is kept in ``PRAGMA user_version``.
* Every failure a person can cause or fix raises ``ArenaError`` (a ``ValueError``) with a one-line message; raw
  ``sqlite3`` errors never escape.
"""
from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import time
import uuid
from contextlib import closing
from pathlib import Path
from typing import Callable, TypeVar

OUTCOMES = ("left", "right", "tie", "both_bad")
SCHEMA_VERSION = 1
DB_NAME = "arena.sqlite3"
_ID = re.compile(r"[0-9a-f]{32}")
_RETRIES = 5
_SCHEMA = """
CREATE TABLE IF NOT EXISTS battles (
    id TEXT PRIMARY KEY,
    model_a TEXT NOT NULL,
    model_b TEXT NOT NULL,
    condition TEXT NOT NULL,
    created REAL NOT NULL,
    outcome TEXT NULL,
    voted REAL NULL
);
CREATE INDEX IF NOT EXISTS battles_voted ON battles(voted);
"""
T = TypeVar("T")


class ArenaError(ValueError):
    """A failure to show to the user as is (one line)."""


def default_dir() -> Path:
    """``$GENMODELS_ARENA_DIR`` if set, else ``~/.cache/genmodels/arena``."""
    raw = os.environ.get("GENMODELS_ARENA_DIR", "").strip()
    return Path(raw).expanduser() if raw else Path.home() / ".cache" / "genmodels" / "arena"


def _now() -> float:
    """The clock (a function so that tests can move it)."""
    return time.time()


def _duration(seconds: float) -> str:
    return f"{round(seconds / 60)} min" if seconds >= 60 else f"{seconds:g} s"


class ArenaStore:
    """Battles and votes in ``<data_dir>/arena.sqlite3``; see the module docstring."""

    def __init__(self, data_dir: str | Path | None = None, battle_ttl_s: float = 3600.0) -> None:
        if not battle_ttl_s > 0:
            raise ArenaError(f"battle_ttl_s must be positive, got {battle_ttl_s!r}")
        self.data_dir = Path(data_dir).expanduser() if data_dir is not None else default_dir()
        self.path = self.data_dir / DB_NAME
        self.battle_ttl_s = float(battle_ttl_s)

    # -- connections -------------------------------------------------------------------------------------------
    def _not_writable(self) -> ArenaError:
        return ArenaError(f"arena data dir {self.data_dir} is not writable: votes cannot be stored "
                          "(set GENMODELS_ARENA_DIR to a writable folder)")

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            con.execute("PRAGMA busy_timeout=30000")
            con.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            con.close()
            raise
        return con

    def _run(self, op: Callable[[sqlite3.Connection], T], write: bool) -> T:
        """``op`` on a fresh connection, retried while the database is locked; sqlite errors -> ArenaError."""
        if write:
            try:
                self.data_dir.mkdir(parents=True, exist_ok=True)
            except OSError:
                raise self._not_writable() from None
        for attempt in range(_RETRIES):
            try:
                with closing(self._connect()) as con:
                    if write:
                        self._prepare(con)
                    return op(con)
            except sqlite3.OperationalError as e:
                msg = str(e).lower()
                if "locked" in msg or "busy" in msg:
                    if attempt + 1 < _RETRIES:
                        time.sleep(0.05 * 2**attempt * (1 + random.random()))
                        continue
                    raise ArenaError("the arena database is busy; please try again in a moment") from None
                if write:
                    raise self._not_writable() from None
                raise ArenaError(f"cannot read the arena database {self.path}: {e}") from None
            except sqlite3.DatabaseError as e:
                raise ArenaError(f"the arena database {self.path} is damaged or not a SQLite file ({e})") from None
        raise AssertionError("unreachable")

    def _prepare(self, con: sqlite3.Connection) -> None:
        """WAL mode and the schema, created on first use (idempotent, safe under concurrent first writes)."""
        con.execute("PRAGMA journal_mode=WAL")
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise ArenaError(f"the arena database {self.path} has schema version {version}, newer than this "
                             f"genmodels understands ({SCHEMA_VERSION}); upgrade genmodels")
        con.execute("BEGIN IMMEDIATE")
        try:
            for stmt in filter(str.strip, _SCHEMA.split(";")):
                con.execute(stmt)
            con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise

    def _read(self, op: Callable[[sqlite3.Connection], T], empty: T) -> T:
        """``op`` on the database, or ``empty`` while it (or its table) does not exist yet."""
        if not self.path.is_file():
            return empty

        def guarded(con: sqlite3.Connection) -> T:
            if con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='battles'").fetchone() is None:
                return empty
            return op(con)

        return self._run(guarded, write=False)

    # -- API ---------------------------------------------------------------------------------------------------
    def new_battle(self, model_a: str, model_b: str, condition: dict) -> str:
        """Record a battle (``model_a`` shown left, ``model_b`` right); returns its id (32 hex characters)."""
        for name in (model_a, model_b):
            if not isinstance(name, str) or not name.strip():
                raise ArenaError(f"a model name must be a non-empty string, got {name!r}")
        if model_a == model_b:
            raise ArenaError(f"a battle needs two different models, got {model_a!r} twice")
        if not isinstance(condition, dict):
            raise ArenaError(f"the condition must be a dict, got {type(condition).__name__}")
        try:
            cond = json.dumps(condition, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ArenaError(f"the condition cannot be stored as JSON: {e}") from None
        battle_id = uuid.uuid4().hex

        def op(con: sqlite3.Connection) -> str:
            con.execute("INSERT INTO battles (id, model_a, model_b, condition, created) VALUES (?, ?, ?, ?, ?)",
                        (battle_id, model_a, model_b, cond, _now()))
            return battle_id

        return self._run(op, write=True)

    def vote(self, battle_id: str, outcome: str) -> dict:
        """Store the vote on a battle and return the reveal:
        ``{"battle_id", "model_a", "model_b", "outcome", "condition"}``."""
        if outcome not in OUTCOMES:
            raise ArenaError(f"unknown vote {outcome!r}; use one of: {', '.join(OUTCOMES)}")
        if not isinstance(battle_id, str) or not _ID.fullmatch(battle_id):
            raise ArenaError("unknown battle id")

        def op(con: sqlite3.Connection) -> dict:
            now = _now()
            con.execute("BEGIN IMMEDIATE")
            try:
                cur = con.execute(
                    "UPDATE battles SET outcome = ?, "
                    "voted = max(?, coalesce((SELECT max(voted) FROM battles), 0.0)) "
                    "WHERE id = ? AND outcome IS NULL AND created >= ?",
                    (outcome, now, battle_id, now - self.battle_ttl_s))
                row = con.execute("SELECT model_a, model_b, condition, created, outcome FROM battles WHERE id = ?",
                                  (battle_id,)).fetchone()
                if cur.rowcount != 1:
                    con.execute("ROLLBACK")
                    if row is None:
                        raise ArenaError(f"unknown battle {battle_id}")
                    if row[4] is not None:
                        raise ArenaError(f"this battle already has a vote ({row[4]})")
                    raise ArenaError(f"battle {battle_id} expired after {_duration(self.battle_ttl_s)}; "
                                     "start a new one")
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            return {"battle_id": battle_id, "model_a": row[0], "model_b": row[1], "outcome": outcome,
                    "condition": json.loads(row[2])}

        return self._run(op, write=True)

    def votes(self) -> list[tuple[str, str, str]]:
        """``(model_a, model_b, outcome)`` of every voted battle, in vote order."""
        return self._read(lambda con: [tuple(r) for r in con.execute(
            "SELECT model_a, model_b, outcome FROM battles WHERE outcome IS NOT NULL ORDER BY voted, rowid")], [])

    def count_votes(self) -> int:
        return self._read(lambda con: con.execute(
            "SELECT count(*) FROM battles WHERE outcome IS NOT NULL").fetchone()[0], 0)

    def count_battles(self) -> int:
        return self._read(lambda con: con.execute("SELECT count(*) FROM battles").fetchone()[0], 0)
