"""transformers decoding with a static cache and a compiled step: same answers as the eager path, fallback."""

from __future__ import annotations

import time

import pytest

from ingest.backends.hf import HFBackend
from kb.errors import InputError


@pytest.fixture(scope="module")
def eager(tiny_llama):
    backend = HFBackend(tiny_llama, n_threads=1, decode="eager")
    yield backend
    backend.close()


def test_compiled_static_cache_decoding_equals_eager(tiny_llama, probe_prompts, eager):
    """24 prompts in batches of 10 (the last one padded to 10 rows): one graph, the eager answers."""
    expected = eager.generate(probe_prompts, 16)
    compiled = HFBackend(tiny_llama, n_threads=1, decode="compiled", batch_size=10)
    messages: list[str] = []
    t = time.perf_counter()
    got = compiled.generate(probe_prompts, 16, progress=messages.append)
    first = time.perf_counter() - t
    assert not [m for m in messages if "failed" in m]
    assert compiled.decode_used == "compiled" and compiled.describe()["decode"] == "compiled"
    assert got == expected
    assert compiled.tokens_generated == eager.tokens_generated  # the padding rows are not counted
    t = time.perf_counter()
    assert compiled.generate(probe_prompts[:7], 16) == expected[:7]  # a shorter call reuses the graph
    print(f"compiled decode on the CPU: first call {first:.1f} s (compiling), second {time.perf_counter() - t:.2f} s")
    compiled.close()


def test_eager_where_compiling_does_not_apply(tiny_llama, probe_prompts, eager, monkeypatch):
    auto = HFBackend(tiny_llama, n_threads=1)  # auto: the static, compiled path is for CUDA
    assert auto.generate(probe_prompts[:4], 8) == eager.generate(probe_prompts[:4], 8)
    assert auto.decode_used == "eager"
    forced = HFBackend(tiny_llama, n_threads=1, decode="compiled")
    monkeypatch.setattr(type(forced.model), "_can_compile_fullgraph", False)  # a class that cannot compile
    assert forced.generate(probe_prompts[:4], 8) == eager.generate(probe_prompts[:4], 8)
    assert forced.decode_used == "eager"


def test_compile_failure_falls_back_to_eager(tiny_llama, probe_prompts, eager, monkeypatch):
    backend = HFBackend(tiny_llama, n_threads=1, decode="compiled", batch_size=3)

    def broken(_config):
        raise RuntimeError("no C++ compiler (simulated)")

    monkeypatch.setattr(backend.model, "get_compiled_call", broken)
    messages: list[str] = []
    assert backend.generate(probe_prompts[:7], 8, progress=messages.append) == eager.generate(probe_prompts[:7], 8)
    assert backend.decode_used == "eager"
    assert any("compiled decoding failed (RuntimeError: no C++ compiler" in m for m in messages)


def test_unknown_decode_mode(tiny_llama):
    with pytest.raises(InputError, match="unknown decode mode 'fast': use one of auto, eager, compiled"):
        HFBackend(tiny_llama, decode="fast")
