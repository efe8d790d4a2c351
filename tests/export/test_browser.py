"""The figures as a browser shows them: each file opens in headless Chromium (Debian's package,
installed by scripts/browser), its screenshot is not blank, and the label boxes the browser lays out
(getBBox through getScreenCTM: rotated quads) never overlap. Skips without Chromium, except under
CI=true, where it must run."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from kb.export import circular
from kb.export.kbreport import build_report
from kb.export.whole import export_timeline, tree_html
from tests.conftest import IN_CI
from tests.export import figures_data
from tests.export.boxes import overlapping_pairs

MEASURE = """<pre id="dnakb-boxes"></pre><script>(function () {
  var out = [];
  document.querySelectorAll('g[id^="leaf-label-"] text, g[id^="point-label-"] text').forEach(function (t) {
    var b = t.getBBox(), m = t.getScreenCTM();
    var corners = [[b.x, b.y], [b.x + b.width, b.y], [b.x + b.width, b.y + b.height], [b.x, b.y + b.height]];
    out.push({id: t.parentNode.id, text: t.textContent, quad: corners.map(function (p) {
      return [m.a * p[0] + m.c * p[1] + m.e, m.b * p[0] + m.d * p[1] + m.f]; })});
  });
  document.getElementById('dnakb-boxes').textContent = JSON.stringify(out);
})();</script>"""


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if IN_CI:
            pytest.fail("headless Chromium is required under CI=true: scripts/browser installs it")
        pytest.skip("no Chromium (scripts/browser installs Debian's package)")
    return found


def open_in_browser(chromium: str, page: Path, tmp_path: Path, measure: bool = True) -> tuple[list[dict], Path]:
    """Load `page` headless; (label boxes the browser laid out, screenshot PNG)."""
    target = page
    if measure:
        target = tmp_path / f"measured-{page.name}"
        target.write_text(page.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    shot = tmp_path / f"{page.stem}.png"
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,1400",
         f"--screenshot={shot}", "--dump-dom", target.resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    boxes: list[dict] = []
    if measure:
        found = re.search(r'<pre id="dnakb-boxes">(.*?)</pre>', done.stdout, re.DOTALL)
        assert found, "the measuring script did not run"
        boxes = json.loads(html.unescape(found.group(1)))
    return boxes, shot


def assert_not_blank(shot: Path) -> None:
    from PIL import Image

    image = np.asarray(Image.open(shot).convert("RGB"))
    assert image.shape[0] >= 1000 and image.shape[1] >= 1000
    inked = (image.min(axis=2) < 200).mean()
    colours = len(np.unique(image.reshape(-1, 3)[::7], axis=0))
    assert inked > 0.005 and colours > 8, (inked, colours)


def assert_labels_apart(boxes: list[dict], prefix: str, expected: int | None = None) -> None:
    labels = [b for b in boxes if b["id"].startswith(prefix)]
    if expected is not None:
        assert len(labels) == expected
    assert labels
    quads = [np.array(b["quad"], dtype=float) for b in labels]
    clashes = overlapping_pairs(quads, tolerance=0.5)
    assert not clashes, [(labels[i]["text"], labels[j]["text"], d) for i, j, d in clashes[:5]]


@pytest.fixture(scope="module")
def synthetic_store(tmp_path_factory):
    from kb.stores import StoreConfig, open_store

    store = open_store(StoreConfig(kind="embedded", db=tmp_path_factory.mktemp("browser") / "kb"))
    figures_data.load_store(store, 320)
    yield store
    store.close()


def test_tree_opens_and_its_labels_do_not_overlap(chromium, tmp_path):
    kb = figures_data.kb_tree(320)
    page = tmp_path / "tree.html"
    page.write_text(tree_html(kb), encoding="utf-8")
    boxes, shot = open_in_browser(chromium, page, tmp_path)
    assert_labels_apart(boxes, "leaf-label-", 320)
    assert_not_blank(shot)
    svg = tmp_path / "tree.svg"
    svg.write_text(circular.to_svg(kb), encoding="utf-8")
    _, shot = open_in_browser(chromium, svg, tmp_path, measure=False)  # the bare SVG file opens too
    assert_not_blank(shot)


def test_timeline_opens_and_its_labels_do_not_overlap(chromium, synthetic_store, tmp_path):
    page = export_timeline(synthetic_store, "html", tmp_path / "timeline.html")
    boxes, shot = open_in_browser(chromium, page, tmp_path)
    assert_labels_apart(boxes, "point-label-")
    assert_not_blank(shot)


def test_report_opens_with_both_figures_legible(chromium, synthetic_store, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(build_report(synthetic_store), encoding="utf-8")
    boxes, shot = open_in_browser(chromium, page, tmp_path)
    assert_labels_apart(boxes, "leaf-label-", 320)
    assert_labels_apart(boxes, "point-label-")
    assert_not_blank(shot)


def test_the_overlap_check_sees_overlaps_in_the_browser(chromium, tmp_path):
    """A page whose labels do overlap fails the check: the test can fail."""
    page = tmp_path / "bad.html"
    texts = "".join(f'<g id="leaf-label-{k}"><text x="20" y="{40 + 4 * k}" font-size="14">label number {k}</text></g>'
                    for k in range(5))
    page.write_text(f"<!DOCTYPE html><html><body><svg width='1200' height='1200'>{texts}</svg></body></html>")
    boxes, _ = open_in_browser(chromium, page, tmp_path)
    with pytest.raises(AssertionError):
        assert_labels_apart(boxes, "leaf-label-", 5)
