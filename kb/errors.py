"""One exception hierarchy; the CLI turns any `DnaKbError` into a one-line message and exit code 1."""


class DnaKbError(Exception):
    """Root of every error this package raises on purpose."""


class InputError(DnaKbError):
    """Bad input from a user: a value, a file, a parameter."""


class StoreError(DnaKbError):
    """The graph store cannot be opened, reached or written."""


class StoreUnavailableError(StoreError):
    """The store could not be reached for now (a server restarting, a connection dropped): a write
    may succeed if retried, unlike any other error."""


class ConflictError(DnaKbError):
    """A write would contradict what is stored (e.g. same id, other weights)."""


class NotFoundError(DnaKbError):
    """A named thing (model, template, protocol) does not exist."""


class ProtocolMismatchError(DnaKbError):
    """DNAs made under different protocols were compared or mixed."""
