"""Tiny encoder-decoder models (T5-style, BART-style) and their fine-tunes: a small zoo of known genealogy.

The paper's tree spans encoder-decoder models (T5, BART, Flan-T5); this zoo lets the KB hold them:
two families, each a base trained from scratch and two fine-tunes on other topics, saved as HF folders
with a manifest in the zoo's format (ingest/zoo/manifest.py).

Training task: the zoo's generated documents (ingest/zoo/corpora.py) packed into rows of `seq_len`
tokens; the first half of a row is the source, the second half the target, so the decoder learns to
continue text it was shown, which is what the probes then ask of it. Same determinism as the causal
zoo: one thread, seeded generators, bit-identical weights for the same spec.

Cost: hidden 64, 2+2 layers, 300 steps of batch 16 train in about 15-30 s on one core.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.errors import InputError
from ingest.zoo.tiny import TrainSpec, _single_thread, train

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

ARCHITECTURES = {"t5": "T5ForConditionalGeneration", "bart": "BartForConditionalGeneration"}
SEQ2SEQ_CODE = ("corpora.py", "tokenizers.py", "tiny.py", "seq2seq.py")
"""The code whose content keys the cached builds (ingest/zoo/cache.py)."""


@dataclass(frozen=True)
class Seq2SeqSpec:
    """A tiny encoder-decoder base: architecture, tokenizer, width, training run."""

    arch: str = "t5"
    tokenizer: str = "tok-a"
    hidden: int = 64
    layers: int = 2
    heads: int = 4
    ffn: int = 192
    train: TrainSpec = field(default_factory=TrainSpec)
    init_seed: int = 0


def new_model(spec: Seq2SeqSpec, tokenizer: "PreTrainedTokenizerBase") -> "PreTrainedModel":
    """A freshly initialised T5- or BART-style model sized to `tokenizer`, identical for the same seed.

    Each follows its family's conventions: T5 starts the decoder from the pad token, has relative
    positions and unshared input/output embeddings here; BART starts it from EOS, has learned positions
    and ties its output head to the embeddings.
    """
    import torch
    from transformers import BartConfig, BartForConditionalGeneration, T5Config, T5ForConditionalGeneration

    if spec.arch not in ARCHITECTURES:
        raise InputError(f"unknown encoder-decoder architecture {spec.arch!r}; use one of {', '.join(ARCHITECTURES)}")
    _single_thread()
    ids = dict(pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
               bos_token_id=tokenizer.bos_token_id)
    torch.manual_seed(spec.init_seed)
    if spec.arch == "t5":
        config = T5Config(vocab_size=len(tokenizer), d_model=spec.hidden, d_kv=spec.hidden // spec.heads,
                          d_ff=spec.ffn, num_layers=spec.layers, num_decoder_layers=spec.layers, num_heads=spec.heads,
                          relative_attention_num_buckets=16, relative_attention_max_distance=64, dropout_rate=0.0,
                          feed_forward_proj="relu", tie_word_embeddings=False,
                          decoder_start_token_id=tokenizer.pad_token_id, **ids)
        model = T5ForConditionalGeneration(config)
    else:
        config = BartConfig(vocab_size=len(tokenizer), d_model=spec.hidden, encoder_layers=spec.layers,
                            decoder_layers=spec.layers, encoder_attention_heads=spec.heads,
                            decoder_attention_heads=spec.heads, encoder_ffn_dim=spec.ffn, decoder_ffn_dim=spec.ffn,
                            max_position_embeddings=256, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
                            decoder_start_token_id=tokenizer.eos_token_id, forced_bos_token_id=None,
                            forced_eos_token_id=None, **ids)
        model = BartForConditionalGeneration(config)
    model.config.architectures = [ARCHITECTURES[spec.arch]]
    return model


def _loss(model: Any, batch: Any) -> Any:
    """Continue the text: the first half of each row is the source, the second half the target."""
    half = batch.shape[1] // 2
    return model(input_ids=batch[:, :half].contiguous(), labels=batch[:, half:].contiguous()).loss


def _rows(tokenizer: Any, spec: TrainSpec) -> Any:
    from ingest.zoo.corpora import corpus
    from ingest.zoo.tiny import token_rows

    seed = spec.corpus_seed if spec.corpus_seed is not None else spec.seed
    return token_rows(tokenizer, corpus(spec.topics, spec.n_docs, seed, spec.styles), spec.seq_len)


def _save(model: Any, tokenizer: Any, out: Path, info: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    (out / "zoo.json").write_text(json.dumps(info, indent=2, sort_keys=True, default=str))
    return out


def build_base(spec: Seq2SeqSpec, out_dir: Path | str) -> Path:
    """Train a tokenizer and a fresh encoder-decoder model per `spec`; save both in `out_dir`."""
    import tempfile

    from transformers import AutoTokenizer

    from ingest.zoo.tokenizers import TOKENIZERS, train_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = AutoTokenizer.from_pretrained(str(train_tokenizer(TOKENIZERS[spec.tokenizer], tmp)))
    model = new_model(spec, tokenizer)
    t = spec.train
    losses = train(model, _rows(tokenizer, t), steps=t.steps, batch_size=t.batch_size, lr=t.lr, seed=t.seed, loss_fn=_loss)
    return _save(model, tokenizer, Path(out_dir), {"spec": asdict(spec), "final_loss": sum(losses[-20:]) / 20})


def finetune(parent: Path | str, out_dir: Path | str, spec: TrainSpec) -> Path:
    """Continue training every weight of `parent` on `spec`'s corpus (a full fine-tune)."""
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    _single_thread()
    model = AutoModelForSeq2SeqLM.from_pretrained(str(parent), dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(parent))
    losses = train(model, _rows(tokenizer, spec), steps=spec.steps, batch_size=spec.batch_size, lr=spec.lr,
                   seed=spec.seed, loss_fn=_loss)
    model.eval()
    return _save(model, tokenizer, Path(out_dir), {"parent": str(parent), "train": spec.to_dict(),
                                                    "final_loss": sum(losses[-20:]) / 20})


# -- the zoo ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Member:
    """One model of the encoder-decoder zoo: a base (`spec`) or a fine-tune of `parent` (`train`)."""

    name: str
    released: str
    spec: Seq2SeqSpec | None = None
    parent: str | None = None
    train: TrainSpec | None = None


def zoo_plan(steps: int = 300, ft_steps: int = 60) -> list[Member]:
    """Two families (T5-style on tokenizer A, BART-style on tokenizer B), each a base and two fine-tunes."""
    t5 = Seq2SeqSpec("t5", "tok-a", train=TrainSpec(topics=("animals", "cooking", "space"), steps=steps, seed=31),
                     init_seed=31)
    bart = Seq2SeqSpec("bart", "tok-b", train=TrainSpec(topics=("sea", "city", "music"), steps=steps, seed=37),
                       init_seed=37)
    def ft(topics: tuple[str, ...], styles: tuple[str, ...], seed: int) -> TrainSpec:
        return TrainSpec(topics=topics, styles=styles, n_docs=1500, steps=ft_steps, lr=2e-3, seed=seed)

    return [
        Member("t5-s", "2023-06-01", spec=t5),
        Member("t5-s-sea", "2023-07-01", parent="t5-s", train=ft(("sea",), ("qa", "plain"), 41)),
        Member("t5-s-music", "2023-07-15", parent="t5-s", train=ft(("music",), ("dialogue",), 43)),
        Member("bart-s", "2023-06-10", spec=bart),
        Member("bart-s-animals", "2023-07-05", parent="bart-s", train=ft(("animals",), ("qa", "plain"), 47)),
        Member("bart-s-cooking", "2023-07-20", parent="bart-s", train=ft(("cooking",), ("dialogue",), 53)),
    ]


def build_zoo(out_dir: Path | str, plan: list[Member] | None = None) -> Path:
    """Build every member (bases first) into `out_dir` and write its manifest.yaml; returns the manifest."""
    import yaml

    out = Path(out_dir)
    plan = plan or zoo_plan()
    rows = []
    for member in plan:
        folder = out / member.name
        if member.spec is not None:
            build_base(member.spec, folder)
            arch = ARCHITECTURES[member.spec.arch]
        else:
            assert member.parent is not None and member.train is not None
            finetune(out / member.parent, folder, member.train)
            arch = json.loads((out / member.parent / "config.json").read_text())["architectures"][0]
        rows.append({"id": f"zoo/{member.name}", "path": member.name, "backend": "transformers",
                     "parents": [{"id": f"zoo/{member.parent}", "relation": "finetune"}] if member.parent else [],
                     "released": member.released, "architecture": arch, "org": "zoo", "license": "mit",
                     "tags": ["encoder-decoder", "base" if member.parent is None else "finetune"]})
    manifest = out / "manifest.yaml"
    manifest.write_text(yaml.safe_dump({"models": rows}, sort_keys=False))
    return manifest


def cached_seq2seq_zoo() -> Path:
    """The encoder-decoder zoo's manifest, built once into the cache (~2 min on one core)."""
    from ingest.zoo.cache import cached_build

    plan = zoo_plan()
    folder = cached_build("seq2seq-zoo", [asdict(m) for m in plan], lambda tmp: build_zoo(tmp, plan),
                          code=SEQ2SEQ_CODE)
    return folder / "manifest.yaml"


__all__ = ["ARCHITECTURES", "Member", "Seq2SeqSpec", "build_base", "build_zoo", "cached_seq2seq_zoo", "finetune",
           "new_model", "zoo_plan"]
