"""The shipped probe file is the generator's output, 600 distinct varied prompts; the CLI shows it."""

from __future__ import annotations

import json
from importlib import resources

from ingest.cli import main
from kb.probes import generate_probes, load_probes, render_probe_file, probe_set_id


def test_shipped_file_is_the_generator_output():
    shipped = resources.files("kb").joinpath("data", "probes-v1.txt").read_bytes()
    assert render_probe_file(generate_probes()).encode() == shipped
    ps = load_probes()
    assert ps.id == probe_set_id(shipped) and len(ps) == 600
    assert list(ps.prompts) == generate_probes()


def test_prompts_are_distinct_and_varied():
    prompts = load_probes().prompts
    assert len(set(prompts)) == 600
    assert any("\n" in p for p in prompts)  # multi-line prompts survive the file format
    starts = {p.split()[0] for p in prompts[:24]}
    assert len(starts) >= 15  # any prefix mixes the kinds
    assert sum(any(ch.isdigit() for ch in p) for p in prompts) > 50  # arithmetic / code


def test_other_seed_other_probes(tmp_path):
    assert generate_probes(20, seed=1) != generate_probes(20)
    path = tmp_path / "p.txt"
    path.write_text(render_probe_file(generate_probes(20, seed=1)))
    assert load_probes(path).id != load_probes().id


def test_cli(capsys):
    assert main(["probes", "--limit", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["count"] == 600 and len(data["prompts"]) == 3 and data["id"] == load_probes().id
    assert main(["probes", "-n", "2"]) == 0
    out = capsys.readouterr().out
    assert load_probes().id in out and "600 prompts" in out
