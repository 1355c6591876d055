"""SQLite registry of enrolled VIPs (standard library only), with a versioned schema.

A profile is written in one transaction: an enrolment that is interrupted mid-write leaves the previous
profile of that VIP intact, and re-enrolment replaces it only once the new one is complete.

Faults are :class:`RegistryError` s whose message names the file and the problem, never a traceback:

- the file is checked on every open: it must be a SQLite file that is empty (a new registry) or carries
  vipguard's ``meta`` and ``vips`` tables and a known schema version; another application's SQLite file is refused
  and never written to;
- ``Registry(path, readonly=True)`` (reading commands) opens the file read-only and creates nothing; a writable
  registry checks its write access when it opens, before any work (:class:`ReadOnlyRegistry`);
- a locked file gives up after ``timeout`` seconds, saying so;
- a profile row that cannot be decoded is a :class:`CorruptProfile` for :meth:`Registry.get`, and is reported by
  :meth:`Registry.load` next to the usable profiles, so one bad row never hides the other VIPs;
- :meth:`Registry.enrolling` holds a per-name lock (``flock``) for an enrolment: a second, concurrent enrolment of
  the same name fails at once with :class:`EnrolmentInProgress` instead of silently overwriting the first.
"""

from __future__ import annotations

import difflib
import fcntl
import os
import re
import sqlite3
import stat
import time
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..lite.profile import VipProfile
from .weights import default_home

SCHEMA_VERSION = 1
VIPS_COLUMNS = ("name", "updated", "profile", "arrays")
LOCK_TIMEOUT = 10.0  # seconds to wait for another process's write before reporting the registry as locked
# A whole name (always ``fullmatch``: ``match`` with ``$`` would let a trailing newline through); no leading or
# trailing space, so "Tony_Blair" and "Tony_Blair " cannot become two rows.
NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.\- ]{0,62}[A-Za-z0-9_.\-])?")
# What decoding a damaged row raises: bad JSON (ValueError), missing keys, wrong types, an arrays blob that is not
# an npz (BadZipFile, OSError, EOFError, ValueError for a pickle), a document that is not an object.
ROW_ERRORS = (ValueError, KeyError, TypeError, AttributeError, OSError, EOFError, zipfile.BadZipFile)


class RegistryError(RuntimeError):
    """The registry file is unusable (not a registry, newer schema, locked, unreadable, ...); the message names it."""


class ReadOnlyRegistry(RegistryError):
    """The registry cannot be written (read-only file or folder, or opened read-only)."""


class EnrolmentInProgress(RegistryError):
    """Another enrolment of the same VIP holds the enrolment lock."""


class CorruptProfile(RegistryError):
    """One VIP's row cannot be decoded; the other VIPs are unaffected."""

    def __init__(self, path: Path, name: str, problem: str) -> None:
        super().__init__(path, name, problem)

    @property
    def name(self) -> str:
        return self.args[1]

    def __str__(self) -> str:
        path, name, problem = self.args
        return (f"{path}: the profile of VIP {name!r} is corrupt ({problem}); repair: `vipguard remove {name}` and "
                "enrol the VIP again")


@dataclass(frozen=True, slots=True)
class Loaded:
    """Every row of the registry: the usable ``profiles`` and the ``faults`` (corrupt rows), both by name."""

    profiles: tuple[VipProfile, ...]
    faults: tuple[CorruptProfile, ...]

    def summary(self) -> list[dict]:
        """One dict per row: ``name``, ``photos_used``, ``enrolled``; a corrupt row has ``error`` (its one-line
        message, with how to repair it) and nulls."""
        rows = [{"name": p.name, "photos_used": p.meta.get("used", 0), "enrolled": p.meta.get("enrolled")}
                for p in self.profiles]
        return rows + [{"name": f.name, "photos_used": None, "enrolled": None, "error": str(f)} for f in self.faults]


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
    """The VIPs enrolled in one SQLite file. ``readonly=True`` never writes (nor creates) the file: a missing file
    is an empty registry. Every method opens its own connection, so one instance serves several threads."""

    def __init__(self, path: Path | str | None = None, *, readonly: bool = False,
                 timeout: float = LOCK_TIMEOUT) -> None:
        self.path = Path(path) if path is not None else default_db()
        self.readonly = readonly
        self.timeout = timeout
        self._cache: dict[str, tuple[float, VipProfile]] = {}
        self._check_kind()
        if not readonly:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RegistryError(f"{self.path}: cannot create its folder: {exc.strerror or exc}") from None
        with self._connect() as conn:
            if not readonly:
                self._initialise(conn)
                self._probe_write(conn)

    # -- opening and checking -------------------------------------------------------------------------------------
    def _check_kind(self) -> None:
        """Refuse a path that is not a regular file before SQLite opens it (a FIFO would block the open)."""
        try:
            mode = os.stat(self.path).st_mode
        except FileNotFoundError:
            return
        except OSError as exc:
            raise RegistryError(f"{self.path}: cannot open registry: {exc.strerror or exc}") from None
        if stat.S_ISDIR(mode):
            raise RegistryError(f"{self.path}: is a directory, not a registry file")
        if not stat.S_ISREG(mode):
            raise RegistryError(f"{self.path}: not a regular file, so not a registry")

    @contextmanager
    def _connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection whose schema has been checked; every SQLite fault becomes a :class:`RegistryError`."""
        if write:
            self.require_writable()
        try:
            conn = self._open()
        except sqlite3.Error as exc:
            raise self._fault(exc) from None
        try:
            self._check_schema(conn)
            yield conn
        except sqlite3.Error as exc:
            raise self._fault(exc) from None
        finally:
            conn.close()

    def _open(self) -> sqlite3.Connection:
        if not self.readonly:
            return sqlite3.connect(self.path, timeout=self.timeout)
        if not self.path.exists():  # nothing enrolled yet: an empty registry, and no file is created
            conn = sqlite3.connect(":memory:")
            self._initialise(conn)
            return conn
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=self.timeout)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as exc:
            conn.close()
            if getattr(exc, "sqlite_errorname", "") != "SQLITE_READONLY_ROLLBACK":
                raise
            self._recover()  # a writer was killed mid-transaction: its journal must be rolled back first
            conn = sqlite3.connect(uri, uri=True, timeout=self.timeout)
        return conn

    def _recover(self) -> None:
        """Roll back a hot journal (left by a writer that died), which a read-only connection cannot do."""
        if not _writable(self.path):
            raise ReadOnlyRegistry(f"{self.path}: an interrupted write must be rolled back, but the file is "
                                   "read-only; run vipguard once with write access to it")
        conn = sqlite3.connect(self.path, timeout=self.timeout)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # SQLite rolls the journal back here
        finally:
            conn.close()

    def _fault(self, exc: sqlite3.Error) -> RegistryError:
        name = getattr(exc, "sqlite_errorname", "")
        if name in {"SQLITE_BUSY", "SQLITE_LOCKED"}:
            return RegistryError(f"{self.path}: the registry is locked by another process (waited {self.timeout:g} "
                                 "s); try again when it has finished")
        if name.startswith("SQLITE_READONLY"):
            return ReadOnlyRegistry(f"{self.path}: the registry is read-only ({exc}); give write access to the file "
                                    "and its folder, or use another --db")
        if name == "SQLITE_NOTADB":
            return RegistryError(f"{self.path}: not a vipguard registry (not an SQLite database file)")
        if name.startswith("SQLITE_CORRUPT"):
            return RegistryError(f"{self.path}: the registry file is damaged ({exc}); restore it from a backup or "
                                 "use another --db")
        if name.startswith("SQLITE_CANTOPEN"):
            return RegistryError(f"{self.path}: cannot open the registry ({exc})")
        return RegistryError(f"{self.path}: not a usable vipguard registry: {exc}")

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        """An empty file (a new registry) passes; otherwise vipguard's tables and a known schema version."""
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return
        if not {"meta", "vips"} <= tables:
            raise RegistryError(f"{self.path}: not a vipguard registry (an SQLite database with tables "
                                f"{', '.join(sorted(tables))}); it is left untouched: use another --db")
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        text = None if row is None else str(row[0])
        if text is None or not text.isdigit():
            raise RegistryError(f"{self.path}: not a usable vipguard registry: schema version {text!r} is not a "
                                f"version vipguard wrote (expected {SCHEMA_VERSION})")
        if int(text) != SCHEMA_VERSION:
            newer = int(text) > SCHEMA_VERSION
            raise RegistryError(f"{self.path}: schema version {text} is {'newer' if newer else 'older'} than this "
                                f"vipguard's ({SCHEMA_VERSION}); " + ("upgrade vipguard" if newer else
                                                                      "enrol the VIPs again in a new registry"))
        columns = tuple(r[1] for r in conn.execute("PRAGMA table_info(vips)"))
        if columns != VIPS_COLUMNS:
            raise RegistryError(f"{self.path}: not a usable vipguard registry: table vips has columns "
                                f"({', '.join(columns)}), expected ({', '.join(VIPS_COLUMNS)})")

    def _initialise(self, conn: sqlite3.Connection) -> None:
        """Create the tables in an empty database (``_check_schema`` has refused any other)."""
        if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            return
        with conn:
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.execute("CREATE TABLE vips (name TEXT PRIMARY KEY, updated REAL NOT NULL, profile TEXT NOT NULL, "
                         "arrays BLOB NOT NULL)")
            conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def _probe_write(self, conn: sqlite3.Connection) -> None:
        """Take the write lock and rewrite one value unchanged, then roll back: a read-only file or folder (or a
        lock held too long) is found now, before an enrolment's work, not when its result is stored."""
        self.require_writable()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("UPDATE meta SET value = value WHERE key = 'schema_version'")
        finally:
            conn.rollback()

    def require_writable(self) -> None:
        """Raise :class:`ReadOnlyRegistry` unless this registry may be written: opened for writing, and the file
        has a write permission bit (honoured even for root, who could otherwise write a file marked read-only)."""
        if self.readonly:
            raise ReadOnlyRegistry(f"{self.path}: the registry was opened read-only")
        if self.path.exists() and not _writable(self.path):
            raise ReadOnlyRegistry(f"{self.path}: the registry file is read-only; give write access to it, or use "
                                   "another --db")

    # -- reading ----------------------------------------------------------------------------------------------------
    def get(self, name: str) -> VipProfile:
        """One VIP's profile; :class:`UnknownVip` if none is enrolled, :class:`CorruptProfile` if its row is bad."""
        with self._connect() as conn:
            row = conn.execute("SELECT name, updated, profile, arrays FROM vips WHERE name = ?", (name,)).fetchone()
            names = [] if row is not None else [r[0] for r in conn.execute("SELECT name FROM vips")]
        if row is None:
            raise UnknownVip(name, names)
        return self._decode(row)

    def names(self) -> list[str]:
        """Every enrolled name (corrupt rows included: they can be removed by name)."""
        with self._connect() as conn:
            return [r[0] for r in conn.execute("SELECT name FROM vips ORDER BY name")]

    def load(self) -> Loaded:
        """Every row, decoded where possible: the usable profiles and the corrupt rows, each in name order."""
        with self._connect() as conn:
            rows = conn.execute("SELECT name, updated, profile, arrays FROM vips ORDER BY name").fetchall()
        profiles, faults = [], []
        for row in rows:
            try:
                profiles.append(self._decode(row))
            except CorruptProfile as fault:
                faults.append(fault)
        return Loaded(tuple(profiles), tuple(faults))

    def profiles(self) -> list[VipProfile]:
        """The usable profiles. A corrupt row is left out here so that it cannot hide the other VIPs; :meth:`load`
        reports it (the CLI and the service show it to the user)."""
        return list(self.load().profiles)

    def summary(self) -> list[dict]:
        """:meth:`Loaded.summary` of :meth:`load`: every row, corrupt ones with their ``error``."""
        return self.load().summary()

    def centres(self) -> tuple[list[str], np.ndarray]:
        """Names and their global Face Embedding Centres as an (N, D) matrix, for adaptive selection."""
        profiles = self.profiles()
        if not profiles:
            return [], np.zeros((0, 0), np.float32)
        return [p.name for p in profiles], np.stack([p.centre for p in profiles]).astype(np.float32)

    def _decode(self, row: tuple) -> VipProfile:
        name, updated, text, blob = row
        cached = self._cache.get(name)
        if cached and cached[0] == updated:
            return cached[1]
        try:
            if not isinstance(text, str) or not isinstance(blob, bytes):
                raise TypeError("the row's columns have the wrong types")
            if not blob.startswith(b"PK"):  # numpy would try to unpickle it (refused: allow_pickle=False)
                raise zipfile.BadZipFile("not a zip archive")
            profile = VipProfile.from_blobs(text, blob)
        except ROW_ERRORS as exc:
            raise CorruptProfile(self.path, str(name), _describe(exc)) from None
        if profile.name != name:
            raise CorruptProfile(self.path, str(name), f"the row holds the profile of {profile.name!r}")
        self._cache[name] = (updated, profile)
        return profile

    # -- writing ----------------------------------------------------------------------------------------------------
    def put(self, profile: VipProfile) -> None:
        """Store (or atomically replace) a profile."""
        validate_name(profile.name)
        text, blob = profile.to_blobs()
        with self._connect(write=True) as conn, conn:
            conn.execute("INSERT OR REPLACE INTO vips VALUES (?, ?, ?, ?)", (profile.name, time.time(), text, blob))

    def remove(self, name: str) -> bool:
        with self._connect(write=True) as conn, conn:
            removed = conn.execute("DELETE FROM vips WHERE name = ?", (name,)).rowcount > 0
        self._cache.pop(name, None)
        return removed

    @contextmanager
    def enrolling(self, name: str) -> Iterator[None]:
        """Hold the enrolment lock of ``name`` (an ``flock`` on a file beside the registry, released when the
        process dies) for an enrolment's work and :meth:`put`. A second holder — another process, or another
        thread of this one — gets :class:`EnrolmentInProgress` at once."""
        validate_name(name)
        self.require_writable()
        folder = self.path.parent / f".{self.path.name}.enrol"
        try:
            folder.mkdir(exist_ok=True)
            fd = os.open(folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ReadOnlyRegistry(f"{self.path}: cannot create the enrolment lock in {folder}: "
                                   f"{exc.strerror or exc}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "another process"
                raise EnrolmentInProgress(f"{self.path}: an enrolment of {name!r} is already running ({holder}); "
                                          "wait for it to finish, then enrol again") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the lock


def _writable(path: Path) -> bool:
    mode = os.stat(path).st_mode
    return bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) and os.access(path, os.W_OK)


def _describe(exc: BaseException) -> str:
    """A one-line description of a decoding error."""
    kind = {"JSONDecodeError": "its JSON is invalid", "BadZipFile": "its arrays are not an npz archive",
            "KeyError": f"a field is missing: {exc}"}.get(type(exc).__name__)
    return kind or f"{type(exc).__name__}: {exc}"
