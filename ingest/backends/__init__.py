"""Generation backends behind one interface, chosen from the model path.

A folder with config.json -> transformers (a causal LM, or an encoder-decoder one: T5, BART); a `*.gguf`
file (or a folder holding exactly one) -> llama-cpp. `forced` ("transformers"/"hf" or
"llama-cpp"/"llamacpp"/"gguf") overrides the choice. A model behind an OpenAI-compatible API has no
path: it is the `api` backend (ingest/backends/api.py), resolved by ingest/access.py `resolve_source`.
"""

from __future__ import annotations

import os
from pathlib import Path

from kb.errors import InputError
from ingest.backends.base import Backend
from ingest.fingerprint import weight_files

BACKENDS = ("transformers", "llama-cpp", "api")
LOCAL_BACKENDS = ("transformers", "llama-cpp")
_ALIASES = {"transformers": "transformers", "hf": "transformers", "huggingface": "transformers",
            "llama-cpp": "llama-cpp", "llamacpp": "llama-cpp", "llama.cpp": "llama-cpp", "gguf": "llama-cpp",
            "api": "api", "openai": "api"}


def _normalise(forced: str) -> str:
    name = _ALIASES.get(forced.lower().strip())
    if name is None:
        raise InputError(f"unknown backend {forced!r}: use one of {', '.join(BACKENDS)}")
    return name


def resolve_model(path: str | os.PathLike[str], forced: str | None = None) -> tuple[str, Path]:
    """(backend name, path to load) for a model path, with clear errors for what cannot be loaded."""
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError(f"no model at {p}: give a model folder (config.json + weights) or a .gguf file")
    wanted = _normalise(forced) if forced else None
    if wanted == "api":
        raise InputError(f"{p}: the api backend reaches a model over HTTP (base_url, model), not through a path")
    if p.is_file():
        if p.suffix.lower() != ".gguf" and not (wanted == "llama-cpp" and is_gguf(p)):
            raise InputError(f"{p} is a file but not a .gguf: give a GGUF file or a transformers model folder")
        if wanted == "transformers":
            raise InputError(f"{p} is a GGUF file: the transformers backend needs a model folder; use --backend llama-cpp")
        return "llama-cpp", p
    ggufs = sorted(p.glob("*.gguf"))
    has_config = (p / "config.json").is_file()
    if wanted == "llama-cpp" or (wanted is None and not has_config and ggufs):
        if len(ggufs) != 1:
            raise InputError(
                f"{p} holds {len(ggufs)} .gguf files: name the one to load" if ggufs
                else f"no .gguf file in {p}: the llama-cpp backend needs a GGUF file"
            )
        return "llama-cpp", ggufs[0]
    if not has_config:
        raise InputError(f"no config.json in {p}: not a transformers model folder (and no .gguf file in it)")
    if not [f for f in weight_files(p) if f.suffix != ".gguf"]:
        raise InputError(f"no weight files in {p}: expected *.safetensors or *.bin beside config.json")
    return "transformers", p


def is_gguf(path: Path) -> bool:
    """Whether a file starts with GGUF's magic bytes (whatever its name)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"GGUF"
    except OSError:
        return False


def choose_backend(path: str | os.PathLike[str], forced: str | None = None) -> str:
    """The backend name for a model path: "transformers" or "llama-cpp"."""
    return resolve_model(path, forced)[0]


def load_backend(path: str | os.PathLike[str], forced: str | None = None, *, batch_size: int | None = None,
                 n_threads: int | None = None, device: str | None = None) -> Backend:
    """Open the model at `path` with the chosen (or forced) backend."""
    name, target = resolve_model(path, forced)
    if name == "llama-cpp":
        from ingest.backends.llamacpp import LlamaCppBackend

        return LlamaCppBackend(target, n_threads=n_threads, batch_size=batch_size)
    from ingest.backends.seq2seq import Seq2SeqBackend, is_encoder_decoder

    if is_encoder_decoder(target):
        return Seq2SeqBackend(target, batch_size=batch_size, n_threads=n_threads, device=device)
    from ingest.backends.hf import HFBackend

    return HFBackend(target, batch_size=batch_size, n_threads=n_threads, device=device)


__all__ = ["Backend", "BACKENDS", "LOCAL_BACKENDS", "choose_backend", "load_backend", "resolve_model"]
