"""VIP names: only whole, visible names are accepted, so one person can never become two registry rows."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from vipguard.registry import Registry, validate_name

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
    registry = Registry(tmp_path / "registry.db")
    with pytest.raises(ValueError, match="invalid VIP name"):
        registry.put(SimpleNamespace(name="Tony_Blair\n"))  # type: ignore[arg-type]
    assert registry.names() == []
