"""Batched greedy decoding on llama.cpp: many prompts advance together, one `llama_decode` per step.

Why: decoding one sequence at a time reads every weight once per generated token (matrix-vector
work, bound by memory bandwidth); decoding S sequences in one call reads them once per S tokens
(matrix-matrix work, bound by arithmetic), so throughput grows with S until the cores are busy.

How: one context holding up to S sequences (`n_seq_max`), each with its own KV stream
(`kv_unified` off: a sequence attends only to its own cells, so attention does not grow with S).
Continuous batching: prompts admitted into free slots are prefilled (grouped by length, see `_prefill`),
then every step decodes the last token of each running sequence in one call; a sequence's next token is
the argmax of its logits row (greedy, as `top_k = 1` in the one-at-a-time path); a sequence ends at an
end-of-generation token or at the token budget, its cells are cleared and its slot goes to the next
prompt. Each prompt is decoded alone in its own stream and prefilled whole, so each sequence runs the
kernels one-at-a-time decoding runs (matrix-matrix for its prompt, one row per stream for attention
while decoding); the responses are equal up to float noise (measured in bench/RESULTS.md and tests).

S comes from the memory the context needs: per sequence, its KV cells (K and V of every layer, f16)
plus one logits row; S = min(cap, prompts, budget // per sequence), the budget a quarter of free RAM.
"""

from __future__ import annotations

import ctypes
import heapq
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kb.errors import DnaKbError

MAX_SEQ = 64
"""Sequences decoded together at most. On 2 cores SmolLM2-135M Q4_1 gains little past 32-64 (see
bench/RESULTS.md); more sequences only cost memory and lengthen the wait for the slowest one."""
CTX_PAD = 256
"""llama.cpp rounds each sequence's context up to a multiple of 256 cells when `kv_unified` is off."""
MIN_BATCH_TOKENS = 512


@dataclass(frozen=True)
class ModelShape:
    """What a context's memory depends on, read from the loaded model."""

    n_layer: int
    n_head_kv: int
    key_length: int
    value_length: int
    n_vocab: int

    def bytes_per_seq(self, n_ctx_seq: int) -> int:
        """KV cache of one sequence plus its logits row, in bytes.

        KV = n_ctx_seq · n_layer · n_head_kv · (d_k + d_v) · 2 (f16 cells); logits = n_vocab · 4.
        """
        kv = n_ctx_seq * self.n_layer * self.n_head_kv * (self.key_length + self.value_length) * 2
        return kv + self.n_vocab * 4


def padded_ctx(needed: int) -> int:
    """Cells per sequence as llama.cpp allocates them: `needed` rounded up to a multiple of 256."""
    return max(CTX_PAD, -(-needed // CTX_PAD) * CTX_PAD)


def choose_n_seq(n_prompts: int, per_seq_bytes: int, budget_bytes: int, cap: int = MAX_SEQ) -> int:
    """How many sequences to decode together: as many as the budget holds, at most `cap` and the prompt count."""
    fits = budget_bytes // max(1, per_seq_bytes)
    return int(max(1, min(cap, n_prompts, fits)))


def model_shape(llama_cpp: Any, model: Any, n_vocab: int) -> ModelShape:
    """Layer count, KV heads and head sizes of a loaded llama.cpp model (head sizes from GGUF metadata
    where present, else n_embd / n_head)."""
    n_layer = int(llama_cpp.llama_model_n_layer(model))
    n_head = max(1, int(llama_cpp.llama_model_n_head(model)))
    n_head_kv = int(llama_cpp.llama_model_n_head_kv(model)) or n_head
    n_embd = int(llama_cpp.llama_model_n_embd(model))
    arch = _meta(llama_cpp, model, "general.architecture") or ""
    key = _meta(llama_cpp, model, f"{arch}.attention.key_length")
    value = _meta(llama_cpp, model, f"{arch}.attention.value_length")
    head = n_embd // n_head
    return ModelShape(n_layer=n_layer, n_head_kv=n_head_kv, key_length=int(key) if key else head,
                      value_length=int(value) if value else head, n_vocab=int(n_vocab))


def _meta(llama_cpp: Any, model: Any, key: str) -> str | None:
    buf = ctypes.create_string_buffer(256)
    n = llama_cpp.llama_model_meta_val_str(model, key.encode(), buf, len(buf))
    return buf.value.decode("utf-8", errors="replace") if n >= 0 else None


class BatchedGreedy:
    """A llama.cpp context for `n_seq` sequences of `n_ctx_seq` cells each; `run()` decodes prompts greedily.

    Owns native memory: call `close()` (the backend does).
    """

    def __init__(self, llama_cpp: Any, model: Any, *, n_seq: int, n_ctx_seq: int, n_threads: int,
                 n_vocab: int, is_eog: Callable[[int], bool]) -> None:
        self._lib = llama_cpp
        self.n_seq = int(n_seq)
        self.n_ctx_seq = padded_ctx(n_ctx_seq)
        self.n_batch = max(MIN_BATCH_TOKENS, self.n_seq, self.n_ctx_seq)
        self.n_vocab = int(n_vocab)
        self._is_eog = is_eog
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = self.n_seq * self.n_ctx_seq
        params.n_seq_max = self.n_seq
        params.n_batch = self.n_batch
        self.n_ubatch = min(self.n_batch, MIN_BATCH_TOKENS)
        params.n_ubatch = self.n_ubatch
        params.n_threads = params.n_threads_batch = int(n_threads)
        # as llama-cpp-python's Llama() sets it, so both paths run the same attention kernels
        params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        params.kv_unified = False
        params.swa_full = True  # what llama.cpp picks anyway for several sequences (and then warns about)
        params.no_perf = True
        self.ctx = llama_cpp.llama_init_from_model(model, params)
        if not self.ctx:
            raise DnaKbError(f"llama.cpp could not make a context for {self.n_seq} sequences of "
                             f"{self.n_ctx_seq} tokens (out of memory?): use batch_size=1")
        self._mem = llama_cpp.llama_get_memory(self.ctx)
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._batch_live = True

    def run(self, prompts: Sequence[list[int]], max_new_tokens: int,
            on_done: Callable[[int], None] | None = None) -> list[list[int]]:
        """Greedy new tokens per prompt (end-of-generation token excluded), in the prompts' order.

        Every prompt must fit its sequence: len(prompt) + max_new_tokens <= n_ctx_seq.
        """
        for ids in prompts:
            if not ids or len(ids) + max_new_tokens > self.n_ctx_seq or len(ids) > self.n_batch:
                raise DnaKbError(f"a prompt of {len(ids)} tokens does not fit a {self.n_ctx_seq}-token sequence")
        self._out: list[list[int]] = [[] for _ in prompts]
        self._budget, self._on_done = max_new_tokens, on_done
        waiting = deque(range(len(prompts)))
        free = list(range(self.n_seq))  # a heap: new prompts take the lowest free sequence ids
        running: dict[int, tuple[int, int, int]] = {}  # seq -> (prompt index, position of the next token, next token)
        while waiting or running:
            admitted: dict[int, list[tuple[int, int]]] = {}  # prompt length -> [(seq, prompt index)]
            while waiting and free:
                i = waiting.popleft()
                admitted.setdefault(len(prompts[i]), []).append((heapq.heappop(free), i))
            for length, group in sorted(admitted.items()):
                self._prefill(prompts, length, group, running, free)
            if running:
                self._step(running, free)
        return self._out

    def _prefill(self, prompts, length: int, group: list[tuple[int, int]], running: dict, free: list[int]) -> None:
        """Prompts of one length in calls of their own, each prompt whole within one ubatch.

        So each prompt's prefill runs the kernels a lone prompt's prefill runs (llama.cpp splits a batch of
        several sequences into ubatches of equal tokens per sequence: mixing lengths, or mixing prompts with
        one-token decode rows, would cut a prompt into pieces and change its float rounding).
        """
        per_call = max(1, min(len(group), self.n_ubatch // length))  # whole prompts per ubatch
        for start in range(0, len(group), per_call):
            part = group[start:start + per_call]
            n, rows = 0, []
            for seq, i in part:
                for k, tok in enumerate(prompts[i]):
                    self._put(n, tok, k, seq, k == length - 1)
                    n += 1
                rows.append((n - 1, seq))
                running[seq] = (i, length - 1, -1)  # its first new token goes at position `length` (+1 below)
            self._decode(n, rows, running, free)

    def _step(self, running: dict, free: list[int]) -> None:
        """The next token of every running sequence, one row each, in one call, in increasing sequence ids:
        with a KV stream per sequence llama.cpp puts only consecutive ids (in batch order) into one ubatch,
        so rows in any other order, or ids with gaps, split the step into many small matrix products."""
        rows = []
        for n, (seq, (_, pos, last)) in enumerate(sorted(running.items())):
            self._put(n, last, pos, seq, True)
            rows.append((n, seq))
        self._decode(len(rows), rows, running, free)

    def _decode(self, n: int, rows: list[tuple[int, int]], running: dict, free: list[int]) -> None:
        lib = self._lib
        self._batch.n_tokens = n
        status = lib.llama_decode(self.ctx, self._batch)
        if status != 0:
            raise DnaKbError(f"llama_decode failed with status {status} on a batch of {n} tokens "
                             f"({len(rows)} sequences): use batch_size=1")
        for index, seq in rows:
            i, pos, _ = running[seq]
            logits = np.ctypeslib.as_array(lib.llama_get_logits_ith(self.ctx, index), shape=(self.n_vocab,))
            token = int(np.argmax(logits))  # greedy: the first of equal maxima, as llama.cpp's greedy sampler
            if self._is_eog(token):
                self._finish(seq, running, free)
                continue
            self._out[i].append(token)
            if len(self._out[i]) >= self._budget:
                self._finish(seq, running, free)
            else:
                running[seq] = (i, pos + 1, token)

    def _put(self, k: int, token: int, pos: int, seq: int, logits: bool) -> None:
        b = self._batch
        b.token[k] = token
        b.pos[k] = pos
        b.n_seq_id[k] = 1
        b.seq_id[k][0] = seq
        b.logits[k] = logits

    def _finish(self, seq: int, running: dict, free: list[int]) -> None:
        i = running.pop(seq)[0]
        self._lib.llama_memory_seq_rm(self._mem, seq, -1, -1)  # the whole sequence: never fails
        heapq.heappush(free, seq)
        if self._on_done:
            self._on_done(i)

    def close(self) -> None:
        if getattr(self, "_batch_live", False):
            self._lib.llama_batch_free(self._batch)
            self._batch_live = False
        if getattr(self, "ctx", None):
            self._lib.llama_free(self.ctx)
            self.ctx = None
