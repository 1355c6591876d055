"""Batch scanning (inputs, manifests, resume without duplicates, parallel workers, Ray when installed) and the
VIP-centre index (NumPy and FAISS backends agree)."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import numpy as np
import pytest

from vipguard.apps.scan import ScanConfig, ScanError, collect_inputs, done_paths, run_scan
from vipguard.infra.index import FAISS_MIN_VIPS, VipIndex, faiss_available

from .conftest import photos

VIP = "Colin_Powell"


@pytest.fixture(scope="module")
def inputs(lfw, tmp_path_factory):
    folder = tmp_path_factory.mktemp("scan_in")
    for p in photos(lfw, VIP, 30, 40)[:3] + sorted((lfw / "Tony_Blair").glob("*.jpg"))[:2]:
        shutil.copy(p, folder / p.name)
    (folder / "broken.jpg").write_bytes(b"not really a jpeg")
    return folder


@pytest.fixture(scope="module")
def db(lfw, analyzer, tmp_path_factory):
    from .test_service import enrolled_db

    path = tmp_path_factory.mktemp("scan_db") / "registry.db"
    shutil.copy(enrolled_db(lfw, analyzer, tmp_path_factory), path)
    return path


def _lines(out):
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_collect_inputs_folder_and_manifests(inputs, tmp_path):
    found = collect_inputs(inputs)
    assert len(found) == 6 and found == sorted(found)
    (tmp_path / "sub").mkdir()
    listed = tmp_path / "sub" / "list.json"
    listed.write_text(json.dumps([found[0], "rel.jpg", found[0]]))
    assert collect_inputs(listed) == [found[0], str(tmp_path / "sub" / "rel.jpg")]  # relative to the manifest
    records = tmp_path / "records.jsonl"
    records.write_text("\n".join(json.dumps({"path": p, "label": 1}) for p in found[:2]) + "\n\n")
    assert collect_inputs(records) == found[:2]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"path": "a.jpg"}\n{oops\n')
    with pytest.raises(ScanError, match="bad.jsonl:2"):
        collect_inputs(bad)
    (tmp_path / "odd.json").write_text(json.dumps([{"file": "x"}]))
    with pytest.raises(ScanError, match="entry 1"):
        collect_inputs(tmp_path / "odd.json")
    with pytest.raises(ScanError, match="no such"):
        collect_inputs(tmp_path / "missing")


def test_collect_inputs_keeps_an_empty_folder(tmp_path):
    """A folder with no image or video in it is an input of its own (its check is an error line naming it)."""
    from vipguard.infra.io import InputError, load_image

    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no photos here")
    assert collect_inputs(tmp_path / "empty") == [str(tmp_path / "empty")]
    with pytest.raises(InputError, match="no image or video files"):
        load_image(collect_inputs(tmp_path / "empty")[0])


def test_done_paths_drops_a_torn_line(tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_text('{"path": "a"}\n{"path": "b"}\n{"path": "c", "verd')
    assert done_paths(out) == {"a", "b"}
    assert out.read_text() == '{"path": "a"}\n{"path": "b"}\n'


def test_scan_resumes_without_duplicates(inputs, db, tmp_path):
    out = tmp_path / "results.jsonl"
    config = ScanConfig(db=db)
    seen = []

    def interrupt(record):
        seen.append(record["path"])
        if len(seen) == 2:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C after two results

    with pytest.raises(KeyboardInterrupt):
        run_scan(inputs, out, config, workers=1, on_result=interrupt)
    assert len(_lines(out)) == 2
    with open(out, "a") as fh:  # and the process died in the middle of writing the third line
        fh.write('{"path": "' + str(inputs / "x"))
    summary = run_scan(inputs, out, config, workers=1)
    assert (summary.total, summary.skipped, summary.done, summary.failed) == (6, 2, 4, 1)
    assert 0 < summary.first_seconds < summary.seconds  # start-up + one check, timed apart from the rest
    records = _lines(out)
    assert Counter(r["path"] for r in records) == Counter(collect_inputs(inputs))
    verdicts = {r["path"].rsplit("/", 1)[1]: r["verdict"] for r in records}
    assert verdicts["broken.jpg"] == "error"
    assert [v for k, v in verdicts.items() if k.startswith(VIP)] == ["genuine"] * 3
    again = run_scan(inputs, out, config, workers=1)
    assert (again.done, again.skipped) == (0, 6) and len(_lines(out)) == 6


def test_scan_command_parallel(inputs, db, tmp_path, capsys):
    from vipguard.cli import main

    out = tmp_path / "par.jsonl"
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps([{"path": p} for p in collect_inputs(inputs)[-4:]]))
    status = main(["scan", str(manifest), "--out", str(out), "--workers", "2", "--db", str(db), "--vip", VIP])
    assert status == 1  # broken.jpg is among the four
    records = _lines(out)
    assert len(records) == 4 and len({r["path"] for r in records}) == 4
    assert all(r["vip"] == VIP or r["verdict"] == "error" for r in records)
    assert "/s with 2 workers" in capsys.readouterr().err
    assert main(["scan", str(inputs), "--out", str(out), "--vip", "Nobody", "--db", str(db)]) == 2
    assert main(["scan", str(tmp_path / "nothing"), "--out", str(out), "--db", str(db)]) == 2


def test_scan_ray_flag(inputs, db, tmp_path):
    from vipguard.apps.scan import ray_available
    from vipguard.cli import main

    out = tmp_path / "ray.jsonl"
    if not ray_available():
        assert main(["scan", str(inputs), "--out", str(out), "--ray", "local", "--db", str(db)]) == 2
        pytest.skip("ray is not installed (optional extra 'ray'); checked the clear error instead")
    from vipguard.apps.scan import run_ray

    summary = run_ray(inputs, out, "local", ScanConfig(db=db), workers=1)
    assert summary.done == 6 and len(_lines(out)) == 6


def test_index_backends_agree():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(FAISS_MIN_VIPS + 200, 128)).astype(np.float32)
    names = [f"vip{i}" for i in range(len(centres))]
    queries = centres[[3, 500, 1100]] + 0.1 * rng.normal(size=(3, 128)).astype(np.float32)
    brute = VipIndex(names, centres, backend="numpy")
    sims, idx = brute.search(queries, k=5)
    assert idx[:, 0].tolist() == [3, 500, 1100] and np.all(np.diff(sims, axis=1) <= 1e-6)
    assert brute.nearest(queries[1])[0].name == "vip500"
    assert VipIndex(names[:10], centres[:10]).backend == "numpy"
    if not faiss_available():
        pytest.skip("faiss-cpu is not installed; the NumPy backend was checked")
    auto = VipIndex(names, centres)
    assert auto.backend == "faiss"
    fsims, fidx = auto.search(queries, k=5)
    assert fidx.tolist() == idx.tolist() and np.allclose(fsims, sims, atol=1e-5)


def test_index_edge_cases(db):
    from vipguard.infra.registry import Registry
    from vipguard.lite.profile import PROFILE_CODEC

    empty = VipIndex([], np.zeros((0, 0)))
    assert empty.search(np.ones(128), 3)[1].shape == (1, 0)
    with pytest.raises(ValueError, match="names"):
        VipIndex(["a"], np.ones((2, 4)))
    with pytest.raises(ValueError, match="backend"):
        VipIndex(["a"], np.ones((1, 4)), backend="annoy")
    with pytest.raises(ValueError, match="dimension"):
        VipIndex(["a"], np.ones((1, 4))).search(np.ones(5))
    registry = Registry(db, codec=PROFILE_CODEC)
    index = VipIndex.from_registry(registry)
    assert index.names == [VIP]
    assert index.nearest(registry.get(VIP).centre)[0].similarity == pytest.approx(1.0, abs=1e-5)


def test_steady_rate_leaves_out_the_start_up():
    from vipguard.apps.scan import ScanSummary

    summary = ScanSummary(total=9, skipped=0, done=9, failed=0, seconds=10.0, first_seconds=2.0)
    assert summary.per_second == pytest.approx(0.9) and summary.steady_per_second == pytest.approx(1.0)
    assert ScanSummary(1, 0, 1, 0, 4.0, 4.0).steady_per_second == pytest.approx(0.25)  # one result: no steady part


def test_scan_works_on_a_read_only_registry(inputs, db, tmp_path, capsys):
    """A scan only reads: a registry file without write permission (honoured even for root) is scanned, in the
    command and in each worker, and left byte-identical with nothing created beside it."""
    from vipguard.cli import main

    ro = tmp_path / "ro" / "registry.db"
    ro.parent.mkdir()
    shutil.copy(db, ro)
    before = ro.read_bytes()
    ro.chmod(0o444)
    out = tmp_path / "ro.jsonl"
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps(collect_inputs(inputs)[:2]))
    try:
        status = main(["scan", str(manifest), "--out", str(out), "--workers", "2", "--db", str(ro)])
    finally:
        ro.chmod(0o644)
    err = capsys.readouterr().err
    assert status == 0, err
    assert [r["verdict"] for r in _lines(out)] != [] and all(r["verdict"] != "error" for r in _lines(out))
    assert {r["vip"] for r in _lines(out)} == {VIP}
    assert ro.read_bytes() == before and [p.name for p in ro.parent.iterdir()] == ["registry.db"]


def test_scan_with_a_corrupt_row(tmp_path, capsys, store):
    """--vip of a corrupt row: one line naming the VIP and the repair, exit 2, before any worker starts (no
    traceback, no output file); without --vip the other VIPs are used, the row is reported once, and the run ends
    with status 2 (as `check` does)."""
    from PIL import Image

    from vipguard.cli import main

    from .test_registry import CORRUPT_ROWS, sql, two_vips

    db = tmp_path / "registry.db"
    two_vips(db)
    sql(db, CORRUPT_ROWS["not_json"][0])
    (tmp_path / "in").mkdir()
    Image.new("RGB", (64, 64), (128, 128, 128)).save(tmp_path / "in" / "grey.png")
    out = tmp_path / "out.jsonl"
    status = main(["scan", str(tmp_path / "in"), "--out", str(out), "--vip", "Bob", "--workers", "2", "--db", str(db)])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: {db}: the profile of VIP 'Bob' is corrupt") and "vipguard remove Bob" in err
    assert not out.exists()
    status = main(["scan", str(tmp_path / "in"), "--out", str(out), "--workers", "1", "--db", str(db)])
    err = capsys.readouterr().err
    assert status == 2 and err.count("'Bob' is corrupt") == 1 and "Traceback" not in err
    assert [r["verdict"] for r in _lines(out)] == ["no_face"]


def test_scan_stops_with_one_line_when_the_registry_breaks(inputs, db, tmp_path, capsys, monkeypatch):
    """The registry file replaced by something else during a scan: one line naming the file, exit 2."""
    from vipguard.apps.scan import Checker
    from vipguard.cli import main

    broken = tmp_path / "registry.db"
    shutil.copy(db, broken)
    check = Checker.__call__

    def replaced_then_checked(self, path):
        broken.write_bytes(b"not a registry any more" * 10)  # as if another program overwrote it mid-scan
        return check(self, path)

    monkeypatch.setattr(Checker, "__call__", replaced_then_checked)
    status = main(["scan", str(inputs), "--out", str(tmp_path / "o.jsonl"), "--workers", "1", "--vip", VIP,
                   "--db", str(broken)])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("error:")] == \
        [line for line in err.splitlines() if line.startswith(f"error: {broken}: ")] != []
