"""Ablation of the text-DNA protocol: probe count, token budget and embedder width, quality against cost.

Settings scored on a zoo with known genealogy (the zoo manifest):
- probe count 100 / 300 / 600 at 64 tokens: ONE extraction of 600 probes x 64 tokens per model; the DNAs of
  the first 100 and 300 probes are recomputed from its stored per-probe embeddings
  (`kb.dna.dna_from_embeddings(..., probe_indices=arange(k))`, no regeneration; the 1/sqrt(k) scale keeps
  distances comparable across k);
- token budget 16 / 32 / 64 / 128 at 100 probes: one extraction per budget (a 100-probe protocol each);
- embedder: all-MiniLM-L6-v2 at its full 384 dims, and "first 64 dims" of the very same embeddings
  (each stored 384-d response embedding cut to its first 64 coordinates, not re-normalised, then projected
  with the same kb.dna math under a protocol copy whose `embedder_dim` is 64 and whose `embedder` id is
  suffixed `[:64]`). MiniLM is the only sentence embedder available offline here; the 64-d variant
  mimics the paper's truncated embedder.

Scores, over every model m of the zoo (nearest = smallest Euclidean DNA distance among all OTHER models):
- edge hit: the nearest model is a true parent or child of m (any relation, GGUF copies included);
- lenient edge hit: as edge hit, but an f16/f32 GGUF conversion counts as its source (identical weights);
- family hit: the nearest model shares a root ancestor with m (same true family);
- mean rank of the closest true parent/child among the other models (1 = it is the nearest; finer than the
  hit rate on a small zoo).
Bootstrap: the k probes of a setting resampled with replacement (`kb.dna.bootstrap_indices(k, draws, seed=0)`,
the same draw for every model), each replicate DNA = `kb.dna.combine(project_probes(...), indices)`; the mean
and sd of the (lenient) parent/child hit count over replicates show how much a single 13-model score can move.
Cost: seconds per model (median over the zoo) of the whole extraction (`timings["total"]`: load, generate,
embed, project, write) and of its generate and embed phases, as measured when extracted (re-used artifacts
keep their original timings; a worker's first extraction also pays the MiniLM load). Subset rows
("100 (of 600)") report the 600-probe run's load time plus its generate/embed/project times scaled by k/600
(marked "~"); the plain "100 x 64" row is its own extraction, so it also checks that a prefix of the probes
gives the same DNA as extracting only those probes.

Usage:
    .venv/bin/python bench/ablation_dna.py --manifest PATH/manifest.yaml --jobs 2
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.extract import default_protocol, extract_dna  # noqa: E402
from ingest.zoo.manifest import ZooEntry, load_zoo_manifest  # noqa: E402
from kb.dna import bootstrap_indices, combine, project_probes  # noqa: E402
from kb.protocol import DnaProtocol  # noqa: E402

PROBE_COUNTS = (100, 300, 600)
TOKEN_BUDGETS = (16, 32, 64, 128)
BASE_TOKENS = 64  # token budget of the probe-count block
BASE_PROBES = 100  # probe count of the token-budget block
TRUNC_DIM = 64
MAX_PROBES = max(PROBE_COUNTS)

_EMBEDDER = None  # one MiniLM per worker process


def _extract(args: tuple[str, int, int, str, int]) -> tuple[str, int, int, np.ndarray, dict[str, float], bool]:
    """Worker: extract (or reuse) one model under n_probes x max_new_tokens; returns its embeddings and timings."""
    global _EMBEDDER
    from ingest.embedder import Embedder

    model_file, n_probes, tokens, artifacts, n_threads = args
    if _EMBEDDER is None:
        _EMBEDDER = Embedder()
    protocol = default_protocol(n_probes=n_probes, max_new_tokens=tokens)
    result = extract_dna(model_file, protocol, artifacts=artifacts, n_threads=n_threads, embedder=_EMBEDDER)
    timings = result.meta.get("timings", {}) if result.reused else result.timings  # the original run's
    timings = {**timings, "tokens_generated": float(result.meta.get("tokens_generated") or 0)}
    return model_file, n_probes, tokens, np.asarray(result.embeddings), dict(timings), result.reused


def truncated(protocol: DnaProtocol, dims: int) -> DnaProtocol:
    """Protocol copy for embeddings cut to their first `dims` coordinates (same seed, probes, projection dim)."""
    return dataclasses.replace(protocol, embedder=f"{protocol.embedder}[:{dims}]", embedder_dim=dims)


def relatives(entries: list[ZooEntry]) -> tuple[dict[str, set[str]], dict[str, set[str]], dict[str, str]]:
    """(parents-or-children of each id, root ancestors of each id, canonical id) from the manifest.

    Canonical id: an f16/f32 GGUF conversion (tag f16/f32, one `quantized` parent) holds its source's weights,
    so it maps to its source's canonical id; every other model maps to itself.
    """
    parents = {e.id: {p.id for p in e.parents} for e in entries}
    near = {e.id: set(parents[e.id]) for e in entries}
    for child, ps in parents.items():
        for p in ps:
            near[p].add(child)

    def roots(i: str, seen: frozenset[str] = frozenset()) -> set[str]:
        if not parents[i] or i in seen:
            return {i}
        return set().union(*(roots(p, seen | {i}) for p in parents[i]))

    by_id = {e.id: e for e in entries}

    def canon(i: str) -> str:
        e = by_id[i]
        if len(e.parents) == 1 and e.parents[0].relation == "quantized" and {"f16", "f32"} & set(e.tags):
            return canon(e.parents[0].id)
        return i

    return near, {e.id: roots(e.id) for e in entries}, {e.id: canon(e.id) for e in entries}


def score(
    dnas: np.ndarray, ids: list[str], near: dict[str, set[str]], family: dict[str, set[str]], canon: dict[str, str]
) -> tuple[int, int, int, float, list[str]]:
    """Edge hits, lenient edge hits (f16 copy = its source) and family hits of each model's Euclidean-nearest
    other model, the mean rank (1 = nearest) of each model's closest true parent/child among the other models,
    and the ids whose nearest is no relative."""
    d = np.linalg.norm(dnas[:, None, :].astype(np.float64) - dnas[None, :, :], axis=-1)
    np.fill_diagonal(d, np.inf)
    edge = fam = lenient = 0
    ranks, misses = [], []
    for i, j in enumerate(d.argmin(axis=1)):
        hit = ids[j] in near[ids[i]]
        edge += hit
        lenient += hit or canon[ids[j]] in {canon[r] for r in near[ids[i]]}
        fam += bool(family[ids[i]] & family[ids[j]])
        if not hit:
            misses.append(f"{ids[i]} (-> {ids[j]})")
        order = [ids[x] for x in np.argsort(d[i], kind="stable") if x != i]
        ranks.append(min(order.index(r) for r in near[ids[i]]) + 1)
    return edge, lenient, fam, float(np.mean(ranks)), misses


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", required=True, help="zoo manifest.yaml (e.g. the cached small zoo)")
    ap.add_argument("--artifacts", default="/tmp/abl-dna/art", help="artifact cache for these extractions")
    ap.add_argument("--out", default="bench/out/dna-ablation.md", help="Markdown output file")
    ap.add_argument("--jobs", type=int, default=2, help="parallel extraction processes")
    ap.add_argument("--threads", type=int, default=1, help="threads per extraction")
    ap.add_argument("--draws", type=int, default=200, help="bootstrap replicates per setting (probes resampled)")
    args = ap.parse_args(argv)

    load_start = os.getloadavg()
    started = dt.datetime.now(dt.timezone.utc)
    entries = load_zoo_manifest(args.manifest)
    ids = [e.id for e in entries]
    near, family, canon = relatives(entries)
    tasks = [(str(e.file), MAX_PROBES, BASE_TOKENS, args.artifacts, args.threads) for e in entries]
    tasks += [(str(e.file), BASE_PROBES, t, args.artifacts, args.threads) for t in TOKEN_BUDGETS for e in entries]
    got: dict[tuple[str, int, int], tuple[np.ndarray, dict[str, float]]] = {}
    reused = 0
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for k, (f, n, t, emb, tim, was_reused) in enumerate(pool.map(_extract, tasks), 1):
            got[(f, n, t)] = (emb, tim)
            reused += was_reused
            print(f"[{k}/{len(tasks)}] {Path(f).name} {n}x{t}: {tim.get('total', 0):.1f} s", file=sys.stderr)
    wall = time.perf_counter() - t0

    rows = []
    for emb_name, dims in (("MiniLM 384-d", None), (f"MiniLM first {TRUNC_DIM} d", TRUNC_DIM)):
        blocks = [(BASE_PROBES, t, BASE_PROBES) for t in TOKEN_BUDGETS]
        blocks += [(k, BASE_TOKENS, MAX_PROBES) for k in PROBE_COUNTS]
        for k, t, extracted in sorted(blocks, key=lambda b: (b[1], b[0], b[2])):
            protocol = default_protocol(n_probes=extracted, max_new_tokens=t)
            if dims:
                protocol = truncated(protocol, dims)
            per_probe, dnas, totals, gens, embs, toks = [], [], [], [], [], []
            for e in entries:
                emb, tim = got[(str(e.file), extracted, t)]
                emb = emb[:, :dims] if dims else emb
                per_probe.append(project_probes(emb, protocol, np.arange(k)))
                dnas.append(combine(per_probe[-1], np.arange(k)))  # == dna_from_embeddings(emb, protocol, arange(k))
                scale = k / extracted
                toks.append(tim["tokens_generated"] / extracted)
                gens.append(tim["generate"] * scale)
                embs.append(tim["embed"] * scale)
                totals.append(tim["load"] + (tim["generate"] + tim["embed"]) * scale + tim.get("project", 0) * scale)
            edge, lenient, fam, rank, misses = score(np.stack(dnas), ids, near, family, canon)
            boot = np.array([
                score(np.stack([combine(pp, idx) for pp in per_probe]), ids, near, family, canon)[:2]
                for idx in bootstrap_indices(k, args.draws, seed=0)
            ])
            approx = "~" if k != extracted else ""
            probes = f"{k} (of {extracted})" if k != extracted else f"{k}"
            rows.append((f"{probes} x {t} x {emb_name}", edge, lenient, fam, rank, boot, approx, totals, gens, embs, toks))
            print(f"{probes} x {t} x {emb_name}: nearest not a parent/child for {', '.join(misses)}", file=sys.stderr)

    n = len(ids)
    cmd = " ".join([".venv/bin/python", "bench/ablation_dna.py", *map(shlex.quote, argv or sys.argv[1:])])
    load_end = os.getloadavg()
    lines = [
        f"Command: `{cmd}`; {started:%Y-%m-%d %H:%M} UTC; {n} models; machine: {os.cpu_count()} cores, "
        f"load average {load_start[0]:.1f} at start, {load_end[0]:.1f} at end; extraction wall {wall:.0f} s "
        f"({args.jobs} processes x {args.threads} thread; {reused} of {len(tasks)} extractions reused from "
        f"{args.artifacts}, their timings are the original run's).",
        "",
        "| setting (probes x tokens x embedder) | nearest is parent/child | same, f16 copy = source "
        "| nearest in same family | mean rank of closest relative "
        f"| bootstrap parent/child hits, mean ± sd ({args.draws} draws) | bootstrap, f16 copy = source "
        "| tokens per response (median) | s/model total (median) | generate s | embed s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, edge, lenient, fam, rank, boot, approx, totals, gens, embs, toks in rows:
        (m_edge, m_len), (s_edge, s_len) = boot.mean(axis=0), boot.std(axis=0)
        lines.append(
            f"| {name} | {edge}/{n} ({edge / n:.0%}) | {lenient}/{n} ({lenient / n:.0%}) "
            f"| {fam}/{n} ({fam / n:.0%}) | {rank:.2f} "
            f"| {m_edge:.1f} ± {s_edge:.1f} | {m_len:.1f} ± {s_len:.1f} | {np.median(toks):.1f} "
            f"| {approx}{np.median(totals):.2f} "
            f"| {approx}{np.median(gens):.2f} | {approx}{np.median(embs):.2f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
