"""Exports of the whole KB (or a selection): the one tree (`dnakb export tree`) and the evolution-over-
time figure (`dnakb export timeline`), each as a file a report can take."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from kb.errors import InputError
from kb.export import check_writable, circular, timeline as timeline_figure, write_output
from kb.export.report import CSS, SORT_JS
from kb.lineage.kbtree import KbTree, Selection, collect_kb_tree

TREE_FORMATS = ("newick", "svg", "png", "html")
TIMELINE_FORMATS = ("svg", "png", "html")


def inline_svg(svg: str) -> str:
    """SVG text without its XML prolog and doctype (inline SVG in HTML takes neither)."""
    return svg[svg.index("<svg"):]


def sortable_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """An HTML table (click a header to sort) of `rows`; '(no rows)' when empty."""
    if not rows:
        return "<p><i>(no rows)</i></p>"
    columns = columns or list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c)
            text = "" if value is None else (f"{value:.4g}" if isinstance(value, float) else
                                             " → ".join(value) if isinstance(value, list) else str(value))
            cells.append(f'<td data-v="{html.escape(text, quote=True)}">{html.escape(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>\n' + "\n".join(body) + "\n</tbody></table>"


def page(title: str, body: str) -> str:
    """One self-contained HTML page: inline style and script, nothing loaded from elsewhere."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>\n"
            f"<h1>{html.escape(title)}</h1>\n{body}\n<script>{SORT_JS}</script>\n</body></html>\n")


def tree_html(kb: KbTree, colour_by: str = "family") -> str:
    depth = kb.tree.depths()
    rows = [{"id": kb.tree.names[i], **{k: kb.models[kb.tree.names[i]].get(k) for k in
             ("family", "architecture", "org", "released", "license")}, "root_to_tip": float(depth[i])}
            for i in kb.tree.leaves()]
    facts = (f"<ul><li><b>models</b>: {len(rows)}</li><li><b>distance</b>: {html.escape(kb.distance)} "
             f"(protocol {html.escape(kb.protocol)})</li><li><b>root</b>: {html.escape(kb.tree.how)}</li>"
             + (f"<li><b>time signal</b>: Spearman ρ = {kb.time_rho:.3f} between root-to-tip distance and "
                f"release date over {kb.dated} dated models</li>" if kb.time_rho is not None else "") + "</ul>")
    return page(f"One tree over {len(rows)} models", facts + '<div class="picture">'
                + inline_svg(circular.to_svg(kb, colour_by)) + "</div>\n<p>Click a column header to sort.</p>\n"
                + sortable_table(rows))


def _write(data: str | bytes, out: Path | None) -> str | bytes | Path:
    return data if out is None else write_output(out, data)


def _check_out(fmt: str, formats: tuple[str, ...], out: Path | None) -> None:
    if fmt not in formats:
        raise InputError(f"unknown format {fmt!r}: use one of {', '.join(formats)}")
    if out is None and fmt == "png":
        raise InputError("--format png needs --out FILE")
    if out is not None:
        check_writable(Path(out))


def render_tree(kb: KbTree, fmt: str, colour_by: str = "family") -> str | bytes:
    if fmt == "newick":
        return kb.newick
    if fmt == "svg":
        return circular.to_svg(kb, colour_by)
    if fmt == "png":
        return circular.to_png(kb, colour_by)
    return tree_html(kb, colour_by)


def export_tree(store: Any, fmt: str = "newick", out: Path | None = None, selection: Selection = Selection(),
                *, distance: str = "evidence", root: str = "auto", colour_by: str = "family",
                protocol: str | None = None) -> str | bytes | Path:
    """The one tree over the selected models in `fmt`; the text, or the path written when `out` is given."""
    _check_out(fmt, TREE_FORMATS, out)
    if colour_by not in circular.COLOUR_BY:
        raise InputError(f"--colour must be one of {', '.join(circular.COLOUR_BY)}, not {colour_by!r}")
    kb = collect_kb_tree(store, selection, distance=distance, root=root, protocol=protocol)
    return _write(render_tree(kb, fmt, colour_by), Path(out) if out else None)


def export_timeline(store: Any, fmt: str = "svg", out: Path | None = None, family: str | None = None,
                    origin: str | None = None, protocol: str | None = None) -> str | bytes | Path:
    """The evolution-over-time figure in `fmt` (svg, png, html)."""
    _check_out(fmt, TIMELINE_FORMATS, out)
    found = timeline_figure.collect_timeline(store, family, origin, protocol)
    if fmt == "png":
        data: str | bytes = timeline_figure.to_png(found)
    else:
        svg = timeline_figure.to_svg(found)
        data = svg if fmt == "svg" else page("Evolution over time", '<div class="picture">' + inline_svg(svg)
                                             + "</div>" + "".join(f"<p>{html.escape(n)}</p>" for n in found.notes))
    return _write(data, Path(out) if out else None)
