import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["kb.lineage.nj", "kb.lineage.families"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
