// name: descendants (Kùzu dialect: `* SHORTEST` instead of ANY SHORTEST quantified paths)
MATCH p = (d:Model)-[:%EDGES%* SHORTEST 1..30]->(m:Model {id: $model})
WHERE length(p) <= $max_depth
RETURN d.id AS id, d.name AS name, length(p) AS depth
ORDER BY depth, id
