"""`dnakb demo`: the whole product on a small zoo, end to end, on the configured store.

Builds (or reuses) the small zoo, ingests it through both backends (HF folders through
transformers, GGUF files through llama-cpp) without its declared parents, infers lineage, prints
the family trees, answers three lineage questions with query templates, and writes an HTML report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ingest.api import ingest
from ingest.evaluation import true_edges
from ingest.zoo.build import build_zoo
from kb.export import export_subtree
from kb.lineage.evaluate import evaluate
from kb.stores import GraphStore
from kb.templates import run_template


@dataclass
class DemoResult:
    manifest: Path
    report: Path
    ingested: int
    parent_accuracy: float | None
    trees: list[str]
    answers: list[dict[str, Any]] = field(default_factory=list)


def _tree_lines(store: GraphStore) -> list[str]:
    """Each inferred family as an indented tree (child under parent) with relation and support."""
    edges = [e for e in store.inferred_edges() if e.method == "arborescence" or not e.method]
    children: dict[str, list] = {}
    has_parent = set()
    for edge in edges:
        children.setdefault(edge.parent, []).append(edge)
        has_parent.add(edge.child)
    lines: list[str] = []

    def walk(node: str, depth: int, edge: Any = None) -> None:
        label = node if edge is None else (
            f"{node}  [{edge.relation or 'finetune'} via {edge.channel or '?'}"
            + (f", support {edge.support:.2f}" if edge.support is not None else "") + "]"
        )
        lines.append("  " * depth + ("└─ " if depth else "") + label)
        for child in sorted(children.get(node, []), key=lambda e: e.child):
            walk(child.child, depth + 1, child)

    for family in store.families():
        root = family.root or ""
        if family.size > 1 and root:
            lines.append(f"family {family.id} ({family.size} models)")
            walk(root, 1)
    return lines


def demo(
    store: GraphStore, workdir: str | Path, *, bootstrap: int = 20, workers: int = 1,
    progress: Callable[[str], None] | None = None,
) -> DemoResult:
    say = progress or (lambda _m: None)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    say("demo: building the small zoo (cached after the first run)")
    zoo = build_zoo(workdir / "zoo", small=True, progress=say)
    say("demo: ingesting the zoo through transformers and llama-cpp (declared parents withheld)")
    artifacts = workdir / "artifacts"
    report = ingest(zoo.manifest, store, workers=workers, declared=False, artifacts=artifacts, progress=say)
    say("demo: inferring families, trees and parents")
    truth = true_edges(zoo.manifest, store)
    scores = evaluate(store, truth, bootstrap=bootstrap, variants=False, progress=say)  # artifacts: the KB's
    trees = _tree_lines(store)
    root = next((f.root for f in store.families() if f.size > 1 and f.root), None)
    quantized = next((child for child, _, relation in truth if relation == "quantized"), None)
    questions = []
    if root:
        questions.append((f"What descends from {root}?", "descendants", {"model": root, "edges": "inferred"}))
    if quantized:
        questions.append((f"Where did {quantized} come from?", "parent", {"model": quantized, "edges": "inferred"}))
    if root:
        questions.append((f"Which models behave most like {root}?", "nearest", {"model": root, "k": 3}))
    answers = [
        {"question": q, "template": name, "params": params, "rows": run_template(store, name, params)}
        for q, name, params in questions
    ]
    out = workdir / "report.html"
    if root:
        export_subtree(store, root, "html", out, edges="both")
    return DemoResult(zoo.manifest, out, report.ok, scores.parents.accuracy, trees, answers)
