// name: siblings
// description: models that share a parent with MODEL, and which parent they share
// param: model: model (required) -- the model whose siblings to list
// param: edges: declared|inferred|both = both -- which parent edges to follow
MATCH (m:Model {id: $model})-[:%EDGES%]->(p:Model)<-[:%EDGES%]-(s:Model)
WHERE s.id <> m.id
RETURN DISTINCT s.id AS id, s.name AS name, p.id AS shared_parent
ORDER BY id, shared_parent
