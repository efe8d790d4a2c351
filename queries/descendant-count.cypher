// name: descendant-count
// description: how many models descend from MODEL over all generations (from the lineage index)
// param: model: model (required) -- the ancestor
// param: edges: declared|inferred|both = both -- which parent edges to follow
// index: lineage
// Distinct descendants at any depth, each counted once however many paths lead to it; the store
// recounts every model after parent edges change, so this is one property read.
MATCH (m:Model {id: $model})
RETURN m.id AS id, m.name AS name, coalesce(m.%DESCENDANTS%, 0) AS descendants
