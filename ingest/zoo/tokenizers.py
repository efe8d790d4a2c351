"""Small byte-level BPE tokenizers trained offline on a generated corpus.

The layout is GPT-2's (ByteLevel pre-tokenizer with the GPT-2 split regex, no prefix space,
ByteLevel decoder), because llama.cpp implements exactly that pre-tokenizer under the name
"gpt-2"; our GGUF converter relies on it. The tokenizer prepends BOS itself (a template
post-processor), so `tokenizer(text)` and llama.cpp's `tokenize(add_bos=True)` agree.

Cost: training on ~4,000 short documents takes well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ingest.zoo.corpora import corpus


@dataclass(frozen=True)
class TokenizerSpec:
    """Everything that determines a zoo tokenizer (two specs = two different tokenizers)."""

    name: str
    vocab_size: int = 512
    topics: tuple[str, ...] = ("animals", "cooking", "space", "sea", "city", "music")
    styles: tuple[str, ...] = ("plain", "qa", "list", "dialogue")
    n_docs: int = 4000
    seed: int = 0
    bos: str = "<s>"
    eos: str = "</s>"
    pad: str = "<pad>"

    @property
    def specials(self) -> list[str]:
        return [self.bos, self.eos, self.pad]


TOKENIZER_A = TokenizerSpec("tok-a", vocab_size=512, seed=11)
TOKENIZER_B = TokenizerSpec(
    "tok-b", vocab_size=768, seed=23, topics=("sea", "city", "music", "space", "animals"),
    bos="<|bos|>", eos="<|eos|>", pad="<|pad|>",
)
TOKENIZERS = {t.name: t for t in (TOKENIZER_A, TOKENIZER_B)}


def train_tokenizer(spec: TokenizerSpec, out_dir: Path | str) -> Path:
    """Train `spec` and save it as a Hugging Face tokenizer folder; returns the folder.

    The folder holds tokenizer.json and tokenizer_config.json (bos/eos/pad named), and loads
    with `AutoTokenizer.from_pretrained`.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size, special_tokens=spec.specials, min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(corpus(spec.topics, spec.n_docs, spec.seed, spec.styles), trainer)
    bos_id = tok.token_to_id(spec.bos)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{spec.bos} $A", pair=f"{spec.bos} $A {spec.bos} $B", special_tokens=[(spec.bos, bos_id)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=spec.bos, eos_token=spec.eos, pad_token=spec.pad,
        model_max_length=256, clean_up_tokenization_spaces=False,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out))
    return out


__all__ = ["TokenizerSpec", "TOKENIZER_A", "TOKENIZER_B", "TOKENIZERS", "train_tokenizer"]
