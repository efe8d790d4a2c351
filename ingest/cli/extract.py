"""`dnakb extract PATH`: one model's DNA, written to (or reused from) the artifact store."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from kb.cli.options import ArtifactsOpt, ChatTemplateOpt, JsonOpt, MaxNewTokensOpt, ProbesOpt, QuietOpt
from kb.cli.output import Progress, emit, table
from ingest.extract import DEFAULT_MAX_NEW_TOKENS, EmptyResponsesWarning, default_protocol, extract_dna


def register(app: typer.Typer) -> None:
    app.command()(extract)


def extract(
    path: Annotated[Path, typer.Argument(help="Model folder (config.json + weights) or .gguf file.")],
    probes: ProbesOpt = None,
    max_new_tokens: MaxNewTokensOpt = None,
    chat_template: ChatTemplateOpt = False,
    backend: Annotated[Optional[str], typer.Option("--backend", help="Force transformers or llama-cpp.")] = None,
    embedder: Annotated[Optional[Path], typer.Option("--embedder", help="Local sentence-transformers folder (default: all-MiniLM-L6-v2).")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Generation batch size (transformers; default: from free memory).")] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", help="CPU threads.")] = None,
    artifacts: ArtifactsOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Redo even when a finished artifact exists.")] = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Extract a model's DNA (greedy responses to the probes, embedded and projected)."""
    protocol = default_protocol(probes or 600, max_new_tokens or DEFAULT_MAX_NEW_TOKENS, embedder=embedder,
                                chat_template=chat_template)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EmptyResponsesWarning)
        result = extract_dna(path, protocol, backend=backend, artifacts=artifacts, force=force,
                             batch_size=batch_size, n_threads=threads, embedder=embedder, progress=Progress(quiet))
    for warning in caught:  # shown even under --quiet: the DNA is made, but from fewer answers
        print(f"warning: {warning.message}", file=sys.stderr)
    data = result.summary()
    rows = [
        {"field": "model", "value": result.model_path},
        {"field": "fingerprint", "value": result.fingerprint[:16]},
        {"field": "protocol", "value": result.protocol.id},
        {"field": "backend", "value": result.backend},
        *([{"field": "chat", "value": result.meta.get("chat", "raw")}] if protocol.chat_template else []),
        {"field": "reused", "value": result.reused},
        {"field": "probes", "value": len(result.responses)},
        {"field": "empty responses", "value": result.n_empty},
        {"field": "seconds", "value": round(result.timings.get("total", 0.0), 2)},
        {"field": "dna[:4]", "value": [round(float(x), 4) for x in result.dna[:4]]},
    ]
    emit(data, as_json=as_json, human=table(rows))
