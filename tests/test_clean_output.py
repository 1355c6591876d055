"""Clean output: no model runtime's log line reaches a user's terminal unless asked for (``--verbose``), and the
commands that check need only the files checking reads (the ImageNet backbones are read by retraining alone).

The end-to-end cases run ``python -m vipguard`` in a subprocess, with a model folder that holds only the inference
files, on real LFW photos; stderr is captured whole.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from vipguard.infra.nativelog import native_stderr_to_log
from vipguard.infra.weights import CATALOGUE, ModelStore

from .conftest import photo_folder

# what LiteRT (XNNPACK delegate), MediaPipe's absl logging and TensorFlow print on descriptor 2
NATIVE_LINE = re.compile(r"TensorFlow Lite|XNNPACK|InitGoogle|^[WIEF]\d{4} |feedback_manager|absl", re.M)
INFERENCE = [e for e in CATALOGUE if e.use == "inference"]


def test_native_lines_go_to_the_log_not_the_terminal(capfd, caplog):
    with caplog.at_level(logging.DEBUG, logger="vipguard.native"):
        with native_stderr_to_log():
            os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n\nW0000 00:00 x.cc:1] feedback\n")
        os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"  # nothing caught leaks; descriptor 2 is back afterwards
    assert [r.getMessage() for r in caplog.records] == [
        "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.", "W0000 00:00 x.cc:1] feedback"]


def test_descriptor_is_restored_when_the_block_raises(capfd, caplog):
    with caplog.at_level(logging.DEBUG, logger="vipguard.native"), pytest.raises(ValueError):
        with native_stderr_to_log():
            os.write(2, b"partial\n")
            raise ValueError("model failed to build")
    os.write(2, b"visible\n")
    assert capfd.readouterr().err == "visible\n"
    assert [r.getMessage() for r in caplog.records] == ["partial"]  # what was written before the failure is kept


def test_nested_blocks_keep_every_line(capfd, caplog):
    with caplog.at_level(logging.DEBUG, logger="vipguard.native"):
        with native_stderr_to_log():
            os.write(2, b"outer\n")
            with native_stderr_to_log():
                os.write(2, b"inner\n")
    assert capfd.readouterr().err == ""
    assert sorted(r.getMessage() for r in caplog.records) == ["inner", "outer"]


def test_only_inference_files_are_needed_to_check(tmp_path):
    assert {e.name for e in CATALOGUE if e.use == "training"} == {"efficientnet_lite0", "efficientnet_lite2"}
    store = ModelStore(tmp_path)
    assert set(store.problems()) == {e.name for e in INFERENCE}  # an empty folder: every inference file missing
    assert set(store.problems(uses=("training",))) == {"efficientnet_lite0", "efficientnet_lite2"}


@pytest.fixture(scope="module")
def inference_home(tmp_path_factory, store, lfw) -> Path:
    """A ``$VIPGUARD_HOME`` whose model folder links the inference files only, with Colin Powell enrolled."""
    home = tmp_path_factory.mktemp("home")
    (home / "models").mkdir()
    for entry in INFERENCE:
        (home / "models" / entry.filename).symlink_to(store.root / entry.filename)
    enrol = photo_folder(lfw, "Colin_Powell", 1, 10, home / "enrol")
    result = run_cli(home, "enroll", "Colin Powell", str(enrol))
    assert result.returncode == 0, result.stderr
    assert not NATIVE_LINE.search(result.stderr), result.stderr
    assert "genuine range" in result.stdout
    return home


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "VIPGUARD_HOME": str(home)}
    env.pop("VIPGUARD_MODELS", None)
    return subprocess.run([sys.executable, "-m", "vipguard", *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def test_check_runs_with_inference_files_only_and_prints_no_runtime_line(inference_home, lfw):
    photo = lfw / "Colin_Powell" / "Colin_Powell_0030.jpg"
    result = run_cli(inference_home, "check", str(photo), "--json")
    assert result.returncode == 0, result.stderr
    assert '"verdict": "genuine"' in result.stdout
    assert result.stderr == ""


def test_verbose_shows_the_runtime_lines(inference_home, lfw):
    photo = lfw / "Colin_Powell" / "Colin_Powell_0030.jpg"
    result = run_cli(inference_home, "--verbose", "check", str(photo), "--json")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^vipguard\.native: .*XNNPACK", result.stderr, re.M), result.stderr


def test_scan_prints_progress_but_no_runtime_line(inference_home, lfw, tmp_path):
    folder = photo_folder(lfw, "Colin_Powell", 30, 33, tmp_path / "in")
    result = run_cli(inference_home, "scan", str(folder), "--out", str(tmp_path / "out.jsonl"))
    assert result.returncode == 0, result.stderr
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 4
    assert not NATIVE_LINE.search(result.stderr), result.stderr


def test_serve_log_has_no_runtime_line(inference_home, lfw):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "VIPGUARD_HOME": str(inference_home), "VIPGUARD_API_KEY": "k"}
    env.pop("VIPGUARD_MODELS", None)
    server = subprocess.Popen([sys.executable, "-m", "vipguard", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                    assert response.status == 200
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        server.terminate()
        _, err = server.communicate(timeout=60)
    assert "Application startup complete" in err  # the server's own log is there ...
    assert not NATIVE_LINE.search(err), err  # ... the runtimes' lines are not
