"""Imports every ingest command module so that each registers itself on the shared `app`."""
from ingest.cli import probes  # noqa: F401
from ingest.cli import import_lineage  # noqa: F401
from ingest.cli import extract  # noqa: F401
from ingest.cli import ingest  # noqa: F401
from ingest.cli import zoo  # noqa: F401
from ingest.cli import eval  # noqa: F401
from ingest.cli import demo  # noqa: F401

from ingest import embeddings_source  # noqa: E402

embeddings_source.register()  # `dnakb infer` bootstraps over probes from the default artifact store
