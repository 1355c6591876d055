"""Native libraries' log lines kept off the user's terminal.

LiteRT (``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.``) and MediaPipe (absl: ``W0000 …
inference_feedback_manager.cc:121] …``) write to file descriptor 2 from C++ while a model is built; no environment
variable or Python API of theirs turns that off. :func:`native_stderr_to_log` points descriptor 2 at a temporary
file while the block runs and hands what was written there to the ``vipguard.native`` logger at DEBUG level, so
``vipguard --verbose`` (or any logging configuration that asks for it) still shows every line and nothing is lost.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

LOGGER = "vipguard.native"
# descriptor 2 belongs to the process: one redirection at a time, whichever thread builds a model
_REDIRECT = threading.RLock()  # re-entrant: a model built inside another's block nests


@contextmanager
def native_stderr_to_log(logger: logging.Logger | None = None) -> Iterator[None]:
    """Run the block with descriptor 2 captured; each non-empty captured line goes to ``logger`` (default
    ``vipguard.native``) at DEBUG. Python's own ``sys.stderr`` is flushed first, so no earlier text is caught."""
    log = logger or logging.getLogger(LOGGER)
    with _REDIRECT:
        if sys.stderr is not None:
            sys.stderr.flush()
        saved = os.dup(2)
        try:
            with tempfile.TemporaryFile() as sink:
                os.dup2(sink.fileno(), 2)
                try:
                    yield
                finally:  # also when the block raises: the descriptor comes back and what was caught is logged
                    os.dup2(saved, 2)
                    sink.seek(0)
                    for line in sink.read().decode("utf-8", errors="replace").splitlines():
                        if line.strip():
                            log.debug("%s", line.rstrip())
        finally:
            os.close(saved)


def show_native_logs(stream=None) -> None:
    """Send the ``vipguard.native`` lines (and vipguard's other DEBUG logging) to ``stream`` (stderr by default):
    what ``vipguard --verbose`` does."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root = logging.getLogger("vipguard")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
