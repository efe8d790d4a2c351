"""`infer`: families, trees, directed parents, support and flags for one DNA protocol of a KB.

Two layers: `infer_lineage` is pure (evidence in, records out: tests and benchmarks call it);
`infer` reads the store, calls it, and swaps the results in with `store.replace_inferred` (one
transaction: a reader never sees half of them).

Steps and cost (n models, families of m_f members):
1. families — HDBSCAN (`families.py`). Up to `PRECOMPUTED_MAX` models and when a weight or
   log-likelihood channel exists: over the n×n best-evidence cost (so the weights hold a family
   together when text DNAs drift). Otherwise over the text DNAs; above `PRECOMPUTED_MAX` reduced to
   `reduce_dims` principal components first (a kd-tree is fast in 16 dims, not in 128).
2. parents per family (`parents.py`): O(Σ m_f²) distances + Edmonds; a family above
   `partition.PART_MAX` members in parts of at most that many, joined after (`partition.py`); an
   edge the evidence calls unrelated is cut, and the family split there (`families.split_at_roots`).
3. NJ trees per family and over the family roots (`nj.py`), O(m_f³), skipped above `NJ_MAX` taxa.
4. flags (`flags.py`), and bootstrap support (`bootstrap.py`) over probes, reference texts and weight
   matrices, from the artifact store where it holds them.
No step is O(n³) over all models; step 1 is O(n²) only below `PRECOMPUTED_MAX`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from kb.channels import NAMES, REGISTRY, select
from kb.errors import InputError, NotFoundError
from kb.lineage.bootstrap import DISTILL_SUPPORT_MAX, bootstrap_support, stated_support
from kb.lineage.costs import W_RELATED, Scales, channel_scales, pair_costs
from kb.lineage.evidence import ModelEvidence, without
from kb.lineage.families import PRECOMPUTED_MAX, FamilyLabels, hdbscan_families, split_at_roots
from kb.lineage.flags import Flag, flag_edges
from kb.lineage.nj import NJ_MAX, neighbor_joining
from kb.lineage.parents import ParentOptions, infer_parents
from kb.progress import step
from kb.protocol import PROTOCOL_META, DnaProtocol
from kb.records import Family, InferredEdge, Membership

ArraysLoader = Callable[[str, str, str], "np.ndarray | None"]
"""(model id, protocol id, array name) -> that array of the model's artifact, or None."""

EPSILON_COST = W_RELATED
"""HDBSCAN cluster_selection_epsilon over the best-evidence cost (1 = 'unrelated'): clusters joined
below the 'related by weights' level are not split. Measured on the zoo's weight sketches: family
ARI 0.30 / 0.57 / 0.79 / 0.96 at epsilon 0 / 0.15 / 0.3 / 0.5."""

EPSILON_TEXT = 0.15
"""The same over text DNAs, as a fraction of their median pairwise distance. Measured on synthetic
lineages: ARI 1.0 at 1k–25k models with 0.15; 0.3 merged near families (ARI 0.993 at 25k)."""

@dataclass
class InferenceResult:
    protocol: str | None
    families: list[Family]
    memberships: list[Membership]
    edges: list[InferredEdge]
    flags: list[Flag] = field(default_factory=list)
    overview_newick: str | None = None
    messages: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    bootstrap: int = 0

    def summary(self) -> dict[str, object]:
        supports = [e.support for e in self.edges if e.support is not None]
        relations: dict[str, int] = {}
        for e in self.edges:
            relations[e.relation or "?"] = relations.get(e.relation or "?", 0) + 1
        return {
            "protocol": self.protocol,
            "models": sum(f.size for f in self.families),
            "families": len(self.families),
            "singletons": sum(1 for f in self.families if f.size == 1),
            "edges": len(self.edges),
            "relations": relations,
            "mean_support": float(np.mean(supports)) if supports else None,
            "bootstrap": self.bootstrap,
            "undocumented": sum(1 for f in self.flags if f.kind == "undocumented"),
            "contradicted": sum(1 for f in self.flags if f.kind == "contradicted"),
            "seconds": round(sum(self.timings.values()), 3),
            "messages": list(self.messages),
        }


def _cost_matrix(evs: Sequence[ModelEvidence], scales: Scales) -> np.ndarray:
    return pair_costs(evs, scales).for_clustering()


def _cluster(evs: Sequence[ModelEvidence], scales: Scales, min_cluster_size: int,
             min_samples: int | None, reduce_dims: int | None, epsilon: float | None,
             messages: list[str]) -> FamilyLabels:
    n = len(evs)
    extra = any(len(e.vectors) > 1 for e in evs)
    if extra and n <= PRECOMPUTED_MAX:
        return hdbscan_families(_cost_matrix(evs, scales), metric="precomputed",
                                min_cluster_size=min_cluster_size, min_samples=min_samples,
                                epsilon=EPSILON_COST if epsilon is None else epsilon)
    x = np.stack([e.vectors["text"] for e in evs])
    if n > PRECOMPUTED_MAX and reduce_dims and reduce_dims < x.shape[1]:
        centred = x - x.mean(axis=0)
        rng = np.random.default_rng(0)
        sample = centred[rng.choice(n, min(n, 4000), replace=False)]
        _u, _s, vt = np.linalg.svd(sample, full_matrices=False)  # principal axes from a sample
        x = centred @ vt[:reduce_dims].T
        messages.append(f"{n} models: clustered on {reduce_dims} principal components of the text DNAs")
        scale = channel_scales([ModelEvidence(id=str(i), vectors={"text": v}) for i, v in enumerate(x)])["text"]
    else:
        scale = scales["text"]
    return hdbscan_families(x, min_cluster_size=min_cluster_size, min_samples=min_samples,
                            algorithm="boruvka_kdtree" if n > PRECOMPUTED_MAX else "best",
                            epsilon=(EPSILON_TEXT if epsilon is None else epsilon) * scale)  # -> DNA units


@threadpool_limits.wrap(limits=1, user_api="blas")  # many small matrices: threads cost more than they give
def infer_lineage(
    evs: Sequence[ModelEvidence], *, protocol: str | None = None, min_cluster_size: int = 2,
    min_samples: int | None = 1, epsilon: float | None = None, channels: Sequence[str] | None = None,
    use_dates: bool = True, use_declared: bool = True, reduce_dims: int | None = 16, trees: bool = True,
    bootstrap: int = 0, parts: dict[str, dict[str, np.ndarray]] | None = None,
    protocol_record: DnaProtocol | None = None, seed: int = 0,
    families: FamilyLabels | None = None, progress: Callable[[str], None] | None = None,
) -> InferenceResult:
    """Infer families, parents (with relations, channels, flags), trees and support from evidence.

    `channels`: the evidence channels to use (default all; the text DNA always);
    `parts`: channel -> model id -> the parts bootstrap resamples (`Channel.parts`: per-probe
    projections, per-text log-likelihoods), made under `protocol_record`;
    `families`: given labels skip clustering (evaluation against known families); `epsilon`:
    HDBSCAN's cluster_selection_epsilon as a fraction of 'unrelated' (default `EPSILON_COST` over
    the best-evidence cost, `EPSILON_TEXT` over text DNAs).
    """
    say = progress or (lambda _m: None)
    evs = list(evs)
    if not evs:
        raise InputError("no models with a DNA to infer from: ingest models first")
    if len({e.id for e in evs}) != len(evs):
        raise InputError("model ids repeat in the evidence")
    if any(e.text is None for e in evs):
        missing = next(e.id for e in evs if e.text is None)
        raise InputError(f"model {missing!r} has no text DNA: every inferred model needs one")
    messages: list[str] = []
    timings: dict[str, float] = {}
    unused = set(NAMES) - set(select(channels))
    if unused:
        evs = without(evs, unused)
    n = len(evs)
    x = np.stack([e.text for e in evs])
    if n > 1 and not np.any(x != x[0]):
        messages.append(f"all {n} text DNAs are identical: they cannot tell models apart; "
                        "parents then rest on the other channels and metadata")
    clock = time.perf_counter()
    scales = channel_scales(evs)
    options = ParentOptions(use_dates=use_dates, use_declared=use_declared)
    say(f"families: clustering {n} models")
    if families is None:
        families = hdbscan_families(x) if n < 2 else _cluster(
            evs, scales, min_cluster_size, min_samples, reduce_dims, epsilon, messages)
    if n == 1:
        messages.append("only one model with a DNA: one family, no parents to infer")
    timings["families"] = time.perf_counter() - clock

    clock = time.perf_counter()
    say(f"parents: {families.n_families} families")
    edges = infer_parents(evs, families, scales, options)
    messages.extend(f"family of {m.size} models: parents found in parts of at most {options.part_max} members, "
                    "joined after" for m in families.members() if m.size > options.part_max)
    clustered, families = families, split_at_roots(families, [(e.child, e.parent) for e in edges])
    timings["parents"] = time.perf_counter() - clock

    members = families.members()
    has_parent = {e.child for e in edges}
    roots = [int(next((i for i in m if int(i) not in has_parent), m[0])) for m in members]
    fam_names = [f"family:{evs[r].id}" for r in roots]

    clock = time.perf_counter()
    newicks: list[str | None] = []
    overview = None
    if trees:
        say("trees: neighbor joining per family")
        for m in members:
            if m.size > NJ_MAX:
                newicks.append(None)
                messages.append(f"family of {m.size} models: no tree (NJ is O(n³); limit {NJ_MAX})")
                continue
            sub = [evs[i] for i in m]
            newicks.append(neighbor_joining(_cost_matrix(sub, scales), [e.id for e in sub]))
        if 2 <= len(roots) <= NJ_MAX:
            reps = [evs[r] for r in roots]
            overview = neighbor_joining(_cost_matrix(reps, scales), fam_names)
        elif len(roots) > NJ_MAX:
            messages.append(f"{len(roots)} families: no overview tree (limit {NJ_MAX})")
    else:
        newicks = [None] * len(members)
    timings["trees"] = time.perf_counter() - clock

    support = np.full(len(edges), np.nan)
    if bootstrap and edges:
        clock = time.perf_counter()
        index = {e.id: i for i, e in enumerate(evs)}
        held = {name: {index[k]: v for k, v in per_model.items() if k in index and name in evs[index[k]].vectors}
                for name, per_model in (parts or {}).items()}
        if not any(held.values()) and not any(set(e.vectors) - {"text"} for e in evs):
            messages.append("bootstrap skipped: no per-probe embeddings and no other channel to resample")
        else:
            for chan in REGISTRY:
                having = sum(chan.name in e.vectors for e in evs)
                if chan.parts_array and having and len(held.get(chan.name, {})) < having:
                    messages.append(f"bootstrap: {having - len(held.get(chan.name, {}))} of {having} models "
                                    f"have no {chan.parts_array} in the artifact store; their {chan.label} "
                                    "stays fixed in every replicate")
            support = bootstrap_support(evs, clustered, edges, held, protocol=protocol_record, replicates=bootstrap,
                                        seed=seed, scales=scales, options=options, progress=say)
        timings["bootstrap"] = time.perf_counter() - clock

    per_edge, flags = flag_edges(evs, families.labels, edges, scales, fam_names)
    inferred = [
        InferredEdge(
            child=evs[e.child].id, parent=evs[e.parent].id,
            distance=float(e.distance) if np.isfinite(e.distance) else float("nan"),
            support=None if np.isnan(s) else stated_support(float(s), e), method=e.method, relation=e.relation,
            channel=e.channel, flag=flag, direction=e.direction,
            reason=_joined(reason or e.reason, e.doubt,
                           f"support at most {DISTILL_SUPPORT_MAX}: shared training data makes models behave alike too"
                           if e.relation == "distill" and not np.isnan(s) else ""),
        )
        for e, s, (flag, reason) in zip(edges, support, per_edge)
    ]
    fams = [Family(id=fam_names[f], size=int(m.size), root=evs[roots[f]].id, newick=newicks[f])
            for f, m in enumerate(members)]
    memberships = [Membership(model=evs[i].id, family=fam_names[int(families.labels[i])],
                              probability=float(families.probability[i])) for i in range(n)]
    return InferenceResult(protocol=protocol, families=fams, memberships=memberships, edges=inferred,
                           flags=flags, overview_newick=overview, messages=messages, timings=timings,
                           bootstrap=bootstrap if not np.all(np.isnan(support)) else 0)


def choose_protocol(protocols: dict[str, int], wanted: str | None, messages: list[str]) -> str:
    """The protocol to infer over: `wanted`, else the one most models carry (said in `messages`)."""
    if not protocols:
        raise InputError("the KB holds no DNAs: ingest models first (dnakb ingest MANIFEST)")
    listing = ", ".join(f"{p} ({k} models)" for p, k in sorted(protocols.items(), key=lambda x: -x[1]))
    if wanted is not None:
        if wanted not in protocols:
            raise NotFoundError(f"no DNAs under protocol {wanted!r}; the KB has {listing}")
        return wanted
    best = max(sorted(protocols), key=lambda p: protocols[p])
    if len(protocols) > 1:
        messages.append(f"DNAs from {len(protocols)} protocols: {listing}; using {best} "
                        "(pass --protocol to choose)")
    return best


def infer(
    store, protocol: str | None = None, *, arrays: ArraysLoader | None = None, bootstrap: int = 100,
    min_cluster_size: int = 2, min_samples: int | None = 1, epsilon: float | None = None,
    channels: Sequence[str] | None = None, use_dates: bool = True, use_declared: bool = True,
    seed: int = 0, write: bool = True, progress: Callable[[str], None] | None = None,
) -> InferenceResult:
    """Infer over the DNAs of one protocol of `store` and replace its inferred results atomically.

    Bootstrap resamples probes and texts from the artifact arrays `arrays` reads (default: the
    artifact store this KB's ingest recorded, `kb.artifacts.ArtifactArrays`) under the protocol record
    the KB holds; where either is missing, support comes from the other channels and a message says why.
    """
    say = progress or (lambda _m: None)
    messages: list[str] = []
    pid = choose_protocol(store.protocols(), protocol, messages)
    evs = store_evidence(store, pid)
    parts: dict[str, dict[str, np.ndarray]] = {}
    record = _protocol_record(store, pid, messages) if bootstrap else None
    if record is not None:
        if arrays is None:
            from kb.artifacts import ArtifactArrays

            arrays = ArtifactArrays(store)
        parts = _load_parts(pid, record, [e.id for e in evs], arrays, say)
    result = infer_lineage(
        evs, protocol=pid, min_cluster_size=min_cluster_size, min_samples=min_samples, epsilon=epsilon,
        channels=channels, use_dates=use_dates, use_declared=use_declared, bootstrap=bootstrap,
        parts=parts, protocol_record=record, seed=seed, progress=say,
    )
    result.messages[:0] = messages
    if write:
        clock = time.perf_counter()
        store.replace_inferred(result.families, result.memberships, result.edges)
        if result.overview_newick:
            store.set_meta(f"overview_newick:{pid}", result.overview_newick)
        result.timings["write"] = time.perf_counter() - clock
    return result


def store_evidence(store, pid: str, models: Sequence[str] | None = None, *, declared: bool = True,
                   dnas: tuple[list[str], np.ndarray] | None = None) -> list[ModelEvidence]:
    """The evidence of every model with a DNA of protocol `pid`, sorted by id (or of `models`, in their
    order); `declared` adds the declared parents (one read of every declared edge); `dnas`: the
    protocol's `dna_matrix` when the caller has read it already."""
    ids, matrix = dnas if dnas is not None else store.dna_matrix(pid)
    row = {mid: i for i, mid in enumerate(ids)}
    chosen = list(ids) if models is None else list(models)
    records = {r.id: r for r in store.get_models(chosen)}
    by_child: dict[str, list] = {}
    for edge in store.declared_edges() if declared else ():
        by_child.setdefault(edge.child, []).append(edge)
    duplicated: dict[str, str] = {}  # model -> the earliest date among its duplicates
    for original, released in store.duplicates().values():
        if released is not None:
            duplicated[original] = min(released, duplicated.get(original, released))
    evs = []
    for mid in chosen:
        ev = ModelEvidence.from_record(records[mid], by_child.get(mid, []))
        if (copied := duplicated.get(mid)) is not None:
            if ev.released is None:
                ev.existed_by = copied
            else:  # the same bytes were out by the earlier of the two dates
                ev.released = min(ev.released, copied)
        ev.vectors["text"] = np.asarray(matrix[row[mid]], dtype=np.float64)
        evs.append(ev)
    return evs


def _protocol_record(store, pid: str, messages: list[str]) -> DnaProtocol | None:
    """The record of protocol `pid` the KB holds (what probes and texts its artifacts were made of)."""
    raw = store.get_meta(PROTOCOL_META)
    record = DnaProtocol.from_json(raw) if raw else None
    if record is None or record.id != pid:
        messages.append(f"bootstrap over probes and texts skipped: the KB holds no record of protocol {pid}")
        return None
    return record


def _load_parts(pid: str, record: DnaProtocol, ids: Sequence[str], loader: ArraysLoader,
                say: Callable[[str], None]) -> dict[str, dict[str, np.ndarray]]:
    """Channel -> model id -> the parts its bootstrap resamples, from each model's artifact."""
    out: dict[str, dict[str, np.ndarray]] = {}
    resampled = [c for c in REGISTRY if c.parts_array]
    for k, mid in enumerate(ids, 1):
        for chan in resampled:
            array = loader(mid, pid, chan.parts_array)
            if array is not None:
                out.setdefault(chan.name, {})[mid] = chan.parts(array, record)
        step(say, "bootstrap parts", k, len(ids))
    return out


def _joined(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
