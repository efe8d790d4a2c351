// name: parent
// description: the direct parent(s) of MODEL: declared (with source) and inferred (with support, the
// channel that decided it and what set its direction)
// param: model: model (required) -- the child
// param: edges: declared|inferred|both = both -- which parent edges to follow
MATCH (m:Model {id: $model})-[r:%EDGES%]->(p:Model)
RETURN p.id AS id, p.name AS name,
       CASE type(r) WHEN 'DECLARED_PARENT' THEN 'declared' ELSE 'inferred' END AS edge,
       r.relation AS relation, r.source AS source, r.support AS support,
       r.distance AS distance, r.provisional AS provisional, r.channel AS channel,
       r.direction AS direction
ORDER BY edge, id
