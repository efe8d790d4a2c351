"""Cypher query templates (one `<name>.cypher` per lineage question) and their loader.

    from queries import run_template, list_templates
    rows = run_template(store, "descendants", {"model": "meta-llama/Llama-2-7b"})
"""

from queries.catalogue import get_template, list_templates, load_catalogue, run_template

__all__ = ["get_template", "list_templates", "load_catalogue", "run_template"]
