"""The whole-KB figures at 300+ models: labels never overlap (rotated boxes measured by matplotlib's
renderer), every label lies on the canvas, each figure renders in a few seconds; the HTML report is
one self-contained file with every section."""

from __future__ import annotations

import math
import re
import time

import numpy as np
import pytest

from kb.export import circular, timeline
from kb.export.kbreport import build_report
from kb.export.whole import export_timeline, export_tree
from kb.lineage.kbtree import Selection
from tests.export import figures_data
from tests.export.boxes import overlapping_pairs


def text_quad(text, renderer) -> np.ndarray:
    """The rotated box of a Text in display pixels: its unrotated extent, aligned about its anchor, then
    rotated about the anchor (matplotlib's rotation_mode='anchor')."""
    angle = text.get_rotation()
    text.set_rotation(0)
    box = text.get_window_extent(renderer)
    text.set_rotation(angle)
    anchor = text.get_transform().transform(text.get_position())
    corners = np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1]]) - anchor
    t = math.radians(angle)
    rotation = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return corners @ rotation.T + anchor


@pytest.fixture(scope="module")
def big_tree():
    return figures_data.kb_tree(320)


def drawn(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    return fig


def test_tree_labels_do_not_overlap_at_320_leaves(big_tree):
    fig = drawn(circular.figure(big_tree))
    renderer = fig.canvas.get_renderer()
    labels = [t for t in fig.axes[0].texts if (t.get_gid() or "").startswith("leaf-label-")]
    assert len(labels) == 320
    assert {t.get_text() for t in labels} == {circular.short(m) for m in big_tree.models}
    quads = [text_quad(t, renderer) for t in labels]
    assert overlapping_pairs(quads) == []
    width, height = fig.canvas.get_width_height()
    every = np.concatenate(quads)
    assert every.min() >= 0 and every[:, 0].max() <= width and every[:, 1].max() <= height
    # neighbours are close (the figure does not just spread labels far apart): at most 3 label heights
    first, second = quads[0], quads[1]
    assert np.linalg.norm(first.mean(axis=0) - second.mean(axis=0)) < 3 * np.linalg.norm(first[3] - first[0])
    # the legend and the titles meet no label
    others = [t for t in fig.texts] + [t for legend in fig.legends for t in legend.get_texts()]
    boxes = [t.get_window_extent(renderer) for t in others if t.get_text()]
    for quad in quads:
        for box in boxes:
            corners = np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1]])
            assert not overlapping_pairs([quad, corners])


def test_tree_overlaps_would_be_caught():
    """The check can fail: a figure drawn with the label circle too small does overlap."""
    kb = figures_data.kb_tree(320)
    saved = circular.LINE_FACTOR
    circular.LINE_FACTOR = 0.5
    try:
        fig = drawn(circular.figure(kb))
        renderer = fig.canvas.get_renderer()
        quads = [text_quad(t, renderer) for t in fig.axes[0].texts if (t.get_gid() or "").startswith("leaf-label-")]
        assert overlapping_pairs(quads)
    finally:
        circular.LINE_FACTOR = saved


def test_tree_renders_quickly_as_svg_and_png(big_tree):
    started = time.perf_counter()
    svg = circular.to_svg(big_tree, "architecture")
    png = circular.to_png(big_tree)
    assert time.perf_counter() - started < 20  # ~3 s on 2 cores
    assert svg.count('id="leaf-label-') == 320 and "<text" in svg
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_timeline_labels_do_not_overlap_at_320_models():
    lin = figures_data.lineage(320)
    names = figures_data.renamed(lin)
    family = {names[e.id]: f"f{int(f)}" for e, f in zip(lin.evidence, lin.family)}
    roots = {}
    for e in lin.evidence:
        roots.setdefault(family[names[e.id]], names[e.id])
    found = timeline.build_timeline({names[e.id]: e.text for e in lin.evidence},
                                    {names[e.id]: e.released for e in lin.evidence}, family, roots,
                                    [(names[c], names[p]) for c, p, _ in lin.truth], "synthetic")
    assert len(found.points) == 320 and found.edges
    fig = timeline.figure(found)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = [t for t in fig.axes[0].texts if (t.get_gid() or "").startswith("point-label-")]
    assert len(labels) >= 6  # of 26 wanted (13 origins, 13 farthest), the ones that touch no other
    quads = [text_quad(t, renderer) for t in labels]
    assert overlapping_pairs(quads) == []
    frame = fig.axes[0].get_window_extent(renderer)
    every = np.concatenate(quads)
    assert every[:, 0].min() >= frame.x0 and every[:, 0].max() <= frame.x1
    assert every[:, 1].min() >= frame.y0 and every[:, 1].max() <= frame.y1


def test_timeline_distances_are_from_each_family_root():
    vectors = {"r": np.zeros(3, np.float32), "a": np.array([3, 4, 0], np.float32), "s": np.ones(3, np.float32),
               "b": np.array([1, 1, 2], np.float32)}
    released = {"r": "2023-01-01", "a": "2023-06-01", "s": "2023-02-01", "b": "2023-03-01"}
    found = timeline.build_timeline(vectors, released, {"r": "F", "a": "F", "s": "G", "b": "G"},
                                    {"F": "r", "G": "missing"}, [("a", "r"), ("b", "s")], "p")
    assert found.points["a"] == ("2023-06-01", pytest.approx(5.0), "F")
    assert found.points["b"][1] == pytest.approx(1.0)  # G's root has no DNA: from s, its earliest model
    assert found.origins == {"F": "r", "G": "s"} and "G: root missing has no DNA" in found.notes[0]
    chosen = timeline.build_timeline(vectors, released, {}, {}, [], "p", origin="a")
    assert chosen.points["r"][1] == pytest.approx(5.0) and chosen.reference == "a"


@pytest.fixture(scope="module")
def synthetic_store(tmp_path_factory):
    from kb.stores import StoreConfig, open_store

    store = open_store(StoreConfig(kind="embedded", db=tmp_path_factory.mktemp("figures") / "kb"))
    figures_data.load_store(store, 320)
    yield store
    store.close()


def test_report_is_self_contained_with_every_section(synthetic_store, tmp_path):
    started = time.perf_counter()
    text = build_report(synthetic_store)
    assert time.perf_counter() - started < 30
    for heading in ("The tree", "Evolution over time", "Evolution speed", "Flagged edges", "Licence conflicts"):
        assert f"<h2>{heading}</h2>" in text
    assert text.count("<svg") == 2 and "Not drawn" not in text
    assert not re.search(r"<link|\ssrc=|url\((?!#)|@import", text)  # nothing loaded from elsewhere
    assert "more-permissive" in text  # apache-2.0 models below llama2 ones
    one = build_report(synthetic_store, family=figures_data.model_id(0, 0))
    assert "family root:" in one and one.count("<svg") == 2


def test_exports_write_every_format(synthetic_store, tmp_path):
    newick = export_tree(synthetic_store, "newick", selection=Selection(since="2022-01-01"))
    assert newick.endswith(";\n") and newick.count("org-") < 320
    for fmt in ("svg", "png", "html"):
        assert export_tree(synthetic_store, fmt, tmp_path / f"t.{fmt}", distance="text").stat().st_size > 1000
        assert export_timeline(synthetic_store, fmt, tmp_path / f"l.{fmt}").stat().st_size > 1000
