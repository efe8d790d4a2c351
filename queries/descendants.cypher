// name: descendants
// description: every model below MODEL (children, grandchildren, ...) with its generation
// param: model: model (required) -- the ancestor
// param: max_depth: int[1..30] = 10 -- deepest generation to follow
// param: edges: declared|inferred|both = both -- which parent edges to follow
// Generation = length of the shortest child->parent chain; rows by generation, then id.
// Neo4j: distinct endpoints first (a pruning BFS), then a shortest path between two bound nodes;
// ANY SHORTEST with one end unbound took seconds on 100k models.
MATCH (m:Model {id: $model})<-[:%EDGES%*1..30]-(d:Model)
WITH DISTINCT m, d
MATCH p = ANY SHORTEST (d)-[:%EDGES%]->{1,30}(m)
WHERE length(p) <= $max_depth
RETURN d.id AS id, d.name AS name, length(p) AS depth
ORDER BY depth, id
