"""Encoder-decoder models (T5, BART, Flan-T5: `AutoModelForSeq2SeqLM`) under the shared backend contract.

An encoder-decoder model reads a source and writes a target, so the contract's two operations take
the form that model family is used in:

- generate: the probe is the *source*, tokenised the model's own way (its tokenizer's special tokens:
  T5 appends `</s>`, BART wraps `<s> … </s>`); the decoder starts from the model's
  `decoder_start_token_id` and decodes greedily; the response is the decoded target up to the first
  end token, at most `max_new_tokens` tokens. The text DNA is then made exactly as for any model,
  which is what lets the paper's tree span encoder-decoder and decoder-only models.
- score: the decoder's log-likelihood of the reference text as the *target* of an **empty source**
  (only the tokenizer's special tokens). Why empty and not a fixed sentence: an empty source carries no
  text of ours, so each score is the decoder's own distribution over the text, the analogue of a
  decoder-only model's log-likelihood given BOS; a fixed sentence would condition every text on its
  topic, and a fine-tune moved towards or away from that topic would shift every score at once. The
  decoder start token plays BOS's part: every token of the text is scored.

Batched like the causal path (ingest/backends/hf.py): prompts sorted by length, CUDA out-of-memory
halves the batch. Padding is on the right for both encoder and decoder inputs (positions are relative
or start at 0 per row, and attention masks hide the padding), so batched output equals one at a time.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from kb.errors import InputError
from ingest.backends.base import Backend, ProgressFn, default_threads
from ingest.backends.hf import (
    CPU_SCORE_BATCH, MAX_BATCH, MAX_GPU_BATCH, TINY_PARAMS, HFBackend, _available_ram, _offline,
    check_architecture, read_config, torch_threads,
)


def is_encoder_decoder(path: str | os.PathLike[str]) -> bool:
    """Whether the HF folder's config.json declares an encoder-decoder model."""
    try:
        return bool(read_config(Path(path)).get("is_encoder_decoder"))
    except InputError:
        return False


class Seq2SeqBackend(HFBackend):
    """A local encoder-decoder model folder; reuses the causal backend's batching and freeing."""

    name = "transformers"

    def __init__(self, model_path: str | os.PathLike[str], *, device: str | None = None,
                 batch_size: int | None = None, n_threads: int | None = None) -> None:
        Backend.__init__(self, Path(model_path))
        _offline()
        from transformers import AutoModelForSeq2SeqLM
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        config = read_config(self.model_path)
        self.architecture = check_architecture(self.model_path, config)
        self._load(AutoModelForSeq2SeqLM, device, batch_size, ", encoder-decoder")
        cfg = self.model.config
        start = getattr(cfg, "decoder_start_token_id", None)
        if start is None:
            start = getattr(self.model.generation_config, "decoder_start_token_id", None)
        if start is None:
            raise InputError(f"{self.model_path}/config.json has no decoder_start_token_id: cannot start the decoder")
        self.start_id = int(start)
        self.bos_id = None  # the decoder start token plays BOS's part
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else getattr(cfg, "pad_token_id", None)
        self.pad_id = int(pad) if pad is not None else (self.eos_ids[0] if self.eos_ids else 0)
        self.max_positions = int(getattr(cfg, "max_position_embeddings", 0) or 0) or None  # T5: relative, none
        self.n_params = sum(p.numel() for p in self.model.parameters())
        self.tokens_generated = 0
        self.n_threads = int(n_threads) if n_threads else (1 if self.n_params < TINY_PARAMS else default_threads())
        self.decode = self.decode_used = "eager"  # the encoder-decoder loop has no compiled decode step

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "encoder_decoder": True, "score_source": "empty"}

    @property
    def chat_template(self) -> str | None:
        """None: an encoder-decoder model reads the probe as its source; chat=True gives the raw probe."""
        return None

    # -- inputs ---------------------------------------------------------------------------------------
    def _source(self, text: str) -> list[int]:
        """The encoder's input: the text with the tokenizer's own special tokens, cut to the positions."""
        ids = list(self.tokenizer(text, add_special_tokens=True)["input_ids"])
        return ids[: self.max_positions] if self.max_positions else ids

    def _target(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    @staticmethod
    def _padded(torch, rows: list[list[int]], pad: int):  # noqa: ANN001, ANN205
        width = max(1, max(len(r) for r in rows))
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):  # right padding
            if row:
                ids[i, : len(row)] = torch.tensor(row)
                mask[i, : len(row)] = 1
        return ids, mask

    def _auto_batch(self, max_len: int) -> int:
        cfg = self.model.config
        hidden = int(getattr(cfg, "d_model", 0) or getattr(cfg, "hidden_size", 512) or 512)
        layers = int(getattr(cfg, "num_layers", 0) or getattr(cfg, "encoder_layers", 6) or 6) * 2
        vocab = int(getattr(cfg, "vocab_size", 32000) or 32000)
        width = 2 if self._dtype != self._torch.float32 else 4
        per_seq = 2 * (4 * layers * hidden * max_len * width + 2 * vocab * 4)
        if self.device.startswith("cuda"):
            free, _ = self._torch.cuda.mem_get_info()
            return max(1, min(MAX_GPU_BATCH, int(free // 2 // max(per_seq, 1))))
        return max(1, min(MAX_BATCH, int(_available_ram() // 4 // max(per_seq, 1))))

    # -- generation -----------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[str], max_new_tokens: int, progress: ProgressFn | None = None, *,
                 chat: bool = False) -> list[str]:
        from transformers import GenerationConfig

        if max_new_tokens < 1:
            raise InputError(f"max_new_tokens={max_new_tokens}: expected at least 1")
        self.chat_prompts(prompts, chat)  # no template: records "raw" when chat was asked
        encoded = [self._source(p) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
        gen_config = GenerationConfig(
            max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, repetition_penalty=1.0,
            eos_token_id=self.eos_ids or None, pad_token_id=self.pad_id, decoder_start_token_id=self.start_id,
            temperature=None, top_p=None, top_k=None,
        )
        out: list[str | None] = [None] * len(prompts)
        batch = self.batch_size or (self._auto_batch(len(encoded[order[0]]) + max_new_tokens) if order else 1)
        with torch_threads(self.n_threads):
            self.last_batch_size = self._in_batches(
                order, batch, lambda chunk: self._generate_batch([encoded[i] for i in chunk], gen_config), out,
                f"out of GPU memory generating one prompt with {self.model_path}: lower --max-new-tokens",
                progress, "generate")
        return [t if t is not None else "" for t in out]

    def _generate_batch(self, batch_ids: list[list[int]], gen_config) -> list[str]:  # noqa: ANN001
        torch = self._torch
        ids, mask = self._padded(torch, batch_ids, self.pad_id)
        with torch.inference_mode():
            generated = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                            generation_config=gen_config)
        eos = set(self.eos_ids)
        texts = []
        for tokens in generated[:, 1:].tolist():  # the decoder start token is not part of the response
            cut = next((k for k, t in enumerate(tokens) if t in eos), len(tokens))
            self.tokens_generated += cut
            texts.append(self.tokenizer.decode(tokens[:cut], skip_special_tokens=True))
        return texts

    # -- scoring --------------------------------------------------------------------------------------
    def score(self, texts: Sequence[str], batch_size: int | None = None) -> list[tuple[float, int]]:
        targets = [self._target(t) for t in texts]
        if self.max_positions:
            targets = [ids[: self.max_positions - 1] for ids in targets]
        order = [i for i in sorted(range(len(texts)), key=lambda i: -len(targets[i])) if targets[i]]
        logps = [0.0] * len(texts)
        if order:
            batch = batch_size or (32 if self.device.startswith("cuda") else CPU_SCORE_BATCH)
            self._in_batches(order, batch, lambda chunk: self._score_batch([targets[i] for i in chunk]), logps,
                             f"out of GPU memory scoring one text with {self.model_path}")
        return [(logp, len(text.encode("utf-8"))) for logp, text in zip(logps, texts)]

    def _score_batch(self, batch_targets: list[list[int]]) -> list[float]:
        torch = self._torch
        source = self._source("")
        src = torch.tensor([source] * len(batch_targets), dtype=torch.long)
        src_mask = torch.ones_like(src)
        # decoder input = [start] + target[:-1]; log p(target_k | start, target_<k)
        dec_rows = [[self.start_id] + t[:-1] for t in batch_targets]
        dec, dec_mask = self._padded(torch, dec_rows, self.pad_id)
        tgt, _ = self._padded(torch, batch_targets, self.pad_id)
        with torch.inference_mode(), torch_threads(self.n_threads):
            logits = self.model(input_ids=src.to(self.device), attention_mask=src_mask.to(self.device),
                                decoder_input_ids=dec.to(self.device),
                                decoder_attention_mask=dec_mask.to(self.device)).logits.float()
            target = tgt.to(self.device)
            logp = logits.gather(-1, target.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)
            return [float(v) for v in (logp * dec_mask.to(self.device)).sum(dim=1).cpu().tolist()]


__all__ = ["Seq2SeqBackend", "is_encoder_decoder"]
