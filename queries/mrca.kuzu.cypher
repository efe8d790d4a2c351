// name: mrca (Kùzu dialect: `* SHORTEST` needs a lower bound of 1, so each model joins its
// ancestor list as generation 0 through list_concat; Kùzu lists are 1-based)
MATCH (a:Model {id: $a})
OPTIONAL MATCH pa = (a)-[:%EDGES%* SHORTEST 1..30]->(x:Model)
WITH a, collect(x.id) AS up_a, collect(length(pa)) AS len_a
WITH list_concat([a.id], up_a) AS ids_a, list_concat([0], len_a) AS gen_a
MATCH (b:Model {id: $b})
OPTIONAL MATCH pb = (b)-[:%EDGES%* SHORTEST 1..30]->(y:Model)
WITH ids_a, gen_a, b, collect(y.id) AS up_b, collect(length(pb)) AS len_b
WITH ids_a, gen_a, list_concat([b.id], up_b) AS ids_b, list_concat([0], len_b) AS gen_b
UNWIND range(1, size(ids_a)) AS i
UNWIND range(1, size(ids_b)) AS j
WITH ids_a[i] AS common, gen_a[i] AS from_a, ids_b[j] AS other, gen_b[j] AS from_b
WHERE common = other
MATCH (c:Model {id: common})
RETURN c.id AS id, c.name AS name, from_a, from_b
ORDER BY from_a + from_b, id
LIMIT 1
