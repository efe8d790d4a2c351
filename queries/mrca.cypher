// name: mrca
// description: the most recent common ancestor of models A and B (a model counts as its own ancestor)
// param: a: model (required) -- first model
// param: b: model (required) -- second model
// param: edges: declared|inferred|both = both -- which parent edges to follow
// The common ancestor with the fewest generations to A plus to B; ties by id. Empty: none.
// Shortest paths, not all paths: with two parent edges per model, paths double per generation.
MATCH pa = ANY SHORTEST (a:Model {id: $a})-[:%EDGES%]->{0,30}(c:Model)
WITH c, length(pa) AS from_a
MATCH pb = ANY SHORTEST (b:Model {id: $b})-[:%EDGES%]->{0,30}(c)
WITH c, from_a, length(pb) AS from_b
RETURN c.id AS id, c.name AS name, from_a, from_b
ORDER BY from_a + from_b, id
LIMIT 1
