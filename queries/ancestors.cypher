// name: ancestors
// description: the chain of parents from MODEL up to its root, nearest first
// param: model: model (required) -- the descendant
// param: max_depth: int[1..30] = 30 -- most generations to climb
// param: edges: declared|inferred|both = both -- which parent edges to follow
// Root = an ancestor without a parent of the chosen kind (is_root). Merges have two parents:
// every ancestor appears once, at its nearest generation.
MATCH p = ANY SHORTEST (m:Model {id: $model})-[:%EDGES%]->{1,30}(a:Model)
WHERE length(p) <= $max_depth
WITH a, length(p) AS depth
OPTIONAL MATCH (a)-[:%EDGES%]->(up:Model)  // a join, not NOT EXISTS {}: 100x faster in Kùzu
RETURN a.id AS id, a.name AS name, depth, count(up) = 0 AS is_root
ORDER BY depth, id
