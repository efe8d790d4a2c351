"""The licence table: every pair of the listed licences against a verdict matrix written out by hand
from the licences' terms (docs/lineage-questions.md shows the same matrix)."""

from __future__ import annotations

import pytest

from kb.licenses import LICENCES, VERDICTS, compatibility, lookup

ORDER = ["apache-2.0", "mit", "llama2", "llama3", "llama3.1", "llama3.2", "llama3.3", "gemma",
         "cc-by-nc-4.0", "cc-by-nc-sa-4.0", "cc-by-nc-nd-4.0", "openrail", "openrail++",
         "bigscience-openrail-m", "creativeml-openrail-m", "bigcode-openrail-m", "bigscience-bloom-rail-1.0"]
# rows: the ancestor's licence; columns: the derivative's, in ORDER.
# o = ok, p = more-permissive, x = incompatible
MATRIX = {
    "apache-2.0":                "ooooooooooooooooo",
    "mit":                       "ooooooooooooooooo",
    "llama2":                    "ppoxxxxxpppxxxxxx",
    "llama3":                    "ppxoxxxxpppxxxxxx",
    "llama3.1":                  "ppxxoxxxpppxxxxxx",
    "llama3.2":                  "ppxxxoxxpppxxxxxx",
    "llama3.3":                  "ppxxxxoxpppxxxxxx",
    "gemma":                     "ppxxxxxopppxxxxxx",
    "cc-by-nc-4.0":              "ppppppppooopppppp",
    "cc-by-nc-sa-4.0":           "ppppppppxoxpppppp",
    "cc-by-nc-nd-4.0":           "xxxxxxxxxxxxxxxxx",
    "openrail":                  "ppxxxxxxpppoooooo",
    "openrail++":                "ppxxxxxxpppoooooo",
    "bigscience-openrail-m":     "ppxxxxxxpppoooooo",
    "creativeml-openrail-m":     "ppxxxxxxpppoooooo",
    "bigcode-openrail-m":        "ppxxxxxxpppoooooo",
    "bigscience-bloom-rail-1.0": "ppxxxxxxpppoooooo",
}
LETTER = {"o": "ok", "p": "more-permissive", "x": "incompatible"}


def test_the_matrix_covers_the_table():
    assert sorted(ORDER) == sorted(LICENCES) == sorted(MATRIX)
    assert all(len(row) == len(ORDER) for row in MATRIX.values())


@pytest.mark.parametrize("ancestor", ORDER)
def test_every_pair_of_listed_licences(ancestor):
    for derivative, letter in zip(ORDER, MATRIX[ancestor]):
        found = compatibility(ancestor, derivative)
        assert found.verdict == LETTER[letter], (ancestor, derivative, found)
        assert found.reason


def test_reasons_name_what_is_wrong():
    assert compatibility("cc-by-nc-4.0", "mit").reason == "mit allows commercial use, cc-by-nc-4.0 does not"
    assert compatibility("llama2", "apache-2.0").reason == "apache-2.0 lacks the use restrictions of llama2"
    assert compatibility("cc-by-nc-4.0", "apache-2.0").reason.count(";") == 0
    assert compatibility("llama3", "gemma").reason == "gemma does not carry the terms of llama3"
    assert compatibility("cc-by-nc-nd-4.0", "cc-by-nc-nd-4.0").reason == "cc-by-nc-nd-4.0 allows no shared derivatives"


@pytest.mark.parametrize("licence", [None, "", "other", "unknown", "cc-by-4.0", "llama-2", "apache 2.0"])
def test_unknown_licences_are_unknown_never_guessed(licence):
    for listed in ("mit", "llama2", "cc-by-nc-nd-4.0"):
        assert compatibility(licence, listed).verdict == "unknown"
        assert compatibility(listed, licence).verdict == "unknown"
    assert compatibility(licence, licence).verdict == "unknown"
    assert "unknown" in VERDICTS


def test_unknown_reason_says_which_side():
    assert compatibility(None, "mit").reason == "ancestor licence not stated"
    assert compatibility("mit", "other").reason == "derivative licence 'other' is not in the table"


def test_lookup_ignores_case_and_spaces_only():
    assert lookup(" Apache-2.0 ") is LICENCES["apache-2.0"]
    assert lookup("LLAMA3.1").id == "llama3.1"
    assert lookup("llama 3.1") is None
