"""transformers backend: a local model folder (config.json + weights), batched greedy generation.

Device: CUDA when present (bf16 where supported, else fp16), otherwise CPU in fp32 (fp16 matmuls on CPU
are slow and lose greedy agreement). Prompts are sorted by token length and generated in batches with
left padding — 10-30× faster than one prompt at a time on CPU — and a position-aware attention mask
keeps batched greedy output equal to one-at-a-time output. On CUDA out-of-memory the batch halves and
the same batch is retried, when generating and when scoring.

Decoding on CUDA (`decode="auto"`) uses a static KV cache and a compiled decode step: transformers'
`StaticCache` with its `torch.compile` hook in `reduce-overhead` mode, which captures each decode step in a
CUDA graph, so a step costs one graph launch instead of a few hundred kernel launches (decoding small models
is bound by that launch overhead, not by the GPU's arithmetic). Transformers compiles only the one-token
decode step and keeps the prefill eager, so prompt widths never recompile; we fix the cache length per call
and pad the last batch to the batch size, so one call compiles once. It applies where the model class
declares `_can_compile_fullgraph`; elsewhere, on the CPU, with `decode="eager"`, or when compiling fails,
generation takes the eager path with a dynamic cache. `decode="compiled"` forces it on any device (the CPU
test of equality with the eager path).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from kb.errors import DnaKbError, InputError
from ingest.backends.base import Backend, ProgressFn, default_threads

MAX_BATCH = 64
MAX_GPU_BATCH = 1024
"""Above the default protocol's 600 probes, so a GPU with room generates them in one pass: on an
H200 a cap of 512 ran them as 512 + 88, two full-length passes, 1.9x slower (bench/RESULTS.md)."""
CPU_SCORE_BATCH = 8
MAX_GPU_SCORE_BATCH = 64
DECODE_MODES = ("auto", "eager", "compiled")
CACHE_PAD = 64
"""Static caches are sized to a multiple of 64 positions, so calls with similar prompt lengths share a graph."""
TINY_PARAMS = 5_000_000
"""Below this many parameters a model generates on one thread: intra-op threads cost more than they
save at hidden sizes of ~64, and on a busy machine oversubscribed OpenMP threads are 10-20× slower."""


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def read_config(path: Path) -> dict:
    config_file = path / "config.json"
    try:
        config = json.loads(config_file.read_text())
    except OSError:
        raise InputError(f"no config.json in {path}: not a transformers model folder") from None
    except ValueError as error:
        raise InputError(f"{config_file} is not valid JSON ({error}): repair or re-download the model") from None
    if not isinstance(config, dict):
        raise InputError(f"{config_file} is not a JSON object")
    return config


def check_architecture(path: Path, config: dict) -> str:
    """The model_type, if transformers knows it; InputError naming it otherwise."""
    _offline()
    from transformers import CONFIG_MAPPING, __version__

    model_type = config.get("model_type")
    if not model_type:
        raise InputError(f"{path}/config.json has no model_type: cannot tell the architecture")
    if model_type not in CONFIG_MAPPING:
        raise InputError(
            f"unknown architecture {model_type!r} in {path}/config.json: transformers {__version__} "
            "cannot load it (convert the model to GGUF or upgrade transformers)"
        )
    return model_type


def _available_ram() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block on `n` intra-op threads (None: leave torch's setting), restoring it afterwards."""
    if not n:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class HFBackend(Backend):
    name = "transformers"

    def __init__(self, model_path: str | os.PathLike[str], *, device: str | None = None,
                 batch_size: int | None = None, n_threads: int | None = None, decode: str = "auto") -> None:
        super().__init__(Path(model_path))
        if decode not in DECODE_MODES:
            raise InputError(f"unknown decode mode {decode!r}: use one of {', '.join(DECODE_MODES)}")
        self.decode = decode
        self.decode_used: str | None = None  # what the last generate() ran: "eager" or "compiled"
        _offline()
        from transformers import AutoModelForCausalLM
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        config = read_config(self.model_path)
        self.architecture = check_architecture(self.model_path, config)
        self._load(AutoModelForCausalLM, device, batch_size, "")
        cfg = self.model.config
        self.bos_id: int | None = self.tokenizer.bos_token_id
        if self.bos_id is None:
            self.bos_id = getattr(cfg, "bos_token_id", None)
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (self.eos_ids[0] if self.eos_ids else 0)
        self.max_positions = int(getattr(cfg, "max_position_embeddings", 0) or 0) or None
        self.n_params = sum(p.numel() for p in self.model.parameters())
        self.tokens_generated = 0
        self.n_threads = int(n_threads) if n_threads else (1 if self.n_params < TINY_PARAMS else default_threads())

    # -- tokenisation (explicit BOS) ----------------------------------------------------------------
    def _encode(self, text: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ([self.bos_id] if self.bos_id is not None else []) + list(ids)

    def _encode_chat(self, text: str) -> list[int]:
        """A rendered chat prompt: special tokens in the text parsed, no BOS of ours (the template's)."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # -- chat template --------------------------------------------------------------------------------
    @property
    def chat_template(self) -> str | None:
        """tokenizer.chat_template ("default" of several; None when absent)."""
        template = getattr(self.tokenizer, "chat_template", None)
        if isinstance(template, dict):
            template = template.get("default")
        return template if isinstance(template, str) and template else None

    def chat_specials(self) -> tuple[str, str]:
        return str(self.tokenizer.bos_token or ""), str(self.tokenizer.eos_token or "")

    def _auto_batch(self, max_len: int) -> int:
        """Sequences that fit in a quarter of free memory: KV cache + activations + logits per sequence."""
        cfg = self.model.config
        layers = int(getattr(cfg, "num_hidden_layers", 12) or 12)
        hidden = int(getattr(cfg, "hidden_size", 768) or 768)
        heads = int(getattr(cfg, "num_attention_heads", 12) or 12)
        kv_heads = int(getattr(cfg, "num_key_value_heads", heads) or heads)
        inter = int(getattr(cfg, "intermediate_size", 4 * hidden) or 4 * hidden)
        vocab = int(getattr(cfg, "vocab_size", 32000) or 32000)
        width = 2 if self._dtype != self._torch.float32 else 4
        kv = 2 * layers * hidden * kv_heads // heads * max_len * width
        act = max_len * (4 * hidden + 2 * inter) * width + heads * max_len * max_len * width
        per_seq = 2 * (kv + act + 2 * vocab * 4)
        if self.device.startswith("cuda"):
            free, _ = self._torch.cuda.mem_get_info()
            budget = free // 2
            cap = MAX_GPU_BATCH
        else:
            budget = _available_ram() // 4
            cap = MAX_BATCH
        return max(1, min(cap, int(budget // max(per_seq, 1))))

    # -- generation -----------------------------------------------------------------------------------
    def _compiles(self) -> bool:
        """Whether generation takes the static-cache, compiled-step path (see the module docstring)."""
        if self.decode == "eager" or not getattr(self.model, "_can_compile_fullgraph", False):
            return False
        return self.decode == "compiled" or self.device.startswith("cuda")

    def generate(self, prompts: Sequence[str], max_new_tokens: int,
                 progress: ProgressFn | None = None, *, chat: bool = False) -> list[str]:
        torch = self._torch
        from transformers import GenerationConfig

        if max_new_tokens < 1:
            raise InputError(f"max_new_tokens={max_new_tokens}: expected at least 1")
        encoded = self.prompt_ids(prompts, max_new_tokens, chat, self.max_positions)
        order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))  # longest first: OOM shows early
        gen_config = GenerationConfig(
            max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, repetition_penalty=1.0,
            eos_token_id=self.eos_ids or None, pad_token_id=self.pad_id, bos_token_id=self.bos_id,
            temperature=None, top_p=None, top_k=None,
        )
        compiled = bool(order) and self._compiles()
        if compiled:
            self._set_compiled(gen_config, len(encoded[order[0]]) + max_new_tokens)
        out: list[str | None] = [None] * len(prompts)
        with torch_threads(self.n_threads):
            self._generate_sorted(encoded, order, gen_config, out, progress, compiled)
        return [t if t is not None else "" for t in out]

    def _set_compiled(self, gen_config, longest: int) -> None:
        from transformers import CompileConfig

        cuda = self.device.startswith("cuda")
        gen_config.cache_implementation = "static"
        gen_config.max_cache_len = -(-longest // CACHE_PAD) * CACHE_PAD
        # reduce-overhead = inductor + CUDA graphs; on the CPU (tests) plain inductor
        config = CompileConfig(fullgraph=True, dynamic=False, mode="reduce-overhead" if cuda else "default")
        if not cuda:
            config._compile_all_devices = True  # transformers compiles on CUDA only unless told
        gen_config.compile_config = config

    @staticmethod
    def _set_eager(gen_config) -> None:
        gen_config.cache_implementation = None
        gen_config.max_cache_len = None
        gen_config.compile_config = None

    def _generate_sorted(self, encoded, order, gen_config, out, progress, compiled: bool = False) -> None:
        batch = self.batch_size or (self._auto_batch(len(encoded[order[0]]) + gen_config.max_new_tokens) if order else 1)
        state = {"compiled": compiled}

        def run(chunk: list[int], size: int) -> list[str]:
            ids = [encoded[i] for i in chunk]
            if not state["compiled"]:
                return self._generate_batch(ids, gen_config)
            pad = [ids[-1]] * (size - len(ids))  # one batch shape per call: one compiled graph
            try:
                return self._generate_batch(ids + pad, gen_config, keep=len(ids))
            except self._torch.OutOfMemoryError:
                raise
            except Exception as error:  # compiling failed (no compiler, an op dynamo cannot trace, ...)
                state["compiled"] = False
                self._set_eager(gen_config)
                if progress:
                    progress(f"compiled decoding failed ({type(error).__name__}: {str(error)[:200]}); decoding eagerly")
                return self._generate_batch(ids, gen_config)

        self.last_batch_size = self._in_batches(
            order, batch, run, out,
            f"out of GPU memory generating one prompt with {self.model_path}: "
            "lower --max-new-tokens or use a larger GPU", progress, "generate", pass_size=True)
        self.decode_used = "compiled" if state["compiled"] else "eager"

    def _in_batches(self, order: list[int], batch: int, run, out: list, one_item_error: str,
                    progress: ProgressFn | None = None, label: str = "", pass_size: bool = False) -> int:
        """out[i] = run(chunk)[k] for the items of `order`, `batch` at a time; CUDA out-of-memory halves the
        batch and retries the same items. Returns the largest batch that ran. With `pass_size`, `run` also
        gets the current batch size (the compiled path pads a short last chunk to it)."""
        start = 0
        while start < len(order):
            chunk = order[start:start + batch]
            try:
                results = run(chunk, batch) if pass_size else run(chunk)
            except self._torch.OutOfMemoryError:
                if batch == 1:
                    raise DnaKbError(one_item_error) from None
                self._torch.cuda.empty_cache()
                batch = max(1, batch // 2)
                if progress:
                    progress(f"out of GPU memory: batch size now {batch}")
                continue
            for i, result in zip(chunk, results):
                out[i] = result
            start += len(chunk)
            if progress:
                progress(f"{label}: {start}/{len(order)}")
        return min(batch, len(order))

    def _generate_batch(self, batch_ids: list[list[int]], gen_config, keep: int | None = None) -> list[str]:
        """Greedy responses of a left-padded batch; only the first `keep` rows are decoded and counted."""
        torch = self._torch
        width = max(len(ids) for ids in batch_ids)
        input_ids = torch.full((len(batch_ids), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch_ids), width), dtype=torch.long)
        for row, ids in enumerate(batch_ids):  # left padding
            if ids:
                input_ids[row, width - len(ids):] = torch.tensor(ids)
                mask[row, width - len(ids):] = 1
        with torch.inference_mode():
            generated = self.model.generate(
                input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device),
                generation_config=gen_config,
            )
        new = generated[: len(batch_ids) if keep is None else keep, width:].tolist()
        eos = set(self.eos_ids)
        texts = []
        for tokens in new:
            cut = next((k for k, t in enumerate(tokens) if t in eos), len(tokens))
            self.tokens_generated += cut
            texts.append(self.tokenizer.decode(tokens[:cut], skip_special_tokens=True))
        return texts

    # -- scoring --------------------------------------------------------------------------------------
    def score(self, texts: Sequence[str], batch_size: int | None = None) -> list[tuple[float, int]]:
        encoded = [self._encode(t) for t in texts]
        if self.max_positions:
            encoded = [ids[: self.max_positions] for ids in encoded]
        order = [i for i in sorted(range(len(texts)), key=lambda i: -len(encoded[i])) if len(encoded[i]) >= 2]
        logps = [0.0] * len(texts)  # a text of under two tokens has nothing to predict
        if order:
            self._in_batches(order, batch_size or self._score_batch_size(len(encoded[order[0]])),
                             lambda chunk: self._score_batch([encoded[i] for i in chunk]), logps,
                             f"out of GPU memory scoring one text with {self.model_path}")
        return [(logp, len(text.encode("utf-8"))) for logp, text in zip(logps, texts)]

    def _score_batch_size(self, width: int) -> int:
        """8 on the CPU; on CUDA up to 64 as memory allows (on an H200 64 scored 4x faster than 8)."""
        if not self.device.startswith("cuda"):
            return CPU_SCORE_BATCH
        vocab = int(getattr(self.model.config, "vocab_size", 32000) or 32000)
        per_text = width * vocab * 12  # logits in the model's dtype, their fp32 copy, logsumexp's work
        free, _ = self._torch.cuda.mem_get_info()
        return max(1, min(MAX_GPU_SCORE_BATCH, free // 2 // per_text))

    def _score_batch(self, batch_ids: list[list[int]]) -> list[float]:
        torch = self._torch
        width = max(len(ids) for ids in batch_ids)
        ids = torch.full((len(batch_ids), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch_ids), width), dtype=torch.long)
        for row, text_ids in enumerate(batch_ids):  # right padding: positions start at 0 for every row
            ids[row, : len(text_ids)] = torch.tensor(text_ids)
            mask[row, : len(text_ids)] = 1
        with torch.inference_mode(), torch_threads(self.n_threads):
            logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
            logits = logits[:, :-1].float()
            target = ids[:, 1:].to(self.device)
            # log p(x_k | x_<k) = logit[x_k] - logsumexp(logits)
            logp = logits.gather(-1, target.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)
            return [float(v) for v in (logp * mask[:, 1:].to(self.device)).sum(dim=1).cpu().tolist()]

    def _load(self, auto_class: type, device: str | None, batch_size: int | None, kind: str) -> None:
        """Tokenizer and weights on the device (bf16/fp16 on CUDA, fp32 on CPU), and the end-of-generation ids
        of config, generation config and tokenizer together; `kind` names the model in errors."""
        import torch
        from transformers import AutoTokenizer

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.startswith("cuda"):
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            dtype = torch.float32
        self._torch, self._dtype = torch, dtype
        self.dtype = str(dtype).removeprefix("torch.")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.model_path), local_files_only=True)
        except Exception as error:
            raise InputError(f"cannot load the tokenizer of {self.model_path}: {type(error).__name__}: {error}") from None
        try:
            model = auto_class.from_pretrained(str(self.model_path), dtype=dtype, local_files_only=True)
        except Exception as error:
            raise InputError(
                f"cannot load the weights of {self.model_path} ({self.architecture}{kind}): {type(error).__name__}: "
                f"{str(error).splitlines()[0] if str(error) else ''}"
            ) from None
        self.model = model.to(self.device).eval()
        self.batch_size = batch_size
        eos: set[int] = set()
        for source in (getattr(self.model.config, "eos_token_id", None),
                       getattr(self.model.generation_config, "eos_token_id", None), self.tokenizer.eos_token_id):
            if isinstance(source, int):
                eos.add(source)
            elif isinstance(source, (list, tuple)):
                eos.update(int(x) for x in source)
        self.eos_ids = sorted(eos)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "decode": self.decode_used or self.decode}

    def close(self) -> None:
        model = getattr(self, "model", None)
        if model is not None:
            self.model = None
            del model
            import gc

            gc.collect()
            if self._torch.cuda.is_available():
                self._torch.cuda.empty_cache()
