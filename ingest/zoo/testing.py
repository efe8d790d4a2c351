"""Cached tiny models for tests and benchmarks (built once per code version, then reused)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ingest.zoo.cache import cached_build
from ingest.zoo.tiny import ArchSpec, TinySpec, TrainSpec, build_tiny

_TINY_CODE = ("corpora.py", "tokenizers.py", "tiny.py")

# The test suite's tiny Llama: hidden 64, 2 layers, GQA 4/2 heads, 512-token byte-level BPE.
TINY_LLAMA = TinySpec(tokenizer="tok-a", arch=ArchSpec(arch="llama"), train=TrainSpec(steps=300, seed=1),
                      init_seed=1)


def cached_tiny(spec: TinySpec = TINY_LLAMA, name: str = "tiny-llama") -> Path:
    """HF folder of `spec`, trained once and cached under ~/.cache/dnakb/test-models."""
    return cached_build(name, asdict(spec), lambda tmp: build_tiny(spec, tmp / "model"), code=_TINY_CODE) / "model"


def cached_ggufs(hf_dir: Path, outtypes: tuple[str, ...] = ("f16", "q8_0"),
                 quants: tuple[str, ...] = ()) -> dict[str, Path]:
    """GGUF conversions (`outtypes`) and llama.cpp quantizations (`quants`, from the f16) of `hf_dir`."""
    from ingest.convert import hf_to_gguf, quantize_gguf

    stem = hf_dir.parent.name if hf_dir.name == "model" else hf_dir.name
    params = {"source": str(hf_dir), "outtypes": outtypes, "quants": quants}

    def build(tmp: Path) -> None:
        for o in dict.fromkeys(outtypes + (("f16",) if quants else ())):
            hf_to_gguf(hf_dir, tmp / f"model-{o}.gguf", o)
        for q in quants:
            quantize_gguf(tmp / "model-f16.gguf", tmp / f"model-{q}.gguf", q)

    folder = cached_build(f"{stem}-gguf", params, build, code=_TINY_CODE + ("../convert.py",))
    return {o: folder / f"model-{o}.gguf" for o in outtypes + quants}


__all__ = ["TINY_LLAMA", "cached_tiny", "cached_ggufs"]
