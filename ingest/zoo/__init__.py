"""The offline model zoo: generated corpora, tiny tokenizers and models, derivations, the zoo plan.

Modules: `corpora` (grammar text), `tokenizers` (byte-level BPE), `tiny` (build/train/save tiny
Llama and Qwen2 models), `lora` and `ops` (fine-tune, LoRA, distillation, merge), `build` (the zoo
plan and `build_zoo`), `manifest` (`load_zoo_manifest`), `cache` and `testing` (cached builds for
tests). GGUF conversion lives in `ingest.convert`. Heavy libraries are imported where used.
"""
