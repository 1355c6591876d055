"""SQLite registry of enrolled VIPs (standard library only), with a versioned schema.

A profile is written in one transaction: an enrolment that is interrupted mid-write leaves the previous
profile of that VIP intact, and re-enrolment replaces it only once the new one is complete.
"""

from __future__ import annotations

import difflib
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .profile import VipProfile
from .weights import default_home

SCHEMA_VERSION = 1
# A whole name (always ``fullmatch``: ``match`` with ``$`` would let a trailing newline through); no leading or
# trailing space, so "Tony_Blair" and "Tony_Blair " cannot become two rows.
NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.\- ]{0,62}[A-Za-z0-9_.\-])?")


class RegistryError(RuntimeError):
    """The registry file is unusable (newer schema, not a registry, ...)."""


def suggest(name: str, names: Iterable[str]) -> str | None:
    """The name in ``names`` closest to ``name`` (difflib, ignoring case), or None when none is close."""
    by_key = {n.casefold(): n for n in names}
    close = difflib.get_close_matches(name.casefold(), list(by_key), n=1, cutoff=0.6)
    return by_key[close[0]] if close else None


class UnknownVip(KeyError):
    """No VIP of that name is enrolled; given the enrolled ``names``, the message suggests the closest one."""

    def __init__(self, name: str, names: Iterable[str] = ()) -> None:
        super().__init__(name, tuple(names))

    def __str__(self) -> str:
        name, names = self.args
        close = suggest(name, names)
        hint = f"; did you mean {close!r}?" if close is not None else ""
        return f"no VIP named {name!r} is enrolled{hint}"


def default_db() -> Path:
    return default_home() / "registry.db"


def validate_name(name: str) -> str:
    """A VIP name: letters, digits, space, '_', '.', '-'; 1–64 characters, starting with a letter or digit and not
    ending in a space; no path separators, no '..', no control characters (a trailing newline included)."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or ".." in name:
        raise ValueError(f"invalid VIP name {name!r}: use 1-64 letters, digits, spaces, '_', '.', '-'")
    return name


class Registry:
    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_db()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._cache: dict[str, tuple[float, VipProfile]] = {}
        with self._connect() as conn:
            self._migrate(conn)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=30)
        except sqlite3.Error as exc:
            raise RegistryError(f"{self.path}: cannot open registry: {exc}") from None
        try:
            yield conn
        except sqlite3.DatabaseError as exc:
            raise RegistryError(f"{self.path}: not a usable vipguard registry: {exc}") from None
        finally:
            conn.close()

    def _migrate(self, conn: sqlite3.Connection) -> None:
        with conn:
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise RegistryError(f"{self.path}: schema version {version} is newer than this vipguard "
                                    f"({SCHEMA_VERSION}); upgrade vipguard")
            if version < 1:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS vips (name TEXT PRIMARY KEY, updated REAL NOT NULL, "
                    "profile TEXT NOT NULL, arrays BLOB NOT NULL)"
                )
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def put(self, profile: VipProfile) -> None:
        """Store (or atomically replace) a profile."""
        validate_name(profile.name)
        text, blob = profile.to_blobs()
        with self._connect() as conn, conn:
            conn.execute("INSERT OR REPLACE INTO vips VALUES (?, ?, ?, ?)", (profile.name, time.time(), text, blob))

    def get(self, name: str) -> VipProfile:
        with self._connect() as conn:
            row = conn.execute("SELECT updated, profile, arrays FROM vips WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise UnknownVip(name, self.names())
        cached = self._cache.get(name)
        if cached and cached[0] == row[0]:
            return cached[1]
        profile = VipProfile.from_blobs(row[1], row[2])
        self._cache[name] = (row[0], profile)
        return profile

    def names(self) -> list[str]:
        with self._connect() as conn:
            return [r[0] for r in conn.execute("SELECT name FROM vips ORDER BY name")]

    def summary(self) -> list[dict]:
        return [{"name": p.name, "photos_used": p.meta.get("used", 0), "enrolled": p.meta.get("enrolled")}
                for p in self.profiles()]

    def profiles(self) -> list[VipProfile]:
        return [self.get(n) for n in self.names()]

    def remove(self, name: str) -> bool:
        with self._connect() as conn, conn:
            removed = conn.execute("DELETE FROM vips WHERE name = ?", (name,)).rowcount > 0
        self._cache.pop(name, None)
        return removed

    def centres(self) -> tuple[list[str], np.ndarray]:
        """Names and their global Face Embedding Centres as an (N, D) matrix, for adaptive selection."""
        profiles = self.profiles()
        if not profiles:
            return [], np.zeros((0, 0), np.float32)
        return [p.name for p in profiles], np.stack([p.centre for p in profiles]).astype(np.float32)
