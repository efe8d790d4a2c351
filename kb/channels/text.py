"""The text channel: the paper's DNA (Wu et al., "LLM DNA", arXiv 2509.24496).

Fixed probe prompts → the model's greedy responses → sentence embeddings → one shared seeded random
projection (kb/dna.py). Black-box: it needs only generated text, so it compares models of any
architecture or tokenizer, models behind an API included; its settings are the protocol's own fields
(probe set, probe count, token budget, chat template, embedder, seed, width), so it has no descriptor
of its own. The DNA is the `dna` property of the Model node (Neo4j's vector index serves kNN on it).

On its own it separates a fine-tune from an unrelated model poorly: a fine-tune on a new topic answers
about the new topic, so its DNA follows the topic, not the parent (measured: fewer than 1 in 5
fine-tune parents nearest). It finds copies (quantizations) and behavioural kin (distillations).

Artifact layout (kept from before channels were plug-ins, so existing artifacts stay valid):
protocol.json, responses.jsonl, embeddings.npy, dna.npy, meta.json, and DONE written last.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from kb.artifacts import Artifact
from kb.channels.base import Channel, ModelAccess, Produced, Say
from kb.dna import dna_from_embeddings, project_probes
from kb.errors import InputError, NotFoundError
from kb.probes import ProbeSet, load_probes
from kb.protocol import DnaProtocol


class TextChannel(Channel):
    name = "text"
    label = "text DNA"
    record_field = "dna"
    decides = frozenset({"relatedness"})
    optional = False

    def descriptor(self, seed: int, **options: Any) -> str:
        raise InputError("the text channel is described by the protocol's own fields")

    def parse(self, descriptor: str) -> None:
        return None

    def produce(self, model: ModelAccess, protocol: DnaProtocol, say: Say,
                probes: ProbeSet | None = None) -> Produced:
        prompts = probes_for(protocol, probes)
        timings: dict[str, float] = {}
        start = time.perf_counter()
        responses = model.generate(prompts, protocol.max_new_tokens, chat=protocol.chat_template, progress=say)
        timings["generate"] = time.perf_counter() - start
        start = time.perf_counter()
        embeddings, n_empty = model.embed(responses, protocol.embedder, protocol.embedder_dim)
        timings["embed"] = time.perf_counter() - start
        start = time.perf_counter()
        dna = dna_from_embeddings(embeddings, protocol)
        timings["project"] = time.perf_counter() - start
        detail = {"prompts": prompts, "responses": responses, "n_empty": n_empty, "timings": timings,
                  "seconds": sum(timings.values())}
        return Produced(dna, arrays={"embeddings": embeddings}, detail=detail)

    def save(self, artifact: Artifact, protocol: DnaProtocol, produced: Produced) -> None:
        detail = dict(produced.detail)
        prompts, responses = detail.pop("prompts"), detail.pop("responses")
        assert produced.vector is not None, "the text channel has no skipped state"
        artifact.write_dna(protocol=protocol, prompts=prompts, responses=responses,
                           embeddings=produced.arrays["embeddings"], dna=produced.vector, meta=detail)

    def invalidate(self, artifact: Artifact) -> None:
        artifact.invalidate()

    def load(self, artifact: Artifact) -> Produced | None:
        if not artifact.complete:
            return None
        try:
            stored = artifact.read_dna()
        except NotFoundError:
            return None
        detail = {**stored.meta, "responses": stored.responses}
        return Produced(stored.dna.astype(np.float32), arrays={"embeddings": stored.embeddings},
                        detail=detail, reused=True)

    @property
    def artifact_name(self) -> str:
        return "dna"

    parts_array = "embeddings"

    def parts(self, array: np.ndarray, protocol: DnaProtocol) -> np.ndarray:
        return project_probes(array, protocol).astype(np.float32)  # P_i = A_i e_i, once per model

    def from_parts(self, parts: np.ndarray, counts: np.ndarray, protocol: DnaProtocol) -> np.ndarray:
        t = parts.shape[1]
        return np.einsum("t,ntl->nl", counts.astype(np.float32), parts) / np.sqrt(t)  # (1/√t) Σ c_i P_i


def probes_for(protocol: DnaProtocol, probes: ProbeSet | None = None) -> list[str]:
    """The prompts a protocol asks: the first n of its probe set (which must be the one at hand)."""
    probe_set = probes or load_probes()
    if probe_set.id != protocol.probe_set:
        raise InputError(
            f"protocol {protocol.id} wants probe set {protocol.probe_set}, {probe_set.source} is {probe_set.id}: "
            "pass the matching probe file"
        )
    return probe_set.head(protocol.n_probes)


CHANNEL = TextChannel()
