"""`dnakb ingest MANIFEST`: extract and store the DNA of every model a manifest names."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ingest.api import estimate as _estimate, ingest as _ingest, make_protocol
from kb.cli.app import store_from
from kb.cli.options import (
    ArtifactsOpt, ChatTemplateOpt, JsonOpt, MaxNewTokensOpt, ProbesOpt, ProtocolFileOpt, QuietOpt,
)
from kb.cli.output import Progress, emit, table
from kb.errors import DnaKbError, InputError
from kb.protocol import DnaProtocol


def register(app: typer.Typer) -> None:
    app.command()(ingest)


def ingest(
    ctx: typer.Context,
    manifest: Annotated[Path, typer.Argument(help="YAML, JSON or CSV manifest (id, path, parents, ...).")],
    workers: Annotated[int, typer.Option("--workers", "-w", help="Worker processes.")] = 1,
    devices: Annotated[str, typer.Option(help="cpu, or GPUs such as cuda:0,cuda:1 (round-robin over workers).")] = "cpu",
    force: Annotated[bool, typer.Option("--force", help="Re-extract models that are already ingested.")] = False,
    no_declared: Annotated[bool, typer.Option("--no-declared", help="Do not import the manifest's parents as declared edges.")] = False,
    ray: Annotated[Optional[str], typer.Option("--ray", help="Run extraction as Ray tasks at ADDRESS (auto, ray://host:10001, or local).")] = None,
    probes: ProbesOpt = None,
    max_new_tokens: MaxNewTokensOpt = None,
    chat_template: ChatTemplateOpt = False,
    protocol_file: ProtocolFileOpt = None,
    artifacts: ArtifactsOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only and write nothing: per model the action, the tokens to generate, an API model's requests, and a local model's wall time estimated from a short run of it.")] = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Ingest the models of a manifest: fingerprint, extract DNA in workers, store; resumable, idempotent."""
    protocol = None
    options_given = probes is not None or max_new_tokens is not None or chat_template
    if protocol_file is not None:
        if options_given:
            raise InputError("give either --protocol or --probes/--max-new-tokens/--chat-template, not both")
        protocol = DnaProtocol.load(protocol_file)
    elif options_given:
        protocol = make_protocol(probes, max_new_tokens, chat_template=chat_template)
    if dry_run:
        with store_from(ctx) as store:
            plan = _estimate(manifest, store, protocol=protocol, force=force, artifacts=artifacts,
                             declared=not no_declared, progress=Progress(quiet))
        totals = plan.totals()
        summary = (f"dry run, nothing written (protocol {plan.protocol}): ≤{totals['gen_tokens']} tokens to generate "
                   f"locally, ≈{totals['seconds'] / max(1, workers):.0f} s with {workers} worker(s) on this machine; "
                   f"{totals['requests']} API requests ({totals['cached']} answers cached), "
                   f"≈{totals['prompt_tokens']} prompt tokens, ≤{totals['completion_tokens']} answer tokens")
        emit(plan.as_dict(), as_json=as_json, human=table(plan.table_rows()) + "\n\n" + summary)
        return
    with store_from(ctx, write=True) as store:
        report = _ingest(
            manifest, store, workers=workers, devices=devices, protocol=protocol, force=force,
            declared=not no_declared, ray_address=ray, progress=Progress(quiet), artifacts=artifacts,
        )
    summary = (
        f"{report.ok} ok, {report.count('skipped')} skipped, {report.count('duplicate')} duplicate, "
        f"{report.failed} failed in {report.seconds:.1f} s (protocol {report.protocol}"
        + (f"; {report.placed} placed provisionally" if report.placed else "") + ")"
    )
    usage = report.usage()
    if usage:
        summary += (f"\nAPI: {usage['requests']} requests ({usage['retries']} retries), {usage['cached']} answers "
                    f"from the cache, {usage['prompt_tokens']} prompt + {usage['completion_tokens']} answer tokens")
    emit(report.as_dict(), as_json=as_json, human=table(report.rows()) + "\n\n" + summary)
    if report.exit_code:  # one Error line and exit code 1 (the summary above names each failure)
        failed = [o.id for o in report.outcomes if o.status == "failed"]
        raise DnaKbError(
            f"{len(failed)} of {len(report.outcomes)} model(s) failed ({', '.join(failed[:5])}"
            f"{', ...' if len(failed) > 5 else ''}); fix them and re-run: finished models are kept"
        )
