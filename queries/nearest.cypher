// name: nearest
// description: the K models whose DNA is closest to MODEL's (Euclidean, same DNA protocol)
// param: model: dna_model (required) -- the model to compare
// param: k: int[1..1000] = 10 -- how many neighbours
// Neo4j: candidates from the vector index `model_dna`, then the exact distance in Cypher.
MATCH (m:Model {id: $model})
CALL db.index.vector.queryNodes('model_dna', 4 * $k + 16, m.dna) YIELD node
WITH m, node
WHERE node.id <> m.id AND node.protocol = m.protocol
WITH node, sqrt(reduce(s = 0.0, i IN range(0, size(m.dna) - 1) |
                       s + (node.dna[i] - m.dna[i]) ^ 2)) AS distance
RETURN node.id AS id, node.name AS name, distance
ORDER BY distance, id
LIMIT $k
