"""Thousands of VIPs (issue #36 item 2), without photos or models: the registry's centres table and lazy catalogue
give the profiles and centres that eager loading gives, pages are the right slices with the total, the index
backends agree, and a check without a name picks the right VIP among many synthetic ones (benchmarks/scale.py
measures the costs)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import zlib
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from vipguard.cli import main
from vipguard.faces.embed import EmbedderId
from vipguard.infra.index import VipIndex, faiss_available
from vipguard.infra.registry import CorruptProfile, Registry
from vipguard.lite.decision import FEATURES, GenuineRange
from vipguard.lite.evidence import ID_PARTS, PATCH_PARTS
from vipguard.lite.guard import Guard, GuardConfig, Picked
from vipguard.lite.head import Head
from vipguard.lite.profile import PROFILE_CODEC, VipProfile

DIM = 32


def profile(name: str, centre: np.ndarray, used: int = 8) -> VipProfile:
    """A valid profile whose centres all lie at ``centre`` (unit-normalised), with a neutral head."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    centre = (np.asarray(centre, np.float32) / np.linalg.norm(centre)).astype(np.float32)
    n = len(FEATURES)
    return VipProfile(
        name=name, centres={k: centre for k in ID_PARTS},
        patches={k: rng.normal(size=16).astype(np.float32) for k in PATCH_PARTS},
        geometry_mean=np.zeros((478, 2), np.float32), geometry_std=np.ones((478, 2), np.float32),
        typical=rng.normal(size=n).astype(np.float32), head=Head(FEATURES, (0.0,) * n, (1.0,) * n, (0.1,) * n, 0.0,
                                                                 1.0, 0.0),
        genuine=GenuineRange(0.7, 0.05, 10.0, used), meta={"used": used, "enrolled": "2024-01-01T00:00:00"},
    )


def unit(rng: np.random.Generator, *shape: int) -> np.ndarray:
    x = rng.normal(size=shape).astype(np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def many(db: Path, n: int, seed: int = 0) -> tuple[Registry, np.ndarray]:
    """A registry of ``n`` VIPs ``vip00000``… with random unit centres (returned in name order)."""
    rng = np.random.default_rng(seed)
    centres = unit(rng, n, DIM)
    registry = Registry(db, codec=PROFILE_CODEC)
    for i, c in enumerate(centres):
        registry.put(profile(f"vip{i:05d}", c, used=i % 7 + 3))
    return registry, centres


def sql(db: Path, statement: str, *params) -> None:
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(statement, params)


def same(a: VipProfile, b: VipProfile) -> bool:
    arrays = lambda p: [*p.centres.values(), *p.patches.values(), p.geometry_mean, p.geometry_std, p.typical]  # noqa: E731
    return (a.name == b.name and a.meta == b.meta and a.head == b.head and a.genuine == b.genuine
            and a.embedder == b.embedder and all(np.array_equal(x, y) for x, y in zip(arrays(a), arrays(b))))


# -- the catalogue: centres without decoding, one profile decoded when asked ------------------------------------

def test_lazy_catalogue_gives_what_eager_loading_gives(tmp_path):
    many(tmp_path / "r.db", 40)
    reader = Registry(tmp_path / "r.db", codec=PROFILE_CODEC, readonly=True)
    catalogue = reader.catalogue()
    assert reader._decoded == {}  # names and centres only: nothing decoded
    eager = Registry(tmp_path / "r.db", codec=PROFILE_CODEC, readonly=True).load()
    names, centres = eager.centres()
    assert list(catalogue.names) == names and np.array_equal(catalogue.matrix, centres) and catalogue.faults == ()
    assert catalogue.uniform and catalogue.dim == DIM and len(catalogue) == 40
    for i in (0, 17, 39):
        assert same(catalogue.profile(i), eager.profiles[i])
    assert len(reader._decoded) == 3 and catalogue.profile(17) is catalogue.profile(17)  # decoded once
    assert reader.catalogue() is catalogue  # kept until the revision changes
    Registry(tmp_path / "r.db", codec=PROFILE_CODEC).put(profile("vip00003", -centres[3]))  # re-enrolled
    again = reader.catalogue()
    assert again is not catalogue and np.allclose(again.matrix[3], -centres[3], atol=1e-6)
    assert np.allclose(again.profile(3).centre, -centres[3], atol=1e-6)
    Registry(tmp_path / "r.db", codec=PROFILE_CODEC).remove("vip00005")
    assert "vip00005" not in reader.catalogue().names and len(reader.catalogue()) == 39


def test_rows_without_a_current_centre_are_decoded_and_backfilled(tmp_path):
    """An older vipguard writes rows without (or without updating) their centre: the catalogue decodes those rows,
    reports the corrupt ones, and the next writable open gives the good ones their centre again."""
    db = tmp_path / "r.db"
    _, centres = many(db, 6)
    sql(db, "UPDATE vips SET updated = updated + 1 WHERE name = 'vip00001'")  # an older writer's re-enrolment
    sql(db, "DELETE FROM centres WHERE name = 'vip00002'")
    sql(db, "UPDATE vips SET updated = updated + 1, arrays = x'00' WHERE name = 'vip00004'")  # and a corrupt row
    catalogue = Registry(db, codec=PROFILE_CODEC, readonly=True).catalogue()
    assert [f.name for f in catalogue.faults] == ["vip00004"]
    assert list(catalogue.names) == [f"vip{i:05d}" for i in (0, 1, 2, 3, 5)]
    assert np.allclose(catalogue.matrix, centres[[0, 1, 2, 3, 5]], atol=1e-6)
    Registry(db, codec=PROFILE_CODEC)  # writable open: the good rows get a current centre
    with contextlib.closing(sqlite3.connect(db)) as conn:
        current = conn.execute("SELECT v.name FROM vips AS v JOIN centres AS c ON c.name = v.name AND "
                               "c.updated = v.updated ORDER BY v.name").fetchall()
    assert [r[0] for r in current] == [f"vip{i:05d}" for i in (0, 1, 2, 3, 5)]


def test_a_registry_from_before_the_centres_table(tmp_path):
    db = tmp_path / "r.db"
    many(db, 4)
    sql(db, "DROP TABLE centres")
    before = db.read_bytes()
    reader = Registry(db, codec=PROFILE_CODEC, readonly=True)
    assert list(reader.catalogue().names) == [f"vip{i:05d}" for i in range(4)] and db.read_bytes() == before
    Registry(db, codec=PROFILE_CODEC)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT count(*) FROM centres").fetchone()[0] == 4


def test_a_damaged_row_with_a_current_centre_is_found_when_it_is_decoded(tmp_path):
    db = tmp_path / "r.db"
    many(db, 3)
    sql(db, "UPDATE vips SET profile = '{not json' WHERE name = 'vip00001'")  # its update time unchanged
    catalogue = Registry(db, codec=PROFILE_CODEC, readonly=True).catalogue()
    assert len(catalogue) == 3
    with pytest.raises(CorruptProfile, match="'vip00001' is corrupt"):
        catalogue.profile(1)


def test_load_reads_again_only_the_rows_that_changed(tmp_path, monkeypatch):
    db = tmp_path / "r.db"
    writer, _ = many(db, 12)
    reader = Registry(db, codec=PROFILE_CODEC, readonly=True)
    first = reader.load()
    decoded = []
    real = PROFILE_CODEC.decode
    monkeypatch.setattr(reader, "codec", SimpleNamespace(
        columns=PROFILE_CODEC.columns, summary=PROFILE_CODEC.summary, encode=PROFILE_CODEC.encode,
        decode=lambda text, blob: decoded.append(json.loads(text)["name"]) or real(text, blob)))
    writer.put(profile("vip00004", np.ones(DIM), used=99))
    second = reader.load()
    assert decoded == ["vip00004"] and second.profiles[4].meta["used"] == 99
    assert all(a is b for i, (a, b) in enumerate(zip(first.profiles, second.profiles)) if i != 4)


# -- paging ---------------------------------------------------------------------------------------------------

def test_pages_are_the_right_slices_with_the_total(tmp_path):
    db = tmp_path / "r.db"
    many(db, 23)
    sql(db, "UPDATE vips SET arrays = x'00' WHERE name = 'vip00012'")
    reader = Registry(db, codec=PROFILE_CODEC, readonly=True)
    everything = [r["name"] for r in reader.page().rows]
    assert everything == [f"vip{i:05d}" for i in range(23)]  # name order, the corrupt row in its place
    pages = [reader.page(offset, 10) for offset in (0, 10, 20)]
    assert [r["name"] for p in pages for r in p.rows] == everything
    assert [len(p.rows) for p in pages] == [10, 10, 3] and {p.total for p in pages} == {23}
    assert [f.name for f in pages[1].faults] == ["vip00012"] and pages[0].faults == pages[2].faults == ()
    bad = pages[1].rows[2]
    assert bad["name"] == "vip00012" and "vipguard remove vip00012" in bad["error"] and bad["photos_used"] is None
    assert pages[0].rows[3] == {"name": "vip00003", "photos_used": 6, "enrolled": "2024-01-01T00:00:00"}
    assert reader.page(30, 10).rows == () and reader.page(30, 10).total == 23
    assert reader.page(0, 0).rows == () and len(reader.page(2**70, 2**70).rows) == 0
    with pytest.raises(ValueError):
        reader.page(-1, 5)


def test_cli_list_pages(tmp_path, capsys):
    db = tmp_path / "r.db"
    many(db, 12)
    assert main(["list", "--db", str(db), "--json", "--offset", "5", "--limit", "4"]) == 0
    out, err = capsys.readouterr()
    assert [json.loads(line)["name"] for line in out.splitlines()] == [f"vip{i:05d}" for i in range(5, 9)]
    assert "VIPs 6-9 of 12; --offset 9 for more" in err
    assert main(["list", "--db", str(db), "--json"]) == 0  # no page asked for: every VIP, as before
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 12 and err == ""
    assert main(["list", "--db", str(db), "--offset", "20"]) == 0
    out, err = capsys.readouterr()
    assert "no VIP from offset 20: 12 enrolled" in err and "vip" not in out
    assert main(["list", "--db", str(db), "--limit", "0"]) == 2  # a usage mistake
    capsys.readouterr()


def test_service_lists_pages(tmp_path):
    pytest.importorskip("fastapi")
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from vipguard.service.routes import vips

    db = tmp_path / "r.db"
    registry, _ = many(db, 12)
    app = FastAPI()
    app.include_router(vips.router(SimpleNamespace(registry=registry)))
    with TestClient(app) as client:
        body = client.get("/v1/vips", params={"offset": 10, "limit": 5}).json()
        assert [v["name"] for v in body["vips"]] == ["vip00010", "vip00011"]
        assert body["total"] == 12 and body["offset"] == 10
        body = client.get("/v1/vips").json()
        assert len(body["vips"]) == 12 and body["total"] == 12
        assert client.get("/v1/vips", params={"offset": -1}).status_code == 422
        assert client.get("/v1/vips", params={"limit": 0}).status_code == 422
        assert client.get("/v1/vips", params={"limit": 2**70}).status_code == 422


# -- the index, and selection among many VIPs -----------------------------------------------------------------

def test_index_backends_agree_at_5000_centres():
    rng = np.random.default_rng(5)
    centres = unit(rng, 5000, 192)
    names = [f"v{i}" for i in range(len(centres))]
    truth = rng.integers(0, len(centres), 300)
    queries = centres[truth] + 0.05 * rng.normal(size=(300, 192)).astype(np.float32)
    sims, idx = VipIndex(names, centres, backend="numpy").search(queries, k=5)
    assert np.mean(idx[:, 0] == truth) > 0.99 and np.all(np.diff(sims, axis=1) <= 1e-6)
    if not faiss_available():
        pytest.skip("faiss-cpu is not installed; the NumPy backend was checked")
    fsims, fidx = VipIndex(names, centres, backend="faiss").search(queries, k=5)
    assert np.array_equal(fidx, idx) and np.allclose(fsims, sims, atol=1e-5)


class Embedder:
    """A stand-in for the identity embedder: a face's "feature map" is its embedding."""

    identity = EmbedderId("mobilefacenet", "b" * 64)

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors

    def feature_maps(self, crops: np.ndarray) -> np.ndarray:
        return self.vectors[: len(crops)]

    def embed_maps(self, maps: np.ndarray) -> np.ndarray:
        return maps / np.linalg.norm(maps, axis=1, keepdims=True)


def guard_for(registry: Registry, vectors: np.ndarray, **config) -> Guard:
    analyzer = SimpleNamespace(embedder=lambda name: Embedder(vectors))
    return Guard(registry, analyzer, GuardConfig(**config), artifact=None)  # type: ignore[arg-type]


def faces(n: int) -> list:
    return [SimpleNamespace(aligned=np.zeros((4, 4, 3), np.uint8)) for _ in range(n)]


def test_selection_among_many_synthetic_vips_finds_the_real_one(tmp_path):
    db = tmp_path / "r.db"
    registry, centres = many(db, 500, seed=1)
    rng = np.random.default_rng(2)
    real = unit(rng, DIM)
    registry.put(profile("Real_VIP", real))
    lookalike = real + 0.35 * unit(rng, DIM)  # a synthetic VIP near the real one
    registry.put(profile("Synthetic_lookalike", lookalike))
    reader = Registry(db, codec=PROFILE_CODEC, readonly=True)
    probe = real + 0.15 * unit(rng, DIM)  # a genuine photo: nearer its own centre than the look-alike's
    guard = guard_for(reader, np.stack([unit(rng, DIM), probe]))
    catalogue = guard.catalogue(None)
    assert catalogue is not None and len(catalogue) == 502 and guard.catalogue("Real_VIP") is None
    picked = guard.pick(faces(2), catalogue)
    assert isinstance(picked, Picked) and picked.face == 1 and picked.claimed
    assert [p.name for p in picked.candidates.profiles] == ["Real_VIP"]
    assert same(picked.candidates.profiles[0], reader.get("Real_VIP"))
    # the same choice as the eager path (every profile loaded, compared with every centre)
    eager = reader.load()
    for trial in range(30):
        vectors = unit(rng, 3, DIM) if trial % 2 else centres[rng.integers(0, 500, 3)] + 0.1 * unit(rng, 3, DIM)
        picked = guard_for(reader, vectors).pick(faces(3), catalogue)
        face_i, vip_i, claimed = guard.select(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), eager.index,
                                              None)
        assert (picked.face, picked.candidates.profiles[0].name, picked.claimed) == (
            face_i, eager.profiles[vip_i].name, claimed)


def test_few_vips_or_several_embedders_keep_the_eager_path(tmp_path):
    db = tmp_path / "r.db"
    registry, _ = many(db, 30)
    assert guard_for(registry, np.zeros((1, DIM))).catalogue(None) is None  # up to pick_first: as before
    assert guard_for(registry, np.zeros((1, DIM)), pick_first=10).catalogue(None) is not None
    other = replace(profile("Dlib_VIP", np.ones(128)), embedder=EmbedderId("dlib", "d" * 64))
    registry.put(other)  # 128-d centres beside 32-d ones: no index can hold both
    assert not registry.catalogue().uniform
    assert guard_for(registry, np.zeros((1, DIM)), pick_first=10).catalogue(None) is None


def test_a_corrupt_picked_vip_is_an_error_naming_it(tmp_path):
    db = tmp_path / "r.db"
    registry, centres = many(db, 20)
    sql(db, "UPDATE vips SET profile = '{not json' WHERE name = 'vip00007'")
    reader = Registry(db, codec=PROFILE_CODEC, readonly=True)
    guard = guard_for(reader, centres[[7]], pick_first=10)
    message = guard.pick(faces(1), guard.catalogue(None))
    assert isinstance(message, str) and "'vip00007' is corrupt" in message and "vipguard remove vip00007" in message
    picked = guard_for(reader, centres[[8]], pick_first=10).pick(faces(1), guard.catalogue(None))
    assert picked.candidates.profiles[0].name == "vip00008"


def test_what_a_check_is_judged_without_never_decodes_every_profile(tmp_path, monkeypatch):
    """The corrupt rows the CLI and the service report beside a check (judged_without): among many VIPs only the
    rows the catalogue could not read, at the catalogue's cost (no profile decoded); among few, every corrupt row;
    with a VIP named, none."""
    from vipguard.lite.guard import judged_without

    db = tmp_path / "r.db"
    many(db, 20)
    sql(db, "UPDATE vips SET profile = '{not json' WHERE name = 'vip00003'")  # a current centre: not read here
    sql(db, "DELETE FROM centres WHERE name = 'vip00011'")  # no centre: decoded by the catalogue
    sql(db, "UPDATE vips SET arrays = x'00' WHERE name = 'vip00011'")
    reader = Registry(db, codec=PROFILE_CODEC, readonly=True)
    decoded = []
    real = PROFILE_CODEC.decode
    monkeypatch.setattr(reader, "codec", SimpleNamespace(
        columns=PROFILE_CODEC.columns, summary=PROFILE_CODEC.summary, encode=PROFILE_CODEC.encode,
        decode=lambda text, blob: decoded.append(1) or real(text, blob)))
    few, many_vips = GuardConfig(), GuardConfig(pick_first=10)
    assert [f.name for f in judged_without(reader, many_vips)] == ["vip00011"] and len(decoded) == 1
    assert judged_without(reader, many_vips, "vip00003") == () and len(decoded) == 1
    assert [f.name for f in judged_without(reader, few)] == ["vip00003", "vip00011"] and len(decoded) == 21  # all
