"""The source tree as documented (issue #20): the README's layout names every package and module under
``src/vipguard``, and the training apps (``vipguard.train``) are imported by nothing but the training commands.
Read from the files (nothing is imported), so these run without data or models."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_layers import PACKAGE, graph, modules

README = PACKAGE.parents[1] / "README.md"
TRAINING_COMMANDS = {"vipguard.cli.artifact_cmd", "vipguard.cli.mllm_cmd"}


def layout_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Layout"):]
    return section[section.index("```") + 3: section.index("```", section.index("```") + 3)]


def test_readme_layout_names_every_package_and_module():
    block = layout_block()
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", block))
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        for part in rel.parts[:-1]:
            if f"{part}/" not in block:
                missing.append(f"{part}/")
        stem = path.stem
        if stem == "__init__" and len(rel.parts) > 1:
            continue  # a package is named by its folder
        if (stem not in words) and (path.name not in block):
            missing.append(str(rel))
    assert not missing, f"README.md's Layout does not name: {sorted(set(missing))}"


def test_readme_layout_names_nothing_that_is_gone():
    block = layout_block()
    folders = set(re.findall(r"^[ ]+([a-z_]+)/", block, re.M))
    gone = sorted(f for f in folders if not (PACKAGE / f).is_dir())
    assert not gone, f"README.md's Layout names folders that are not in src/vipguard: {gone}"


def test_training_apps_are_imported_only_by_the_training_commands():
    g = graph()
    users = {m for m, targets in g.items() if not m.startswith("vipguard.train")
             and any(t == "vipguard.train" or t.startswith("vipguard.train.") for t in targets)}
    assert users <= TRAINING_COMMANDS, f"library code imports the training apps: {sorted(users - TRAINING_COMMANDS)}"
    assert users, "the parser found no import of vipguard.train at all"
    assert any(m.startswith("vipguard.train.") for m in modules())
