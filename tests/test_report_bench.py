"""The benchmark's report.html shows its tables as HTML tables (the same cells as results.md), never as Markdown
text in a <pre>."""

from __future__ import annotations

import html
import re

import numpy as np


def _metrics(rng, n: int = 40, negative: int = 20) -> dict:
    def m():
        v = float(rng.uniform(0.6, 1.0))
        return {"value": v, "low": v - 0.02, "high": min(v + 0.02, 1.0)}

    return {"auc": m(), "eer": m(), "acc": m(), "ap": m(), "n": n, "negative": negative}


def results() -> dict:
    """A results.json-shaped dict (as bench.run writes it) with every section filled."""
    rng = np.random.default_rng(0)
    scorers = {"vipguard": "VIPGuard-lite (calibrated per-VIP head)", "similarity": "Similarity only"}
    methods = ["swap", "selfswap", "eyes", "morph", "reenact", "other"]
    return {
        "benchmark": "VIPEval-lite", "vips": ["Ada", "Bo"], "counts": {"genuine": 20, "fake": 30, "other": 10},
        "scorers": scorers, "dataset": {"root": "/data/vipeval"},
        "per_method": {g: {s: _metrics(rng) for s in scorers} for g in methods},
        "at_verdict": {"similarity_threshold": 0.789, "vipguard": {g: float(rng.uniform()) for g in ["genuine", *methods]},
                       "similarity_best": {g: float(rng.uniform()) for g in ["genuine", *methods]}},
        "overall": {s: _metrics(rng) for s in scorers},
        "mean_over_vips": {s: {"auc": float(rng.uniform(0.8, 1))} for s in scorers},
        "per_vip": {v: {s: _metrics(rng) for s in scorers} for v in ["Ada", "Bo"]},
        "robustness": {"none": {"level": 0, "label": "none", "metrics": {s: _metrics(rng) for s in scorers}},
                       **{f"{k}2": {"level": 2, "label": f"{k} level 2", "metrics": {s: _metrics(rng) for s in scorers}}
                          for k in ("noise", "blur", "jpeg")}},
        "ablation": {"vips": ["Ada"], "sizes": {"1": {"used": [1], "metrics": _metrics(rng), "enrol_seconds": 0.2},
                                                "5": {"used": [5], "metrics": _metrics(rng), "enrol_seconds": 0.9}}},
        "timings_s": {"build": 1.0, "total": 12.5},
    }


def _markdown_tables(text: str) -> list[list[list[str]]]:
    tables, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            if not set(line) <= set("|-"):
                current.append([c.strip() for c in line.strip("|").split("|")])
        elif current:
            tables.append(current)
            current = []
    return tables + ([current] if current else [])


def _html_tables(page: str) -> list[list[list[str]]]:
    return [[[html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<t[hd]>(.*?)</t[hd]>", row)]
             for row in re.findall(r"<tr>(.*?)</tr>", table)]
            for table in re.findall(r"<table>(.*?)</table>", page, re.S)]


def test_report_html_has_the_markdown_tables_as_html_tables():
    from vipguard.bench.report import html_report, markdown

    res = results()
    md, page = markdown(res), html_report(res, {})
    assert "<pre>" not in page and "|---|" not in page
    md_tables, html_tables = _markdown_tables(md), _html_tables(page)
    assert len(md_tables) >= 8 and html_tables == md_tables  # every table, cell for cell
    for title in ("Table 1: face swapping", "Table 4: accuracy at the verdict", "Table 10: robustness",
                  "Ablation: number of enrolment photos", "Per VIP"):
        assert f"## {title}" in md and re.search(rf"<h3>{re.escape(title)}", page), title
    assert "<h4>Similarity only</h4>" in page and "**Similarity only**" in md
