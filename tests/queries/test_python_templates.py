"""`// impl: python kb.<module>:<function>`: the loader takes only the knowledge base's own functions."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.errors import InputError
from kb.templates import load_catalogue, load_template, python_function, run_template

HEADER = "// name: probe\n// description: a test template\n// param: k: int = 1 -- a number\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "probe.cypher"
    path.write_text(HEADER + text, encoding="utf-8")
    return path


def test_a_python_template_names_a_kb_function(tmp_path):
    template = load_template(write(tmp_path, "// impl: python kb.licenses:compatibility\n"))
    assert template.python == ("kb.licenses", "compatibility") and template.body == ""
    from kb.licenses import compatibility

    assert python_function(template) is compatibility


@pytest.mark.parametrize("line", [
    "// impl: python os:system", "// impl: python builtins:eval", "// impl: python kbx.licenses:compatibility",
    "// impl: python kb.licenses", "// impl: python kb.licenses:Compatibility()", "// impl: python ../kb:x",
    "// impl: python kb.licenses:compatibility\n// impl: python kb.licenses:lookup",
])
def test_only_kb_functions_may_answer(tmp_path, line):
    with pytest.raises(InputError, match=r"must name one function of the knowledge base as `python kb.<module>:<function>`"):
        load_template(write(tmp_path, line + "\n"))


def test_a_missing_module_or_function_is_a_clear_error(tmp_path):
    for line, message in (("kb.nowhere:f", r"cannot import kb.nowhere"), ("kb.licenses:nothing", r"has no function 'nothing'")):
        template = load_template(write(tmp_path, f"// impl: python {line}\n"))
        with pytest.raises(InputError, match=message):
            python_function(template)


def test_a_template_without_cypher_or_python_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"no Cypher below the header"):
        load_template(write(tmp_path, "// just a comment\n"))


def test_the_catalogue_python_templates_resolve():
    python = {name: t for name, t in load_catalogue().items() if t.python}
    assert set(python) >= {"license-conflicts", "affected-by", "evolution-speed", "evidence"}
    for template in python.values():
        assert callable(python_function(template))
        assert template.python[0].startswith("kb.")


def test_the_function_gets_the_typed_parameters(store):
    rows = run_template(store, "evolution-speed", {"edges": "declared"})
    assert rows == []  # an empty KB: no edges, no families
