"""The lineage questions, as data: one Cypher template per question (`<name>.cypher`, with a
`<name>.kuzu.cypher` variant where the embedded store needs one). kb/templates.py loads and runs them."""
