"""`dnakb report`: one self-contained HTML file about a family or the whole KB.

Sections: facts; the one tree (circular, coloured by family; needs DNAs); evolution over time (needs
DNAs and dates); the evolution-speed table (dates alone give `median_days`); flagged edges
(undocumented derivatives, contradicted declarations); licence conflicts (more-permissive or
incompatible, with the count of pairs whose licence is unknown). Each part that cannot be drawn says
why instead of failing the report; every table sorts by a click. Nothing is loaded from elsewhere:
the file opens offline.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from kb.errors import InputError
from kb.export import check_writable, circular, timeline, write_output
from kb.export.whole import inline_svg, page, sortable_table
from kb.lineage.groups import model_groups
from kb.lineage.kbtree import Selection, collect_kb_tree
from kb.templates import run_template


def _section(title: str, body: str, note: str = "") -> str:
    extra = f"<p class=\"note\">{html.escape(note)}</p>" if note else ""
    return f"<h2>{html.escape(title)}</h2>\n{extra}{body}\n"


def _unavailable(error: Exception) -> str:
    return f"<p><i>Not drawn: {html.escape(str(error))}</i></p>"


def build_report(store: Any, family: str | None = None) -> str:
    """The report's HTML for `family` (a family label or a model id: its family) or the whole KB."""
    groups = model_groups(store)
    label = groups.resolve(family) if family else None
    members = set(groups.members(label)) if label else None
    stats = store.stats()
    scope = f"family {label}" if label else "the whole KB"
    facts = {
        "scope": scope + (f" (root {groups.root.get(label)})" if label else ""),
        "models": len(members) if members is not None else stats.models,
        "models with a DNA": stats.models_with_dna if members is None else
        sum(1 for m in store.get_models(sorted(members)) if m.dna is not None),
        "declared / inferred edges (whole KB)": f"{stats.declared_edges} / {stats.inferred_edges}",
        "inferred families (whole KB)": stats.families,
    }
    parts = ["<ul>" + "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in facts.items())
             + "</ul>"]

    try:
        kb = collect_kb_tree(store, Selection(families=(label,) if label else ()))
        rho = "" if kb.time_rho is None else f" Spearman ρ between root-to-tip distance and release date: {kb.time_rho:.3f} ({kb.dated} dated models)."
        parts.append(_section("The tree", '<div class="picture">' + inline_svg(circular.to_svg(kb)) + "</div>",
                              f"Neighbor joining over {kb.distance} distances (protocol {kb.protocol}), rooted at "
                              f"{kb.tree.how}.{rho}"))
    except InputError as error:
        parts.append(_section("The tree", _unavailable(error)))

    try:
        found = timeline.collect_timeline(store, label)
        parts.append(_section("Evolution over time", '<div class="picture">' + inline_svg(timeline.to_svg(found))
                              + "</div>" + "".join(f"<p class=\"note\">{html.escape(n)}</p>" for n in found.notes)))
    except InputError as error:
        parts.append(_section("Evolution over time", _unavailable(error)))

    speed = run_template(store, "evolution-speed", {"family": label or ""})
    parts.append(_section("Evolution speed", sortable_table(speed),
                          "DNA distance travelled per year along parent edges (median and quartiles); distances "
                          "saturate near the unrelated level and compare only under one DNA protocol; "
                          "median_days needs dates only."))

    def inside(rows: list[dict[str, Any]], key: str = "model") -> list[dict[str, Any]]:
        return rows if members is None else [r for r in rows if r[key] in members]

    flagged = [{"flag": "undocumented", **r} for r in inside(run_template(store, "undocumented", {}))]
    flagged += [{"flag": "contradicted", **r} for r in inside(run_template(store, "contradicted", {}))]
    parts.append(_section("Flagged edges", sortable_table(flagged),
                          "undocumented: an inferred parent and no declared one; contradicted: the inferred "
                          "parent differs from the declared one."))
    pairs = inside(run_template(store, "license-conflicts", {"show": "all"}))
    conflicts = [r for r in pairs if r["verdict"] != "unknown"]
    unknown = len(pairs) - len(conflicts)
    parts.append(_section("Licence conflicts", sortable_table(conflicts),
                          f"Derivatives whose licence is looser than or incompatible with an ancestor's "
                          f"(kb/licenses.py's table); {unknown} more (model, ancestor) pairs have a licence "
                          "that is not stated or not in the table, and are not judged."))
    return page(f"LLM DNA KB report: {scope}", "\n".join(parts))


def write_report(store: Any, out: Path, family: str | None = None) -> Path:
    out = Path(out)
    check_writable(out)
    return write_output(out, build_report(store, family))
