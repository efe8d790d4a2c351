"""llama.cpp's own HF -> GGUF converter, fetched from PyPI at first use and run from a cache.

Most GGUF files people download were made by `convert_hf_to_gguf.py`. It ships only inside the
llama-cpp-python sdist (vendor/llama.cpp/: the script, its `conversion/` package and its own
vendored `gguf-py`, which the PyPI `gguf` package cannot stand in for). `converter()` fetches that
sdist once with pip (`pip download --no-deps --no-binary :all:`), unpacks only those three parts
into `cache_root()/llama-cpp-convert/<version>/`, and installs the one extra package the converter
imports that the project does not depend on (sentencepiece, which every Llama-family conversion
imports even for a BPE tokenizer) into a `site/` folder beside it with `pip install --target`, never
into the project's environment. Conversions run in a subprocess of the same Python with the
vendored gguf-py and that folder first on its path.

Two adjustments, made at run time and not to the converter's files: (1) its BPE pre-tokenizer
table is keyed by hashes of known released tokenizers, so a tokenizer trained here is "not
recognized"; ours use exactly GPT-2's byte-level split, so `pre_tokenizer="gpt-2"` answers that
name for an unrecognised hash (what a user converting a new GPT-2-style tokenizer does by hand).
(2) The converter pins transformers 4.57, whose configs keep legacy keys that transformers 5 drops
from `AutoConfig(...).to_dict()` (GPT-NeoX's `rotary_pct`): keys of config.json missing from the
converter's hyperparameters are filled in from the file, as the pinned version would have kept them.

Cost: the first call downloads ~75 MB and takes ~1 minute; each conversion batch pays ~5 s to
import torch and transformers, then well under a second per tiny model.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from kb.errors import InputError
from ingest.zoo.cache import cache_root

LLAMA_CPP_VERSION = "0.3.36"  # the llama-cpp-python the project pins; its sdist vendors the converter
CONVERTER_EXTRAS = ("sentencepiece==0.2.1",)
OUTTYPES = ("f32", "f16", "bf16", "q8_0")
_PARTS = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")

# Run inside the subprocess: argv = [converter_dir, pre_tokenizer or "", jobs.json]. One process
# converts every job (torch and transformers are imported once).
_RUNNER = r"""
import json, runpy, sys
conv, pre, jobs_file = sys.argv[1], sys.argv[2], sys.argv[3]
jobs = json.loads(open(jobs_file).read())
sys.path[:0] = [conv + "/gguf-py", conv]
import conversion.base as base
if pre:
    _orig = base.TextModel.get_vocab_base_pre
    def _pre(self, tokenizer):
        try:
            return _orig(self, tokenizer)
        except NotImplementedError:  # an unlisted tokenizer hash
            return pre
    base.TextModel.get_vocab_base_pre = _pre
_load = base.ModelBase.load_hparams
def _hparams(dir_model, is_mistral_format):
    config = _load(dir_model, is_mistral_format)
    raw = dir_model / "config.json"
    if isinstance(config, dict) and raw.is_file():  # keys a newer transformers' AutoConfig drops
        for key, value in json.loads(raw.read_text()).items():
            config.setdefault(key, value)
    return config
base.ModelBase.load_hparams = staticmethod(_hparams)
import traceback
errors = []
for job in jobs:  # one failure does not stop the others; each is reported with its own last error line
    sys.argv = [conv + "/convert_hf_to_gguf.py", job["src"], "--outfile", job["out"], "--outtype", job["outtype"]]
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
        errors.append(None)
    except SystemExit as stop:
        errors.append(None if stop.code in (0, None) else f"exit {stop.code}")
    except Exception as error:
        frame = traceback.extract_tb(error.__traceback__)[-1]
        errors.append(f"{type(error).__name__}: {error} ({frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})")
open(jobs_file.replace("jobs.json", "errors.json"), "w").write(json.dumps(errors))
"""


def converter_dir(version: str = LLAMA_CPP_VERSION) -> Path:
    """Folder holding convert_hf_to_gguf.py (+ conversion/, gguf-py/, site/), fetched if missing."""
    final = cache_root() / "llama-cpp-convert" / version
    if (final / ".complete").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{version}.", suffix=".tmp", dir=final.parent))
    try:
        _pip("download", "--no-deps", "--no-binary", ":all:",
             f"llama-cpp-python=={version}", "-d", str(tmp / "sdist"))
        sdist = next((tmp / "sdist").glob("llama_cpp_python-*.tar.gz"), None)
        if sdist is None:
            raise InputError(f"pip fetched no llama-cpp-python {version} sdist; is PyPI reachable?")
        prefix = f"llama_cpp_python-{version}/vendor/llama.cpp/"
        with tarfile.open(sdist) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(prefix)
                       and any(m.name[len(prefix):].startswith(p) for p in _PARTS) and (m.isfile() or m.isdir())]
            for m in members:
                m.name = m.name[len(prefix):]
            tar.extractall(tmp, members=members, filter="data")
        shutil.rmtree(tmp / "sdist")
        if not (tmp / "convert_hf_to_gguf.py").is_file():
            raise InputError(f"the llama-cpp-python {version} sdist has no vendor/llama.cpp/convert_hf_to_gguf.py")
        _pip("install", "--quiet", "--no-deps", "--target", str(tmp / "site"), *CONVERTER_EXTRAS)
        (tmp / ".complete").write_text(version)
        try:
            os.rename(tmp, final)
        except OSError:  # another process finished first
            if not (final / ".complete").is_file():
                shutil.rmtree(final, ignore_errors=True)
                os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _pip(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise InputError(f"pip {args[0]} for llama.cpp's converter failed: {last}")


def converter_env(folder: Path) -> dict[str, str]:
    """Environment for a subprocess that runs the converter (vendored gguf-py and extras first)."""
    env = dict(os.environ)
    paths = [str(folder / "gguf-py"), str(folder), str(folder / "site")]
    env["PYTHONPATH"] = os.pathsep.join(paths + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def convert_hf(jobs: list[tuple[Path | str, Path | str, str]], pre_tokenizer: str | None = "gpt-2") -> list[Path]:
    """Convert HF folders to GGUF with llama.cpp's converter: jobs are (hf_dir, out_file, outtype).

    All jobs run in one subprocess; each output is written to a temp name and renamed, so a failed
    run leaves no half file. Raises InputError with the converter's last error line.
    """
    for _src, _out, outtype in jobs:
        if outtype not in OUTTYPES:
            raise InputError(f"unknown outtype {outtype!r} for llama.cpp's converter; use one of {', '.join(OUTTYPES)}")
    if not jobs:
        return []
    folder = converter_dir()
    with tempfile.TemporaryDirectory(prefix="dnakb-convert-") as work:
        plan, finals = [], []
        for i, (src, out, outtype) in enumerate(jobs):
            src, out = Path(src), Path(out)
            if not (src / "config.json").is_file():
                raise InputError(f"{str(src)!r} has no config.json; pass a HF model folder")
            out.parent.mkdir(parents=True, exist_ok=True)
            plan.append({"src": str(src), "out": str(Path(work) / f"{i}.gguf"), "outtype": outtype})
            finals.append(out)
        (Path(work) / "jobs.json").write_text(json.dumps(plan))
        done = subprocess.run([sys.executable, "-c", _RUNNER, str(folder), pre_tokenizer or "",
                               str(Path(work) / "jobs.json")], capture_output=True, text=True,
                              env=converter_env(folder), cwd=work)
        errors_file = Path(work) / "errors.json"
        if done.returncode != 0 or not errors_file.is_file():
            lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
            raise InputError(f"llama.cpp's converter failed: {lines[-1] if lines else 'no output'}")
        errors = json.loads(errors_file.read_text())
        for job, final, error in zip(plan, finals, errors):
            if error is None:
                tmp = final.with_name(final.name + ".tmp")
                shutil.move(job["out"], tmp)
                os.replace(tmp, final)
        failed = [(job["src"], error) for job, error in zip(plan, errors) if error is not None]
        if failed:
            raise InputError(f"llama.cpp's converter failed on {failed[0][0]!r}: {failed[0][1]}"
                             + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""))
    return finals


_SPM_TRAIN = r"""
import json, sys
import sentencepiece as spm
text, prefix, vocab = sys.argv[1], sys.argv[2], int(sys.argv[3])
spm.SentencePieceTrainer.train(
    input=text, model_prefix=prefix, vocab_size=vocab, model_type="bpe", byte_fallback=True,
    character_coverage=1.0, unk_id=0, bos_id=1, eos_id=2, pad_id=3, num_threads=1,
    minloglevel=2, add_dummy_prefix=False)
sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
json.dump({"vocab_size": sp.vocab_size(), "bos": 1, "eos": 2, "pad": 3}, open(prefix + ".json", "w"))
"""


def spm_tokenizer(out_dir: Path | str, vocab_size: int = 512) -> Path:
    """Train a SentencePiece BPE (byte fallback) on the zoo corpus; returns its tokenizer.model.

    Runs in the converter's environment (sentencepiece is the converter's dependency, not ours);
    writes `<out_dir>/spm.model` and `spm.json` (vocab size and special ids).
    """
    from ingest.zoo.corpora import corpus
    from ingest.zoo.tokenizers import TOKENIZER_A as spec

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = out / "spm-corpus.txt"
    text.write_text("\n".join(corpus(spec.topics, spec.n_docs, spec.seed, spec.styles)))
    folder = converter_dir()
    done = subprocess.run([sys.executable, "-c", _SPM_TRAIN, str(text), str(out / "spm"), str(vocab_size)],
                          capture_output=True, text=True, env=converter_env(folder))
    text.unlink()
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no output"]
        raise InputError(f"training a SentencePiece tokenizer failed: {lines[-1]}")
    return out / "spm.model"


__all__ = ["LLAMA_CPP_VERSION", "CONVERTER_EXTRAS", "OUTTYPES", "converter_dir", "converter_env",
           "convert_hf", "spm_tokenizer"]
