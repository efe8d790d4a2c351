"""llama-cpp-python backend: a GGUF file on CPU, greedy, many prompts decoded together by default.

Decoding: batched (`llamacpp_batch.BatchedGreedy`: up to 64 sequences per `llama_decode`, sized from the
memory their KV cells need) unless `batch_size=1`, which decodes one prompt at a time through
llama-cpp-python's `Llama.generate` (the path measured against raw llama-cpp-python). Both give the same
responses up to float noise; `describe()` records which one ran ("decode") in the artifact's meta.

Greedy here means top_k = 1 with every other sampler neutral (temperature 0, top_p 1, min_p 0, no
repetition penalty — llama-cpp-python's completion API applies a 1.1 penalty by default, which
would make its output differ from transformers' greedy search). BOS is prepended by us, the prompt is
tokenised without special tokens, generation stops at any end-of-generation token. With `chat=True` the
prompt is the GGUF's own `tokenizer.chat_template` rendered by ingest/chat.py (not llama.cpp's template
engine, so the text equals the transformers backend's), tokenised with special tokens parsed, no BOS added.

Before llama.cpp sees a file, `check_gguf` reads its header with the `gguf` package, so a truncated
or corrupt file, or an architecture llama.cpp does not know, is reported as such (llama.cpp itself
only says "failed to load model").
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kb.errors import DnaKbError, InputError
from ingest.backends.base import Backend, ProgressFn, default_threads
from ingest.backends.hf import _available_ram
from ingest.backends.llamacpp_batch import BatchedGreedy, choose_n_seq, model_shape, padded_ctx

DEFAULT_CTX = 1024


_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


class _Header:
    """A minimal GGUF (v2/v3) header reader over an mmap: scalars and strings are decoded, arrays skipped.

    The `gguf` package's GGUFReader builds numpy views of every field and tensor — 20-90 s for a
    262k-token vocabulary on a busy 2-core machine; this walk takes well under a second.
    """

    def __init__(self, buf: "mmap.mmap") -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> Any:
        value = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        n = self.take("<Q")
        if self.pos + n > len(self.buf):
            raise struct.error("string runs past the end of the file")
        text = bytes(self.buf[self.pos:self.pos + n]).decode("utf-8", errors="replace")
        self.pos += n
        return text

    def value(self, kind: int) -> Any:
        if kind in _SCALAR:
            return self.take(_SCALAR[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item, count = self.take("<I"), self.take("<Q")
            if item in _SCALAR:
                self.pos += count * struct.calcsize(_SCALAR[item])
            elif item == _STRING:
                for _ in range(count):
                    self.pos += 8 + struct.unpack_from("<Q", self.buf, self.pos)[0]
            else:
                for _ in range(count):
                    self.value(item)
            if self.pos > len(self.buf):
                raise struct.error("array runs past the end of the file")
            return None
        raise ValueError(f"unknown GGUF value type {kind}")


def check_gguf(path: Path) -> dict[str, object]:
    """Validate a GGUF file's header and tensor extents; return {architecture, context_length, ...}.

    Catches what llama.cpp reports only as "failed to load": a wrong magic, a header cut short, tensor
    data past the end of the file (a truncated download), an architecture the gguf package does not list.
    """
    import mmap

    import gguf

    size = path.stat().st_size
    with path.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise InputError(f"{path} is not a GGUF file (bad magic bytes): corrupt or not a model file")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            header = _Header(buf)
            header.pos = 4
            try:
                version = header.take("<I")
                if version not in (2, 3):
                    raise InputError(f"{path}: unsupported GGUF version {version} (llama.cpp reads 2 and 3)")
                n_tensors, n_kv = header.take("<Q"), header.take("<Q")
                fields: dict[str, Any] = {}
                for _ in range(n_kv):
                    key = header.string()
                    fields[key] = header.value(header.take("<I"))
                tensors = []
                for _ in range(n_tensors):
                    name = header.string()
                    dims = [header.take("<Q") for _ in range(header.take("<I"))]
                    tensors.append((name, dims, header.take("<I"), header.take("<Q")))
            except (struct.error, ValueError, OverflowError) as error:
                raise InputError(
                    f"{path} is a truncated or corrupt GGUF (header unreadable: {error}): re-convert or re-download it"
                ) from None
            header_end = header.pos
    alignment = int(fields.get("general.alignment") or 32)
    data_start = (header_end + alignment - 1) // alignment * alignment
    for name, dims, kind, offset in tensors:
        try:
            block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(kind)]
        except (ValueError, KeyError):
            raise InputError(f"{path}: tensor {name} has unknown type {kind}: corrupt, or made for a newer llama.cpp") from None
        n_bytes = int(np.prod(dims, dtype=np.int64)) // block * type_size
        end = data_start + offset + n_bytes
        if end > size:
            raise InputError(
                f"{path} is a truncated GGUF: tensor {name} ends at byte {end}, the file has {size}: "
                "re-convert or re-download it"
            )
    arch = fields.get("general.architecture")
    if not isinstance(arch, str):
        raise InputError(f"{path} has no general.architecture: not a model GGUF")
    known = set(gguf.MODEL_ARCH_NAMES.values())
    if arch not in known:
        raise InputError(
            f"unknown architecture {arch!r} in {path}: llama.cpp cannot run it (convert a supported model)"
        )
    ctx = fields.get(f"{arch}.context_length")
    return {"architecture": arch, "context_length": int(ctx) if isinstance(ctx, int) else None,
            "tensors": len(tensors), "name": fields.get("general.name")}


class LlamaCppBackend(Backend):
    name = "llama-cpp"

    def __init__(self, model_path: str | os.PathLike[str], *, n_threads: int | None = None,
                 n_ctx: int | None = None, seed: int = 0, batch_size: int | None = None) -> None:
        super().__init__(Path(model_path))
        info = check_gguf(self.model_path)
        self.architecture = str(info["architecture"])
        try:
            import llama_cpp
        except ImportError:
            raise InputError("the GGUF backend needs llama-cpp-python: pip install llama-cpp-python==0.3.36") from None
        self._llama_cpp = llama_cpp
        train_ctx = info["context_length"] or DEFAULT_CTX
        self.n_ctx = int(n_ctx or min(int(train_ctx), DEFAULT_CTX))
        self.n_threads = int(n_threads or default_threads())
        self.seed = seed
        if batch_size is not None and batch_size < 1:
            raise InputError(f"batch_size={batch_size}: expected at least 1 (1 decodes one prompt at a time)")
        self.batch_size = batch_size
        self.decode = "batched" if batch_size != 1 else "sequential"
        self.last_batch_size: int | None = None
        self.dtype = "gguf"
        self._scorer = None
        self.tokens_generated = 0
        self.llm = self._load(logits_all=False)
        self.bos_id = self._special(self.llm.token_bos())
        self.eos_id = self._special(self.llm.token_eos())
        vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self._is_eog = lambda tok: bool(llama_cpp.llama_vocab_is_eog(vocab, tok))
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(vocab))
        if llama_cpp.llama_model_has_encoder(self.llm.model):  # encoder-decoder: the batched loop is decoder-only
            self.decode = "sequential"

    @staticmethod
    def _special(token: int) -> int | None:
        return int(token) if token is not None and int(token) >= 0 else None

    def _load(self, *, logits_all: bool):
        try:
            return self._llama_cpp.Llama(
                model_path=str(self.model_path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                n_threads_batch=self.n_threads, n_batch=min(512, self.n_ctx), n_gpu_layers=0,
                seed=self.seed, logits_all=logits_all, verbose=False,
            )
        except Exception as error:  # llama.cpp says little more than "failed to load"
            raise InputError(
                f"llama.cpp could not load {self.model_path} ({self.architecture}): {error}; "
                "the file may be corrupt or made for a newer llama.cpp"
            ) from None

    def _encode(self, text: str, llm=None) -> list[int]:
        llm = llm or self.llm
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False) if text else []
        return ([self.bos_id] if self.bos_id is not None else []) + list(ids)

    def _encode_chat(self, text: str) -> list[int]:
        """A rendered chat prompt: special tokens in the text parsed, no BOS of ours (the template's)."""
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    # -- chat template --------------------------------------------------------------------------------
    @property
    def chat_template(self) -> str | None:
        """The GGUF metadata key `tokenizer.chat_template` (None when absent)."""
        template = (getattr(self.llm, "metadata", None) or {}).get("tokenizer.chat_template")
        return template if isinstance(template, str) and template else None

    def chat_specials(self) -> tuple[str, str]:
        return self._token_text(self.bos_id), self._token_text(self.eos_id)

    def _token_text(self, token: int | None) -> str:
        """A special token's text as the template sees it ("" for none)."""
        if token is None:
            return ""
        try:
            return self.llm.detokenize([token], special=True).decode("utf-8", errors="replace")
        except Exception:  # noqa: BLE001 - a piece over llama-cpp-python's 32-byte buffer: read the vocabulary
            vocab = self._llama_cpp.llama_model_get_vocab(self.llm.model)
            return (self._llama_cpp.llama_vocab_get_text(vocab, token) or b"").decode("utf-8", errors="replace")

    def generate(self, prompts: Sequence[str], max_new_tokens: int,
                 progress: ProgressFn | None = None, *, chat: bool = False) -> list[str]:
        if max_new_tokens < 1:
            raise InputError(f"max_new_tokens={max_new_tokens}: expected at least 1")
        encoded = self.prompt_ids(prompts, max_new_tokens, chat, self.n_ctx)
        every = max(1, len(prompts) // 20)
        done = 0

        def tick(_i: int) -> None:
            nonlocal done
            done += 1
            if progress and (done % every == 0 or done == len(prompts)):
                progress(f"generate: {done}/{len(prompts)}")

        new = None
        if self.decode == "batched" and len(encoded) > 1:
            new = self._generate_batched(encoded, max_new_tokens, tick)
        if new is None:
            self.last_batch_size = 1
            new = []
            for tokens in encoded:
                new.append(self._generate_one(tokens, max_new_tokens))
                tick(len(new) - 1)
        self.tokens_generated += sum(len(t) for t in new)
        return [self.llm.detokenize(t).decode("utf-8", errors="replace") for t in new]

    def _generate_one(self, tokens: list[int], max_new_tokens: int) -> list[int]:
        new: list[int] = []
        for token in self.llm.generate(tokens, top_k=1, top_p=1.0, min_p=0.0, temp=0.0,
                                       repeat_penalty=1.0, reset=True):
            if self._is_eog(token):
                break
            new.append(token)
            if len(new) >= max_new_tokens:
                break
        return new

    def _generate_batched(self, encoded: list[list[int]], max_new_tokens: int, tick) -> list[list[int]] | None:
        """All prompts through one multi-sequence context; None when llama.cpp cannot make it (then one at a time)."""
        n_ctx_seq = padded_ctx(max(len(ids) for ids in encoded) + max_new_tokens)
        shape = model_shape(self._llama_cpp, self.llm.model, self.n_vocab)
        n_seq = self.batch_size or choose_n_seq(len(encoded), shape.bytes_per_seq(n_ctx_seq), _available_ram() // 4)
        n_seq = min(n_seq, len(encoded), self._llama_cpp.llama_max_parallel_sequences())
        try:
            decoder = BatchedGreedy(self._llama_cpp, self.llm.model, n_seq=n_seq, n_ctx_seq=n_ctx_seq,
                                    n_threads=self.n_threads, n_vocab=self.n_vocab, is_eog=self._is_eog)
        except DnaKbError:
            self.decode = "sequential"
            return None
        try:
            self.last_batch_size = n_seq
            return decoder.run(encoded, max_new_tokens, on_done=tick)
        finally:
            decoder.close()

    def score(self, texts: Sequence[str]) -> list[tuple[float, int]]:
        if self._scorer is None:  # logits for every position: a second context, made on first use
            self._scorer = self._load(logits_all=True)
        llm = self._scorer
        out = []
        for text in texts:
            ids = self._encode(text, llm)[: self.n_ctx]
            nbytes = len(text.encode("utf-8"))
            if len(ids) < 2:
                out.append((0.0, nbytes))
                continue
            llm.reset()
            llm.eval(ids)
            logits = np.asarray(llm.scores[: len(ids) - 1], dtype=np.float64)
            top = logits.max(axis=1, keepdims=True)
            lse = (top + np.log(np.exp(logits - top).sum(axis=1, keepdims=True)))[:, 0]
            # log p(x_k | x_<k) = logit[x_k] - logsumexp(logits)
            logp = logits[np.arange(len(ids) - 1), ids[1:]] - lse
            out.append((float(logp.sum()), nbytes))
        return out

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "decode": self.decode, "batch_size": self.last_batch_size,
                "n_threads": self.n_threads}

    def close(self) -> None:
        for attr in ("llm", "_scorer"):
            model = getattr(self, attr, None)
            if model is not None:
                try:
                    model.close()
                except Exception:
                    pass
                setattr(self, attr, None)
