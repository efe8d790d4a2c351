"""The shipped reference text set: deterministic, versioned, varied, content-addressed."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.errors import InputError
from kb.reftexts import N_REGISTERS, REFTEXTS_PATH, generate_reftexts, load_reftexts, render


def test_shipped_file_is_the_generator_output() -> None:
    assert REFTEXTS_PATH.read_text(encoding="utf-8") == render(generate_reftexts())


def test_set_shape() -> None:
    ref = load_reftexts()
    assert len(ref.texts) >= 1000 and len(set(ref.texts)) == len(ref.texts)
    assert len(ref.id) == 16
    lengths = [len(t.encode()) for t in ref.texts]
    assert 20 <= min(lengths) and max(lengths) <= 200
    # registers rotate: 14 consecutive texts start 14 different ways
    assert len({t.split()[0] for t in ref.texts[:N_REGISTERS]}) >= 10


def test_id_follows_content(tmp_path: Path) -> None:
    edited = tmp_path / "r.txt"
    edited.write_text(REFTEXTS_PATH.read_text(encoding="utf-8").replace("Ada", "Adb", 1), encoding="utf-8")
    assert load_reftexts(edited).id != load_reftexts().id


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no reference text file at"):
        load_reftexts(tmp_path / "missing.txt")
    blank = tmp_path / "blank.txt"
    blank.write_text("one\n\ntwo\n")
    with pytest.raises(InputError, match="blank line"):
        load_reftexts(blank)
