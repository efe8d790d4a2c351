// name: nearest
// description: the K models whose DNA is closest to MODEL's (Euclidean, same DNA protocol)
// param: model: dna_model (required) -- the model to compare
// param: k: int[1..1000] = 10 -- how many neighbours
// Neo4j: candidates from the vector index `model_dna` (a long list: its graph is built with a short
// one, kb/stores/neo4j_store.py), then each one's distance.
MATCH (m:Model {id: $model})
CALL db.index.vector.queryNodes('model_dna', 4 * $k + 400, m.dna) YIELD node
WITH m, node
WHERE node.id <> m.id AND node.protocol = m.protocol
// vector.similarity.euclidean = 1 / (1 + d^2), so d = sqrt(1 / s - 1); a Cypher reduce over
// 128 coordinates per candidate cost 4x more at 100k models
WITH node, sqrt(1.0 / vector.similarity.euclidean(m.dna, node.dna) - 1.0) AS distance
RETURN node.id AS id, node.name AS name, distance
ORDER BY distance, id
LIMIT $k
