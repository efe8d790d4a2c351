"""Draw a subtree left to right with matplotlib (SVG or PNG), legible up to several hundred members.

Layout (leaf-order, as in dendrograms): leaves take consecutive rows in depth-first order, an
internal node sits midway between its first and last child, x is the generation. O(n). The
figure grows with the number of leaves (one row ≈ 0.19 in) instead of shrinking the text, so a
300-member tree stays readable when zoomed; extra parents (merges, disagreeing edges) are drawn
as dotted curves over the primary tree.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from kb.export.subtree import Subtree

RELATION_COLOURS = {
    "finetune": "#1f77b4",
    "adapter": "#2ca02c",
    "quantized": "#9467bd",
    "merge": "#d62728",
    "distill": "#ff7f0e",
    None: "#7f7f7f",
}
ROW_INCHES = 0.19
COLUMN_INCHES = 1.6


@dataclass(frozen=True)
class Layout:
    x: dict[str, float]
    y: dict[str, float]
    rows: int
    columns: int


def layout(tree: Subtree) -> Layout:
    """Coordinates: x = generation, y = leaf row (internal nodes centred over their children)."""
    kids = tree.children()
    y: dict[str, float] = {}
    row = 0
    for node in tree.preorder():
        if not kids[node]:
            y[node] = float(row)
            row += 1
    for node in reversed(tree.preorder()):  # children before parents
        if kids[node]:
            y[node] = (y[kids[node][0]] + y[kids[node][-1]]) / 2  # midpoint of the child span
    x = {node: float(tree.depth[node]) for node in tree.members}
    return Layout(x, y, max(row, 1), int(max(x.values(), default=0)) + 1)


def _label(tree: Subtree, node: str, limit: int = 48) -> str:
    text = node if len(node) <= limit else node[: limit - 1] + "…"
    return text


def figure(tree: Subtree):  # -> matplotlib.figure.Figure
    """The drawing as a matplotlib Figure (no pyplot: no global state, no display needed)."""
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch

    pos = layout(tree)
    kids = tree.children()
    font = 7.5 if pos.rows > 40 else 9.0
    inch_per_char = font * 0.6 / 72
    leaf_chars = max((len(_label(tree, n)) for n in tree.members if not kids[n]), default=10)
    inner_chars = max((len(_label(tree, n)) for n in tree.members if kids[n] and n != tree.root), default=0)
    root_inches = len(_label(tree, tree.root)) * inch_per_char + 0.2
    # a column must hold an internal node's label, which sits left of the node above its edge
    column = max(COLUMN_INCHES, inner_chars * inch_per_char + 0.4)
    width = 0.4 + root_inches + (pos.columns - 1) * column + leaf_chars * inch_per_char + 0.4
    height = 1.4 + pos.rows * ROW_INCHES
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((0.2 / width, 0.55 / height, 1 - 0.4 / width, 1 - 1.15 / height))
    ax.set_xlim(-root_inches / column, pos.columns - 1 + (leaf_chars * inch_per_char + 0.2) / column)
    ax.set_ylim(pos.rows - 0.5, -0.6)
    ax.axis("off")

    # phylogram: a vertical bar at each parent spanning its children, one horizontal per child;
    # drawn as a few LineCollections (one artist per style), not one artist per edge
    bars = [
        [(pos.x[p], min(pos.y[c] for c in cs)), (pos.x[p], max(pos.y[c] for c in cs))]
        for p, cs in kids.items() if cs
    ]
    ax.add_collection(LineCollection(bars, colors="#444444", linewidths=0.8))
    for kind, style in (("declared", "solid"), ("inferred", "dashed")):
        chosen = [(c, e) for c, e in tree.primary.items() if e["kind"] == kind]
        if chosen:
            ax.add_collection(LineCollection(
                [[(pos.x[e["parent"]], pos.y[c]), (pos.x[c], pos.y[c])] for c, e in chosen],
                colors=[RELATION_COLOURS.get(e.get("relation"), RELATION_COLOURS[None]) for _, e in chosen],
                linestyles=style, linewidths=1.1,
            ))
    for child, edge in tree.primary.items():
        if edge.get("support") is not None:  # below the edge, so it never meets a label
            ax.text(pos.x[child] - 0.04, pos.y[child] + 0.08, f"{edge['support']:.2f}",
                    fontsize=font * 0.75, ha="right", va="top", color="#555555")
    for edge in tree.edges:
        child, parent = edge["child"], edge["parent"]
        if tree.primary.get(child, {}).get("parent") == parent:
            continue  # drawn already (declared and inferred agreeing on one pair count once)
        ax.add_patch(FancyArrowPatch(
            (pos.x[child], pos.y[child]), (pos.x[parent], pos.y[parent]),
            connectionstyle="arc3,rad=0.25", arrowstyle="-|>", mutation_scale=6,
            linestyle=":", linewidth=0.9,
            color=RELATION_COLOURS.get(edge.get("relation"), RELATION_COLOURS[None]),
        ))
    nodes = list(tree.members)
    ax.scatter([pos.x[n] for n in nodes], [pos.y[n] for n in nodes], s=[16 if n == tree.root else 9 for n in nodes],
               c=["black" if n == tree.root else RELATION_COLOURS.get(tree.primary[n].get("relation"), RELATION_COLOURS[None])
                  for n in nodes], zorder=3, linewidths=0)
    for node in nodes:
        x, y = pos.x[node], pos.y[node]
        if node == tree.root:
            ax.text(x - 0.04, y, _label(tree, node), fontsize=font, va="center", ha="right",
                    fontweight="bold")
        elif kids[node]:  # internal: left of the node, above its incoming edge
            ax.text(x - 0.04, y - 0.1, _label(tree, node), fontsize=font, va="bottom", ha="right")
        else:
            ax.text(x + 0.05, y, _label(tree, node), fontsize=font, va="center", ha="left")

    handles = [Line2D([], [], color=c, label=r or "unknown") for r, c in RELATION_COLOURS.items()]
    handles += [
        Line2D([], [], color="black", linestyle="-", label="declared"),
        Line2D([], [], color="black", linestyle="--", label="inferred (label: support)"),
        Line2D([], [], color="black", linestyle=":", label="other parent"),
    ]
    fig.legend(handles=handles, loc="lower left", ncol=min(len(handles), 5), fontsize=7, frameon=False)
    fig.suptitle(
        f"Lineage under {tree.root}: {len(tree.members)} models, {len(tree.edges)} edges "
        f"({tree.edges_mode})", fontsize=10, x=0.02, ha="left", y=1 - 0.15 / height,
    )
    return fig


@contextlib.contextmanager
def _quiet_glyphs() -> Iterator[None]:
    """Ids in scripts the default font lacks (CJK) draw as boxes in PNG; SVG keeps the text."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        yield


def to_svg(tree: Subtree) -> str:
    """SVG text with real <text> elements (searchable, small), no XML prolog issues for inlining."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}), _quiet_glyphs():
        figure(tree).savefig(buffer, format="svg")
    return buffer.getvalue()


def to_png(tree: Subtree, max_pixels: int = 16_000) -> bytes:
    """PNG bytes; the resolution drops for huge trees so no side exceeds `max_pixels`."""
    fig = figure(tree)
    width, height = fig.get_size_inches()
    dpi = min(110.0, max_pixels / max(width, height))
    buffer = io.BytesIO()
    with _quiet_glyphs():
        fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
