"""Chat templates: one renderer (ingest/chat.py) for every backend, so an HF folder and its GGUF copy probe
through byte-identical prompt text and the same token ids; a model without a template gets the raw probe."""

from __future__ import annotations

import pytest

from ingest.backends import load_backend
from ingest.backends.llamacpp import LlamaCppBackend
from ingest.chat import render_chat
from ingest.packaged import smollm2_gguf
from kb.errors import InputError
from kb.probes import load_probes
from tests.zoo_fixtures import CHAT_TEMPLATE

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@pytest.fixture(scope="module")
def prompts() -> list[str]:
    return load_probes().head(8)


# -- the renderer ---------------------------------------------------------------------------------
def test_render_chatml_and_bos_templates():
    assert render_chat(CHATML, "Hi there", bos_token="<s>", eos_token="</s>") == (
        "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n")
    assert render_chat(CHAT_TEMPLATE, "Hi", bos_token="<s>", eos_token="</s>") == "<s>user: Hi</s>\nassistant:"
    assert render_chat(CHAT_TEMPLATE, "Hi", bos_token="", eos_token="") == "user: Hi\nassistant:"
    # the globals and filters transformers gives templates
    year = render_chat("{{ strftime_now('%Y') }}|{{ messages | tojson }}", "é<b>", bos_token="", eos_token="")
    assert year == '2025|[{"role": "user", "content": "é<b>"}]'  # a fixed date: the DNA does not age
    loops = "{% for m in messages %}{% if loop.first %}{% break %}{% endif %}x{% endfor %}ok"
    assert render_chat(loops, "p", bos_token="", eos_token="") == "ok"


def test_raise_exception_and_bad_templates_are_one_line_input_errors():
    refusing = "{% if messages[0]['role'] == 'user' %}{{ raise_exception('Only system\nroles here') }}{% endif %}"
    with pytest.raises(InputError, match=r"chat template of /m/x refused the probe: Only system roles here$"):
        render_chat(refusing, "p", bos_token="", eos_token="", source="/m/x")
    for bad in ("{% for m in messages %}unclosed", "{{ undefined_function() }}", "{{ ''.__class__.__mro__ }}"):
        with pytest.raises(InputError, match=r"chat template of /m/x does not render") as caught:
            render_chat(bad, "p", bos_token="", eos_token="", source="/m/x")
        assert "\n" not in str(caught.value)


def test_the_converter_finds_the_template_where_transformers_saves_it(tmp_path):
    from ingest.convert import chat_template

    assert chat_template(tmp_path, {}) is None
    assert chat_template(tmp_path, {"chat_template": CHATML}) == CHATML  # older tokenizer_config.json layout
    named = chat_template(tmp_path, {"chat_template": [{"name": "default", "template": CHATML}]})
    assert named == [{"name": "default", "template": CHATML}]  # GGUFWriter writes "default" under the plain key
    (tmp_path / "chat_template.jinja").write_text(CHAT_TEMPLATE)  # transformers >= 4.50
    assert chat_template(tmp_path, {"chat_template": CHATML}) == CHAT_TEMPLATE


# -- the same template through both local backends ---------------------------------------------
def test_hf_and_its_gguf_render_and_tokenise_chat_prompts_alike(chat_llama, prompts):
    from transformers import AutoTokenizer

    with load_backend(chat_llama["hf"], n_threads=1) as hf, load_backend(chat_llama["gguf"], n_threads=1) as gg:
        assert gg.name == "llama-cpp" and gg.llm.metadata["tokenizer.chat_template"] == CHAT_TEMPLATE
        assert hf.chat_template == gg.chat_template == CHAT_TEMPLATE
        assert hf.chat_specials() == gg.chat_specials() == ("<s>", "</s>")
        texts = hf.chat_prompts(prompts, True)
        assert texts == gg.chat_prompts(prompts, True)
        tokenizer = AutoTokenizer.from_pretrained(str(chat_llama["hf"]), local_files_only=True)
        for prompt, text in zip(prompts, texts):
            ids = hf._encode_chat(text)
            assert ids == gg._encode_chat(text)
            applied = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                                    tokenize=True)
            assert ids == list(applied["input_ids"] if hasattr(applied, "keys") else applied)  # what HF itself does
            # the template's BOS, once; its EOS parsed as the special token, not spelled out
            assert ids[0] == hf.bos_id and ids.count(hf.bos_id) == 1 and ids.count(hf.eos_ids[0]) == 1

        chat_hf, chat_gg = hf.generate(prompts, 12, chat=True), gg.generate(prompts, 12, chat=True)
        assert hf.describe()["chat"] == gg.describe()["chat"] == "template"
        raw = hf.generate(prompts, 12)
        assert "chat" not in hf.describe()  # chat not asked: nothing recorded
    assert chat_gg == chat_hf  # f32 weights: greedy answers identical (as f16 in test_extract_gguf)
    assert any(a != b for a, b in zip(chat_hf, raw))


def test_llama_cpps_own_converter_carries_the_template_to_the_same_answers(chat_llama, prompts, tmp_path):
    """Most GGUFs people download come from llama.cpp's converter: it copies the template too, and the
    GGUF it makes answers the chat probes as the HF folder does."""
    from ingest.zoo.llamacpp import convert_hf

    (gguf,) = convert_hf([(chat_llama["hf"], tmp_path / "llamacpp-f32.gguf", "f32")])
    with load_backend(chat_llama["hf"], n_threads=1) as hf, load_backend(gguf, n_threads=1) as gg:
        assert gg.chat_template == CHAT_TEMPLATE and gg.chat_specials() == ("<s>", "</s>")
        assert gg.generate(prompts, 12, chat=True) == hf.generate(prompts, 12, chat=True)


def test_batched_llama_cpp_equals_one_at_a_time_with_chat(chat_llama):
    prompts = load_probes().head(24)
    with LlamaCppBackend(chat_llama["gguf"], n_threads=1, batch_size=1) as one:
        expected = one.generate(prompts, 12, chat=True)
    for batch_size in (None, 5):
        with LlamaCppBackend(chat_llama["gguf"], n_threads=1, batch_size=batch_size) as many:
            assert many.generate(prompts, 12, chat=True) == expected
            assert many.describe()["decode"] == "batched" and many.describe()["chat"] == "template"


def test_a_model_without_a_template_gets_the_raw_probe(tiny_llama, tiny_llama_gguf, prompts):
    for path in (tiny_llama, tiny_llama_gguf["f16"]):
        with load_backend(path, n_threads=1) as backend:
            assert backend.chat_template is None
            raw = backend.generate(prompts, 10)
            assert backend.generate(prompts, 10, chat=True) == raw
            assert backend.describe()["chat"] == "raw"


def test_context_fitting_keeps_bos_only_where_the_template_put_it(chat_llama):
    long = "word " * 60
    with load_backend(chat_llama["gguf"], n_threads=1) as gg:
        ids = gg._encode_chat(render_chat(CHAT_TEMPLATE, long, bos_token="<s>", eos_token="</s>"))
        fitted = gg.prompt_ids([long], 8, True, 40)[0]
        assert len(fitted) == 32 and fitted[0] == gg.bos_id and fitted[1:] == ids[-31:]
        gg.chat_specials = lambda: ("", "</s>")  # a template rendered without BOS: nothing to keep
        no_bos = gg._encode_chat(render_chat(CHAT_TEMPLATE, long, bos_token="", eos_token="</s>"))
        assert gg.bos_id not in no_bos and gg.prompt_ids([long], 8, True, 40)[0] == no_bos[-32:]


def test_smollm2_instruct_answers_through_its_template():
    """The real case: SmolLM2-135M-Instruct ends many raw probes with an immediate EOS; through its own
    ChatML template (read from the GGUF) it answers them."""
    prompts = load_probes().head(24)
    with LlamaCppBackend(smollm2_gguf(), n_threads=1) as gg:
        assert gg.chat_specials() == ("<|im_start|>", "<|im_end|>")
        text = gg.chat_prompts(prompts[:1], True)[0]
        assert text.endswith("<|im_start|>user\n" + prompts[0] + "<|im_end|>\n<|im_start|>assistant\n")
        ids = gg._encode_chat(text)
        assert ids.count(gg.bos_id) == 3 and ids[0] == gg.bos_id  # <|im_start|> parsed as one special token
        raw, chat = gg.generate(prompts, 8), gg.generate(prompts, 8, chat=True)
    empty_raw, empty_chat = sum(not r.strip() for r in raw), sum(not c.strip() for c in chat)
    print(f"SmolLM2 empty answers: raw {empty_raw}/24, chat {empty_chat}/24")
    assert empty_chat < empty_raw
