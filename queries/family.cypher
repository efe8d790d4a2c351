// name: family
// description: every member of MODEL's inferred family, with its membership probability
// param: model: model (required) -- any member of the family
// Two MATCH clauses: in one pattern Neo4j would not reuse MODEL's own MEMBER_OF edge.
MATCH (m:Model {id: $model})-[:MEMBER_OF]->(f:Family)
MATCH (o:Model)-[r:MEMBER_OF]->(f)
RETURN f.id AS family, o.id AS id, o.name AS name, r.probability AS probability,
       o.id = f.root AS is_root
ORDER BY family, id
