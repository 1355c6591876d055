"""CLI usage mistakes (DESIGN.md): the usage and exit 2, never a traceback, whatever typer/click version.

Each case runs ``python -m vipguard`` in a subprocess with an empty ``$VIPGUARD_HOME``: no model weights and no
photos are needed, since every mistake here is caught before a model is opened.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import vipguard
from vipguard.infra.registry import Registry, UnknownVip, suggest
from vipguard.lite.profile import PROFILE_CODEC


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"RAY_ADDRESS", "VIPGUARD_HOME"}}
    env.update(VIPGUARD_HOME=str(home), COLUMNS="100", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "vipguard", *args], env=env, capture_output=True, text=True,
                          timeout=180)


def assert_no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stderr


def enrol_row(db: Path, name: str) -> None:
    """A registry row for ``name`` (enough for ``names()`` and ``remove``; not a usable profile)."""
    Registry(db, codec=PROFILE_CODEC)
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO vips VALUES (?, 0, '{}', x'')", (name,))


@pytest.mark.parametrize("args", [
    ["chek"],                                                    # unknown command
    ["--bogus"],                                                 # unknown option
    ["check"],                                                   # missing argument
    ["scan", "in", "--out", "out.jsonl", "--workers", "abc"],    # bad int
    ["check", "x.mp4", "--fps", "abc"],                          # bad float
    ["list", "--db"],                                            # option without its value
    ["mllm", "train", "--bogus"],                                # unknown option of a nested group
], ids=lambda args: " ".join(args))
def test_usage_mistake_prints_usage_and_exits_2(tmp_path, args):
    result = run_cli(tmp_path, *args)
    assert result.returncode == 2, result.stderr
    assert_no_traceback(result)
    assert "Usage: vipguard" in result.stderr
    assert "Error:" in result.stderr


def test_unknown_command_suggests_the_near_one(tmp_path):
    result = run_cli(tmp_path, "chek")
    assert "'check'" in result.stderr


def test_missing_option_value_shows_that_commands_usage(tmp_path):
    result = run_cli(tmp_path, "list", "--db")
    assert "Usage: vipguard list" in result.stderr
    assert "--db" in result.stderr


def test_version(tmp_path):
    result = run_cli(tmp_path, "--version")
    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    assert result.stdout.strip() == f"vipguard {vipguard.__version__}"


@pytest.mark.parametrize("args", [[], ["--help"], ["mllm"]], ids=["bare", "--help", "bare group"])
def test_help_exits_0(tmp_path, args):
    result = run_cli(tmp_path, *args)
    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    assert "Usage: vipguard" in result.stdout + result.stderr


@pytest.mark.parametrize("args", [["--help"], ["check", "--help"], ["list", "--help"]], ids=" ".join)
def test_help_shows_flags_without_a_type(tmp_path, args):
    result = run_cli(tmp_path, *args)
    assert result.returncode == 0, result.stderr
    assert "--help" in result.stdout
    assert "<bool>" not in result.stdout


def test_remove_unknown_vip_says_so(tmp_path):
    result = run_cli(tmp_path, "remove", "Nobody")
    assert result.returncode == 1
    assert_no_traceback(result)
    assert "no VIP named 'Nobody' is enrolled" in result.stderr


def test_remove_near_name_suggests_it(tmp_path):
    enrol_row(tmp_path / "registry.db", "Tony_Blair")
    result = run_cli(tmp_path, "remove", "Tony_Blai")
    assert result.returncode == 1
    assert "did you mean 'Tony_Blair'?" in result.stderr


def test_scan_vip_near_name_suggests_it(tmp_path):
    enrol_row(tmp_path / "registry.db", "Tony_Blair")
    (tmp_path / "in").mkdir()
    result = run_cli(tmp_path, "scan", str(tmp_path / "in"), "--out", str(tmp_path / "o.jsonl"), "--vip", "tony blair")
    assert result.returncode == 2
    assert_no_traceback(result)
    assert "no VIP named 'tony blair' is enrolled; did you mean 'Tony_Blair'?" in result.stderr


def test_scan_ray_auto_without_a_cluster(tmp_path):
    (tmp_path / "in").mkdir()
    result = run_cli(tmp_path, "scan", str(tmp_path / "in"), "--out", str(tmp_path / "o.jsonl"), "--ray", "auto")
    assert result.returncode == 2
    assert_no_traceback(result)
    if "no VIP is enrolled" in result.stderr:
        pytest.skip("a Ray cluster is running on this machine, so --ray auto found one")
    assert "ray start --head" in result.stderr or "pip install 'vipguard[ray]'" in result.stderr, result.stderr


def test_install_hint_is_printed_literally(tmp_path, monkeypatch, capsys):
    import vipguard.apps.scan
    from vipguard.cli import main

    monkeypatch.setattr(vipguard.apps.scan, "ray_available", lambda: False)
    assert main(["scan", str(tmp_path), "--out", str(tmp_path / "o.jsonl"), "--ray", "local"]) == 2
    assert "pip install 'vipguard[ray]'" in capsys.readouterr().err


def test_error_prints_brackets_literally(capsys):
    from vipguard.cli.common import error

    error("pip install 'vipguard[service]' for photos/[bold]odd[/bold].jpg")
    assert "error: pip install 'vipguard[service]' for photos/[bold]odd[/bold].jpg" in capsys.readouterr().err


def test_suggest():
    names = ["Tony_Blair", "George_W_Bush", "Colin_Powell"]
    assert suggest("tony blair", names) == "Tony_Blair"
    assert suggest("Colin_Powel", names) == "Colin_Powell"
    assert suggest("Serena_Williams", names) is None
    assert suggest("x", []) is None


def test_unknown_vip_message():
    assert str(UnknownVip("Nobody")) == "no VIP named 'Nobody' is enrolled"
    near = UnknownVip("Tony_Blai", ["Tony_Blair"])
    assert str(near) == "no VIP named 'Tony_Blai' is enrolled; did you mean 'Tony_Blair'?"
    assert str(pickle.loads(pickle.dumps(near))) == str(near)
    assert isinstance(near, KeyError) and near.args[0] == "Tony_Blai"


def test_registry_get_suggests(tmp_path):
    db = tmp_path / "registry.db"
    enrol_row(db, "George_W_Bush")
    with pytest.raises(UnknownVip, match="did you mean 'George_W_Bush'"):
        Registry(db, codec=PROFILE_CODEC).get("George_Bush")


def test_artifact_train_names_the_backbones_it_knows(tmp_path):
    """An unknown --backbone is a usage error that lists every EfficientNet-Lite the trainer can use, before any
    data or weights are read."""
    data = tmp_path / "lfw"
    data.mkdir()
    result = run_cli(tmp_path, "artifact", "train", "--data", str(data), "--out", str(tmp_path / "out"),
                     "--backbone", "efficientnet_b4")
    assert result.returncode == 2
    assert_no_traceback(result)
    assert "efficientnet_lite0, efficientnet_lite2" in result.stderr and "'efficientnet_b4'" in result.stderr
    assert not (tmp_path / "out").exists()


def test_artifact_train_without_torch_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    """The lite install (`make demo`) has no torch: training says what to install instead of a traceback."""
    import vipguard.cli.artifact_cmd
    from vipguard.cli import main

    monkeypatch.setattr(vipguard.cli.artifact_cmd, "torch_available", lambda: False)
    (tmp_path / "lfw").mkdir()
    assert main(["artifact", "train", "--data", str(tmp_path / "lfw"), "--out", str(tmp_path / "out"),
                 "--backbone", "efficientnet_lite2"]) == 2
    assert "pip install 'vipguard[mllm]'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
