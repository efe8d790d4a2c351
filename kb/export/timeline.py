"""Evolution over time: release date against DNA distance from the family root (or from one chosen
model), one line per lineage (each parent edge a segment from parent to child), one colour per family.

What it shows: how far, functionally, each lineage has moved from where it started, and when. Read
it with `evolution-speed`'s caveats (kb/lineage/evolution.py): distances saturate near the typical
distance between unrelated models, and they compare only under one DNA protocol. A family whose root
has no DNA is measured from its earliest model that has one (the figure says so). Models without a
DNA or a date are left out and counted in the subtitle. Needs DNAs: a KB of declarations alone has
no points.

Labels: each family's origin and its farthest model, placed largest distance first and skipped when
they would touch a label already placed (measured with the renderer), so labels never overlap.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kb.errors import InputError
from kb.export.circular import OTHER, group_colours, short


@dataclass
class Timeline:
    """Points (model -> (date, distance, family)), the parent edges between them, each family's origin."""

    points: dict[str, tuple[str, float, str]]
    edges: list[tuple[str, str]]
    origins: dict[str, str]
    protocol: str
    reference: str  # "family root" or a model id
    left_out: int = 0
    notes: list[str] = field(default_factory=list)


def build_timeline(vectors: dict[str, np.ndarray], released: dict[str, str | None], family: dict[str, str],
                   roots: dict[str, str], pairs: list[tuple[str, str]], protocol: str,
                   origin: str | None = None) -> Timeline:
    """Pure: distances from each family's origin (or from `origin` for all) for models with DNA and date."""
    notes: list[str] = []
    usable = {m for m in vectors if released.get(m)}
    origins: dict[str, str] = {}
    if origin is not None:
        if origin not in vectors:
            raise InputError(f"--from {origin}: that model has no DNA under protocol {protocol}")
    for label in sorted({family.get(m, "") for m in usable}):
        root = roots.get(label)
        if root in vectors:
            origins[label] = root
            continue
        members = sorted((released[m], m) for m in usable if family.get(m, "") == label)
        origins[label] = members[0][1]
        notes.append(f"{label}: root {root or '?'} has no DNA; measured from {members[0][1]}, its earliest model with one")
    points = {}
    for model in sorted(usable):
        label = family.get(model, "")
        start = vectors[origin] if origin is not None else vectors[origins[label]]
        points[model] = (str(released[model])[:10],
                         float(np.linalg.norm(vectors[model].astype(np.float64) - start.astype(np.float64))), label)
    edges = sorted((c, p) for c, p in set(pairs) if c in points and p in points)
    return Timeline(points, edges, origins, protocol, origin or "family root",
                    left_out=len(vectors) - len(usable), notes=notes)


def collect_timeline(store: Any, family: str | None = None, origin: str | None = None,
                     protocol: str | None = None) -> Timeline:
    """Read the store and build the timeline (one family when `family` names one)."""
    from kb.lineage.evolution import MODEL_FACTS
    from kb.lineage.groups import model_groups
    from kb.lineage.infer import choose_protocol
    from kb.lineage.walk import read_parent_edges, unique_pairs

    pid = choose_protocol(store.protocols(), protocol, [])
    ids, matrix = store.dna_matrix(pid)
    groups = model_groups(store)
    wanted = groups.resolve(family) if family else None
    vectors = {m: v for m, v in zip(ids, matrix) if wanted is None or groups.of.get(m) == wanted or m == origin}
    released = {row["id"]: row["released"] for row in store.cypher(MODEL_FACTS)}
    timeline = build_timeline(vectors, released, groups.of, groups.root, unique_pairs(read_parent_edges(store)),
                              pid, origin)
    if not timeline.points:
        raise InputError("no model has both a DNA and a release date" + (f" in {wanted}" if wanted else ""))
    return timeline


def figure(timeline: Timeline, title: str | None = None):  # -> Figure
    import matplotlib.dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    points = timeline.points
    families = [f for _, _, f in points.values()]
    colours = group_colours(families)
    fams = sorted(set(families), key=lambda f: (colours[f] == OTHER, -families.count(f), f))
    width, height = 12.0, 7.0
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.07, 0.1, 0.62, 0.78))
    date = {m: mdates.date2num(np.datetime64(d)) for m, (d, _, _) in points.items()}
    segments = [[(date[p], points[p][1]), (date[c], points[c][1])] for c, p in timeline.edges]
    ax.add_collection(LineCollection(segments, colors=[colours[points[c][2]] for c, _ in timeline.edges],
                                     linewidths=0.9, alpha=0.8))
    ax.scatter([date[m] for m in points], [points[m][1] for m in points], s=10,
               c=[colours[points[m][2]] for m in points], linewidths=0, zorder=3)
    origins = [m for m in timeline.origins.values() if m in points]
    ax.scatter([date[m] for m in origins], [points[m][1] for m in origins], s=46, marker="*",
               c=[colours[points[m][2]] for m in origins], edgecolors="black", linewidths=0.4, zorder=4)
    ax.xaxis.set_major_locator(mdates.AutoDateLocator())
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    xs, ys = [date[m] for m in points], [points[m][1] for m in points]
    pad_x = max((max(xs) - min(xs)) * 0.06, 15)
    ax.set_xlim(min(xs) - pad_x, max(xs) + pad_x)
    ax.set_ylim(-0.04 * max(max(ys), 1e-9), max(max(ys), 1e-9) * 1.12)
    ax.set_xlabel("release date")
    ax.set_ylabel(f"DNA distance from {'the family root' if timeline.reference == 'family root' else timeline.reference}")
    ax.grid(alpha=0.25)
    _labels(fig, ax, timeline, date, colours)
    handles = [Line2D([], [], marker="o", color=colours[f], linestyle="-",
                      label=f"{short(f, 34)} ({families.count(f)})") for f in fams if colours[f] != OTHER]
    if any(colours[f] == OTHER for f in fams):
        handles.append(Line2D([], [], marker="o", color=OTHER, linestyle="-",
                              label=f"other ({sum(colours[f] == OTHER for f in families)})"))
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.71, 0.88), fontsize=7, frameon=False,
               title="family (models)", title_fontsize=7.5, alignment="left", ncol=1 if len(handles) <= 24 else 2)
    fig.text(0.07, 0.97, title or f"Evolution over time: {len(points)} models, {len(fams)} families", fontsize=12,
             fontweight="bold", va="top")
    sub = (f"protocol {timeline.protocol}; each line a parent edge, stars the origins"
           + (f"; {timeline.left_out} models with a DNA but no date left out" if timeline.left_out else ""))
    fig.text(0.07, 0.925, sub, fontsize=8, va="top", color="#333333")
    return fig


def _labels(fig, ax, timeline: Timeline, date: dict[str, float], colours: dict[str, str]) -> None:
    """Origins and each family's farthest model, farthest first, each kept only if it touches no
    label placed before it and stays inside the axes."""
    points = timeline.points
    wanted: dict[str, None] = {}
    by_family: dict[str, list[str]] = {}
    for m, (_, _, f) in points.items():
        by_family.setdefault(f, []).append(m)
    for f, members in sorted(by_family.items()):
        far = max(members, key=lambda m: (points[m][1], m))
        for m in (timeline.origins.get(f), far):
            if m in points:
                wanted[m] = None
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    placed = []
    for k, model in enumerate(sorted(wanted, key=lambda m: (-points[m][1], m))):
        text = ax.annotate(short(model, 36), (date[model], points[model][1]), xytext=(4, 3),
                           textcoords="offset points", fontsize=6.5, color=colours[points[model][2]],
                           ha="left", va="bottom")
        box = text.get_window_extent(renderer)
        inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
        if not inside or any(box.overlaps(other.expanded(1.06, 1.15)) for other in placed):
            text.remove()
            continue
        text.set_gid(f"point-label-{k}")
        placed.append(box)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        yield


def to_svg(timeline: Timeline, title: str | None = None) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}), _quiet():
        figure(timeline, title).savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def to_png(timeline: Timeline, title: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with _quiet():
        figure(timeline, title).savefig(buffer, format="png", dpi=130)
    return buffer.getvalue()
