// name: ancestors (Kùzu dialect: `* SHORTEST`)
MATCH p = (m:Model {id: $model})-[:%EDGES%* SHORTEST 1..30]->(a:Model)
WHERE length(p) <= $max_depth
WITH a, length(p) AS depth
OPTIONAL MATCH (a)-[:%EDGES%]->(up:Model)  // a join, not NOT EXISTS {}: 100x faster in Kùzu
RETURN a.id AS id, a.name AS name, depth, count(up) = 0 AS is_root
ORDER BY depth, id
