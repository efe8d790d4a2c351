"""The `dnakb` command line: one module per command group, each with `register(app)`.

Each command is a thin wrapper over one library function: parse options, open the store, call,
print. The app, its root options and its error handling are in `app.py`; the composition root that
registers every command (kb's and ingest's) is `ingest.cli.build_app`.
"""
