// name: license-conflicts
// description: derivatives whose licence is looser than, or incompatible with, an ancestor's (kb/licenses.py's table)
// param: edges: declared|inferred|both = both -- which parent edges lead to ancestors
// param: show: conflicts|unknown|all = all -- conflicts (more-permissive, incompatible), pairs with an unknown licence, or both
// impl: python kb.governance:license_conflicts
// Answered by Python on every store: each model's ancestors over the chosen edges (reads every parent
// edge and every model's licence once), each (ancestor, model) licence pair judged by the table.
