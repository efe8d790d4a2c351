// name: nearest (embedded store: exact kNN in numpy over the DNA matrix, see catalogue.nearest_numpy)
// impl: python
