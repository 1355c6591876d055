"""Reports of a benchmark run: ``results.md`` (tables laid out like the paper's Tables 1–3 and 10) and a
self-contained ``report.html`` with ROC and DET curves and the robustness and ablation plots (PNG, embedded)."""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .degrade import KINDS
from .metrics import det_curve, roc_curve

SWAP_METHODS = ("swap", "selfswap", "inner", "eyes", "nose", "mouth", "selfmouth")  # Table 1: face swapping
KIND_TITLES = {"noise": "Gaussian noise (YCbCr)", "blur": "Gaussian blur", "jpeg": "JPEG compression"}


def _pct(block: dict | None, metric: str) -> str:
    if not block or block.get(metric) is None:
        return "–"
    return f"{100 * block[metric]['value']:.2f}"


def _ci(block: dict | None, metric: str) -> str:
    if not block or block.get(metric) is None:
        return "–"
    e = block[metric]
    if e.get("low") is None:
        return f"{100 * e['value']:.2f}"
    return f"{100 * e['value']:.2f} [{100 * e['low']:.1f}, {100 * e['high']:.1f}]"


@dataclass(frozen=True)
class Block:
    """One piece of a results document: a heading (``h1``/``h2``), a paragraph (``p``), a bold caption
    (``caption``) or a table (``table``: ``header`` and ``rows``). Rendered as Markdown and as HTML."""

    kind: str
    text: str = ""
    header: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> Block:
    return Block("table", header=tuple(header), rows=tuple(tuple(r) for r in rows))


def split_groups(results: dict[str, Any]) -> tuple[list[str], list[str]]:
    groups = list(results["per_method"])
    swaps = [g for g in SWAP_METHODS if g in groups]
    rest = [g for g in groups if g not in swaps and g != "other"] + (["other"] if "other" in groups else [])
    return swaps, rest


def blocks(results: dict[str, Any]) -> list[Block]:
    """The results document: the paper's Tables 1-4 and 10, pooled and per-VIP metrics, ablation, timings."""
    scorers: dict[str, str] = results["scorers"]
    per_method = results["per_method"]
    swaps, rest = split_groups(results)
    counts = results["counts"]
    out = [Block("h1", f"{results['benchmark']} results"),
           Block("p", f"VIPs ({len(results['vips'])}): {', '.join(results['vips'])}. Test images: "
                 + ", ".join(f"{k} {v}" for k, v in counts.items()) + "."),
           Block("p", "Positive class = genuine photo of the VIP; each column compares the VIPs' genuine test photos "
                 "with one kind of negative, pooled over the VIPs. AUC/EER/ACC/AP in %, DeepfakeBench definitions "
                 "(EER = FPR where |FNR − FPR| is smallest; ACC at score 0.5).")]

    def auc_eer_table(title: str, cols: list[str]) -> None:
        if not cols:
            return
        out.append(Block("h2", title))
        out.append(_table(["Method", *(f"{c} (n={per_method[c][next(iter(scorers))]['negative']})" for c in cols)],
                          [[desc, *(f"{_pct(per_method[c][s], 'auc')} / {_pct(per_method[c][s], 'eer')}"
                                    for c in cols)] for s, desc in scorers.items()]))

    auc_eer_table("Table 1: face swapping and partial swaps (AUC % / EER %)", swaps)
    auc_eer_table("Table 2: morphs, reenactment, entire-face synthesis (efs), reshapes and other people "
                  "(AUC % / EER %)", rest)
    cols = swaps + rest
    out.append(Block("h2", "Table 3: accuracy at score 0.5 (ACC %; for VIPGuard-lite score ≥ 0.5 is its genuine "
                           "verdict)"))
    out.append(_table(["Method", *cols], [[d, *(_pct(per_method[c][s], "acc") for c in cols)]
                                          for s, d in scorers.items()]))
    at = results.get("at_verdict")
    if at:
        groups = ["genuine", *cols]
        out.extend([Block("h2", "Table 4: accuracy at the verdict (genuine accepted; each negative given any other "
                                "verdict), %"),
                    Block("p", f"Similarity only is shown at its best single threshold on this very test set "
                               f"({at['similarity_threshold']:.3f}, balanced accuracy): an oracle the verdict does "
                               f"not get.")])
        out.append(_table(["Method", *groups], [
            [scorers["vipguard"], *(f"{100 * at['vipguard'][g]:.2f}" if g in at["vipguard"] else "–" for g in groups)],
            ["Similarity only, best single threshold",
             *(f"{100 * at['similarity_best'][g]:.2f}" if g in at["similarity_best"] else "–" for g in groups)]]))
    out.append(Block("h2", "All test images, pooled over VIPs (with bootstrap 95% intervals)"))
    out.append(_table(["Method", "AUC %", "EER %", "ACC %", "AP %", "mean AUC over VIPs %"],
                      [[d, *(_ci(results["overall"][s], m) for m in ("auc", "eer", "acc", "ap")),
                        "–" if results["mean_over_vips"][s]["auc"] is None
                        else f"{100 * results['mean_over_vips'][s]['auc']:.2f}"] for s, d in scorers.items()]))
    out.append(Block("h2", "Per VIP (AUC % / EER %)"))
    out.append(_table(["VIP", "n", *scorers], [[v, str(b[next(iter(scorers))]["n"]),
                                                *(f"{_pct(b[s], 'auc')} / {_pct(b[s], 'eer')}" for s in scorers)]
                                               for v, b in results["per_vip"].items()]))
    rob = results.get("robustness") or {}
    if rob:
        levels = sorted({c["level"] for c in rob.values() if c["level"]})
        out.append(Block("h2", "Table 10: robustness (AUC %, pooled over VIPs; 'None' = all test images, degraded "
                               "cells = the robustness subset, n in results.json)"))
        for s, d in scorers.items():
            out.append(Block("caption", d))
            rows = [["None", *(_pct(rob["none"]["metrics"][s], "auc") for _ in KINDS)]]
            for lv in levels:
                rows.append([str(lv), *(_pct(rob.get(f"{k}{lv}", {}).get("metrics", {}).get(s), "auc")
                                        for k in KINDS)])
            out.append(_table(["Level", *(KIND_TITLES[k] for k in KINDS)], rows))
        out.append(Block("p", "Levels (Table 11): " + "; ".join(f"{k} = {c['label']}" for k, c in rob.items()
                                                                if c["level"]) + "."))
    abl = results.get("ablation") or {}
    if abl.get("sizes"):
        out.append(Block("h2", f"Ablation: number of enrolment photos (VIPGuard-lite; VIPs: {', '.join(abl['vips'])})"))
        out.append(_table(["photos", "used", "AUC %", "EER %", "ACC %", "enrol s / VIP"],
                          [[k, ",".join(map(str, c["used"])), _ci(c["metrics"], "auc"), _pct(c["metrics"], "eer"),
                            _pct(c["metrics"], "acc"), f"{c['enrol_seconds']:.1f}"] for k, c in abl["sizes"].items()]))
    out.extend([Block("h2", "Timings (s)"), Block("p", ", ".join(f"{k} {v}" for k, v in results["timings_s"].items()))])
    return out


def _markdown_block(block: Block) -> list[str]:
    if block.kind == "table":
        return ["| " + " | ".join(block.header) + " |", "|" + "|".join("---" for _ in block.header) + "|",
                *("| " + " | ".join(r) + " |" for r in block.rows), ""]
    prefix = {"h1": "# ", "h2": "## "}.get(block.kind, "")
    text = f"**{block.text}**" if block.kind == "caption" else block.text
    return [prefix + text, ""]


def markdown(results: dict[str, Any]) -> str:
    """``results.md``: the document of :func:`blocks` as Markdown."""
    return "\n".join(line for b in blocks(results) for line in _markdown_block(b)).rstrip("\n") + "\n"


def _html_block(block: Block) -> str:
    esc = html.escape
    if block.kind == "table":
        head = "".join(f"<th>{esc(h)}</th>" for h in block.header)
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in block.rows)
        return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    tag = {"h1": "h2", "h2": "h3", "caption": "h4"}.get(block.kind, "p")  # the page's own title is the h1
    return f"<{tag}>{esc(block.text)}</{tag}>"


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def figures(results: dict[str, Any]) -> dict[str, bytes]:
    """PNG bytes of the plots: ``roc``, ``det``, ``robustness``, ``ablation`` (those with data)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import norm

    rows = results["scores"]
    labels = np.array([r["label"] for r in rows])
    scorers = results["scorers"]
    out: dict[str, bytes] = {}
    if labels.min() == labels.max():
        return out
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for s, desc in scorers.items():
        fpr, tpr, _ = roc_curve(labels, [r["scores"][s] for r in rows])
        ax.plot(fpr, tpr, label=f"{desc.split(' (')[0]} (AUC {100 * results['overall'][s]['auc']['value']:.1f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="false positive rate (negatives accepted)", ylabel="true positive rate (genuine accepted)",
           title="ROC, all test images")
    ax.legend(fontsize=8, loc="lower right")
    out["roc"] = _png(fig)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ticks = np.array([0.01, 0.02, 0.05, 0.1, 0.2, 0.4])
    for s, desc in scorers.items():
        fpr, fnr = det_curve(labels, [r["scores"][s] for r in rows])
        clip = lambda v: norm.ppf(np.clip(v, 1e-3, 1 - 1e-3))  # noqa: E731
        ax.plot(clip(fpr), clip(fnr), label=desc.split(" (")[0])
    ax.set_xticks(norm.ppf(ticks), [f"{100 * t:g}" for t in ticks])
    ax.set_yticks(norm.ppf(ticks), [f"{100 * t:g}" for t in ticks])
    ax.set(xlim=norm.ppf([1e-3, 0.5]), ylim=norm.ppf([1e-3, 0.5]), xlabel="false acceptance (%)",
           ylabel="false rejection (%)", title="DET, all test images")
    ax.legend(fontsize=8)
    out["det"] = _png(fig)
    rob = results.get("robustness") or {}
    if rob:
        fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharey=True)
        levels = [0, *sorted({c["level"] for c in rob.values() if c["level"]})]
        for ax, kind in zip(axes, KINDS):
            for s, desc in scorers.items():
                ys = [rob["none"]["metrics"][s]["auc"]["value"] if lv == 0 else
                      (rob.get(f"{kind}{lv}", {}).get("metrics", {}).get(s) or {}).get("auc", {}).get("value")
                      for lv in levels]
                ax.plot(levels, [np.nan if y is None else 100 * y for y in ys], "o-", label=desc.split(" (")[0])
            ax.set(title=KIND_TITLES[kind], xlabel="level", xticks=levels)
        axes[0].set_ylabel("AUC (%)")
        axes[0].legend(fontsize=7)
        out["robustness"] = _png(fig)
    abl = (results.get("ablation") or {}).get("sizes") or {}
    if abl:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        xs = [int(k) for k in abl]
        ys = [100 * c["metrics"]["auc"]["value"] if c["metrics"].get("auc") else np.nan for c in abl.values()]
        lo = [100 * c["metrics"]["auc"]["low"] if c["metrics"].get("auc") else np.nan for c in abl.values()]
        hi = [100 * c["metrics"]["auc"]["high"] if c["metrics"].get("auc") else np.nan for c in abl.values()]
        ax.plot(xs, ys, "o-", label="VIPGuard-lite")
        ax.fill_between(xs, lo, hi, alpha=0.2)
        ax.set(xlabel="enrolment photos", ylabel="AUC (%)", title="Ablation: enrolment photos", xticks=xs)
        out["ablation"] = _png(fig)
    return out


def html_report(results: dict[str, Any], images: dict[str, bytes]) -> str:
    """One self-contained page: the plots (embedded PNGs) and the tables of :func:`blocks` as HTML tables."""
    imgs = "".join(f'<figure><img alt="{k}" src="data:image/png;base64,{base64.b64encode(v).decode()}">'
                   f"<figcaption>{k}</figcaption></figure>" for k, v in images.items())
    doc = "".join(_html_block(b) for b in blocks(results)[1:])  # its title is the page's
    return ("<!doctype html><html><head><meta charset='utf-8'><title>VIPEval-lite report</title><style>"
            "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}"
            "figure{display:inline-block;margin:0.5em;vertical-align:top}img{max-width:100%}"
            "figcaption{text-align:center;color:#555;font-size:.85em}.scroll{overflow-x:auto;margin:.5em 0 1em}"
            "table{border-collapse:collapse;font-size:13px}th,td{padding:.25em .6em;border-bottom:1px solid #ddd;"
            "text-align:right;white-space:nowrap}th:first-child,td:first-child{text-align:left;white-space:normal;"
            "min-width:14em}thead th{background:#f0f1f6}tbody tr:nth-child(even){background:#fafafa}"
            "h3{margin-top:1.6em}h4{margin:.8em 0 .2em;font-size:.95em}"
            "</style></head><body><h1>VIPEval-lite report</h1>"
            f"<p>Dataset: {html.escape(str(results['dataset'].get('root')))} · VIPs: "
            f"{html.escape(', '.join(results['vips']))} · total {results['timings_s'].get('total')} s</p>"
            f"{imgs}{doc}</body></html>")


def write_reports(results: dict[str, Any], out: Path, plots: Path | None = None) -> dict[str, Path]:
    """Write ``results.json``, ``results.md`` and ``report.html`` to ``out`` (and the PNGs to ``plots``)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "md": out / "results.md", "html": out / "report.html"}
    paths["json"].write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    paths["md"].write_text(markdown(results))
    images = figures(results)
    paths["html"].write_text(html_report(results, images))
    if plots is not None:
        plots.mkdir(parents=True, exist_ok=True)
        for name, data in images.items():
            (plots / f"{name}.png").write_bytes(data)
            paths[name] = plots / f"{name}.png"
    return paths
