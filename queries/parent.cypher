// name: parent
// description: the direct parent(s) of MODEL: declared (with source) and inferred (with support and deciding channel)
// param: model: model (required) -- the child
// param: edges: declared|inferred|both = both -- which parent edges to follow
MATCH (m:Model {id: $model})-[r:%EDGES%]->(p:Model)
RETURN p.id AS id, p.name AS name,
       CASE type(r) WHEN 'DECLARED_PARENT' THEN 'declared' ELSE 'inferred' END AS edge,
       r.relation AS relation, r.source AS source, r.support AS support,
       r.distance AS distance, r.channel AS channel, r.provisional AS provisional
ORDER BY edge, id
