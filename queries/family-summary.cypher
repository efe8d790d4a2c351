// name: family-summary
// description: per inferred family: size, root, depth and members counted by relation to their parent
// param: family: family = "" -- one family id (empty: every family)
// param: edges: declared|inferred|both = both -- edges that measure the depth below the root
// A member's relation is its declared one, else its inferred one; depth = the deepest member's
// shortest generation below the root.
MATCH (f:Family)
WHERE $family = "" OR f.id = $family
MATCH (m:Model)-[:MEMBER_OF]->(f)
OPTIONAL MATCH (m)-[d:DECLARED_PARENT]->(:Model)
OPTIONAL MATCH (m)-[i:INFERRED_PARENT]->(:Model)
WITH f, m, coalesce(d.relation, i.relation) AS relation
WITH f, count(DISTINCT m.id) AS size,
     count(DISTINCT CASE WHEN relation = 'finetune' THEN m.id END) AS finetunes,
     count(DISTINCT CASE WHEN relation = 'adapter' THEN m.id END) AS adapters,
     count(DISTINCT CASE WHEN relation = 'quantized' THEN m.id END) AS quantized,
     count(DISTINCT CASE WHEN relation = 'merge' THEN m.id END) AS merges,
     count(DISTINCT CASE WHEN relation = 'distill' THEN m.id END) AS distills
OPTIONAL MATCH (r:Model {id: f.root})
OPTIONAL MATCH (x:Model)-[:MEMBER_OF]->(f)
OPTIONAL MATCH p = ANY SHORTEST (x)-[:%EDGES%]->{1,30}(r)  // both ends bound: fast in Neo4j
RETURN f.id AS family, size, f.root AS root, coalesce(max(length(p)), 0) AS depth,
       finetunes, adapters, quantized, merges, distills
ORDER BY family
