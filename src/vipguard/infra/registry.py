"""SQLite registry of enrolled VIPs (standard library only), with a versioned schema.

The registry stores rows — a name, a JSON text and an arrays blob — and turns them into items with the
:class:`Codec` it is given (the lite tier's :data:`vipguard.lite.profile.PROFILE_CODEC` makes them
:class:`~vipguard.lite.profile.VipProfile` s); it knows of an item only its ``name`` and its ``centre``.

A profile is written in one transaction: an enrolment that is interrupted mid-write leaves the previous
profile of that VIP intact, and re-enrolment replaces it only once the new one is complete.

Every write bumps the registry's revision (:meth:`Registry.revision`); the decoded profiles and the
:class:`~vipguard.infra.index.VipIndex` of their centres are kept until it changes, so a check reads one small
row when nothing changed, and another process's enrolment is seen at the next read.

Thousands of VIPs: :meth:`Registry.put` also writes the item's centre (float32) to a ``centres`` table, in the same
transaction and with the row's update time, so :meth:`Registry.catalogue` reads every name and centre without
decoding a profile (a row whose centre is missing or older than the row, as an older vipguard leaves it, is decoded
instead), and decodes one profile only when it is asked for; :meth:`Registry.page` lists one slice of the rows in
name order with the total; :meth:`Registry.load` re-reads only the rows that changed since its last load.

Faults are :class:`RegistryError` s whose message names the file and the problem, never a traceback:

- the file is checked on every open: it must be a SQLite file that is empty (a new registry) or carries
  vipguard's ``meta`` and ``vips`` tables and a known schema version; another application's SQLite file is refused
  and never written to;
- ``Registry(path, codec=..., readonly=True)`` (reading commands) opens the file read-only and creates nothing; a
  writable registry checks its write access when it opens, before any work (:class:`ReadOnlyRegistry`);
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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import numpy as np

from .index import VipIndex
from .weights import default_home

SCHEMA_VERSION = 1
VIPS_COLUMNS = ("name", "updated", "profile", "arrays")
# Additions within schema 1 (a file without them is read as before and gets them at its next writable open; older
# vipguards ignore them): each row's centre as its put wrote it (``updated`` is the row's), and an index of the rows'
# names and update times, so that the revision, the names and the catalogue never scan the ~20 KB profile rows.
SIDE_TABLES = ("CREATE TABLE IF NOT EXISTS centres (name TEXT PRIMARY KEY, updated REAL NOT NULL, "
               "centre BLOB NOT NULL) WITHOUT ROWID",
               "CREATE INDEX IF NOT EXISTS vips_updated ON vips (name, updated)")
MAX_PAGE = 2**62  # SQLite's integers are 64-bit: a larger offset or limit is this one
LOCK_TIMEOUT = 10.0  # seconds to wait for another process's write before reporting the registry as locked
# A whole name (always ``fullmatch``: ``match`` with ``$`` would let a trailing newline through); no leading or
# trailing space, so "Tony_Blair" and "Tony_Blair " cannot become two rows.
NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.\- ]{0,62}[A-Za-z0-9_.\-])?")
# What decoding a damaged row raises: bad JSON (ValueError), missing keys, wrong types, an arrays blob that is not
# an npz (BadZipFile, OSError, EOFError, ValueError for a pickle), a document that is not an object.
ROW_ERRORS = (ValueError, KeyError, TypeError, AttributeError, OSError, EOFError, zipfile.BadZipFile)


class Entry(Protocol):
    """What the registry reads of a stored item: the name it is stored under and the centre a face is compared with
    to choose a VIP (:class:`~vipguard.infra.index.VipIndex`)."""

    @property
    def name(self) -> str: ...

    @property
    def centre(self) -> np.ndarray: ...


T = TypeVar("T", bound=Entry)


class Codec(Protocol[T]):
    """How the registry stores, reads and lists one kind of item: ``encode`` → (JSON text, arrays blob);
    ``decode`` raises one of :data:`ROW_ERRORS` for a damaged row; ``summary`` → the item's ``columns`` in a
    listing (null on a corrupt row)."""

    columns: tuple[str, ...]

    def encode(self, item: T) -> tuple[str, bytes]: ...

    def decode(self, text: str, blob: bytes) -> T: ...

    def summary(self, item: T) -> dict: ...


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


@dataclass(frozen=True)
class Loaded(Generic[T]):
    """Every row of the registry at one revision: the usable ``profiles`` and the ``faults`` (corrupt rows), both
    by name; :attr:`index` indexes the usable profiles' centres (in the same order)."""

    profiles: tuple[T, ...]
    faults: tuple[CorruptProfile, ...]
    codec: Codec[T] = field(repr=False, compare=False)

    @cached_property
    def index(self) -> VipIndex:
        """The :class:`~vipguard.infra.index.VipIndex` of the profiles' centres, built once (on first use)."""
        return VipIndex(*self.centres())

    def centres(self) -> tuple[list[str], np.ndarray]:
        """Names and their centres as an (N, D) float32 matrix."""
        if not self.profiles:
            return [], np.zeros((0, 0), np.float32)
        return [p.name for p in self.profiles], np.stack([p.centre for p in self.profiles]).astype(np.float32)

    def summary(self) -> list[dict]:
        """One dict per row: ``name`` and the codec's columns (``photos_used``, ``enrolled``); a corrupt row has
        ``error`` (its one-line message, with how to repair it) and nulls."""
        return [_listed(self.codec, p) for p in self.profiles] + [_faulty(self.codec, f) for f in self.faults]

    def find(self, name: str) -> T:
        """The profile of ``name``: :class:`CorruptProfile` if its row is bad, :class:`UnknownVip` if none."""
        for profile in self.profiles:
            if profile.name == name:
                return profile
        for fault in self.faults:
            if fault.name == name:
                raise CorruptProfile(*fault.args)
        raise UnknownVip(name, [p.name for p in self.profiles] + [f.name for f in self.faults])


def _listed(codec: Codec, item) -> dict:
    return {"name": item.name, **codec.summary(item)}


def _faulty(codec: Codec, fault: CorruptProfile) -> dict:
    return {"name": fault.name, **dict.fromkeys(codec.columns), "error": str(fault)}


@dataclass(frozen=True)
class Catalogue(Generic[T]):
    """What picking one VIP among many needs, at one revision: every usable row's name and centre (name order),
    read from the ``centres`` table without decoding any profile; :meth:`profile` decodes one when asked for it.
    ``faults`` are the rows that had to be decoded here (no current centre) and are corrupt; a row with a current
    centre is found corrupt only when :meth:`profile` decodes it (:class:`CorruptProfile`). ``matrix`` is None when
    the centres differ in length (profiles of several embedders): no index can hold them."""

    names: tuple[str, ...]
    updated: tuple[float, ...]  # each row's update time: which decoded profile is current
    matrix: np.ndarray | None = field(repr=False, compare=False)  # (N, D) float32
    faults: tuple[CorruptProfile, ...]
    fetch: Callable[[str, float], T] = field(repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def uniform(self) -> bool:
        """Whether every centre has the same length (an index can hold them)."""
        return self.matrix is not None

    @property
    def dim(self) -> int:
        return 0 if self.matrix is None or not self.names else int(self.matrix.shape[1])

    @cached_property
    def index(self) -> VipIndex:
        """The :class:`~vipguard.infra.index.VipIndex` of the centres, built once (on first use)."""
        if self.matrix is None:
            raise ValueError("the enrolled centres differ in length (several embedders): no index can hold them")
        return VipIndex(self.names, self.matrix)

    def profile(self, i: int) -> T:
        """The decoded profile of the ``i``-th VIP (kept by the registry until its row changes)."""
        return self.fetch(self.names[i], self.updated[i])


@dataclass(frozen=True)
class Page:
    """One slice of the registry's rows in name order (``vipguard list --offset --limit``, ``GET /v1/vips``): their
    listing rows (:meth:`Loaded.summary`'s, a corrupt row in its place with its ``error``), the corrupt rows among
    them, and how many rows the registry holds in all."""

    rows: tuple[dict, ...]
    faults: tuple[CorruptProfile, ...]
    total: int
    offset: int


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


class Registry(Generic[T]):
    """The VIPs enrolled in one SQLite file, their rows read with ``codec``. ``readonly=True`` never writes (nor
    creates) the file: a missing file is an empty registry. Every method opens its own connection, so one instance
    serves several threads; what it has decoded is kept until the :meth:`revision` changes."""

    def __init__(self, path: Path | str | None = None, *, codec: Codec[T], readonly: bool = False,
                 timeout: float = LOCK_TIMEOUT) -> None:
        self.path = Path(path) if path is not None else default_db()
        self.codec = codec
        self.readonly = readonly
        self.timeout = timeout
        self._decoded: dict[str, tuple[float, T]] = {}  # name -> (its row's ``updated``, the decoded item)
        self._loaded: tuple[tuple, Loaded[T]] | None = None  # (revision, every row decoded at that revision)
        self._catalogued: tuple[tuple, Catalogue[T]] | None = None  # (revision, every centre at that revision)
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
                self._add_centres(conn)

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
            _add_side_tables(conn)
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

    def _add_centres(self, conn: sqlite3.Connection) -> None:
        """Give a registry written before the ``centres`` table (or by an older vipguard since) the table and a
        current centre for each row that decodes; a corrupt row gets none (it is reported where it is read)."""
        with conn:
            _add_side_tables(conn)
            missing = [r[0] for r in conn.execute("SELECT v.name FROM vips AS v LEFT JOIN centres AS c ON c.name = "
                                                  "v.name AND c.updated = v.updated WHERE c.name IS NULL")]
            found = []
            for name in missing:
                row = conn.execute("SELECT name, updated, profile, arrays FROM vips WHERE name = ?", (name,)).fetchone()
                try:
                    found.append((row[0], row[1], _centre_blob(self._decode(row).centre)))
                except CorruptProfile:
                    continue  # listed by load() and catalogue(), refused by get(): it is decoded there again
            if found:
                conn.executemany("INSERT OR REPLACE INTO centres VALUES (?, ?, ?)", found)

    def require_writable(self) -> None:
        """Raise :class:`ReadOnlyRegistry` unless this registry may be written: opened for writing, and the file
        has a write permission bit (honoured even for root, who could otherwise write a file marked read-only)."""
        if self.readonly:
            raise ReadOnlyRegistry(f"{self.path}: the registry was opened read-only")
        if self.path.exists() and not _writable(self.path):
            raise ReadOnlyRegistry(f"{self.path}: the registry file is read-only; give write access to it, or use "
                                   "another --db")

    # -- reading ----------------------------------------------------------------------------------------------------
    def revision(self) -> tuple:
        """What changes whenever a VIP is stored or removed, by this process or another: the file's identity, the
        write counter every :meth:`put` and :meth:`remove` bumps, and the rows' count and latest update time (so
        that a writer which does not bump the counter, an older vipguard, is seen too)."""
        with self._connect() as conn:
            return self._revision(conn)

    def _revision(self, conn: sqlite3.Connection) -> tuple:
        try:
            info = os.stat(self.path)
            file = (info.st_dev, info.st_ino)
        except FileNotFoundError:  # a read-only registry whose file does not exist yet: empty, in memory
            file = None
        if not conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'vips'").fetchone()[0]:
            return (file, None, 0, None)  # an empty file: no tables yet
        counter, rows, latest = conn.execute(
            "SELECT (SELECT value FROM meta WHERE key = 'revision'), count(*), max(updated) FROM vips").fetchone()
        return (file, counter, rows, latest)

    def _current(self, conn: sqlite3.Connection) -> tuple[tuple, Loaded[T] | None]:
        """The revision of the file now and what was loaded at it (None: nothing yet, or loaded at another)."""
        revision = self._revision(conn)
        loaded = self._loaded
        return revision, loaded[1] if loaded is not None and loaded[0] == revision else None

    def count(self) -> int:
        """How many rows the registry holds (corrupt ones included)."""
        with self._connect() as conn:
            return int(self._revision(conn)[2])

    def get(self, name: str) -> T:
        """One VIP's profile; :class:`UnknownVip` if none is enrolled, :class:`CorruptProfile` if its row is bad."""
        with self._connect() as conn:
            _, loaded = self._current(conn)
            if loaded is None:
                row = conn.execute("SELECT name, updated, profile, arrays FROM vips WHERE name = ?",
                                   (name,)).fetchone()
                names = [] if row is not None else [r[0] for r in conn.execute("SELECT name FROM vips")]
        if loaded is not None:
            return loaded.find(name)
        if row is None:
            raise UnknownVip(name, names)
        return self._decode(row)

    def names(self) -> list[str]:
        """Every enrolled name (corrupt rows included: they can be removed by name)."""
        with self._connect() as conn:
            return [r[0] for r in conn.execute("SELECT name FROM vips ORDER BY name")]

    def load(self) -> Loaded[T]:
        """Every row, decoded where possible: the usable profiles and the corrupt rows, each in name order (kept
        until the revision changes)."""
        with self._connect() as conn:
            revision, loaded = self._current(conn)  # read before the rows: rows newer than it only cost a reload
            if loaded is not None:
                return loaded
            rows = self._rows(conn, dict(self._decoded))
        profiles, faults = [], []
        for row, known in rows:
            try:
                profiles.append(known if known is not None else self._decode(row))
            except CorruptProfile as fault:
                faults.append(fault)
        present = {row[0] for row, _ in rows}
        self._decoded = {k: v for k, v in self._decoded.items() if k in present}  # removed VIPs are let go
        loaded = Loaded(tuple(profiles), tuple(faults), self.codec)
        self._loaded = (revision, loaded)
        return loaded

    def _rows(self, conn: sqlite3.Connection, known: dict[str, tuple[float, T]]) -> list[tuple[tuple, T | None]]:
        """Every row in name order, read in one snapshot, with its profile where ``known`` holds it decoded at the
        row's update time: such a row is read as (name, updated) only, the others as (name, updated, profile,
        arrays) with None, to decode."""
        with _snapshot(conn):
            keys = conn.execute("SELECT name, updated FROM vips ORDER BY name").fetchall()
            current = {name: known[name][1] for name, updated in keys if known.get(name, (None,))[0] == updated}
            if len(current) < len(keys) // 2:  # mostly new rows: one pass over the table
                rows = conn.execute("SELECT name, updated, profile, arrays FROM vips ORDER BY name").fetchall()
                return [(row, current.get(row[0])) for row in rows]
            stale = [name for name, _ in keys if name not in current]
            full = {}
            for i in range(0, len(stale), 500):  # SQLite's limit on bound parameters is 999 in old builds
                chunk = stale[i : i + 500]
                for row in conn.execute(f"SELECT name, updated, profile, arrays FROM vips WHERE name IN "
                                        f"({', '.join('?' * len(chunk))})", chunk):
                    full[row[0]] = row
        return [(full[name], None) if name not in current else ((name, updated), current[name])
                for name, updated in keys]

    def catalogue(self) -> Catalogue[T]:
        """Every usable row's name and centre, without decoding a profile (:class:`Catalogue`; kept until the
        revision changes). Rows without a current centre (written by an older vipguard) are decoded here."""
        with self._connect() as conn:
            revision = self._revision(conn)
            cached = self._catalogued
            if cached is not None and cached[0] == revision:
                return cached[1]
            with _snapshot(conn):
                has_table = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = "
                                         "'centres'").fetchone()[0]
                query = ("SELECT v.name, v.updated, c.centre FROM vips AS v LEFT JOIN centres AS c ON c.name = v.name "
                         "AND c.updated = v.updated ORDER BY v.name" if has_table else
                         "SELECT name, updated, NULL FROM vips ORDER BY name")
                # no current centre (or a damaged one: not float32 bytes): None, the row is decoded instead
                rows = [(name, when, blob if isinstance(blob, bytes) and blob and not len(blob) % 4 else None)
                        for name, when, blob in conn.execute(query)]
                full = {name: conn.execute("SELECT name, updated, profile, arrays FROM vips WHERE name = ?",
                                           (name,)).fetchone() for name, _, blob in rows if blob is None}
        names, updated, centres, faults = [], [], [], []
        for name, when, blob in rows:
            if blob is None:
                try:
                    blob = _centre_blob(self._decode(full[name]).centre)
                except CorruptProfile as fault:
                    faults.append(fault)
                    continue
            names.append(name)
            updated.append(when)
            centres.append(blob)
        sizes = {len(b) for b in centres}
        if len(sizes) > 1:  # several embedders' centres: no index can hold them
            matrix = None
        else:
            matrix = np.frombuffer(b"".join(centres), "<f4").reshape(len(centres), sizes.pop() // 4 if sizes else 0)
        catalogue = Catalogue(tuple(names), tuple(updated), matrix, tuple(faults), self._fetch)
        self._catalogued = (revision, catalogue)
        return catalogue

    def _fetch(self, name: str, updated: float) -> T:
        """The profile of ``name`` for :meth:`Catalogue.profile`: the one decoded already when it is current (its
        row's update time is ``updated``), else its row as it is now, decoded."""
        cached = self._decoded.get(name)
        if cached and cached[0] == updated:
            return cached[1]
        with self._connect() as conn:
            row = conn.execute("SELECT name, updated, profile, arrays FROM vips WHERE name = ?", (name,)).fetchone()
        if row is None:  # removed since the catalogue was read
            raise UnknownVip(name, self.names())
        return self._decode(row)

    def page(self, offset: int = 0, limit: int | None = None) -> Page:
        """The rows from ``offset`` (0: the first) in name order, at most ``limit`` of them (None: all), decoded
        for their listing, with the registry's total row count (:class:`Page`)."""
        if offset < 0 or (limit is not None and limit < 0):
            raise ValueError(f"offset and limit must be at least 0, not {offset} and {limit}")
        offset, limit = min(offset, MAX_PAGE), -1 if limit is None else min(limit, MAX_PAGE)
        with self._connect() as conn, _snapshot(conn):
            total = conn.execute("SELECT count(*) FROM vips").fetchone()[0]
            rows = conn.execute("SELECT name, updated, profile, arrays FROM vips ORDER BY name LIMIT ? OFFSET ?",
                                (limit, offset)).fetchall()
        listed, faults = [], []
        for row in rows:
            try:
                listed.append(_listed(self.codec, self._decode(row)))
            except CorruptProfile as fault:
                faults.append(fault)
                listed.append(_faulty(self.codec, fault))
        return Page(tuple(listed), tuple(faults), int(total), offset)

    def profiles(self) -> list[T]:
        """The usable profiles. A corrupt row is left out here so that it cannot hide the other VIPs; :meth:`load`
        reports it (the CLI and the service show it to the user)."""
        return list(self.load().profiles)

    def summary(self) -> list[dict]:
        """:meth:`Loaded.summary` of :meth:`load`: every row, corrupt ones with their ``error``."""
        return self.load().summary()

    def centres(self) -> tuple[list[str], np.ndarray]:
        """Names and their global Face Embedding Centres as an (N, D) matrix, for adaptive selection."""
        return self.load().centres()

    def _decode(self, row: tuple) -> T:
        name, updated, text, blob = row
        cached = self._decoded.get(name)
        if cached and cached[0] == updated:
            return cached[1]
        try:
            if not isinstance(text, str) or not isinstance(blob, bytes):
                raise TypeError("the row's columns have the wrong types")
            profile = self.codec.decode(text, blob)
        except ROW_ERRORS as exc:
            raise CorruptProfile(self.path, str(name), _describe(exc)) from None
        if profile.name != name:
            raise CorruptProfile(self.path, str(name), f"the row holds the profile of {profile.name!r}")
        self._decoded[name] = (updated, profile)
        return profile

    # -- writing ----------------------------------------------------------------------------------------------------
    def put(self, profile: T) -> None:
        """Store (or atomically replace) a profile."""
        validate_name(profile.name)
        text, blob = self.codec.encode(profile)
        centre, updated = _centre_blob(profile.centre), time.time()
        with self._connect(write=True) as conn, conn:
            _add_side_tables(conn)  # a file that lost them since this registry opened it
            conn.execute("INSERT OR REPLACE INTO vips VALUES (?, ?, ?, ?)", (profile.name, updated, text, blob))
            conn.execute("INSERT OR REPLACE INTO centres VALUES (?, ?, ?)", (profile.name, updated, centre))
            self._bump(conn)

    def remove(self, name: str) -> bool:
        with self._connect(write=True) as conn, conn:
            _add_side_tables(conn)
            removed = conn.execute("DELETE FROM vips WHERE name = ?", (name,)).rowcount > 0
            if removed:
                conn.execute("DELETE FROM centres WHERE name = ?", (name,))
                self._bump(conn)
        self._decoded.pop(name, None)
        return removed

    @staticmethod
    def _bump(conn: sqlite3.Connection) -> None:
        """Count one more write, in the writer's transaction (a registry from before the counter starts at 1)."""
        conn.execute("INSERT INTO meta VALUES ('revision', '1') ON CONFLICT (key) DO UPDATE SET value = "
                     "CAST(value AS INTEGER) + 1")

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


def _add_side_tables(conn: sqlite3.Connection) -> None:
    """The ``centres`` table and the ``vips`` index (:data:`SIDE_TABLES`), where they are missing."""
    for statement in SIDE_TABLES:
        conn.execute(statement)


def _centre_blob(centre: np.ndarray) -> bytes:
    """A centre as the ``centres`` table holds it: float32, little-endian, one dimension."""
    return np.ascontiguousarray(np.ravel(centre), dtype="<f4").tobytes()


@contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """Several reads of one connection in one read transaction: they see the same committed state."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.rollback()


def _writable(path: Path) -> bool:
    mode = os.stat(path).st_mode
    return bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) and os.access(path, os.W_OK)


def _describe(exc: BaseException) -> str:
    """A one-line description of a decoding error."""
    kind = {"JSONDecodeError": "its JSON is invalid", "BadZipFile": "its arrays are not an npz archive",
            "KeyError": f"a field is missing: {exc}"}.get(type(exc).__name__)
    return kind or f"{type(exc).__name__}: {exc}"
