"""Readers are never locked out by an ingest on the embedded store: while `dnakb ingest` runs in
another process, `status` and `query` every half second all answer, each with a consistent state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from ingest.cli import main
from tests.conftest import REPO
from tests.ingest.models import cli_protocol, write_manifest

CLI = "import sys; from ingest.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.slow
def test_status_and_queries_during_an_ingest(ingest_zoo, tmp_path, capsys) -> None:
    names = ["base", "tuned", "tuned2", "tuned3", "twin"]
    manifest = write_manifest(tmp_path, [{"id": f"r/{n}", "path": str(ingest_zoo / n)} for n in names])
    db = tmp_path / "kb"
    assert main(["--db", str(db), "status", "--json"]) == 0  # the KB exists before the writer starts
    capsys.readouterr()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    writer = subprocess.Popen(
        [sys.executable, "-c", CLI, "--db", str(db), "ingest", str(manifest), *cli_protocol(tmp_path),
         "--artifacts", str(tmp_path / "art"), "--json", "-q"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    seen: list[int] = []
    answers = 0
    try:
        while writer.poll() is None:
            assert main(["--db", str(db), "status", "--json"]) == 0, capsys.readouterr().err
            stats = json.loads(capsys.readouterr().out)
            assert stats["models_with_dna"] <= stats["models"] <= len(names)
            seen.append(stats["models_with_dna"])
            assert main(["--db", str(db), "query", "nearest", "-p", "model=r/base", "--json"]) in (0, 1)
            captured = capsys.readouterr()
            errors = [line for line in captured.err.splitlines() if not line.startswith("the embedded store at")]
            if errors:  # before r/base has a DNA the template says so, in one line
                assert len(errors) == 1 and ("has no DNA" in errors[0] or "no model 'r/base'" in errors[0]), errors
            else:
                rows = json.loads(captured.out)
                assert all(row["distance"] >= 0 for row in rows)
                answers += 1
            time.sleep(0.5)
    finally:
        out, err = writer.communicate(timeout=900)
    assert writer.returncode == 0, err
    assert len(seen) >= 3 and seen == sorted(seen), seen  # many answers, never going back
    assert json.loads(out)["ok"] == 4  # the twin is a duplicate
    assert main(["--db", str(db), "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["models_with_dna"] == 4
