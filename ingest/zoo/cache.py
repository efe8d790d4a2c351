"""An on-disk cache for built models, keyed by the building code and its parameters.

A build runs into a temporary sibling folder and is renamed into place when complete, so an
interrupted build never leaves a half model, and two processes racing on one key both end
with the same finished folder (the loser's copy is discarded).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

_CODE = Path(__file__).resolve().parent


def cache_root() -> Path:
    """`$DNAKB_CACHE` or ~/.cache/dnakb."""
    return Path(os.environ.get("DNAKB_CACHE") or Path.home() / ".cache" / "dnakb")


# The modules whose code decides what a build produces (not the caching/fixture glue).
BUILD_CODE = ("corpora.py", "tokenizers.py", "tiny.py", "lora.py", "ops.py", "build.py", "../convert.py",
              "llamacpp.py", "step.py")  # a random plan enters through its steps' definitions, not its code


def code_hash(files: tuple[str, ...] = BUILD_CODE) -> str:
    """sha256 over the building code: a change to it invalidates the cached builds."""
    h = hashlib.sha256()
    for name in files:
        f = _CODE / name
        if not f.is_file():
            continue
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def cache_key(name: str, params: Any, code: tuple[str, ...] = BUILD_CODE) -> str:
    blob = json.dumps(params, sort_keys=True, default=str)
    digest = hashlib.sha256((code_hash(code) + blob).encode()).hexdigest()[:16]
    return f"{name}-{digest}"


def cached_build(name: str, params: Any, build: Callable[[Path], Any], area: str = "test-models",
                 code: tuple[str, ...] = BUILD_CODE) -> Path:
    """The folder `cache_root()/area/<name>-<hash>`, calling `build(tmp_folder)` once if missing.

    `code` names the source files (relative to ingest/zoo) whose content enters the key.
    """
    final = cache_root() / area / cache_key(name, params, code)
    if (final / ".complete").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=final.name + ".", suffix=".tmp", dir=final.parent))
    try:
        build(tmp)
        (tmp / ".complete").write_text(json.dumps(params, sort_keys=True, default=str))
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / ".complete").is_file():  # a stale, incomplete folder: replace it
                shutil.rmtree(final, ignore_errors=True)
                os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


__all__ = ["cache_root", "code_hash", "cache_key", "cached_build"]
