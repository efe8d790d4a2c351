// name: undocumented
// description: models with an inferred parent but no declared parent at all (undocumented derivatives)
// param: min_support: float = 0.0 -- only edges with at least this bootstrap support (no support counts as 1)
MATCH (c:Model)-[i:INFERRED_PARENT]->(p:Model)
WHERE coalesce(i.support, 1.0) >= $min_support
OPTIONAL MATCH (c)-[d:DECLARED_PARENT]->(:Model)  // a join, not NOT EXISTS {}: faster in Kùzu
WITH c, i, p, count(d) AS declared
WHERE declared = 0
RETURN c.id AS model, p.id AS inferred_parent, i.relation AS relation, i.support AS support,
       i.distance AS distance, i.provisional AS provisional
ORDER BY model, inferred_parent
