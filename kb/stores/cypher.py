"""The Cypher both stores run for their shared reads, one named statement per question.

Both dialects (Neo4j's and LadybugDB's Kùzu) accept these as written; a statement one store must say
differently lives in that store's module. Values travel only as `$params`; the few names spliced in
(`returns`, relationship types) come from fixed tuples in code.
"""

from __future__ import annotations

from collections.abc import Sequence

META_VALUE = "MATCH (k:Meta {key: $key}) RETURN k.value AS v"
SET_META = "MERGE (k:Meta {key: $key}) SET k.value = $value"
LINEAGE_MARKS = (
    "MATCH (k:Meta) WHERE k.key = 'lineage_generation' OR k.key = 'lineage_indexed' "
    "RETURN k.key AS key, k.value AS value"
)
MODEL_IDS = "MATCH (m:Model) RETURN m.id AS id ORDER BY id"
PROTOCOL_COUNTS = "MATCH (m:Model) WHERE m.dna IS NOT NULL RETURN m.protocol AS p, count(*) AS n"
DUPLICATES = (
    "MATCH (dup:Model)-[:DUPLICATE_OF]->(orig:Model) "
    "RETURN dup.id AS d, orig.id AS o, dup.released AS released ORDER BY d"
)
DNA_MATRIX = (
    "MATCH (m:Model) WHERE m.protocol = $p AND m.dna IS NOT NULL "
    "RETURN m.id AS id, m.dna AS dna ORDER BY id"
)
FINGERPRINTS = (
    "MATCH (m:Model) WHERE m.protocol = $p AND m.fingerprint IS NOT NULL "
    "RETURN m.id AS id, m.fingerprint AS fp"
)
DECLARED_EDGES = (
    "MATCH (a:Model)-[e:DECLARED_PARENT]->(b:Model) "
    "RETURN a.id AS child, b.id AS parent, e.relation AS relation, e.source AS source ORDER BY child, parent"
)
INFERRED_EDGES = (
    "MATCH (a:Model)-[e:INFERRED_PARENT]->(b:Model) RETURN a.id AS child, b.id AS parent, "
    "e.distance AS distance, e.support AS support, e.method AS method, e.relation AS relation, "
    "e.channel AS channel, coalesce(e.provisional, false) AS provisional, e.flag AS flag, "
    "e.reason AS reason, e.direction AS direction ORDER BY child, parent"
)
MEMBERSHIPS = (
    "MATCH (m:Model)-[e:MEMBER_OF]->(f:Family) "
    "RETURN m.id AS model, f.id AS family, e.probability AS probability ORDER BY model"
)
FAMILIES = (
    "MATCH (f:Family) RETURN f.id AS id, f.size AS size, f.root AS root, f.newick AS newick ORDER BY id"
)
DECLARED_PARENTS_OF = (
    "UNWIND $ids AS wanted MATCH (c:Model {id: wanted})-[:DECLARED_PARENT]->(p:Model) RETURN c.id AS c, p.id AS p"
)
MODEL_HAS_DNA = "MATCH (m:Model {id: $id}) RETURN m.dna IS NOT NULL AS has_dna"
FAMILY_EXISTS = "MATCH (f:Family {id: $id}) RETURN f.id AS id"
COUNTS = {
    "models": "MATCH (m:Model) RETURN count(*) AS n",
    "models_with_dna": "MATCH (m:Model) WHERE m.dna IS NOT NULL RETURN count(*) AS n",
    "declared_edges": "MATCH ()-[e:DECLARED_PARENT]->() RETURN count(*) AS n",
    "inferred_edges": "MATCH ()-[e:INFERRED_PARENT]->() RETURN count(*) AS n",
    "duplicate_edges": "MATCH ()-[e:DUPLICATE_OF]->() RETURN count(*) AS n",
    "families": "MATCH (f:Family) RETURN count(*) AS n",
}
"""StoreStats field -> the count query that fills it."""


def models(fields: Sequence[str], by_id: bool) -> str:
    """Every model (or those in $ids: UNWIND + an index match, since `IN $ids` scans) with `fields`."""
    returns = ", ".join(f"m.{f} AS {f}" for f in fields)
    if by_id:
        return f"UNWIND $ids AS wanted MATCH (m:Model {{id: wanted}}) RETURN {returns} ORDER BY m.id"
    return f"MATCH (m:Model) RETURN {returns} ORDER BY m.id"


def parent_pairs(edge_type: str) -> str:
    return f"MATCH (c:Model)-[:{edge_type}]->(p:Model) RETURN c.id AS c, p.id AS p"
