"""Imports every kb command module so that each registers itself on `app`."""

from kb.cli import status  # noqa: F401
from kb.cli import query  # noqa: F401
from kb.cli import export  # noqa: F401
from kb.cli import infer  # noqa: F401
