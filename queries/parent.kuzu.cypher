// name: parent (Kùzu dialect: label(r) instead of type(r); a rel of one
// table has no properties of the other, so both tables are matched and filtered by $edges)
MATCH (m:Model {id: $model})-[r:DECLARED_PARENT|INFERRED_PARENT]->(p:Model)
WHERE $edges = 'both' OR (label(r) = 'DECLARED_PARENT') = ($edges = 'declared')
RETURN p.id AS id, p.name AS name,
       CASE label(r) WHEN 'DECLARED_PARENT' THEN 'declared' ELSE 'inferred' END AS edge,
       r.relation AS relation, r.source AS source, r.support AS support,
       r.distance AS distance, r.provisional AS provisional, r.channel AS channel,
       r.direction AS direction
ORDER BY edge, id
