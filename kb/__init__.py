"""LLM DNA KB: a knowledge base of language-model lineage built on functional DNA vectors."""

__version__ = "0.1.0"
