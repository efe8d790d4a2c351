"""The Python-answered templates (license-conflicts, affected-by, evolution-speed, evidence) on both
stores, each against an oracle computed with networkx/numpy from the graph's lists, never a store."""

from __future__ import annotations

import datetime as dt
import itertools

import networkx as nx
import numpy as np
import pytest

from ingest.cli import main
from kb.errors import InputError, NotFoundError
from kb.licenses import compatibility
from kb.templates import run_template
from tests.queries import graph as g
from tests.queries.graph import BRACE, QUOTE, TICK, UNICODE


def _strength(kind: str, support: float | None) -> float | None:
    return 1.0 if kind == "declared" else support


def edge_list(edges: str) -> list[tuple[str, str, str, float | None]]:
    """(child, parent, kind, strength) of the chosen kinds."""
    out = []
    if edges in ("declared", "both"):
        out += [(e.child, e.parent, "declared", 1.0) for e in g.DECLARED]
    if edges in ("inferred", "both"):
        out += [(e.child, e.parent, "inferred", e.support) for e in g.INFERRED]
    return out


def licence_oracle(edges: str, show: str) -> list[dict]:
    wanted = {"conflicts": {"more-permissive", "incompatible"}, "unknown": {"unknown"},
              "all": {"more-permissive", "incompatible", "unknown"}}[show]
    up = nx.DiGraph([(c, p) for c, p, _, _ in edge_list(edges)])
    declared = nx.DiGraph([(c, p) for c, p, kind, _ in edge_list(edges) if kind == "declared"])
    licence = {m: g.LICENCES.get(m, "mit") for m in g.PARENTS}
    rows = []
    for model in sorted(n for n in up if up.out_degree(n)):
        depth = nx.single_source_shortest_path_length(up, model)
        for ancestor, d in sorted(depth.items(), key=lambda x: (x[1], x[0])):
            if d == 0:
                continue
            verdict = compatibility(licence[ancestor], licence[model])
            if verdict.verdict in wanted:
                via = "declared" if model in declared and ancestor in nx.descendants(declared, model) else "inferred"
                rows.append({"model": model, "license": licence[model], "ancestor": ancestor,
                             "ancestor_license": licence[ancestor], "depth": d, "via": via,
                             "verdict": verdict.verdict, "reason": verdict.reason})
    return rows


def test_license_conflicts_against_the_oracle(kb):
    for edges, show in itertools.product(["declared", "inferred", "both"], ["conflicts", "unknown", "all"]):
        rows = run_template(kb, "license-conflicts", {"edges": edges, "show": show})
        assert rows == licence_oracle(edges, show), (edges, show)
    rows = run_template(kb, "license-conflicts", {})
    found = {(r["model"], r["ancestor"]): (r["verdict"], r["via"]) for r in rows}
    assert found[("org/ft1", "org/base-a")] == ("more-permissive", "declared")  # apache-2.0 under llama2
    assert found[("org/deep", QUOTE)] == ("incompatible", "declared")  # gemma under llama2
    assert found[(TICK, "org/base-b")] == ("more-permissive", "declared")  # mit under cc-by-nc-sa
    assert found[("org/b-ft", "org/base-a")] == ("more-permissive", "inferred")  # only an inferred edge
    assert found[("org/ad1", "org/base-a")][0] == "unknown" and found[(UNICODE, "org/base-b")][0] == "unknown"
    assert ("org/q1", "org/base-a") not in found  # llama2 under llama2: ok


def affected_oracle(model: str, edges: str, min_support: float = 0.0) -> list[dict]:
    graph = nx.MultiDiGraph()
    for child, parent, kind, strength in edge_list(edges):
        if kind == "inferred" and min_support > 0 and (strength is None or strength < min_support):
            continue
        graph.add_edge(parent, child, kind=kind, strength=strength)
    rows = []
    for node in (nx.descendants(graph, model) if model in graph else ()):
        best = None
        for path in nx.all_simple_paths(graph, model, node):
            options = [list(graph.get_edge_data(u, v).values()) for u, v in zip(path, path[1:])]
            for choice in itertools.product(*options):
                ranks = [0.0 if d["strength"] is None else d["strength"] for d in choice]
                weakest = min(ranks)
                at = ranks.index(weakest)
                inferred = sum(d["kind"] == "inferred" for d in choice)
                key = (len(path), -weakest, tuple(path), inferred)
                if best is None or key < best[0]:
                    best = (key, choice[at]["strength"], f"{path[at + 1]} -> {path[at]}", inferred, path)
        key, strength, weakest_edge, inferred, path = best
        rows.append({"id": node, "depth": len(path) - 1, "weakest_support": strength,
                     "weakest_edge": weakest_edge, "inferred_edges": inferred, "path": list(path)})
    return sorted(rows, key=lambda r: (r["depth"], r["id"]))


def test_affected_by_against_the_oracle(kb):
    for edges, model in itertools.product(["declared", "inferred", "both"], ["org/base-a", "org/base-b", "org/ft1", BRACE]):
        rows = run_template(kb, "affected-by", {"model": model, "edges": edges})
        assert rows == affected_oracle(model, edges), (model, edges)
    rows = run_template(kb, "affected-by", {"model": "org/base-a", "min_support": 0.8})
    assert rows == affected_oracle("org/base-a", "both", 0.8)
    assert "org/b-ft" not in {r["id"] for r in rows}  # its only inferred edge has support 0.4
    rows = {r["id"]: r for r in run_template(kb, "affected-by", {"model": "org/base-a"})}
    assert rows[TICK]["path"] == ["org/base-a", "org/b-ft", TICK]
    assert rows[TICK]["weakest_support"] == pytest.approx(0.4) and rows[TICK]["weakest_edge"] == "org/b-ft -> org/base-a"
    assert rows["org/deep"]["inferred_edges"] == 0 and rows["org/deep"]["weakest_support"] == 1.0


def speed_oracle(edges: str) -> list[dict]:
    dna = g.dnas()
    day = {m: dt.date(2024, 1, i + 1) for i, m in enumerate(g.PARENTS)}
    per: dict[str, list[tuple[float, float | None]]] = {}
    for child, parent in sorted({(c, p) for c, p, _, _ in edge_list(edges)}):
        days = (day[child] - day[parent]).days
        rate = None
        if days > 0 and child in dna and parent in dna:
            rate = float(np.linalg.norm(dna[child].astype(float) - dna[parent].astype(float))) / (days / 365.25)
        per.setdefault(g.FAMILY_OF[child], []).append((days, rate))
    rows = []
    for family, steps in sorted(per.items()):
        days = [d for d, _ in steps if d > 0]
        rates = [r for _, r in steps if r is not None]
        root = next(f.root for f in g.FAMILIES if f.id == family)
        rows.append({"family": family, "root": root, "edges": len(steps), "dated_edges": len(days),
                     "median_days": float(np.median(days)) if days else None, "dna_edges": len(rates),
                     "median_rate": float(np.median(rates)) if rates else None,
                     "q25_rate": float(np.quantile(rates, 0.25)) if rates else None,
                     "q75_rate": float(np.quantile(rates, 0.75)) if rates else None})
    return rows


def _close(left: list[dict], right: list[dict]) -> bool:
    return len(left) == len(right) and all(
        a.keys() == b.keys() and all(
            a[k] == pytest.approx(b[k], rel=1e-6) if isinstance(a[k], float) else a[k] == b[k] for k in a)
        for a, b in zip(left, right))


def test_evolution_speed_against_the_oracle(kb):
    for edges in ("declared", "inferred", "both"):
        rows = run_template(kb, "evolution-speed", {"edges": edges})
        assert _close(rows, speed_oracle(edges)), rows
        one = run_template(kb, "evolution-speed", {"edges": edges, "family": "fam-b"})
        assert one == [r for r in rows if r["family"] == "fam-b"]
    assert run_template(kb, "evolution-speed", {"family": TICK}) == run_template(kb, "evolution-speed", {"family": "fam-b"})


def evidence_oracle(model: str, k: int) -> list[dict]:
    dna = {m: v.astype(np.float64) for m, v in g.dnas().items()}
    ids = sorted(dna)
    pairs = [float(np.linalg.norm(dna[a] - dna[b])) for a, b in itertools.combinations(ids, 2)]
    scale = float(np.median(pairs))
    links: dict[str, str] = {}
    for kind, edges in (("declared", g.DECLARED), ("inferred", g.INFERRED)):
        for e in edges:
            if e.child == model:
                links.setdefault(e.parent, f"{kind} parent")
    for kind, edges in (("declared", g.DECLARED), ("inferred", g.INFERRED)):
        for e in sorted(edges, key=lambda e: e.child):
            if e.parent == model:
                links.setdefault(e.child, f"{kind} child")
    for m, f in g.FAMILY_OF.items():
        if f == g.FAMILY_OF[model] and m != model:
            links.setdefault(m, "same family")
    return [{"channel": "text", "rank": r, "id": other, "distance": d, "cost": d / scale, "link": links.get(other, "")}
            for r, (other, d) in enumerate(g.nearest(model, k), 1)]


def test_evidence_against_the_oracle(kb):
    for model in ("org/ft1", UNICODE, QUOTE):
        assert _close(run_template(kb, "evidence", {"model": model, "k": 4}), evidence_oracle(model, 4)), model


def test_bad_input_is_one_clear_error(kb):
    with pytest.raises(NotFoundError, match=r"^no model 'org/base-c' in the store; did you mean"):
        run_template(kb, "affected-by", {"model": "org/base-c"})
    with pytest.raises(InputError, match=r"model 'org/meta-only' has no DNA"):
        run_template(kb, "evidence", {"model": "org/meta-only"})
    with pytest.raises(NotFoundError, match=r"^no family or model 'fam-c' in the store; did you mean 'fam-b', 'fam-a'\?"):
        run_template(kb, "evolution-speed", {"family": "fam-c"})
    with pytest.raises(InputError, match=r"parameter 'show' must be one of conflicts, unknown, all"):
        run_template(kb, "license-conflicts", {"show": "some"})


def test_cli_prints_the_rows(kb, tmp_path, capsys):
    if kb.kind == "embedded":
        where = ["--db", kb.location]
        kb.close()  # the CLI opens the folder itself
    else:
        where = ["--store", "neo4j"]  # the server of NEO4J_URI / NEO4J_PASSWORD
    assert main([*where, "query", "license-conflicts", "--param", "show=conflicts", "--csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "model,license,ancestor,ancestor_license,depth,via,verdict,reason"
    assert "org/ft1,apache-2.0,org/base-a,llama2,1,declared,more-permissive," in "\n".join(out)
    assert main([*where, "query", "affected-by", "--param", "model=org/base-x"]) == 1
    assert capsys.readouterr().err.startswith("Error: no model 'org/base-x' in the store")
