"""Options several commands share, defined once (name, type, help)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Print CSV.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
ArtifactsOpt = Annotated[Optional[Path], typer.Option(
    "--artifacts", envvar="DNAKB_ARTIFACTS",
    help="Artifact store folder (default: the one the KB's ingest used, else ~/.cache/dnakb/artifacts).")]
ProbesOpt = Annotated[Optional[int], typer.Option("--probes", min=1, help="Number of probes (the first N of the probe set).")]
MaxNewTokensOpt = Annotated[Optional[int], typer.Option("--max-new-tokens", min=1, help="Token budget per response.")]
ChatTemplateOpt = Annotated[bool, typer.Option(
    "--chat-template", help="Probe each model through its own chat template (a protocol field; models without "
    "one get the raw probe).")]
BootstrapOpt = Annotated[int, typer.Option("--bootstrap", min=0, help="Bootstrap replicates for edge support (0 = none).")]
ChannelsOpt = Annotated[Optional[str], typer.Option(
    "--channels", help="Evidence channels to use, comma-separated (default: all; see kb/channels/).")]
NoChannelOpt = Annotated[Optional[list[str]], typer.Option(
    "--no-channel", help="Leave out an evidence channel (repeat for several).")]
ProtocolFileOpt = Annotated[Optional[Path], typer.Option(
    "--protocol", help="A protocol JSON file (DnaProtocol.save); default: the KB's.")]


def channel_names(channels: str | None, without: list[str] | None) -> tuple[str, ...]:
    """The channels `--channels` / `--no-channel` select, in registry order."""
    from kb.channels import select

    names = None if channels is None else [c.strip() for c in channels.split(",") if c.strip()]
    return select(names, without=without or ())
