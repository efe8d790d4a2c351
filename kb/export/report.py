"""Report exports: one self-contained HTML file (inline SVG + sortable table), or Markdown."""

from __future__ import annotations

import html
from urllib.parse import quote
from collections import Counter
from typing import Any

from kb.export.draw import to_svg
from kb.export.subtree import Subtree

COLUMNS = ("id", "name", "depth", "parent", "edge", "relation", "support", "org", "params",
           "released", "license")

_SORT_JS = """
document.querySelectorAll('table.sortable th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0], rows = Array.from(body.rows);
    var dir = th.dataset.dir === 'asc' ? -1 : 1; th.dataset.dir = dir === 1 ? 'asc' : 'desc';
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v, nx = parseFloat(x), ny = parseFloat(y);
      return dir * (!isNaN(nx) && !isNaN(ny) ? nx - ny : x.localeCompare(y));
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
.picture { overflow: auto; border: 1px solid #ddd; max-height: 80vh; }
.picture svg { height: auto; }
table { border-collapse: collapse; font-size: 13px; margin-top: 1em; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 3px 8px; text-align: left; }
th { cursor: pointer; background: #f4f4f4; position: sticky; top: 0; }
th:hover { background: #e8e8e8; }
"""


CSS = _CSS
SORT_JS = _SORT_JS
"""Shared with the whole-KB report (kb/export/kbreport.py): one look, one sorting script."""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def summary(tree: Subtree) -> dict[str, Any]:
    rows = tree.rows()
    relations = Counter(r["relation"] or "unknown" for r in rows if r["parent"])
    return {
        "root": tree.root,
        "models": len(rows),
        "generations": max(tree.depth.values()),
        "edges": len(tree.edges),
        "declared edges": sum(e["kind"] == "declared" for e in tree.edges),
        "inferred edges": sum(e["kind"] == "inferred" for e in tree.edges),
        "relations": ", ".join(f"{k} {v}" for k, v in sorted(relations.items())) or "none",
    }


def to_html(tree: Subtree) -> str:
    """One file a report can embed or attach: nothing is loaded from elsewhere."""
    svg = to_svg(tree)
    svg = svg[svg.index("<svg"):]  # drop the XML prolog and doctype: inline SVG takes neither
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = []
    for row in tree.rows():
        cells = "".join(
            f'<td data-v="{html.escape(_text(row[c]), quote=True)}">{html.escape(_text(row[c]))}</td>'
            for c in COLUMNS
        )
        body.append(f"<tr>{cells}</tr>")
    facts = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in summary(tree).items()
    )
    title = html.escape(f"Lineage under {tree.root}")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{title}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>{title}</h1>\n<ul>{facts}</ul>\n<div class=\"picture\">{svg}</div>\n"
        "<p>Click a column header to sort.</p>\n"
        f"<table class=\"sortable\"><thead><tr>{head}</tr></thead><tbody>\n"
        + "\n".join(body)
        + f"\n</tbody></table>\n<script>{_SORT_JS}</script>\n</body></html>\n"
    )


def _md_cell(value: Any) -> str:
    return _text(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(tree: Subtree, picture: str) -> str:
    """A Markdown report linking `picture` (a file name written beside the .md)."""
    lines = [f"# Lineage under `{tree.root}`", ""]
    lines += [f"- **{k}**: {v}" for k, v in summary(tree).items()]
    lines += ["", f"![Lineage tree under {tree.root}]({quote(picture)})", "", "## Members", ""]
    lines.append("| " + " | ".join(COLUMNS) + " |")
    lines.append("|" + "---|" * len(COLUMNS))
    for row in tree.rows():
        lines.append("| " + " | ".join(_md_cell(row[c]) for c in COLUMNS) + " |")
    return "\n".join(lines) + "\n"
