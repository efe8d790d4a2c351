// name: children (Kùzu dialect: label(r) instead of type(r); a rel of one
// table has no properties of the other, so both tables are matched and filtered by $edges)
MATCH (c:Model)-[r:DECLARED_PARENT|INFERRED_PARENT]->(m:Model {id: $model})
WHERE $edges = 'both' OR (label(r) = 'DECLARED_PARENT') = ($edges = 'declared')
RETURN c.id AS id, c.name AS name,
       CASE label(r) WHEN 'DECLARED_PARENT' THEN 'declared' ELSE 'inferred' END AS edge,
       r.relation AS relation, r.support AS support, r.distance AS distance, r.channel AS channel,
       r.direction AS direction
ORDER BY id, edge
