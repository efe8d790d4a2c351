// name: nearest (embedded store: exact kNN in numpy over the DNA matrix, EmbeddedStore.nearest)
// impl: store
