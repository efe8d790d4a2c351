// name: evidence
// description: for MODEL, every evidence channel's nearest models with distances, and how each is linked to MODEL
// param: model: dna_model (required) -- the model whose inferred edges to explain
// param: k: int[1..100] = 5 -- neighbours per channel
// impl: python kb.lineage.explain:evidence
// Answered by Python on every store: the channel registry's distances (kb.lineage.evidence.channel_distances)
// over the models of MODEL's protocol; cost = distance / the channel's "unrelated" distance.
