"""Small real models for the ingest tests, derived from the session's tiny Llama.

`variant(tiny, dest, seed)` copies the folder and adds seeded noise to every weight: other weights,
another fingerprint, nearly the same behaviour (a stand-in for a fine-tune). `seed=None` copies it
byte for byte (identical weights under a second id).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import yaml

N_PROBES, MAX_NEW_TOKENS, LOGLIK_TEXTS = 6, 6, 16


def variant(tiny: Path, dest: Path, seed: int | None, scale: float = 0.02) -> Path:
    shutil.copytree(tiny, dest)
    if seed is None:
        return dest
    from safetensors.numpy import load_file, save_file

    rng = np.random.default_rng(seed)
    for weights in sorted(dest.glob("*.safetensors")):
        tensors = load_file(weights)
        tensors = {
            name: (t + scale * rng.standard_normal(t.shape).astype(t.dtype)) if t.dtype.kind == "f" else t
            for name, t in tensors.items()
        }
        save_file(tensors, weights, metadata={"format": "pt"})
    return dest


def write_manifest(folder: Path, entries: list[dict]) -> Path:
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump({"models": entries}, sort_keys=False))
    return path


def protocol():
    from ingest.api import make_protocol

    return make_protocol(N_PROBES, MAX_NEW_TOKENS, loglik_texts=LOGLIK_TEXTS)


def cli_protocol(folder: Path) -> list[str]:
    """`--protocol FILE` options naming the tests' small protocol."""
    return ["--protocol", str(protocol().save(folder / "protocol.json"))]
