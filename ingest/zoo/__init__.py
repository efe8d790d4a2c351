"""The offline model zoo: generated corpora, tiny tokenizers and models, derivations, the zoo plans.

Modules: `corpora` (grammar text), `tokenizers` (byte-level BPE), `tiny` (build/train/save tiny
Llama, Qwen2, GPT-2 and GPT-NeoX models), `lora` and `ops` (fine-tune, LoRA, distillation, merge),
`build` (the fixed plans and `build_zoo`), `random_plan` (random zoos from a documented process),
`manifest` (`load_zoo_manifest`), `scoring` (inferred lineage vs truth, by trap category),
`llamacpp` (llama.cpp's own converter, fetched and cached), `archs` (tiny random models of 14
architectures for the cross-format weight tests), `cache` and `testing` (cached builds for tests).
Our own GGUF converter lives in `ingest.convert`. Heavy libraries are imported where used.
"""
