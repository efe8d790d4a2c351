"""Bad input gets one clear line (naming the value and the next step), never a wrong answer."""

from __future__ import annotations

import pytest

from kb.errors import InputError, NotFoundError
from kb.templates import EDGE_TYPES, run_template
from tests.queries.graph import BRACE, QUOTE, TICK, UNICODE


def test_unknown_template_suggests_close_names(kb):
    with pytest.raises(NotFoundError, match=r"^no query template 'descendant'; did you mean descendants, descendant-count\?$"):
        run_template(kb, "descendant", {"model": "org/ft1"})
    with pytest.raises(NotFoundError, match=r"see `dnakb query --list`"):
        run_template(kb, "zzz", {})


def test_missing_extra_and_mistyped_parameters(kb):
    with pytest.raises(InputError, match=r"^template 'mrca' needs parameter 'b': pass --param b=<model>$"):
        run_template(kb, "mrca", {"a": "org/ft1"})
    with pytest.raises(InputError, match=r"has no parameter 'depth' \(its parameters: model, max_depth, edges\)"):
        run_template(kb, "descendants", {"model": "org/ft1", "depth": 3})
    with pytest.raises(InputError, match=r"'max_depth' must be an integer, not 'three'"):
        run_template(kb, "descendants", {"model": "org/ft1", "max_depth": "three"})
    with pytest.raises(InputError, match=r"'max_depth' must be an integer, not float 2.5"):
        run_template(kb, "descendants", {"model": "org/ft1", "max_depth": 2.5})
    with pytest.raises(InputError, match=r"'max_depth' must be between 1 and 30, not 0"):
        run_template(kb, "descendants", {"model": "org/ft1", "max_depth": 0})
    with pytest.raises(InputError, match=r"'k' must be between 1 and 1000, not 5000"):
        run_template(kb, "nearest", {"model": "org/ft1", "k": "5000"})
    with pytest.raises(InputError, match=r"'model' must be a string, not int 7"):
        run_template(kb, "parent", {"model": 7})
    with pytest.raises(InputError, match=r"'min_support' must be a number, not 'high'"):
        run_template(kb, "undocumented", {"min_support": "high"})


def test_edges_only_from_the_fixed_map(kb):
    """A relationship type never comes from the user: anything but the three names is refused."""
    assert set(EDGE_TYPES) == {"declared", "inferred", "both"}
    for attack in ("DECLARED_PARENT", "both]->() DETACH DELETE m //", "declared|DUPLICATE_OF"):
        with pytest.raises(InputError, match=r"'edges' must be one of declared, inferred, both"):
            run_template(kb, "descendants", {"model": "org/base-a", "edges": attack})
    assert len(kb.model_ids()) == 14


def test_unknown_model_suggests_close_ids(kb):
    with pytest.raises(NotFoundError, match=r"^no model 'org/ft-1' in the store; did you mean 'org/ft1'"):
        run_template(kb, "descendants", {"model": "org/ft-1"})
    with pytest.raises(NotFoundError, match=r"did you mean 'org/base-a'"):
        run_template(kb, "mrca", {"a": "org/ft1", "b": "someone/base-a"})
    with pytest.raises(NotFoundError, match=r"^no model 'nothing/like/it' in the store$"):
        run_template(kb, "ancestors", {"model": "nothing/like/it"})
    with pytest.raises(NotFoundError, match=r"^no family 'fam-c' in the store; did you mean 'fam-b', 'fam-a'\?$"):
        run_template(kb, "family-summary", {"family": "fam-c"})


def test_nearest_needs_a_dna(kb):
    with pytest.raises(InputError, match=r"^model 'org/meta-only' has no DNA \(metadata only\)"):
        run_template(kb, "nearest", {"model": "org/meta-only"})


@pytest.mark.parametrize("model", [QUOTE, TICK, BRACE, UNICODE])
def test_awkward_ids_are_values_not_cypher(kb, model):
    """Quotes, backticks, braces and non-ASCII travel as parameters and come back intact."""
    assert [r["id"] for r in run_template(kb, "family", {"model": model}) if r["id"] == model] == [model]
    parents = run_template(kb, "parent", {"model": model})
    assert parents and all(r["id"].startswith("org/") or r["id"] == QUOTE for r in parents)
    lookalike = model + "'"
    with pytest.raises(NotFoundError, match="did you mean"):
        run_template(kb, "ancestors", {"model": lookalike})


def test_malformed_and_writing_cypher(kb):
    with pytest.raises(InputError, match=r"^query failed: "):
        kb.cypher("MATCH (m:Model RETURN m")
    with pytest.raises(InputError, match=r"^query contains the write clause DETACH; pass --write"):
        kb.cypher("MATCH (m:Model) DETACH DELETE m")
    assert len(kb.model_ids()) == 14
    rows = kb.cypher("MATCH (m:Model {id: $id}) RETURN m.id AS id", {"id": TICK})
    assert rows == [{"id": TICK}]
