"""Ablation of the evidence channels on a zoo with known genealogy.

For each channel of the registry (kb/channels/) alone and in combination (the functional ones
together, all, and the cascade), over every
model of the zoo manifest:
- parent hit: is the nearest EARLIER model (released strictly before the child) a true parent?
  Reported by relation (finetune, adapter, distill, merge, quantized); a channel that does not apply
  to a child (no earlier model shares it, e.g. weights across architectures) counts as a miss.
  "lenient" also accepts an f16/f32 GGUF conversion in place of its source (identical weights, so no
  channel can tell them apart; choosing between them is a metadata question).
- family hit: is the nearest model (any date) in the child's true family (same root ancestor)?
- parent vs unrelated bases: is a fine-tune (full or adapter) nearer its parent than every base of
  another family? (the extraction issue's test property; a base it cannot be compared with counts
  as farther);
- cost per model of each channel (seconds, as measured when it was extracted; reused artifacts keep
  their original timings).
Distances come from `kb.lineage.evidence.channel_distances`; a combination averages the channels
that apply to a pair after dividing each channel by the median of its finite off-diagonal distances;
in a combination, a pair a structural channel cannot compare (different architecture signatures) gets
that channel's unrelated distance (sqrt 2 for the weights) rather than no term. "cascade" is the
policy the inference design describes: the structural distance where it says two models are related
(scale-free distance < 1.0; unrelated models sit at ~1.41), the functional channels otherwise.

Usage (writes the table to stdout, and to bench/out/channels.md with --write, to copy into bench/RESULTS.md):
    .venv/bin/python bench/ablation_channels.py --zoo small --write
    .venv/bin/python bench/ablation_channels.py --manifest PATH/manifest.yaml --n-probes 200
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.extract import default_protocol, extract  # noqa: E402
from ingest.manifest import parse_manifest  # noqa: E402
from kb.artifacts import ArtifactStore  # noqa: E402
from kb.channels import BY_NAME, NAMES, REGISTRY, with_channels  # noqa: E402
from kb.errors import InputError  # noqa: E402
from kb.lineage.evidence import ModelEvidence, channel_distances  # noqa: E402

RELATIONS = ("finetune", "adapter", "distill", "merge", "quantized")
FUNCTIONAL = tuple(c.name for c in REGISTRY if not c.structural)
STRUCTURAL = tuple(c.name for c in REGISTRY if c.structural)
COMBOS = {
    **{name: (name,) for name in NAMES},
    **({"+".join(FUNCTIONAL): FUNCTIONAL} if len(FUNCTIONAL) > 1 else {}),
    "all": NAMES,
    "cascade": NAMES,
}


def combine(dists: dict[str, np.ndarray], channels: tuple[str, ...]) -> np.ndarray:
    """Mean of median-normalised channel distances over the channels defined for each pair."""
    stack = []
    for name in channels:
        d = dists[name].copy()
        if BY_NAME[name].structural and len(channels) > 1:  # another signature = unrelated weights
            off = ~np.eye(len(d), dtype=bool) & np.isnan(d)
            d[off] = BY_NAME[name].fixed_unrelated
        off = d[~np.eye(len(d), dtype=bool)]
        off = off[np.isfinite(off)]
        scale = float(np.median(off[off > 0])) if np.any(off > 0) else 1.0
        stack.append(d / scale)
    with np.errstate(all="ignore"), __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.stack(stack), axis=0)


CASCADE_WEIGHT_LIMIT = 1.0
"""Scale-free weight distance below which two models count as weight-related (unrelated ~ sqrt 2)."""


def cascade(dists: dict[str, np.ndarray]) -> np.ndarray:
    """Structure first, behaviour otherwise: pairs whose (first) structural distance is below the limit
    rank by it; every other pair ranks after them, by the functional combination."""
    w = dists[STRUCTURAL[0]]
    functional = combine(dists, FUNCTIONAL)
    with np.errstate(invalid="ignore"):
        related = np.isfinite(w) & (w < CASCADE_WEIGHT_LIMIT)
    return np.where(related, w, CASCADE_WEIGHT_LIMIT + functional)


def families(entries: list) -> dict[str, str]:
    parents = {e.id: [p.id for p in e.parents] for e in entries}

    def root(i: str) -> str:
        seen = set()
        while parents.get(i) and i not in seen:
            seen.add(i)
            i = parents[i][0]
        return i

    return {e.id: root(e.id) for e in entries}


def evaluate(entries: list, evs: list[ModelEvidence]) -> dict[str, dict[str, tuple[int, int]]]:
    """{combo: {relation|"all"|"family": (hits, n)}}."""
    dists = channel_distances(evs)
    ids = [e.id for e in entries]
    # an f16/f32 GGUF conversion holds its source's weights: "lenient" counts either as the parent
    same = {e.id: e.id for e in entries}
    for e, ev in zip(entries, evs):
        if e.parents and e.parents[0].relation == "quantized" and (ev.precision or "") in ("f32", "f16", "bf16"):
            same[e.id] = e.parents[0].id
    fam = families(entries)
    bases = [i for i, e in enumerate(entries) if not e.parents]
    released = [e.released for e in entries]
    out: dict[str, dict[str, tuple[int, int]]] = {}
    misses: list[str] = []
    for combo, channels in COMBOS.items():
        d = combine(dists, channels) if combo != "cascade" else cascade(dists)
        tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for i, entry in enumerate(entries):
            others = [j for j in range(len(ids)) if j != i and np.isfinite(d[i, j])]
            if others:  # family: nearest model of any date
                j = min(others, key=lambda j: d[i, j])
                tally["family"][0] += fam[ids[j]] == fam[ids[i]]
            tally["family"][1] += 1
            if not entry.parents:
                continue
            relation = entry.parents[0].relation
            truth = {p.id for p in entry.parents}
            if relation in ("finetune", "adapter"):
                parent = ids.index(entry.parents[0].id)
                unrelated = [d[i, b] for b in bases if fam[ids[b]] != fam[ids[i]] and np.isfinite(d[i, b])]
                tally["vs unrelated"][0] += bool(np.isfinite(d[i, parent]) and d[i, parent] < min(unrelated, default=np.inf))
                tally["vs unrelated"][1] += 1
            earlier = [j for j in others if released[j] and released[i] and released[j] < released[i]]
            chosen = ids[min(earlier, key=lambda j: d[i, j])] if earlier else None
            hit = chosen in truth
            lenient = hit or (chosen is not None and same[chosen] in {same[t] for t in truth})
            if not hit:
                misses.append(f"{combo}: {ids[i]} ({relation}) -> {chosen}" + (" (f16 copy: lenient hit)" if lenient else ""))
            tally["lenient"][0] += lenient
            tally["lenient"][1] += 1
            for key in (relation, "all"):
                tally[key][0] += hit
                tally[key][1] += 1
        out[combo] = {k: (v[0], v[1]) for k, v in tally.items()}
    out["_misses"] = misses  # type: ignore[assignment]
    return out


def run(manifest: Path, n_probes: int, artifacts: Path, n_threads: int) -> tuple[str, dict]:
    entries = parse_manifest(manifest)
    protocol = with_channels(default_protocol(n_probes=n_probes))
    store = ArtifactStore(artifacts)
    evs, cost = [], defaultdict(list)
    for k, e in enumerate(entries, 1):
        try:
            done = extract(e.path, protocol, backend=e.backend, artifacts=store, n_threads=n_threads)
        except (InputError, ImportError) as error:  # the text DNA failed: the model is left out
            print(f"{e.id}: no text DNA: {error}", file=sys.stderr)
            continue
        seconds = {name: p.seconds for name, p in done.produced.items()}  # as measured when extracted
        for name, value in seconds.items():
            cost[name].append(value)
        record = done.record_fields()
        evs.append(ModelEvidence(id=e.id, vectors=done.vectors(), signature=record.get("signature"),
                                 precision=record.get("precision"), released=e.released))
        skipped = "; ".join(f"{c}: {r}" for c, r in done.skipped().items())
        print(f"[{k}/{len(entries)}] {e.id}: " + " ".join(f"{n} {v:.2f}s" for n, v in seconds.items())
              + f" {skipped}", file=sys.stderr, flush=True)
    entries = [e for e in entries if e.id in {ev.id for ev in evs}]
    results = evaluate(entries, evs)
    counts = defaultdict(int)
    for e in entries:
        if e.parents:
            counts[e.parents[0].relation] += 1
    cols = ["all"] + [r for r in RELATIONS if counts[r]] + ["lenient", "family", "vs unrelated"]
    heads = {"family": "nearest in family", "lenient": "parent, f16 copy = source",
             "vs unrelated": "fine-tune nearer parent than unrelated bases"}
    lines = ["| channels | " + " | ".join(heads.get(c, "parent: " + c) for c in cols) + " |",
             "|---" * (len(cols) + 1) + "|"]
    for combo in COMBOS:
        row = results[combo]
        cells = [f"{row.get(c, (0, 0))[0]}/{row.get(c, (0, 0))[1]}" for c in cols]
        lines.append(f"| {combo} | " + " | ".join(cells) + " |")
    lines += ["", "| channel | mean s/model | max s/model | models |", "|---|---|---|---|"]
    for name in NAMES:
        v = cost[name]
        lines.append(f"| {name} | {np.mean(v):.2f} | {np.max(v):.2f} | {len(v)} |" if v else f"| {name} | - | - | 0 |")
    lines += ["", "Parent misses (child (relation) -> nearest earlier model):", ""]
    lines += [f"- {m}" for m in results["_misses"]] or ["- none"]
    info = {"protocol": protocol.id, "models": len(entries), "relations": dict(counts)}
    return "\n".join(lines), info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--manifest", type=Path, help="zoo manifest.yaml")
    where.add_argument("--zoo", choices=("small",), default="small", help="the cached small zoo (built if needed)")
    parser.add_argument("--n-probes", type=int, default=200, help="probes of the text DNA (cost vs signal)")
    parser.add_argument("--artifacts", type=Path, default=Path.home() / ".cache" / "dnakb" / "bench-artifacts")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--write", action="store_true", help="append to bench/out/channels.md")
    args = parser.parse_args(argv)
    manifest = args.manifest
    if manifest is None:
        from ingest.zoo.build import cached_small_zoo

        manifest = cached_small_zoo()
    start = time.perf_counter()
    table, info = run(manifest, args.n_probes, args.artifacts, args.threads)
    command = "python bench/ablation_channels.py " + " ".join(argv if argv is not None else sys.argv[1:])
    report = (f"## Channel ablation: {manifest}\n\n`{command.strip()}` — protocol {info['protocol']}, "
              f"{info['models']} models, children by relation {info['relations']}, "
              f"{time.perf_counter() - start:.0f} s wall\n\n{table}\n")
    print(report)
    if args.write:
        out = Path(__file__).parent / "out" / "channels.md"
        header = "" if out.exists() else "# Evidence channels: ablation\n\nWritten by bench/ablation_channels.py.\n\n"
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a") as handle:
            handle.write(header + report + "\n")


if __name__ == "__main__":
    main()
