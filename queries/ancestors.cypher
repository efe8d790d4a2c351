// name: ancestors
// description: the chain of parents from MODEL up to its root, nearest first
// param: model: model (required) -- the descendant
// param: max_depth: int[1..30] = 30 -- most generations to climb
// param: edges: declared|inferred|both = both -- which parent edges to follow
// Root = an ancestor without a parent of the chosen kind (is_root). Merges have two parents:
// every ancestor appears once, at its nearest generation.
// Neo4j: distinct endpoints first (a pruning BFS), then a shortest path between two bound nodes.
MATCH (m:Model {id: $model})-[:%EDGES%*1..30]->(a:Model)
WITH DISTINCT m, a
MATCH p = ANY SHORTEST (m)-[:%EDGES%]->{1,30}(a)
WHERE length(p) <= $max_depth
WITH a, length(p) AS depth
OPTIONAL MATCH (a)-[:%EDGES%]->(up:Model)  // a join, not NOT EXISTS {}: 100x faster in Kùzu
RETURN a.id AS id, a.name AS name, depth, count(up) = 0 AS is_root
ORDER BY depth, id
