"""Model fingerprint: sha256 over the weight files, so identical weights under two names are one model.

A folder: its weight files (safetensors, PyTorch .bin/.pt/.pth, GGUF) in sorted order, each preceded by
its relative name — renaming a shard changes the fingerprint, copying the folder does not. A GGUF file:
the file's bytes. Files are streamed in 4 MiB chunks (memory stays flat); cost ~1 s per GB.
A memo keyed by (path, size, mtime) spares rehashing within one process.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from kb.errors import InputError

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_CHUNK = 4 << 20
_MEMO: dict[tuple, str] = {}


def weight_files(folder: Path) -> list[Path]:
    """The weight files of a model folder, sorted by relative path (training_args.bin excluded)."""
    files = [
        f for f in folder.rglob("*")
        if f.is_file() and f.suffix in WEIGHT_SUFFIXES and f.name != "training_args.bin"
        and not any(part.startswith(".") for part in f.relative_to(folder).parts)
    ]
    return sorted(files, key=lambda f: f.relative_to(folder).as_posix())


def _stream(digest: "hashlib._Hash", path: Path) -> None:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)


def fingerprint(path: str | os.PathLike[str]) -> str:
    """sha256 hex (64 chars) of a model's weights; InputError when there are none."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"no model at {path}: give a model folder (config.json + weights) or a .gguf file")
    if path.is_file():
        files, base = [path], None
    else:
        files, base = weight_files(path), path
        if not files:
            raise InputError(
                f"no weight files in {path}: expected *.safetensors, *.bin or *.gguf beside config.json"
            )
    key = tuple((str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files) + (base is None,)
    if key in _MEMO:
        return _MEMO[key]
    digest = hashlib.sha256()
    for f in files:
        if base is not None:  # folder: name, then bytes
            digest.update(f.relative_to(base).as_posix().encode() + b"\0")
        _stream(digest, f)
    _MEMO[key] = digest.hexdigest()
    return _MEMO[key]
