"""Can behaviour tell a distilled student from an unrelated model trained on similar data?

A student shares no weights with its teacher; only behaviour links them. So does shared training
data: unrelated bases of the random zoos are trained on overlapping corpora. For every checkpoint
that starts a weight lineage (a base or a student; GGUF files left out), this takes its nearest
model outside its own weight family and the nearest outside that model's family too, and asks how
much nearer the first is (loglik: distance ratio d1/d2, lower = more distinct; answers: similarity
ratio s1/s2, higher = more distinct). A behaviour statistic that detects distillation gives students
more distinct nearest families than bases: AUC = P(a student's ratio is more distinct than a base's),
0.5 for none. Also how often the nearest family is the teacher's, and the nearest model the teacher.

Statistics (read from each model's artifact, so the KB is not needed):
- loglik: the per-text log-likelihoods (`loglik_raw.npy`), centred per model, Euclidean;
- answers: mean Jaccard overlap of word bigrams in the greedy answers to the probes (first 16 words);
- cross (`--cross`, loads every HF folder): how well one model predicts another's own samples. A
  student is trained to maximise the likelihood of its teacher's samples, so it should score them
  better than an unrelated model's. Each checkpoint samples 32 tokens (temperature 1, fixed seed)
  after each of the first 48 probes; L[a, b] is a's log-likelihood per byte of b's samples, and the
  statistic is L double-centred (a model that predicts everything well, or samples that are easy for
  everyone, carry no lineage), margin of the nearest family over the next.

    PYTHONPATH=$PWD .venv/bin/python bench/distill_separability.py --workdir /tmp/zoo-dev/bench --seeds 0..9 [--cross]
(`--workdir` as `bench/eval_random.py --reuse-artifacts` leaves it: zoo-<seed>/ and artifacts/.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _artifacts_by_path(root: Path) -> dict[str, Path]:
    out = {}
    for meta in root.glob("*/*/meta.json"):
        out[json.loads(meta.read_text())["model_path"]] = meta.parent
    return out


def _bigrams(text: str) -> set[tuple[str, str]]:
    words = text.split()[:16]
    return set(zip(words, words[1:]))


def answer_similarity(answers: list[list[set]]) -> np.ndarray:
    n = len(answers)
    sim = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            v = [len(a & b) / len(a | b) for a, b in zip(answers[i], answers[j]) if a or b]
            sim[i, j] = sim[j, i] = float(np.mean(v)) if v else 0.0
    return sim


def cross_likelihood(dirs: list[Path], n_prompts: int = 48, tokens: int = 32, seed: int = 1234) -> np.ndarray:
    """L[a, b]: model a's mean log-likelihood per byte of model b's sampled continuations, scored by
    the backend that scores the log-likelihood channel (prompt + continuation, less the prompt)."""
    import torch

    from ingest.backends import load_backend
    from ingest.zoo.tiny import load_model
    from kb.probes import load_probes

    prompts = load_probes().prompts[:n_prompts]
    samples = []
    for d in dirs:  # the backends generate greedily only: sampling needs the model itself
        model, tok = load_model(d)
        model.eval()
        texts = []
        for k, prompt in enumerate(prompts):
            enc = tok(prompt, return_tensors="pt")
            torch.manual_seed(seed + k)
            with torch.no_grad():
                out = model.generate(**enc, max_new_tokens=tokens, do_sample=True, temperature=1.0, top_k=0,
                                     top_p=1.0, pad_token_id=tok.pad_token_id or tok.eos_token_id)
            texts.append(tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True))
        samples.append(texts)
    lik = np.zeros((len(dirs), len(dirs)))
    for a, d in enumerate(dirs):
        with load_backend(d, n_threads=1) as backend:
            prompt_logp = np.array([lp for lp, _ in backend.score(prompts)])
            for b, texts in enumerate(samples):
                kept = [i for i, text in enumerate(texts) if text.strip()]
                full = np.array([lp for lp, _ in backend.score([prompts[i] + texts[i] for i in kept])])
                nbytes = sum(len(texts[i].encode()) for i in kept)
                lik[a, b] = float((full - prompt_logp[kept]).sum()) / max(nbytes, 1)
    return lik


def double_centred(lik: np.ndarray) -> np.ndarray:
    """`lik` less its row and column means (off the diagonal): what is left is the pair's own affinity."""
    off = lik.copy()
    np.fill_diagonal(off, np.nan)
    return off - np.nanmean(off, 1, keepdims=True) - np.nanmean(off, 0, keepdims=True) + np.nanmean(off)


def zoo_rows(zoo: Path, arts: dict[str, Path], cross: bool = False) -> list[dict]:
    """Per lineage-starting checkpoint of one zoo: kind, ratios, whether the teacher's family / the
    teacher is the nearest."""
    from ingest.zoo.manifest import load_zoo_manifest
    from kb.lineage.metrics import true_families

    entries = [e for e in load_zoo_manifest(zoo / "manifest.yaml")
               if not e.path.endswith(".gguf") and str(zoo / e.path) in arts]
    index = {e.id: i for i, e in enumerate(entries)}
    dirs = [arts[str(zoo / e.path)] for e in entries]
    raw = np.stack([np.load(d / "loglik_raw.npy") for d in dirs]).astype(np.float64)
    raw -= raw.mean(axis=1, keepdims=True)
    dist = np.linalg.norm(raw[:, None] - raw[None], axis=2)
    answers = [[_bigrams(json.loads(line)["response"]) for line in open(d / "responses.jsonl")] for d in dirs]
    sim = answer_similarity(answers)
    scores = {"loglik": dist, "answers": -sim}
    if cross:
        affinity = double_centred(cross_likelihood([zoo / e.path for e in entries]))
        scores["cross"] = -np.nan_to_num(affinity, nan=np.inf)
    weight_family = true_families([(e.id, p.id, p.relation) for e in entries for p in e.parents
                                   if p.relation != "distill"], index)
    fam = np.array([weight_family[e.id] for e in entries])
    starts: dict[int, int | None] = {}  # model -> its teacher (None: a base)
    for e in entries:
        if not e.parents:
            starts[index[e.id]] = None
        for p in e.parents:
            if p.relation == "distill" and p.id in index:
                starts[index[e.id]] = index[p.id]
    rows = []
    for i, teacher in starts.items():
        outside = fam != fam[i]
        if len(set(fam[outside])) < 2:
            continue
        row = {"kind": "base" if teacher is None else "student"}
        for name, matrix in scores.items():
            score = matrix[i]
            s = np.where(outside, score, np.inf)
            j = int(np.argmin(s))
            second = np.min(np.where(outside & (fam != fam[j]), score, np.inf))
            # loglik: d1 / d2; answers: s1 / s2 (both negated); cross: the margin a1 - a2
            row[name] = second - s[j] if name == "cross" else s[j] / second
            if teacher is not None:
                row[f"{name}_family"] = bool(fam[j] == fam[teacher])
                row[f"{name}_exact"] = j == teacher
        rows.append(row)
    return rows


def auc(students: list[float], bases: list[float], lower_is_distinct: bool) -> float:
    pairs = [(s < b) if lower_is_distinct else (s > b) for s in students for b in bases]
    return float(np.mean(pairs)) if pairs else float("nan")


def main(argv: list[str] | None = None) -> int:
    from bench.eval_random import parse_seeds

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--seeds", required=True)
    ap.add_argument("--cross", action="store_true", help="add the cross-likelihood statistic (loads the models)")
    args = ap.parse_args(argv)
    arts = _artifacts_by_path(args.workdir / "artifacts")
    rows = [r for seed in parse_seeds(args.seeds) for r in zoo_rows(args.workdir / f"zoo-{seed}", arts, args.cross)]
    bases = [r for r in rows if r["kind"] == "base"]
    students = [r for r in rows if r["kind"] == "student"]
    print(f"{len(bases)} bases, {len(students)} students over seeds {args.seeds}")
    print("| statistic | AUC (student more distinct) | nearest family the teacher's | nearest model the teacher |")
    print("|---|---|---|---|")
    for name, lower in (("loglik", True), ("answers", False)) + ((("cross", False),) if args.cross else ()):
        a = auc([r[name] for r in students], [r[name] for r in bases], lower)
        fam = sum(r[f"{name}_family"] for r in students)
        exact = sum(r[f"{name}_exact"] for r in students)
        print(f"| {name} | {a:.2f} | {fam}/{len(students)} | {exact}/{len(students)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
