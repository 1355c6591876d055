"""The registry: only whole, visible names are accepted, so one person can never become two rows; every fault of the
file (not SQLite, another application's, wrong schema, locked, read-only, corrupt rows) is a one-line error naming
the file, in the library and in the CLI (exit 2), and one corrupt row never hides the other VIPs."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from vipguard.infra.registry import (
    CorruptProfile,
    EnrolmentInProgress,
    ReadOnlyRegistry,
    Registry,
    RegistryError,
    UnknownVip,
    validate_name,
)
from vipguard.lite.profile import PROFILE_CODEC

GOOD = ["Tony_Blair", "Tony Blair", "a", "J.R.R. Tolkien", "Jean-Luc", "x" * 64, "7of9"]
BAD = ["Tony_Blair\n", "Tony_Blair\r\n", "\nTony_Blair", "Tony\nBlair", "Tony_Blair ", " Tony_Blair", "Tony\tBlair",
       "Tony_Blair\x00", "", "x" * 65, "..", "a..b", "../etc", "a/b", "a\\b", "_x", "Tony_Blair\u2028"]


@pytest.mark.parametrize("name", GOOD)
def test_valid_names_pass_unchanged(name):
    assert validate_name(name) == name


@pytest.mark.parametrize("name", BAD)
def test_invalid_names_refused(name):
    with pytest.raises(ValueError, match="invalid VIP name"):
        validate_name(name)


def test_non_string_name_refused():
    with pytest.raises(ValueError, match="invalid VIP name"):
        validate_name(None)  # type: ignore[arg-type]


def test_registry_refuses_trailing_newline(tmp_path):
    """``enroll $'Tony_Blair\\n'`` must not make a second row next to Tony_Blair: put() refuses the name before
    anything is written (the name is checked before the profile is even serialised)."""
    registry = Registry(tmp_path / "registry.db", codec=PROFILE_CODEC)
    with pytest.raises(ValueError, match="invalid VIP name"):
        registry.put(SimpleNamespace(name="Tony_Blair\n"))  # type: ignore[arg-type]
    assert registry.names() == []


# -- registry faults: each one a RegistryError naming the file and the problem; nothing written to a foreign file --

def synthetic_profile(name: str, used: int = 8):
    """A small, valid profile (random centres, a neutral head): enough to store, list and decode, not to judge."""
    from vipguard.lite.decision import FEATURES, GenuineRange
    from vipguard.lite.evidence import ID_PARTS, PATCH_PARTS
    from vipguard.lite.head import Head
    from vipguard.lite.profile import VipProfile

    rng = np.random.default_rng(len(name))
    n = len(FEATURES)
    return VipProfile(
        name=name, centres={k: rng.normal(size=8).astype(np.float32) for k in ID_PARTS},
        patches={k: rng.normal(size=(4, 4)).astype(np.float32) for k in PATCH_PARTS},
        geometry_mean=np.zeros(3, np.float32), geometry_std=np.ones(3, np.float32), typical=np.zeros(n, np.float32),
        head=Head(FEATURES, (0.0,) * n, (1.0,) * n, (0.1,) * n, 0.0, 1.0, 0.0),
        genuine=GenuineRange(0.7, 0.05, 10.0, used), meta={"used": used, "enrolled": "2024-01-01T00:00:00"},
    )


def two_vips(db: Path) -> Registry:
    registry = Registry(db, codec=PROFILE_CODEC)
    registry.put(synthetic_profile("Alice"))
    registry.put(synthetic_profile("Bob"))
    return registry


def sql(db: Path, statement: str, *params) -> None:
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(statement, params)


def foreign_db(path: Path) -> Path:
    sql(path, "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    sql(path, "INSERT INTO users VALUES (1, 'a@example.org')")
    return path


def test_profiles_round_trip(tmp_path):
    registry = two_vips(tmp_path / "r.db")
    assert registry.names() == ["Alice", "Bob"]
    again = Registry(tmp_path / "r.db", codec=PROFILE_CODEC, readonly=True)
    assert np.array_equal(again.get("Bob").centre, registry.get("Bob").centre)
    assert [r["name"] for r in registry.summary()] == ["Alice", "Bob"] and registry.load().faults == ()


FAULTS = {  # name → (how to make the registry file bad, what the message must say)
    "not_sqlite": (lambda p: p.write_bytes(b"GIF89a" + bytes(range(256)) * 8), "not an SQLite database file"),
    "foreign_sqlite": (foreign_db, "not a vipguard registry (an SQLite database with tables users)"),
    "schema_text": (lambda p: (two_vips(p), sql(p, "UPDATE meta SET value = '1.0'")), "schema version '1.0'"),
    "schema_missing": (lambda p: (two_vips(p), sql(p, "DELETE FROM meta")), "schema version None"),
    "schema_newer": (lambda p: (two_vips(p), sql(p, "UPDATE meta SET value = '7'")), "upgrade vipguard"),
    "wrong_columns": (lambda p: (two_vips(p), sql(p, "ALTER TABLE vips DROP COLUMN arrays")), "table vips has columns"),
    "directory": (lambda p: p.mkdir(), "is a directory"),
    "fifo": (lambda p: os.mkfifo(p), "not a regular file"),
}


@pytest.mark.parametrize("readonly", [True, False], ids=["readonly", "writable"])
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_unusable_registry_file_is_a_clear_error_and_untouched(tmp_path, fault, readonly):
    make, message = FAULTS[fault]
    db = tmp_path / "registry.db"
    make(db)
    before = db.read_bytes() if db.is_file() else None
    with pytest.raises(RegistryError) as info:
        Registry(db, codec=PROFILE_CODEC, readonly=readonly)
    assert str(info.value).startswith(f"{db}: ") and message in str(info.value)
    assert "\n" not in str(info.value)
    assert (db.read_bytes() if db.is_file() else None) == before  # nothing was written to it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry.db"]  # no journal or lock files left


def test_readonly_registry_creates_nothing_and_refuses_writes(tmp_path):
    db = tmp_path / "new" / "registry.db"
    registry = Registry(db, codec=PROFILE_CODEC, readonly=True)
    assert registry.names() == [] and registry.load().profiles == () and not db.parent.exists()
    two_vips(db)
    before = db.read_bytes()
    registry = Registry(db, codec=PROFILE_CODEC, readonly=True)
    assert registry.names() == ["Alice", "Bob"]
    with pytest.raises(ReadOnlyRegistry, match="opened read-only"):
        registry.remove("Alice")
    with pytest.raises(ReadOnlyRegistry):
        registry.put(synthetic_profile("Carol"))
    assert db.read_bytes() == before


def test_read_only_file_is_found_when_opened_for_writing(tmp_path):
    """A registry file without write permission (honoured even for root) fails when it is opened for writing —
    before an enrolment's work — while reading commands still open it."""
    db = tmp_path / "registry.db"
    two_vips(db)
    db.chmod(0o444)
    try:
        with pytest.raises(ReadOnlyRegistry, match=f"{db}: the registry file is read-only"):
            Registry(db, codec=PROFILE_CODEC)
        assert Registry(db, codec=PROFILE_CODEC, readonly=True).names() == ["Alice", "Bob"]
    finally:
        db.chmod(0o644)


def test_locked_registry_says_so_after_its_timeout(tmp_path):
    import time

    db = tmp_path / "registry.db"
    two_vips(db)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        for readonly in (True, False):
            start = time.monotonic()
            with pytest.raises(RegistryError, match="locked by another process .waited 0.2 s."):
                Registry(db, codec=PROFILE_CODEC, readonly=readonly, timeout=0.2)
            assert time.monotonic() - start < 5
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert Registry(db, codec=PROFILE_CODEC, timeout=0.2).names() == ["Alice", "Bob"]


CORRUPT_ROWS = {  # how a row is damaged → what the message says
    "not_json": ("UPDATE vips SET profile = '{not json' WHERE name = 'Bob'", "its JSON is invalid"),
    "arrays_not_zip": ("UPDATE vips SET arrays = x'00010203' WHERE name = 'Bob'", "arrays are not an npz archive"),
    "json_not_object": ("UPDATE vips SET profile = '[1, 2]' WHERE name = 'Bob'", "AttributeError"),
    "missing_field": ("UPDATE vips SET profile = json_remove(profile, '$.head') WHERE name = 'Bob'",
                      "a field is missing: 'head'"),
    "old_version": ("UPDATE vips SET profile = json_set(profile, '$.version', 1) WHERE name = 'Bob'",
                    "profile version 1 is not supported"),
    "arrays_text": ("UPDATE vips SET arrays = 'text' WHERE name = 'Bob'", "wrong types"),
    "other_name": ("UPDATE vips SET profile = json_set(profile, '$.name', 'Alice') WHERE name = 'Bob'",
                   "holds the profile of 'Alice'"),
}


@pytest.mark.parametrize("damage", sorted(CORRUPT_ROWS))
def test_corrupt_row_is_reported_and_the_other_vips_stay_usable(tmp_path, damage):
    statement, message = CORRUPT_ROWS[damage]
    db = tmp_path / "registry.db"
    two_vips(db)
    sql(db, statement)
    registry = Registry(db, codec=PROFILE_CODEC, readonly=True)
    loaded = registry.load()
    assert [p.name for p in loaded.profiles] == ["Alice"] and [f.name for f in loaded.faults] == ["Bob"]
    text = str(loaded.faults[0])
    assert text.startswith(f"{db}: the profile of VIP 'Bob' is corrupt (") and message in text
    assert "vipguard remove Bob" in text and "\n" not in text
    with pytest.raises(CorruptProfile, match="'Bob' is corrupt"):
        registry.get("Bob")
    assert [p.name for p in registry.profiles()] == ["Alice"] and registry.centres()[0] == ["Alice"]
    assert [(r["name"], "error" in r) for r in registry.summary()] == [("Alice", False), ("Bob", True)]
    assert Registry(db, codec=PROFILE_CODEC).remove("Bob")  # the repair the message names works on the corrupt row
    assert Registry(db, codec=PROFILE_CODEC).load().faults == ()


def test_hot_journal_is_rolled_back_for_a_reader(tmp_path):
    """A writer killed mid-transaction leaves a hot journal, which a read-only connection cannot roll back:
    the reader recovers it (the file is writable) and sees the last committed state."""
    import signal
    import subprocess
    import sys

    db = tmp_path / "registry.db"
    two_vips(db)
    code = ("import os, signal, sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.execute('PRAGMA cache_size=1')\n"
            "c.execute('DELETE FROM vips')\nc.execute('INSERT INTO vips SELECT \"x\" || i, 0, zeroblob(4000), "
            "zeroblob(4000) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 3000) "
            "SELECT i FROM n)')\nos.kill(os.getpid(), signal.SIGKILL)\n")
    result = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True)
    assert result.returncode == -signal.SIGKILL and (tmp_path / "registry.db-journal").exists()
    assert Registry(db, codec=PROFILE_CODEC, readonly=True).names() == ["Alice", "Bob"]


class PowerCut(RuntimeError):
    """The process dies here: raised from inside the registry's own SQL, so nothing after that point runs."""


class DyingConnection:
    """A real sqlite3 connection that dies (raises :class:`PowerCut`) right after its ``die_after``-th step: a
    statement (which has run) or a commit (which has not). ``with conn:`` commits through :meth:`commit`, so the
    final commit is a step too. Every step is appended to ``log``."""

    def __init__(self, conn: sqlite3.Connection, die_after: int, log: list[str]) -> None:
        object.__setattr__(self, "_conn", conn)
        object.__setattr__(self, "_die_after", die_after)
        object.__setattr__(self, "_log", log)

    def _step(self, what: str) -> None:
        self._log.append(" ".join(what.split()))
        if len(self._log) == self._die_after:
            raise PowerCut(f"power cut after step {len(self._log)}: {what!r}")

    def execute(self, statement, *args):
        cursor = self._conn.execute(statement, *args)
        self._step(statement)
        return cursor

    def executemany(self, statement, *args):
        cursor = self._conn.executemany(statement, *args)
        self._step(statement)
        return cursor

    def executescript(self, script):
        cursor = self._conn.executescript(script)
        self._step(script)
        return cursor

    def cursor(self, *args):
        raise AssertionError("DyingConnection: use conn.execute (a cursor's statements would not be counted)")

    def commit(self) -> None:
        self._step("COMMIT")  # dies before the commit reaches the file
        self._conn.commit()

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb) -> bool:  # sqlite3.Connection's: commit on success, roll back on error
        if kind is None:
            self.commit()
        else:
            self._conn.rollback()
        return False

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def __setattr__(self, name, value) -> None:
        setattr(self._conn, name, value)


def _same_profile(a, b) -> bool:
    arrays = lambda p: [*p.centres.values(), *p.patches.values(), p.geometry_mean, p.geometry_std, p.typical]
    as_stored = lambda meta: json.loads(json.dumps(meta))  # tuples come back as lists
    return (a.name == b.name and as_stored(a.meta) == as_stored(b.meta) and a.head == b.head and a.genuine == b.genuine
            and all(np.array_equal(x, y) for x, y in zip(arrays(a), arrays(b))))


def put_survives_a_power_cut_at_every_step(db: Path, old, new) -> tuple[list[str], list[tuple[str, object]]]:
    """Store ``old``; then replace it with ``new`` (same name) by the real :meth:`Registry.put`, the process dying
    after its 1st, 2nd, ... step, until a put completes. After each death the registry (reopened) holds one whole
    profile, the old or the new one; a death after the row's INSERT and before its commit keeps the old one; the
    completed put stores the new one. Returns the steps of the completed put and, for each death, its last step
    and the profile the registry then held."""
    assert old.name == new.name and not _same_profile(old, new)
    Registry(db, codec=PROFILE_CODEC).put(old)
    deaths = []
    for die_after in range(1, 100):
        log: list[str] = []
        registry = Registry(db, codec=PROFILE_CODEC)
        real_open = registry._open
        registry._open = lambda: DyingConnection(real_open(), die_after, log)  # only this instance, only now
        try:
            registry.put(new)
        except PowerCut:
            # UnknownVip / CorruptProfile: the put was not atomic
            stored = Registry(db, codec=PROFILE_CODEC).get(old.name)
            assert _same_profile(stored, old) or _same_profile(stored, new), f"a mixed profile after {log[-1]!r}"
            if log[-1].startswith("INSERT"):
                assert _same_profile(stored, old), f"the old profile is gone after {log[-1]!r}, before the put's commit"
            deaths.append((log[-1], stored))
            continue
        assert _same_profile(Registry(db, codec=PROFILE_CODEC).get(old.name), new)
        assert any(step.startswith("INSERT") for step, _ in deaths), log  # a death right after the INSERT was tried
        assert Registry(db, codec=PROFILE_CODEC).names() == [old.name]
        return log, deaths
    raise AssertionError("put never completed")


def test_a_put_interrupted_at_any_step_keeps_one_whole_profile(tmp_path):
    """The fault is injected inside the real put (a connection that dies after a statement): a put that deleted
    the old row first, or wrote the row in two statements, or committed the INSERT on its own, fails here."""
    old, new = synthetic_profile("Alice"), synthetic_profile("Alice", used=3)
    new = type(new)(**{**new.__dict__, "centres": {k: -v for k, v in new.centres.items()}})
    steps, deaths = put_survives_a_power_cut_at_every_step(tmp_path / "r.db", old, new)
    assert steps[-1] == "COMMIT" and len(deaths) == len(steps)  # a death at every step, the last one included
    assert all(_same_profile(stored, old) for _, stored in deaths)


def test_second_enrolment_of_a_name_fails_at_once(tmp_path):
    registry = Registry(tmp_path / "registry.db", codec=PROFILE_CODEC)
    with registry.enrolling("Alice"):
        with pytest.raises(EnrolmentInProgress, match=f"an enrolment of 'Alice' is already running .pid {os.getpid()}"):
            with Registry(tmp_path / "registry.db", codec=PROFILE_CODEC).enrolling("Alice"):
                pass
        with registry.enrolling("Bob"):  # other names are not held up
            pass
    with registry.enrolling("Alice"):  # released
        pass


# -- the CLI: one line naming the file and the problem, exit 2, no traceback --

def run_main(capsys, *args: str) -> tuple[int, str, str]:
    from vipguard.cli import main

    status = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return status, out, err


@pytest.mark.parametrize("fault", ["not_sqlite", "foreign_sqlite", "schema_text", "schema_newer", "wrong_columns",
                                   "fifo"])
@pytest.mark.parametrize("command", ["list", "remove"])
def test_cli_registry_fault_is_one_line_and_exit_2(tmp_path, capsys, fault, command):
    make, message = FAULTS[fault]
    db = tmp_path / "registry.db"
    make(db)
    before = db.read_bytes() if db.is_file() else None
    args = ["list"] if command == "list" else ["remove", "Alice"]
    status, out, err = run_main(capsys, *args, "--db", str(db))
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"error: {db}: ") and message in err
    assert (db.read_bytes() if db.is_file() else None) == before


def test_cli_list_shows_the_good_vips_and_the_corrupt_row(tmp_path, capsys):
    db = tmp_path / "registry.db"
    two_vips(db)
    sql(db, CORRUPT_ROWS["arrays_not_zip"][0])
    status, out, err = run_main(capsys, "list", "--db", str(db), "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert status == 2 and [r["name"] for r in rows] == ["Alice", "Bob"] and rows[0]["photos_used"] == 8
    assert "vipguard remove Bob" in rows[1]["error"]
    assert err.strip() == f"error: {rows[1]['error']}"
    status, out, err = run_main(capsys, "list", "--db", str(db))
    assert status == 2 and "Alice" in out and "corrupt" in out
    status, out, _ = run_main(capsys, "remove", "Bob", "--db", str(db))
    assert status == 0 and run_main(capsys, "list", "--db", str(db))[0] == 0


def test_cli_list_of_a_missing_registry_creates_nothing(tmp_path, capsys):
    db = tmp_path / "none" / "registry.db"
    status, out, _ = run_main(capsys, "list", "--db", str(db))
    assert status == 0 and "no VIP is enrolled" in out and not db.parent.exists()


def test_cli_remove_on_a_read_only_registry(tmp_path, capsys):
    db = tmp_path / "registry.db"
    two_vips(db)
    db.chmod(0o444)
    try:
        status, _, err = run_main(capsys, "remove", "Alice", "--db", str(db))
    finally:
        db.chmod(0o644)
    assert status == 2 and err.strip() == f"error: {db}: the registry file is read-only; give write access to it, " \
                                          "or use another --db"
    assert Registry(db, codec=PROFILE_CODEC).names() == ["Alice", "Bob"]


def test_cli_enroll_registry_faults_fail_before_any_work(tmp_path, capsys, store, lfw):
    """A read-only registry, another application's file or a running enrolment of the same name: enroll fails at
    once (not after a dozen seconds of enrolment work) and leaves the registry as it was."""
    import time

    photos = lfw / "Colin_Powell"
    db = tmp_path / "registry.db"
    two_vips(db)
    db.chmod(0o444)
    start = time.monotonic()
    try:
        status, _, err = run_main(capsys, "enroll", "Alice", str(photos), "--db", str(db))
    finally:
        db.chmod(0o644)
    assert status == 2 and "the registry file is read-only" in err
    status, _, err = run_main(capsys, "enroll", "Carol", str(photos), "--db", str(foreign_db(tmp_path / "app.db")))
    assert status == 2 and "not a vipguard registry" in err
    with Registry(db, codec=PROFILE_CODEC).enrolling("Alice"):
        status, _, err = run_main(capsys, "enroll", "Alice", str(photos), "--db", str(db))
    assert status == 1 and err.strip().startswith(f"error: {db}: an enrolment of 'Alice' is already running")
    assert time.monotonic() - start < 20
    after = Registry(db, codec=PROFILE_CODEC)
    assert after.names() == ["Alice", "Bob"] and after.load().faults == ()


def test_cli_check_with_a_corrupt_row(tmp_path, capsys, store):
    """A corrupt VIP named by --vip: exit 2 before any work; judged adaptively, the other VIPs are used, every
    input gets its line, the corrupt row is reported once and the run ends with status 2."""
    from PIL import Image

    db = tmp_path / "registry.db"
    two_vips(db)
    sql(db, CORRUPT_ROWS["not_json"][0])
    image = tmp_path / "grey.png"
    Image.new("RGB", (64, 64), (128, 128, 128)).save(image)
    status, out, err = run_main(capsys, "check", str(image), "--vip", "Bob", "--db", str(db), "--json")
    assert status == 2 and out == "" and "'Bob' is corrupt" in err and err.count("\n") == 1
    status, out, err = run_main(capsys, "check", str(image), str(tmp_path / "missing.jpg"), "--db", str(db),
                                "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert status == 2 and [r["verdict"] for r in lines] == ["no_face", "error"]
    assert err.count("'Bob' is corrupt") == 1
    status, out, _ = run_main(capsys, "check", str(image), "--vip", "Alice", "--db", str(db), "--json")
    assert status == 0 and json.loads(out)["verdict"] == "no_face"  # another VIP's bad row does not fail the run


@pytest.mark.parametrize("fault", ["not_sqlite", "foreign_sqlite", "schema_text"])
def test_cli_check_on_an_unusable_registry(tmp_path, capsys, store, fault):
    make, message = FAULTS[fault]
    db = tmp_path / "registry.db"
    make(db)
    before = db.read_bytes()
    status, out, err = run_main(capsys, "check", str(db), "--db", str(db), "--json")
    assert status == 2 and out == "" and err.count("\n") == 1 and err.startswith(f"error: {db}: ") and message in err
    assert db.read_bytes() == before


# -- the revision: decoded profiles (and their index) are kept until another write, by any process, changes it --

def test_profiles_are_decoded_once_per_revision(tmp_path, monkeypatch):
    registry = two_vips(tmp_path / "r.db")
    decoded = []
    real = PROFILE_CODEC.decode
    monkeypatch.setattr(registry, "codec", SimpleNamespace(
        columns=PROFILE_CODEC.columns, summary=PROFILE_CODEC.summary, encode=PROFILE_CODEC.encode,
        decode=lambda text, blob: decoded.append(1) or real(text, blob)))
    first = registry.load()
    assert len(decoded) == 2 and registry.load() is first and registry.profiles() == list(first.profiles)
    assert registry.get("Bob") is first.profiles[1] and len(decoded) == 2  # nothing read again, nothing decoded
    assert first.index is registry.load().index and first.index.names == ["Alice", "Bob"]
    revision = registry.revision()
    registry.put(synthetic_profile("Carol"))
    assert registry.revision() != revision
    second = registry.load()
    assert second is not first and [p.name for p in second.profiles] == ["Alice", "Bob", "Carol"]
    assert len(decoded) == 3  # only the new row: unchanged rows keep their decoded profile
    assert second.index.names == ["Alice", "Bob", "Carol"] and second.index is not first.index


def test_another_process_enrolling_is_seen_by_a_running_reader(tmp_path):
    """Two Registry objects on one file, as the service (a long-lived reader) and `vipguard enroll` (a writer in
    another process): every put and remove of the writer is seen at the reader's next read, cached or not."""
    db = tmp_path / "r.db"
    writer = Registry(db, codec=PROFILE_CODEC)
    writer.put(synthetic_profile("Alice"))
    reader = Registry(db, codec=PROFILE_CODEC, readonly=True)
    assert [p.name for p in reader.profiles()] == ["Alice"] and reader.load().index.names == ["Alice"]
    writer.put(synthetic_profile("Bob"))
    assert [p.name for p in reader.profiles()] == ["Alice", "Bob"] and reader.load().index.names == ["Alice", "Bob"]
    assert reader.get("Bob").meta["used"] == 8
    writer.put(synthetic_profile("Bob", used=3))  # re-enrolment: same name, a new profile
    assert reader.get("Bob").meta["used"] == 3 and reader.load().profiles[1].meta["used"] == 3
    writer.remove("Alice")
    assert reader.names() == ["Bob"] and [p.name for p in reader.profiles()] == ["Bob"]
    with pytest.raises(UnknownVip, match="no VIP named 'Alice' is enrolled"):
        reader.get("Alice")
    # a writer that does not count its writes (an older vipguard): the rows' count and update time still move
    sql(db, "INSERT INTO vips SELECT 'Carol', updated + 1, profile, arrays FROM vips WHERE name = 'Bob'")
    with pytest.raises(CorruptProfile, match="holds the profile of 'Bob'"):
        reader.get("Carol")
    assert [f.name for f in reader.load().faults] == ["Carol"]


def test_revision_counts_every_write(tmp_path):
    registry = two_vips(tmp_path / "r.db")
    seen = {registry.revision()}
    for step in (lambda: registry.put(synthetic_profile("Alice", used=2)), lambda: registry.remove("Bob"),
                 lambda: registry.put(synthetic_profile("Bob"))):
        step()
        seen.add(registry.revision())
    assert len(seen) == 4
    assert not registry.remove("Nobody") and registry.revision() in seen  # no write, no new revision
