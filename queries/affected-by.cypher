// name: affected-by
// description: every model downstream of MODEL, with a path to it and the weakest support on that path
// param: model: model (required) -- the upstream model (e.g. a withdrawn base)
// param: edges: declared|inferred|both = both -- which parent edges to follow
// param: min_support: float = 0.0 -- do not follow inferred edges below this bootstrap support
// impl: python kb.governance:affected_by
// Answered by Python on every store (kb.lineage.walk.downstream): the shortest path, then the strongest
// (largest weakest support; a declared edge counts 1, an unmeasured support 0), then by ids.
