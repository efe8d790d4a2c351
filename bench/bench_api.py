"""Models behind an API, and encoder-decoder models: the figures for bench/RESULTS.md.

  agree     one GGUF two ways in one run: the local llama-cpp backend, and the `api` backend against
            llama-cpp-python's own OpenAI-compatible server serving the same file on 127.0.0.1 (both on
            one thread). DNA agreement (cosine, L2, identical responses), log-likelihood profile
            agreement, and extraction throughput (answer tokens/s of the generate phase, and whole
            extractions) at each concurrency, alternating, medians over `--reps`; the ratio API / local.
  seq2seq   a zoo with the two encoder-decoder families added (ingest/zoo/seq2seq.py): `dnakb eval`'s
            ingest + infer + score, declared parents withheld; parent accuracy over the encoder-decoder
            fine-tunes and over the whole zoo.

Usage: .venv/bin/python bench/bench_api.py agree [--gguf F] [--probes 600] [--tokens 64] [--concurrency 1,4] [--reps 3]
       .venv/bin/python bench/bench_api.py seq2seq [--zoo MANIFEST] [--probes 600] [--tokens 64]
(the server needs llama-cpp-python[server]: scripts/setup installs it with the test extra)
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _server(gguf: Path, log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
                             "--port", str(port), "--n_threads", "1", "--n_ctx", "1024"],
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"llama_cpp.server exited: {log.read_text()[-1500:]}")
        try:
            urllib.request.urlopen(f"{base}/models", timeout=2).close()
            return proc, base
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("llama_cpp.server did not start")


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def agree(args: argparse.Namespace) -> None:
    from ingest.api import make_protocol
    from ingest.backends.api import ApiSpec
    from ingest.extract import extract
    from ingest.zoo.build import cached_small_zoo

    gguf = Path(args.gguf) if args.gguf else cached_small_zoo().parent / "llama-s-f16.gguf"
    proto = make_protocol(args.probes, args.tokens, loglik_texts=args.texts)
    concurrency = [int(c) for c in args.concurrency.split(",")]
    load_start = _load()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        proc, base = _server(gguf, Path(tmp) / "server.log")
        try:
            specs = {c: ApiSpec(base_url=base, model=gguf.stem, concurrency=c, extra_body=(("repeat_penalty", 1.0),))
                     for c in concurrency}
            rates: dict[str, list[float]] = {"local": [], **{f"api c={c}": [] for c in concurrency}}
            totals: dict[str, list[float]] = {k: [] for k in rates}
            done = {}
            extract(gguf, make_protocol(4, 4, loglik_texts=4), artifacts=Path(tmp) / "warm-up", n_threads=1)  # imports, embedder
            for rep in range(args.reps):
                for name in rates:  # alternating, each a fresh artifact folder (nothing reused, nothing cached)
                    model = gguf if name == "local" else specs[int(name.split("=")[1])]
                    out = extract(model, proto, channels=("text", "loglik"), artifacts=Path(tmp) / f"{name}-{rep}",
                                  n_threads=1, force=True)
                    text = out.produced["text"]
                    # probes answered per second of the generate phase (the API's includes its one
                    # determinism re-ask); with identical answers this is the ratio of tokens/s too
                    rates[name].append(len(text.detail["responses"]) / text.detail["timings"]["generate"])
                    totals[name].append(out.timings["total"])
                    done[name] = out
                    print(f"rep {rep} {name}: {rates[name][-1]:.1f} probes/s, extraction {out.timings['total']:.1f} s",
                          file=sys.stderr)
        finally:
            proc.terminate()
            proc.wait()
    local = done["local"]
    rows = []
    for name in rates:
        rows.append(f"| {name} | {statistics.median(rates[name]):.1f} [{min(rates[name]):.1f}–{max(rates[name]):.1f}] | "
                    f"{statistics.median(totals[name]):.1f} | "
                    f"{statistics.median(rates[name]) / statistics.median(rates['local']):.2f} |")
    api = done[f"api c={concurrency[-1]}"]
    a, b = local.produced["text"], api.produced["text"]
    same = sum(x == y for x, y in zip(a.detail["responses"], b.detail["responses"]))
    la, lb = local.produced["loglik"], api.produced["loglik"]
    raw_corr = float(np.corrcoef(la.arrays["loglik_raw"], lb.arrays["loglik_raw"])[0, 1])
    print(f"\n### API vs local llama-cpp on one GGUF ({gguf.name}), {args.probes} probes x {args.tokens} tokens, "
          f"{args.texts} reference texts\n")
    print(f"Load average (1/5/15 min) {load_start} at start, {_load()} at the end; {args.reps} alternating repetitions, "
          "median [range]; server and local backend on 1 thread each.\n")
    print(f"DNA agreement: cosine {_cos(a.vector, b.vector):.6f}, L2 {np.linalg.norm(a.vector - b.vector):.4f}, "
          f"identical responses {same}/{len(a.detail['responses'])}; log-likelihood profile cosine "
          f"{_cos(la.vector, lb.vector):.4f} (raw per-byte values: correlation {raw_corr:.4f}); determinism check "
          f"{b.detail['determinism']}\n")
    print(f"Answer tokens generated locally: {a.detail['tokens_generated']} ({a.detail['tokens_generated'] / len(a.detail['responses']):.1f} per probe).\n")
    print("| backend | probes/s, generate phase | whole extraction s (text + loglik) | probes/s ratio to local |")
    print("|---|---|---|---|")
    print("\n".join(rows))


def seq2seq(args: argparse.Namespace) -> None:
    import yaml

    from ingest.api import make_protocol
    from ingest.evaluation import evaluate_zoo
    from ingest.zoo.build import cached_small_zoo
    from ingest.zoo.seq2seq import cached_seq2seq_zoo
    from kb.stores import StoreConfig, open_store

    zoo = Path(args.zoo) if args.zoo else cached_small_zoo()
    enc_dec = cached_seq2seq_zoo()
    rows = []
    for manifest in (zoo, enc_dec):
        for entry in yaml.safe_load(manifest.read_text())["models"]:
            entry["path"] = str(manifest.parent / entry["path"])
            rows.append(entry)
    load_start = _load()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-seq2seq-") as tmp:
        merged = Path(tmp) / "zoo.yaml"
        merged.write_text(yaml.safe_dump({"models": rows}, sort_keys=False))
        with open_store(StoreConfig(kind="embedded", db=Path(tmp) / "kb")) as store:
            report = evaluate_zoo(merged, store, bootstrap=0, artifacts=Path(tmp) / "art", workers=args.workers,
                                  protocol=make_protocol(args.probes, args.tokens))
            edges = store.inferred_edges()
            inferred = {e.child: e for e in edges}
            from kb.lineage.infer import infer

            functional = {e.child: e for e in infer(store, channels=("text", "loglik"), bootstrap=0, write=False).edges}
    enc_dec_rows = yaml.safe_load(enc_dec.read_text())["models"]
    truth = [(r["id"], p["id"]) for r in enc_dec_rows for p in r["parents"]]
    right = [(c, p) for c, p in truth if c in inferred and inferred[c].parent == p]
    print(f"\n### Encoder-decoder families in the zoo ({zoo.parent.name} + seq2seq zoo, {len(rows)} models), "
          f"{args.probes} probes x {args.tokens} tokens\n")
    print(f"Load average {load_start} at start, {_load()} at the end; {time.perf_counter() - started:.0f} s.\n")
    print(f"- encoder-decoder fine-tunes whose inferred parent is the true one: **{len(right)}/{len(truth)}** "
          + ", ".join(f"{c} -> {inferred[c].parent if c in inferred else None} ({inferred[c].channel if c in inferred else '-'})"
                      for c, _ in truth))
    right_f = [(c, p) for c, p in truth if c in functional and functional[c].parent == p]
    print(f"- the same without the weight sketch (text DNA + log-likelihood only, as for a model behind an API): "
          f"**{len(right_f)}/{len(truth)}** " + ", ".join(f"{c} -> {functional[c].parent if c in functional else None}"
                                                      for c, _ in truth))
    members = {r["id"] for r in enc_dec_rows}
    crossing = [f"{e.child} -> {e.parent}" for e in edges if (e.child in members) != (e.parent in members)]
    print(f"- inferred edges between an encoder-decoder and a decoder-only model: {len(crossing)} {crossing}")
    print(f"- whole zoo: parent accuracy {report.parents.accuracy:.2f} over {report.parents.n} true edges, "
          f"family ARI {report.ari:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="section", required=True)
    a = sub.add_parser("agree")
    a.add_argument("--gguf")
    a.add_argument("--probes", type=int, default=600)
    a.add_argument("--tokens", type=int, default=64)
    a.add_argument("--texts", type=int, default=200)
    a.add_argument("--concurrency", default="1,4")
    a.add_argument("--reps", type=int, default=3)
    s = sub.add_parser("seq2seq")
    s.add_argument("--zoo")
    s.add_argument("--probes", type=int, default=600)
    s.add_argument("--tokens", type=int, default=64)
    s.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    agree(args) if args.section == "agree" else seq2seq(args)


if __name__ == "__main__":
    main()
