"""Reading a model's weights tensor by tensor under canonical names: the weight channel's input.

Sources: a Hugging Face folder of safetensors files (read with `safe_open`, one row chunk of one
tensor at a time) or a GGUF file (memory-mapped by `gguf.GGUFReader`, each row chunk dequantised
with `gguf.quants.dequantize`). Peak memory is one chunk, whatever the model size. Each source is a
`kb.channels.base.WeightReader`; the sketch itself is computed in kb/channels/weights.py.

Canonical tensor names are GGUF's (`blk.0.attn_q.weight`): HF names are mapped with the `gguf`
package's own `TensorNameMap` for the architecture in config.json, so an HF model and its GGUF
conversion land in one sketch space. What converters do to the layout is undone per architecture
by `ingest.weight_layout` (fused QKV and gate/up split into their parts, GPT-2's Conv1D read
transposed, llama.cpp's q/k rope permutation selected back): each canonical matrix is a selection
of rows of one stored tensor (`TensorEntry.index`, `.transpose`), so streaming row chunks stays
possible. (Gemma norms stored as 1 + w do not matter: norms are not sketched.) A tied output head
(no output.weight) is made explicit as output = token_embd, so tied HF checkpoints and GGUFs that
store the copy agree. Whether an architecture's mapping is verified across formats is the source's
`mapping` ("verified" or "unknown"); an unverified sketch compares only with sketches of its own
format (its signature says so), never as "unrelated" to the other format.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kb.channels.base import TensorEntry
from kb.channels.weights import (
    CHANNEL,
    CHUNK_ELEMS,
    DEFAULT_MAX_KIB,
    SKETCH_K,
    signature_of,
    sketch_weights,
)
from kb.errors import InputError
from ingest.backends import is_gguf
from ingest.weight_layout import ROPE_PERMUTED, Part, gguf_parts, hf_is_conv1d, hf_parts, mapping_of

# HF config.json model_type -> gguf architecture name, where they differ.
_HF_ARCH_ALIASES = {
    "mistral": "llama", "gemma3_text": "gemma3", "qwen2_moe": "qwen2moe", "qwen3_moe": "qwen3moe",
    "gpt_neox": "gptneox", "phi": "phi2", "mixtral": "llama", "smollm3": "smollm3",
}
# GGUF architectures whose q/k rows llama.cpp's converter permutes (LlamaModel and its subclasses).
_ROPE_PERMUTED = set(ROPE_PERMUTED)
# Buffers older transformers saved with the weights (GPT-2 / GPT-NeoX causal masks, rope tables);
# llama.cpp's converters drop them too.
_HF_BUFFERS = (".attn.bias", ".attn.masked_bias", ".attention.bias", ".attention.masked_bias", ".rotary_emb.inv_freq")
# Tensors a GGUF carries that are computed buffers, not weights of the HF checkpoint.
_GGUF_ONLY = {"rope_freqs.weight", "rope_factors_long.weight", "rope_factors_short.weight"}


# -- sources ------------------------------------------------------------------------------------
class _Source:
    """A `kb.channels.base.WeightReader` over one file format."""

    kind: str
    arch: str | None
    entries: list[TensorEntry]
    skipped: list[tuple[str, str]]
    notes: list[str]
    mapping: str = "unknown"
    made_by: str | None = None
    """For a GGUF file, the llama.cpp tool whose tensor order it has (`gguf_writer`); None otherwise."""
    metadata_digest: str | None = None
    """For a GGUF file, `gguf_metadata_digest`; None otherwise."""

    @property
    def precision(self) -> str:
        """The number format of the weights: the GGUF file type, else the dtype holding most values."""
        return getattr(self, "file_type", None) or _precision(self.entries)

    def rows(self, entry: TensorEntry, r0: int, r1: int) -> np.ndarray:
        """Slice r0:r1 of the tensor's FIRST axis as float32 (rows, last dim); 1-D: a flat vector."""
        raise NotImplementedError

    def check_readable(self, entries: list[TensorEntry]) -> None:
        pass

    def close(self) -> None:
        pass


class _SafetensorsSource(_Source):
    kind = "safetensors"

    def __init__(self, folder: Path) -> None:
        from safetensors import safe_open

        files = sorted(folder.glob("*.safetensors"))
        if not files:
            others = sorted(p.name for p in folder.glob("*.bin")) + sorted(p.name for p in folder.glob("*.pt"))
            hint = f" (found {', '.join(others[:3])}: re-save with save_pretrained(safe_serialization=True))" if others else ""
            raise InputError(f"no *.safetensors weights in {folder}{hint}")
        config = _read_config(folder)
        model_type = str(config.get("model_type") or "") or None
        self.arch = _HF_ARCH_ALIASES.get(model_type or "", model_type)
        n_layers = int(config.get("num_hidden_layers") or config.get("n_layer") or config.get("num_layers") or 0)
        n_layers = max(n_layers, int(config.get("num_decoder_layers") or 0))  # T5: encoder and decoder stacks
        name_map = _gguf_name_map(self.arch, n_layers)
        self.notes, self.skipped, self.entries = [], [], []
        if name_map is None:
            self.notes.append(
                f"architecture {model_type!r} is not in gguf's tensor map: HF names kept, so this sketch "
                "compares only with safetensors models of that architecture"
            )
        self._handles: dict[str, Any] = {}
        self._where: dict[str, Path] = {}
        for file in files:
            with safe_open(str(file), framework="numpy") as handle:
                for raw in handle.keys():
                    piece = handle.get_slice(raw)
                    shape = tuple(int(x) for x in piece.get_shape())
                    dtype = str(piece.get_dtype()).lower()
                    if raw.endswith(_HF_BUFFERS):
                        self.skipped.append((raw, "a buffer saved by older transformers (causal mask, rope table), not a weight"))
                        continue
                    canonical = raw if name_map is None else name_map.get_name(raw, try_suffixes=(".weight", ".bias"))
                    if canonical is None:
                        self.skipped.append((raw, f"no canonical name for {raw!r} under architecture {self.arch!r}"))
                        continue
                    self._where[raw] = file
                    conv1d = name_map is not None and hf_is_conv1d(self.arch, canonical, len(shape))
                    linear = (shape[1], shape[0]) if conv1d else shape  # nn.Linear orientation
                    parts = hf_parts(self.arch, canonical, linear[0], config) if len(shape) <= 2 else [Part(canonical, shape[0])]
                    self.entries += _entries(parts, raw, linear, dtype, stored=shape, transpose=conv1d)
        self.mapping = mapping_of("safetensors", model_type, [e.name for e in self.entries])
        if any(not raw.endswith(_HF_BUFFERS) for raw, _ in self.skipped):  # a weight the name map does not know:
            # this checkpoint is a variant whose conversion nobody checked
            self.mapping = "unknown"
        if self.mapping != "verified":
            self.notes.append(f"architecture {model_type!r}: HF <-> GGUF tensor mapping not verified "
                              "(mapping: unknown); compare this sketch across formats as missing, not as unrelated")

    def _handle(self, raw: str, framework: str) -> Any:
        from safetensors import safe_open

        key = f"{framework}:{self._where[raw]}"
        if key not in self._handles:
            self._handles[key] = safe_open(str(self._where[raw]), framework=framework)
        return self._handles[key]

    def rows(self, entry: TensorEntry, r0: int, r1: int) -> np.ndarray:
        if entry.dtype in ("bf16", "f8_e4m3", "f8_e5m2"):  # numpy has no such dtype: read via torch
            chunk = self._handle(entry.source, "pt").get_slice(entry.source)[r0:r1].float().numpy()
        else:
            chunk = self._handle(entry.source, "numpy").get_slice(entry.source)[r0:r1]
        chunk = np.asarray(chunk, dtype=np.float32)
        stored = entry.stored_shape
        return chunk.reshape(-1, stored[-1]) if len(stored) > 1 else chunk

    def close(self) -> None:
        self._handles.clear()


class _GgufSource(_Source):
    kind = "gguf"

    def __init__(self, file: Path) -> None:
        import gguf

        try:
            self._reader = gguf.GGUFReader(str(file))
        except (ValueError, OSError) as error:
            raise InputError(f"cannot read GGUF {file}: {error}") from None
        self._gguf = gguf
        self.arch = _gguf_field(self._reader, "general.architecture")
        self.notes, self.skipped, self.entries = [], [], []
        fields = {key: _gguf_field(self._reader, f"{self.arch}.{key}") for key in
                  ("attention.head_count", "attention.head_count_kv", "feed_forward_length")}
        fields = {key.rsplit(".", 1)[-1]: _scalar(value) for key, value in fields.items()}
        self._tensors = {}
        for t in self._reader.tensors:
            if t.name in _GGUF_ONLY:
                self.skipped.append((t.name, "computed buffer of the GGUF, not a checkpoint weight"))
                continue
            shape = tuple(int(x) for x in reversed(t.shape.tolist()))  # GGUF ne order -> row-major
            self._tensors[t.name] = t
            parts = gguf_parts(self.arch, t.name, shape[0], fields, _ROPE_PERMUTED) if len(shape) <= 2 \
                else [Part(t.name, shape[0])]
            self.entries += _entries(parts, t.name, shape, t.tensor_type.name.lower(), stored=shape)
        self.file_type = _file_type_name(_gguf_field(self._reader, "general.file_type"))
        self.made_by = gguf_writer([t.name for t in self._reader.tensors])
        if self.arch in _ROPE_PERMUTED:
            self.notes.append("q/k rows un-permuted (llama.cpp rope layout)")
        self.mapping = mapping_of("gguf", self.arch, [e.name for e in self.entries])
        if self.mapping != "verified":
            self.notes.append(f"architecture {self.arch!r}: HF <-> GGUF tensor mapping not verified "
                              "(mapping: unknown); compare this sketch across formats as missing, not as unrelated")

    def _dequantize(self, entry: TensorEntry, data: np.ndarray) -> np.ndarray:
        t = self._tensors[entry.source]
        try:
            return self._gguf.quants.dequantize(np.asarray(data), t.tensor_type).astype(np.float32, copy=False)
        except NotImplementedError:
            raise InputError(
                f"tensor {entry.source} is {t.tensor_type.name}, which the gguf reader cannot dequantise: "
                "weight channel skipped for this model (text DNA and log-likelihood are unaffected)"
            ) from None

    def check_readable(self, entries: list[TensorEntry]) -> None:
        seen: set[str] = set()
        for entry in entries:  # one row of each quant type, so an unsupported type fails in ms
            if entry.dtype not in seen:
                seen.add(entry.dtype)
                data = self._tensors[entry.source].data
                self._dequantize(entry, data.reshape(-1, data.shape[-1])[:1])

    def rows(self, entry: TensorEntry, r0: int, r1: int) -> np.ndarray:
        out = self._dequantize(entry, self._tensors[entry.source].data[r0:r1])  # first-axis slice
        stored = entry.stored_shape
        return out.reshape(-1, stored[-1]) if len(stored) > 1 else out.reshape(-1)

    @functools.cached_property
    def metadata_digest(self) -> str:  # type: ignore[override]
        # on demand (while open): a large tokenizer's metadata takes a fraction of a second to hash
        return gguf_metadata_digest(self._reader)

    def close(self) -> None:
        self._tensors.clear()
        del self._reader


def _entries(parts: list[Part], source: str, linear: tuple[int, ...], dtype: str, *, stored: tuple[int, ...],
             transpose: bool = False) -> list[TensorEntry]:
    """TensorEntries for the canonical parts of one stored tensor (`linear`: its shape in Linear orientation)."""
    if len(parts) == 1 and parts[0].index is None and parts[0].rows == linear[0]:
        return [TensorEntry(parts[0].name, source, tuple(linear), dtype, tuple(stored), None, transpose)]
    return [TensorEntry(p.name, source, (p.rows, *linear[1:]), dtype, tuple(stored),
                        np.arange(linear[0]) if p.index is None else np.asarray(p.index), transpose) for p in parts]


def _scalar(value: Any) -> Any:
    if isinstance(value, (list, tuple, np.ndarray)):  # per-layer arrays (e.g. OpenELM): the first layer's
        return value[0] if len(value) else None
    return value


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise InputError(f"{path} is not valid JSON ({error})") from None
    return config.get("text_config", config) if isinstance(config, dict) else {}


def _gguf_name_map(arch: str | None, n_layers: int) -> Any:
    import gguf

    by_name = {v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}
    if arch not in by_name:
        return None
    return gguf.get_tensor_name_map(by_name[arch], max(n_layers, 1))


def _file_type_name(value: Any) -> str | None:
    """general.file_type (llama_ftype) as a precision name: 15 -> "q4_k_m", 1 -> "f16"."""
    import gguf

    if value is None:
        return None
    try:
        name = gguf.LlamaFileType(int(value) & ~1024).name  # 1024: "guessed" flag
    except ValueError:
        return None
    return {"ALL_F32": "f32"}.get(name, name.removeprefix("MOSTLY_").lower())


def gguf_writer(names: list[str]) -> str:
    """Which llama.cpp tool wrote a GGUF's tensor table, as its order tells: "quantize" when the
    tensors are in the quantize tool's order (its loader's map: tensors outside the blocks first, then
    block by block, names sorted within each; `weight_name_comparer` in llama-model-loader.h), else
    "convert" (convert_hf_to_gguf.py, and our converter, write the checkpoint's own order, which is
    not that one: HF names sort otherwise, and blocks 10+ sort before 2). The quantize tool reads a
    GGUF, the converter a checkpoint, so this says which kind of file a copy was made from.

    >>> gguf_writer(["output.weight", "token_embd.weight", "blk.0.attn_k.weight", "blk.0.ffn_up.weight"])
    'quantize'
    >>> gguf_writer(["token_embd.weight", "blk.0.ffn_up.weight", "blk.0.attn_k.weight", "output.weight"])
    'convert'
    """
    def key(name: str) -> tuple[int, str]:
        parts = name.split(".")
        return (int(parts[1]) if len(parts) > 1 and parts[0] == "blk" and parts[1].isdigit() else -1, name)

    return "quantize" if names == sorted(names, key=key) else "convert"


QUANTIZE_SETS = ("general.file_type", "general.quantization_version")
"""Metadata llama.cpp's quantize tool writes itself; it also drops split.* keys and may add quantize.*
ones (the imatrix it was given, a user's --override-kv)."""


def gguf_metadata_digest(reader: Any) -> str:
    """A digest of a GGUF's metadata (keys and values, tokenizer included) but for what the quantize
    tool rewrites (`QUANTIZE_SETS`, split.*, quantize.*). The quantize tool copies every other key of
    the file it reads (llama-quant.cpp: `gguf_set_kv(ctx_out, ml.metadata)`), while two converters,
    or two versions of one, write different keys (llama.cpp's adds general.type, size_label, a
    titled name; ours does not): a quantized file carries the digest of the float GGUF it was made
    from, which its weights cannot tell from another float copy of the same checkpoint."""
    import hashlib

    digest = hashlib.sha256()
    for key in sorted(reader.fields):
        if key.startswith(("GGUF.", "split.", "quantize.")) or key in QUANTIZE_SETS:
            continue
        digest.update(key.encode())
        for part in reader.fields[key].parts[1:]:  # the key's length and bytes, then type and value
            digest.update(np.asarray(part).tobytes())
    return digest.hexdigest()[:16]


def _gguf_field(reader: Any, key: str) -> Any:
    item = reader.fields.get(key)
    if item is None:
        return None
    value = item.contents()
    return value


def open_weights(path: str | Path) -> _Source:
    """A tensor source for a model path (a .gguf file, a folder with one .gguf, or a safetensors
    folder), its output head made explicit when tied."""
    source = _open(Path(path))
    _tie_output(source)
    return source


def _open(path: Path) -> _Source:
    if not path.exists():
        raise InputError(f"no model at {path}: give a safetensors folder or a .gguf file")
    if path.is_file():
        if path.suffix.lower() == ".gguf" or is_gguf(path):
            return _GgufSource(path)
        if path.suffix == ".safetensors":
            return _SafetensorsSource(path.parent)
        raise InputError(f"{path}: expected a .gguf file or a folder of *.safetensors")
    if any(path.glob("*.safetensors")):
        return _SafetensorsSource(path)
    ggufs = sorted(path.glob("*.gguf"))
    if len(ggufs) == 1:
        return _GgufSource(ggufs[0])
    if len(ggufs) > 1:
        raise InputError(f"{path} holds {len(ggufs)} GGUF files: name one of them ({ggufs[0].name}, ...)")
    return _SafetensorsSource(path)  # raises with a hint about .bin files


def _tie_output(source: _Source) -> None:
    """A checkpoint without an output head uses its embeddings (tied): make that explicit, so a tied
    HF model (no lm_head in safetensors) and a GGUF that stores the copy (or not) agree."""
    names = {e.name for e in source.entries}
    embed = next((e for e in source.entries if e.name == "token_embd.weight"), None)
    if embed is not None and "output.weight" not in names:
        source.entries.append(dataclasses.replace(embed, name="output.weight"))
        source.notes.append("output.weight tied to token_embd.weight")


def weight_signature(path: str | Path) -> tuple[str, list[tuple[str, tuple[int, ...]]]]:
    """The architecture signature alone (reads headers only)."""
    source = open_weights(path)
    try:
        return signature_of(source.entries, source.mapping)
    finally:
        source.close()


def _precision(entries: list[TensorEntry]) -> str:
    weight: dict[str, int] = {}
    for e in entries:
        if len(e.shape) > 1:
            weight[e.dtype] = weight.get(e.dtype, 0) + int(np.prod(e.shape))
    return max(weight, key=weight.__getitem__) if weight else "unknown"


# -- the sketch ---------------------------------------------------------------------------------


@dataclass
class WeightSketch:
    """One file's weight sketch with everything needed to judge it (for tools and tests; ingest goes
    through the weight channel, kb/channels/weights.py, which computes the same)."""

    vector: np.ndarray
    signature: str
    k: int
    seed: int
    max_kib: int
    source: str
    arch: str | None
    precision: str
    tensors: list[tuple[str, tuple[int, ...]]]
    blocks: list[str]
    rms: list[float] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mapping: str = "unknown"

    def detail(self) -> dict[str, Any]:
        """JSON-able record, as the weight channel keeps it beside sketch.npy."""
        return {
            "descriptor": CHANNEL.descriptor(self.seed, k=self.k, max_kib=self.max_kib), "signature": self.signature,
            "source": self.source, "arch": self.arch, "mapping": self.mapping, "precision": self.precision,
            "tensors": [[n, list(s)] for n, s in self.tensors], "blocks": self.blocks,
            "rms": [round(x, 8) for x in self.rms], "skipped": [list(x) for x in self.skipped], "notes": self.notes,
        }


def weight_sketch(path: str | Path, seed: int = 0, *, k: int = SKETCH_K, max_kib: int = DEFAULT_MAX_KIB,
                  chunk_elems: int = CHUNK_ELEMS) -> WeightSketch:
    """The weight sketch of the model at `path` (InputError when it cannot be read)."""
    source = open_weights(path)
    try:
        if not source.entries:
            raise InputError(f"{path}: no tensor has a canonical name; weight channel skipped")
        signature, tensors = signature_of(source.entries, source.mapping)
        vector, blocks, rms, over = sketch_weights(source, seed, k, max_kib, chunk_elems=chunk_elems)
        return WeightSketch(vector, signature, k, seed, max_kib, source.kind, source.arch, source.precision, tensors,
                            blocks, rms, list(source.skipped) + over, list(source.notes), source.mapping)
    finally:
        source.close()
