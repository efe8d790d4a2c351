"""`dnakb ingest --chat-template`: a protocol field like --probes / --max-new-tokens, recorded in the KB, with
each model's artifact saying whether its own template was used."""

from __future__ import annotations

import json

from ingest.api import make_protocol
from ingest.cli import main
from kb.protocol import PROTOCOL_META, DnaProtocol
from kb.stores import StoreConfig, open_store
from tests.ingest.models import write_manifest


def test_ingest_through_chat_templates_records_it_in_the_protocol(chat_llama, tiny_llama_gguf, tmp_path, capsys):
    db, arts = str(tmp_path / "kb"), tmp_path / "artifacts"
    entries = [{"id": "t/chat-hf", "path": str(chat_llama["hf"])},
               {"id": "t/chat-gguf", "path": str(chat_llama["gguf"])},
               {"id": "t/plain-gguf", "path": str(tiny_llama_gguf["f16"])}]
    manifest = str(write_manifest(tmp_path, entries))
    options = ["--probes", "6", "--max-new-tokens", "8"]
    code = main(["--db", db, "ingest", manifest, *options, "--chat-template", "--artifacts", str(arts),
                 "--json", "--quiet"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and (report["ok"], report["failed"]) == (3, 0)

    wanted = make_protocol(6, 8, chat_template=True)
    assert wanted.id != make_protocol(6, 8).id and report["protocol"] == wanted.id
    with open_store(StoreConfig(kind="embedded", db=tmp_path / "kb")) as store:
        recorded = DnaProtocol.from_json(store.get_meta(PROTOCOL_META))
    assert recorded.chat_template is True and recorded.id == wanted.id
    metas = [json.loads(meta.read_text()) for meta in arts.glob(f"*/{wanted.id}/meta.json")]
    assert {(m["backend"], m["model_path"], m["chat"]) for m in metas} == {
        ("transformers", str(chat_llama["hf"]), "template"), ("llama-cpp", str(chat_llama["gguf"]), "template"),
        ("llama-cpp", str(tiny_llama_gguf["f16"]), "raw")}

    # like the other protocol options: a KB of one protocol refuses another, and --protocol excludes them
    code = main(["--db", db, "ingest", manifest, *options, "--artifacts", str(arts), "--quiet"])
    assert code == 1 and "this KB's DNAs use protocol " + wanted.id in capsys.readouterr().err
    code = main(["--db", db, "ingest", manifest, "--chat-template", "--protocol", str(wanted.save(tmp_path / "p.json"))])
    assert code == 1 and "give either --protocol or --probes/--max-new-tokens/--chat-template" in capsys.readouterr().err
    code = main(["--db", db, "ingest", manifest, "--artifacts", str(arts), "--json", "--quiet"])  # the KB's protocol
    again = json.loads(capsys.readouterr().out)
    assert code == 0 and again["protocol"] == wanted.id and again["skipped"] == 3
