// name: contradicted
// description: declared parents the DNA disagrees with: the inferred parent is another model
// A merge's inferred parent may be any one of its declared parents: that is no contradiction.
// param: min_support: float = 0.0 -- only inferred edges with at least this support (no support counts as 1)
MATCH (c:Model)-[d:DECLARED_PARENT]->(dp:Model)
MATCH (c)-[i:INFERRED_PARENT]->(ip:Model)
WHERE ip.id <> dp.id AND coalesce(i.support, 1.0) >= $min_support
OPTIONAL MATCH (c)-[agree:INFERRED_PARENT]->(dp)  // joins, not NOT EXISTS {}: faster in Kùzu
OPTIONAL MATCH (c)-[also:DECLARED_PARENT]->(ip)
WITH c, d, dp, i, ip, count(agree) AS agreeing, count(also) AS declared_too
WHERE agreeing = 0 AND declared_too = 0
RETURN c.id AS model, dp.id AS declared_parent, d.relation AS declared_relation,
       ip.id AS inferred_parent, i.support AS support, i.distance AS distance, i.reason AS reason
ORDER BY model, declared_parent, inferred_parent
