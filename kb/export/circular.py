"""Draw the whole-KB tree as a circular phylogram that stays readable at hundreds of leaves.

Layout: leaves in ladderized order at equal angles round the circle (clockwise from the top), each
node at radius ∝ its root-to-node distance, an arc at each internal node spanning its children.
Labels sit on one outer circle, radial, each at its own leaf's angle, with a faint leader from the
tip. Two neighbouring labels meet first at their inner ends, where they are a chord
2·R·sin(π/n) apart; the label circle's radius R is chosen so that chord exceeds a label's height
(`LINE_FACTOR` × the font size): labels cannot overlap, whatever n. The figure grows with n instead
of shrinking the text (300 leaves: about 15 in square). Title above, legend and scale bar below the
circle, so they never meet a label. Colours: one per family, architecture or organisation (the
largest `MAX_COLOURS` groups; the rest grey as "other"); a branch takes its clade's colour when
every leaf under it shares one.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence

import numpy as np

from kb.errors import InputError
from kb.lineage.kbtree import KbTree

COLOUR_BY = ("family", "architecture", "org")
PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#a6761d", "#e41a1c", "#377eb8", "#4daf4a",
    "#984ea3", "#b8860b",
)
MAX_COLOURS = len(PALETTE)
OTHER = "#9a9a9a"
MIXED = "#555555"
LINE_FACTOR = 1.4
"""Label pitch at the inner end, in font heights (glyph boxes are ~1.2 font sizes tall)."""
LABEL_CHARS = 48
GAP_INCHES = 0.22
MIN_RADIUS = 2.0


def group_colours(groups: Sequence[str | None]) -> dict[str, str]:
    """Group -> colour: the largest groups (then by name) get the palette, the rest `OTHER`."""
    counts = Counter(g or "(unknown)" for g in groups)
    ranked = sorted(counts, key=lambda g: (-counts[g], g))
    return {g: (PALETTE[i] if i < MAX_COLOURS else OTHER) for i, g in enumerate(ranked)}


def short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text_inches(labels: Sequence[str], size: float) -> float:
    """The widest label's width in inches, measured by matplotlib's Agg text layout."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    renderer = RendererAgg(10, 10, 72)
    prop = FontProperties(size=size)
    with _quiet_glyphs():
        widths = [renderer.get_text_width_height_descent(t, prop, ismath=False)[0] for t in labels]
    return max(widths, default=0) / 72


def figure(kb: KbTree, colour_by: str = "family", title: str | None = None):  # -> Figure
    """The drawing as a matplotlib Figure (no pyplot state)."""
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    if colour_by not in COLOUR_BY:
        raise InputError(f"--colour must be one of {', '.join(COLOUR_BY)}, not {colour_by!r}")
    tree = kb.tree
    kids = tree.children()
    order = tree.preorder()
    leaves = [node for node in order if not kids[node]]
    n = len(leaves)
    group = {node: (kb.models.get(tree.names[node], {}).get(colour_by) or "(unknown)") for node in leaves}
    colours = group_colours(list(group.values()))

    font = 9.0 if n <= 40 else 7.0 if n <= 150 else 6.0
    line = font / 72 * LINE_FACTOR
    r_label = max(MIN_RADIUS, line / (2 * math.sin(math.pi / n)) if n > 1 else MIN_RADIUS)
    r_tree = r_label - GAP_INCHES
    labels = [short(tree.names[node]) for node in leaves]
    half = r_label + _text_inches(labels, font) + 0.35
    legend_items = sorted(colours, key=lambda g: (colours[g] == OTHER, -sum(v == g for v in group.values()), g))
    shown = [g for g in legend_items if colours[g] != OTHER]
    if len(shown) < len(legend_items):
        shown.append("other")
    columns = max(1, int(2 * half // 2.6))
    legend_h = 0.45 + 0.2 * math.ceil(len(shown) / columns)
    title_h = 0.6 if 2 * half > 9 else 0.75  # a narrow figure wraps the subtitle onto two lines
    width, height = 2 * half, 2 * half + legend_h + title_h
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((0, legend_h / height, 1, 2 * half / height))
    ax.set_xlim(-half, half)
    ax.set_ylim(-half, half)
    ax.axis("off")

    # angles: leaf k at the centre of slot k; internal nodes midway between their first and last child
    slot = {node: float(k) for k, node in enumerate(leaves)}
    for node in reversed(order):
        if kids[node]:
            slot[node] = (slot[kids[node][0]] + slot[kids[node][-1]]) / 2
    theta = {node: math.pi / 2 - 2 * math.pi * (s + 0.5) / n for node, s in slot.items()}
    depth = tree.depths()
    scale = depth.max()
    if scale <= 0:  # no branch lengths: draw a cladogram
        depth = np.array([float(_generation(tree, i)) for i in range(len(tree.names))])
        scale = max(depth.max(), 1.0)
    radius = {node: depth[node] / scale * r_tree for node in order}

    clade_group: dict[int, str | None] = {}
    for node in reversed(order):
        if not kids[node]:
            clade_group[node] = group[node]
        else:
            found = {clade_group[c] for c in kids[node]}
            clade_group[node] = found.pop() if len(found) == 1 else None

    def colour(node: int) -> str:
        g = clade_group[node]
        return MIXED if g is None else colours[g]

    segments, segment_colours = [], []
    for node in order:
        up = tree.parent[node]
        if up >= 0:
            t = theta[node]
            segments.append([(radius[up] * math.cos(t), radius[up] * math.sin(t)),
                             (radius[node] * math.cos(t), radius[node] * math.sin(t))])
            segment_colours.append(colour(node))
        if kids[node]:
            t0, t1 = theta[kids[node][0]], theta[kids[node][-1]]
            steps = max(2, int(abs(t1 - t0) / math.radians(1.5)) + 1)
            arc = np.linspace(t0, t1, steps)
            segments.append(list(zip(radius[node] * np.cos(arc), radius[node] * np.sin(arc))))
            segment_colours.append(colour(node))
    ax.add_collection(LineCollection(segments, colors=segment_colours, linewidths=0.7))
    leaders = [[((radius[v] + 0.03) * math.cos(theta[v]), (radius[v] + 0.03) * math.sin(theta[v])),
                ((r_label - 0.04) * math.cos(theta[v]), (r_label - 0.04) * math.sin(theta[v]))]
               for v in leaves if r_label - 0.04 > radius[v] + 0.03]
    ax.add_collection(LineCollection(leaders, colors="#cfcfcf", linewidths=0.35, linestyles=(0, (1, 2))))
    ax.scatter([radius[v] * math.cos(theta[v]) for v in leaves], [radius[v] * math.sin(theta[v]) for v in leaves],
               s=7, c=[colours[group[v]] for v in leaves], linewidths=0, zorder=3)
    for k, node in enumerate(leaves):
        t = theta[node]
        degrees = math.degrees(t) % 360
        left = math.cos(t) < 0
        text = ax.text(r_label * math.cos(t), r_label * math.sin(t), labels[k], fontsize=font,
                       rotation=degrees + 180 if left else degrees, rotation_mode="anchor",
                       ha="right" if left else "left", va="center", color=colours[group[node]])
        text.set_gid(f"leaf-label-{k}")

    handles = [Line2D([], [], marker="o", linestyle="", color=colours[g] if g != "other" else OTHER,
                      label=f"{short(g, 40)} ({sum(v == g for v in group.values())})" if g != "other"
                      else f"other ({sum(colours[v] == OTHER for v in group.values())})")
               for g in shown]
    fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.1 / width, 0.05 / height, 1, 1),
               ncol=columns, fontsize=7, frameon=False, title=f"colour: {colour_by}", title_fontsize=7,
               alignment="left")
    _scale_bar(fig, width, height, legend_h, r_tree, scale, kb.distance)
    rho = "" if kb.time_rho is None else f"; root-to-tip distance vs release date: Spearman ρ = {kb.time_rho:.2f} ({kb.dated} dated)"
    fig.text(0.15 / width, 1 - 0.2 / height, title or f"One tree over {n} models", fontsize=11, va="top",
             fontweight="bold")
    import textwrap

    subtitle = f"neighbor joining over {kb.distance} distances, protocol {kb.protocol}; rooted at {tree.how}{rho}"
    fig.text(0.15 / width, 1 - 0.4 / height, "\n".join(textwrap.wrap(subtitle, int((width - 0.3) * 72 / (7.5 * 0.6)))),
             fontsize=7.5, va="top", color="#333333", linespacing=1.2)
    return fig


def _generation(tree, node: int) -> int:
    count = 0
    while tree.parent[node] >= 0:
        node = tree.parent[node]
        count += 1
    return count


def _scale_bar(fig, width: float, height: float, legend_h: float, r_tree: float, scale: float, unit: str) -> None:
    """A bar of a round length in tree units, bottom right under the circle."""
    target = scale * 0.8 / r_tree  # tree units in 0.8 in
    nice = 10 ** math.floor(math.log10(target)) if target > 0 else 1.0
    for factor in (5, 2, 1):
        if nice * factor <= target:
            nice *= factor
            break
    inches = nice / scale * r_tree
    x1 = (width - 0.3) / width
    x0 = x1 - inches / width
    y = (legend_h - 0.15) / height
    from matplotlib.lines import Line2D

    fig.add_artist(Line2D([x0, x1], [y, y], transform=fig.transFigure, color="black", linewidth=1.2))
    fig.text(x1, y + 0.04 / height, f"{nice:g} ({unit} distance)", ha="right", va="bottom", fontsize=7)


@contextlib.contextmanager
def _quiet_glyphs() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        yield


def to_svg(kb: KbTree, colour_by: str = "family", title: str | None = None) -> str:
    """SVG with real <text> elements; each leaf label in a group `leaf-label-<k>`."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}), _quiet_glyphs():
        figure(kb, colour_by, title).savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def to_png(kb: KbTree, colour_by: str = "family", title: str | None = None, max_pixels: int = 12_000) -> bytes:
    fig = figure(kb, colour_by, title)
    dpi = min(150.0, max_pixels / max(fig.get_size_inches()))
    buffer = io.BytesIO()
    with _quiet_glyphs():
        fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
