// name: mrca
// description: the most recent common ancestor of models A and B (a model counts as its own ancestor)
// param: a: model (required) -- first model
// param: b: model (required) -- second model
// param: edges: declared|inferred|both = both -- which parent edges to follow
// The common ancestor with the fewest generations to A plus to B; ties by id. Empty: none.
// Shortest paths, not all paths: with two parent edges per model, paths double per generation.
// Neo4j: each side's ancestors as distinct endpoints (pruning BFS), then bound shortest paths.
MATCH (a:Model {id: $a})-[:%EDGES%*0..30]->(x:Model)
WITH DISTINCT a, x
MATCH pa = ANY SHORTEST (a)-[:%EDGES%]->{0,30}(x)
WITH collect({id: x.id, gen: length(pa)}) AS ups_a
MATCH (b:Model {id: $b})-[:%EDGES%*0..30]->(y:Model)
WITH DISTINCT ups_a, b, y
MATCH pb = ANY SHORTEST (b)-[:%EDGES%]->{0,30}(y)
WITH ups_a, y, length(pb) AS from_b
UNWIND ups_a AS up
WITH up, y, from_b
WHERE up.id = y.id
RETURN y.id AS id, y.name AS name, up.gen AS from_a, from_b
ORDER BY from_a + from_b, id
LIMIT 1
