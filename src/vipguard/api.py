"""The Python API in one object: ``VIPGuard`` enrols VIPs and checks images, videos and arrays.

    >>> import vipguard
    >>> vg = vipguard.VIPGuard()                      # the registry the CLI uses ($VIPGUARD_HOME/registry.db)
    >>> vg.enroll("Tony_Blair", "photos/blair/")      # a folder, files, or a list of both
    >>> vg.check("suspect.jpg").verdict               # 'genuine' | 'fake' | 'different_person' | 'no_face' | 'error'

``check`` accepts a file path (image or video), a PIL image, or a ``uint8`` numpy array whose channel order is
stated with ``channels="rgb"`` (the default: PIL, imageio, matplotlib) or ``channels="bgr"`` (``cv2.imread``).
Models load on the first call that needs them, from the verified model store (``vipguard setup``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .infra.io import expand_inputs, to_rgb
from .infra.registry import Registry
from .lite.enrol import EnrolConfig, EnrolResult
from .lite.guard import Guard, GuardConfig, Verdict
from .lite.profile import PROFILE_CODEC

DEFAULT_MAX_PHOTOS = 30  # past ~15 photos AUC stops rising (README ablation); enrolment time grows ~linearly
SELECTIONS = ("spread", "diverse", "first")
CHANNELS = ("rgb", "bgr")
Progress = Callable[[str, int, int], None]

__all__ = ["CHANNELS", "DEFAULT_MAX_PHOTOS", "SELECTIONS", "VIPGuard", "as_rgb", "choose_photos"]


def as_rgb(image: Any, channels: str = "rgb") -> np.ndarray:
    """``image`` (a PIL image or a numpy array) as a contiguous RGB ``uint8`` array of shape (H, W, 3).

    A PIL image of any mode is converted as files are (EXIF orientation applied, alpha on white); ``channels``
    must then be ``"rgb"``. A numpy array must be ``uint8``, shaped (H, W, 3) in the stated channel order, or
    (H, W) grey. Anything else is a :class:`ValueError` (or :class:`TypeError`) that says how to convert it.
    """
    if channels not in CHANNELS:
        raise ValueError(f"channels must be 'rgb' or 'bgr', not {channels!r}")
    from PIL import Image, ImageOps

    if isinstance(image, Image.Image):
        if channels != "rgb":
            raise ValueError("channels='bgr' describes numpy arrays; a PIL image is always converted as RGB")
        return to_rgb(ImageOps.exif_transpose(image))
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected a file path, a PIL image or a numpy array, not {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 array, not {image.dtype}: scale to 0..255 and convert, e.g. "
                         "np.clip(x * 255, 0, 255).astype(np.uint8) for floats in [0, 1]")
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[..., None], 3, axis=2))
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an array of shape (H, W, 3) or (H, W), not {image.shape}: drop an alpha "
                         "channel with x[..., :3]; put channels last with x.transpose(1, 2, 0)")
    if min(image.shape[:2]) == 0:
        raise ValueError(f"the image is empty (shape {image.shape})")
    return np.ascontiguousarray(image[..., ::-1] if channels == "bgr" else image)


def choose_photos(paths: Sequence[Path], limit: int, selection: str = "spread",
                  embed: Callable[[Path], np.ndarray | None] | None = None) -> list[Path]:
    """At most ``limit`` of ``paths`` for an enrolment.

    ``"first"`` keeps the first ones; ``"spread"`` keeps evenly spaced ones over the (sorted) list, so a folder
    named by date or event contributes from all of it; ``"diverse"`` embeds each photo (``embed``: path → unit
    vector, or None when no face is found) and picks by farthest-point sampling among the photos that carry the
    folder's identity (cosine to the centre of all faces ≥ :attr:`GuardConfig.select_threshold`), starting from
    the most typical one — different poses, lighting and days rather than near-duplicates.
    """
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}, not {selection!r}")
    if limit < 1:
        raise ValueError(f"max_photos must be at least 1, not {limit}")
    paths = list(paths)
    if len(paths) <= limit:
        return paths
    if selection == "first":
        return paths[:limit]
    if selection == "spread":
        return [paths[int(i)] for i in np.linspace(0, len(paths) - 1, limit).round().astype(int)]
    if embed is None:
        raise ValueError("selection='diverse' needs an embed function")
    found = [(p, v) for p in paths if (v := embed(p)) is not None]
    if len(found) <= limit:
        return [p for p, _ in found]
    vectors = np.stack([v for _, v in found]).astype(np.float64)
    centre = vectors.mean(0)
    centre /= np.linalg.norm(centre)
    near = vectors @ centre
    core = np.flatnonzero(near >= GuardConfig.select_threshold)
    core = core if len(core) >= limit else np.argsort(-near)[:limit]
    picked = [int(core[np.argmax(near[core])])]
    distance = 1.0 - vectors[core] @ vectors[picked[0]]
    while len(picked) < limit:
        nxt = int(np.argmax(distance))
        picked.append(int(core[nxt]))
        distance = np.minimum(distance, 1.0 - vectors[core] @ vectors[core[nxt]])
    return [found[i][0] for i in sorted(picked)]


class VIPGuard:
    """Enrol protected people (VIPs) and check whether a face is genuinely one of them.

    Args:
        db: the registry file; ``None`` is the CLI's default, ``$VIPGUARD_HOME/registry.db``.
        models: the model folder; ``None`` is ``$VIPGUARD_HOME/models`` (filled by ``vipguard setup``).
        strictness: the operating point of checks: ``"lenient"`` (1 % of genuine photos rejected), ``"default"``
            (3 %), ``"strict"`` (10 %), a rate in (0, 0.5), or ``None`` for each VIP's own (set at enrolment).
        fast: measure only the evidence the score reads (no dense mesh): the same scores, shorter explanations.
        enrol: the enrolment settings (:class:`~vipguard.lite.enrol.EnrolConfig`: quality limits, forgeries per
            photo, ...); ``enroll``'s ``seed`` and ``strictness`` replace its ``seed`` and ``reject_rate``.

    Use it as a context manager (or call :meth:`close`) to release the face models' native resources.
    """

    def __init__(self, db: str | Path | None = None, *, models: str | Path | None = None,
                 strictness: str | float | None = None, fast: bool = False,
                 enrol: EnrolConfig = EnrolConfig()) -> None:
        self.registry = Registry(db, codec=PROFILE_CODEC)
        self.config = GuardConfig(strictness=strictness, detail="fast" if fast else "full")
        self.enrol_config = enrol
        self._models = None if models is None else Path(models)
        self._analyzer = None
        self._artifact = None
        self._enroller = None

    def __repr__(self) -> str:
        return f"VIPGuard(db={str(self.registry.path)!r}, vips={self.vips})"

    def __enter__(self) -> VIPGuard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the face models (they load again on the next call that needs them)."""
        if self._analyzer is not None:
            self._analyzer.close()
        self._analyzer = None
        self._enroller = None

    @property
    def analyzer(self):
        """The :class:`~vipguard.faces.FaceAnalyzer`, built on first use from the verified model store; a missing
        or corrupt model file raises :class:`~vipguard.infra.weights.WeightsError` naming ``vipguard setup``."""
        if self._analyzer is None:
            from .faces import FaceAnalyzer
            from .infra.weights import ModelStore, WeightsError

            store = ModelStore(self._models)
            bad = store.problems()
            if bad:
                raise WeightsError(f"model files missing or corrupt in {store.root}: {bad}; run `vipguard setup`")
            self._analyzer = FaceAnalyzer(store=store)
        return self._analyzer

    @property
    def artifact(self):
        """The artefact detector (:class:`~vipguard.artifact.detector.ArtifactDetector`, the weights shipped in
        the package), built on first use; one evidence source of the checks and the enrolments."""
        if self._artifact is None:
            from .artifact.detector import ArtifactDetector

            self._artifact = ArtifactDetector()
        return self._artifact

    @property
    def guard(self) -> Guard:
        """The :class:`~vipguard.lite.guard.Guard` behind :meth:`check` (registry, models and operating point)."""
        return Guard(self.registry, self.analyzer, self.config, artifact=self.artifact)

    @property
    def vips(self) -> list[str]:
        """The names of the enrolled VIPs."""
        return self.registry.names()

    def remove(self, name: str) -> None:
        """Remove an enrolled VIP; :class:`~vipguard.infra.registry.UnknownVip` (a ``KeyError``) if there is none."""
        from .infra.registry import UnknownVip

        if not self.registry.remove(name):
            raise UnknownVip(name, self.registry.names())

    def enroll(self, name: str, photos: str | Path | Sequence[str | Path], *,
               max_photos: int | None = DEFAULT_MAX_PHOTOS, selection: str = "spread",
               strictness: str | float | None = None, seed: int = 0, progress: Progress | None = None
               ) -> EnrolResult:
        """Enrol (or re-enrol) ``name`` from authentic photos and store the profile in the registry.

        Args:
            name: letters, digits, spaces, ``_ . -`` (1-64 characters).
            photos: a folder (searched recursively), an image file, or a list of folders and files.
            max_photos: use at most this many photos (default 30; ``None`` = all). Enrolment costs about 3 s a
                photo on one CPU core and accuracy stops improving past about 15 photos.
            selection: which photos a large folder contributes: ``"spread"`` (default: evenly over the sorted
                file list), ``"diverse"`` (farthest-point sampling of face embeddings: varied poses and days;
                costs one face detection per photo) or ``"first"``.
            strictness: the VIP's operating point (see :class:`VIPGuard`); ``None`` = the ``enrol`` setting
                (``"default"``, 3 % genuine photos rejected, unless changed).
            seed: seed for augmentation and the forgeries the head is trained against.
            progress: ``progress(stage, done, total)``, called as photos are screened and forgeries made.

        Returns:
            The :class:`~vipguard.lite.enrol.EnrolResult`: ``used``, ``photos`` (used or not, and why),
            ``similarity_floor``, ``expected_genuine_accept``, ``warnings``, ``profile``.

        Raises:
            ValueError: an invalid name, strictness, selection or ``max_photos``.
            vipguard.lite.enrol.EnrolError: no usable photo (the message names the reasons).
        """
        from .infra.registry import validate_name
        from .lite.background import load_background
        from .lite.decision import reject_rate
        from .lite.enrol import EnrolError, Enroller

        validate_name(name)
        rate = reject_rate(strictness, self.enrol_config.reject_rate)
        given = [photos] if isinstance(photos, (str, Path)) else list(photos)
        paths = list(expand_inputs(given))
        if not paths:
            raise EnrolError(f"no image files found in {', '.join(str(p) for p in given)}")
        if max_photos is not None:
            paths = choose_photos(paths, max_photos, selection, self._embed_path)
        elif selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}, not {selection!r}")
        if self._enroller is None:  # kept: it holds the analysed forgery targets between enrolments
            self._enroller = Enroller(self.analyzer, load_background(), artifact=self.artifact)
        self._enroller.config = replace(self.enrol_config, seed=seed, reject_rate=rate)
        result = self._enroller.enrol(name, paths, progress=progress)
        self.registry.put(result.profile)
        return result

    def check(self, image: str | Path | Any, vip: str | None = None, *, channels: str = "rgb") -> Verdict:
        """Is the face in ``image`` genuinely the VIP, a forgery of the VIP, or a different person?

        Args:
            image: a file path (an image, or a video: then a :class:`~vipguard.apps.video.ClipVerdict` over sampled
                frames), a PIL image, or a ``uint8`` numpy array of shape (H, W, 3) or (H, W).
            vip: judge against this VIP; ``None`` (default) chooses the nearest enrolled VIP.
            channels: the channel order of a numpy array: ``"rgb"`` (default; PIL, imageio, matplotlib) or
                ``"bgr"`` (``cv2.imread``, ``cv2.VideoCapture``). Passing BGR as RGB changes the score.

        Returns:
            A :class:`~vipguard.lite.guard.Verdict`: ``verdict``, ``score`` (probability of the genuine VIP),
            ``face_similarity`` (0-100), ``explanation``, ``other_faces``, ... and ``to_json()``. A file that
            cannot be read, or an unknown VIP, gives ``verdict == "error"`` with the reason in ``error``.

        Raises:
            ValueError / TypeError: an array of another dtype or shape, or an unknown ``channels``.
        """
        if isinstance(image, (str, Path)):
            if channels not in CHANNELS:
                raise ValueError(f"channels must be 'rgb' or 'bgr', not {channels!r}")
            from .apps.check import CheckOptions, check_or_fail

            return check_or_fail(self.guard, image, CheckOptions(vip=vip)).verdict
        return self.guard.check(as_rgb(image, channels), vip=vip)

    def _embed_path(self, path: Path) -> np.ndarray | None:
        """The whole-face embedding of the dominant face in the photo at ``path`` (None: unreadable, no face)."""
        from .faces.embed import DEFAULT_EMBEDDER
        from .infra.io import InputError, load_image

        try:
            image = load_image(path)
        except InputError:
            return None  # the enrolment would reject it too; "diverse" picks among readable photos
        faces = self.analyzer.analyze(image, primary_only=True, embedders=(DEFAULT_EMBEDDER,), mesh=False)
        return faces[0].embeddings[DEFAULT_EMBEDDER] if faces else None
