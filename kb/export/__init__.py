"""Exports of a family subtree for reports: Newick, JSON, GraphML, SVG, PNG, HTML, Markdown.

`export_subtree(store, root, format, out)` reads the subtree once (`collect_subtree`) and writes
one format; every format is a pure function of the `Subtree` record, so each tests without a store.
The whole KB (or a selection) has its own exports: the one tree and the evolution-over-time figure
(`kb.export.whole`: circular.py, timeline.py draw them) and the HTML report (`kb.export.kbreport`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kb.errors import InputError
from kb.export.subtree import EDGE_CHOICES, Subtree, collect_subtree

FORMATS = ("newick", "json", "graphml", "svg", "png", "html", "md")
BINARY = {"png"}
NEEDS_FILE = {"png", "md"}  # png is binary; md writes its picture beside itself


def render_subtree(tree: Subtree, fmt: str, out: Path | None = None) -> str | bytes:
    """One format as text (bytes for png). `md` needs `out` to place its picture beside it."""
    from kb.export import draw, formats, report

    if fmt == "newick":
        return formats.to_newick(tree)
    if fmt == "json":
        return formats.to_json(tree)
    if fmt == "graphml":
        return formats.to_graphml(tree)
    if fmt == "svg":
        return draw.to_svg(tree)
    if fmt == "png":
        return draw.to_png(tree)
    if fmt == "html":
        return report.to_html(tree)
    if fmt == "md":
        if out is None:
            raise InputError("--format md needs --out FILE.md (its picture is written beside it)")
        picture = write_output(out.with_suffix(".svg"), draw.to_svg(tree))
        return report.to_markdown(tree, picture.name)
    raise InputError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")


def export_subtree(
    store: Any, root: str, fmt: str = "newick", out: Path | None = None, edges: str = "both"
) -> str | bytes | Path:
    """Export the subtree under `root`; returns the text (no `out`) or the path written."""
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    if edges not in EDGE_CHOICES:
        raise InputError(f"--edges must be one of {', '.join(EDGE_CHOICES)}, not {edges!r}")
    if out is None and fmt in NEEDS_FILE:
        raise InputError(f"--format {fmt} needs --out FILE")
    if out is not None:
        check_writable(Path(out))
    tree = collect_subtree(store, root, edges)
    data = render_subtree(tree, fmt, Path(out) if out else None)
    if out is None:
        return data
    return write_output(Path(out), data)


def check_writable(out: Path) -> None:
    """Refuse, before any work, an --out that cannot be a file we write."""
    if out.is_dir():
        raise InputError(f"cannot write {out}: it is a folder; name a file in it")
    if not out.parent.is_dir():
        raise InputError(f"cannot write {out}: the folder {out.parent} does not exist")


def write_output(out: Path, data: str | bytes) -> Path:
    """Write an export; a failing write (a full disk, a read-only place) is one clear error."""
    try:
        if isinstance(data, bytes):
            out.write_bytes(data)
        else:
            out.write_text(data, encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot write {out}: {error.strerror or error}") from None
    return out


__all__ = ["FORMATS", "Subtree", "collect_subtree", "export_subtree", "render_subtree"]
