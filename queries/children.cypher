// name: children
// description: the direct children of MODEL, with the kind of edge and its evidence
// param: model: model (required) -- the parent
// param: edges: declared|inferred|both = both -- which parent edges to follow
MATCH (c:Model)-[r:%EDGES%]->(m:Model {id: $model})
RETURN c.id AS id, c.name AS name,
       CASE type(r) WHEN 'DECLARED_PARENT' THEN 'declared' ELSE 'inferred' END AS edge,
       r.relation AS relation, r.support AS support, r.distance AS distance, r.channel AS channel,
       r.direction AS direction
ORDER BY id, edge
