"""Lineage inference: families (HDBSCAN), neighbor-joining trees, directed parents with support.

Pure math lives in the submodules (numpy in, records out); `infer` is the one entry point that
touches a store. Evidence reaches inference through `kb.lineage.evidence` and the channel registry.
"""

from kb.lineage.evidence import ModelEvidence, channel_distances, pair_distances
from kb.lineage.infer import InferenceResult, infer, infer_lineage

__all__ = ["InferenceResult", "ModelEvidence", "channel_distances", "infer", "infer_lineage", "pair_distances"]
