// name: evolution-speed
// description: per family, DNA distance travelled per year along parent edges (median, quartiles, edges with dates and DNAs)
// param: edges: declared|inferred|both = both -- which parent edges are steps
// param: family: str = "" -- one family (family:<root>, root:<declared root>, or a model id); empty: all
// impl: python kb.lineage.evolution:evolution_speed
// Answered by Python on every store: medians and quartiles of per-edge rates (see kb/lineage/evolution.py
// for what the rate means and its limits: distance saturates, rates are bound to one DNA protocol).
