"""DNA protocol: identity, round trip, validation, mismatch errors."""

from __future__ import annotations

import dataclasses
import json

import pytest

from kb.errors import InputError, ProtocolMismatchError
from kb.protocol import DnaProtocol, require_same_protocol


def make(**over) -> DnaProtocol:
    base = dict(probe_set="92dcca10c4693e46", n_probes=600, max_new_tokens=64, embedder="minilm-abc", embedder_dim=384)
    base.update(over)
    return DnaProtocol(**base)


def test_id_is_stable_short_hex_and_covers_every_field():
    p = make()
    assert p.id == make().id and len(p.id) == 16 and int(p.id, 16) >= 0
    changes = dict(probe_set="other", n_probes=100, max_new_tokens=32, chat_template=True, embedder="e2",
                   embedder_dim=768, seed=1, dim=64, channels={"loglik": "ll-v1"})
    ids = {p.id}
    for name, value in changes.items():
        ids.add(dataclasses.replace(p, **{name: value}).id)
    for channels in ({"weights": "sk-v1"}, {"loglik": "ll-v1", "weights": "sk-v1"}, {"later": "x-v1"}):
        ids.add(make(channels=channels).id)
    assert len(ids) == len(changes) + 4
    assert {f.name for f in dataclasses.fields(DnaProtocol)} - {"greedy"} == set(changes)


def test_ids_made_before_channels_were_plug_ins_hold():
    """Protocol JSON of the old layout (loglik_set / sketch keys) keeps its id; a channel added later
    goes under `channels` without changing the ids of protocols that lack it."""
    old = {**make().to_dict(), "loglik_set": "ll-v1", "sketch": None}
    old["id"] = "104aac9633919014"  # what the code before plug-in channels gave this record
    loaded = DnaProtocol.from_dict(old)
    assert loaded.channels == (("loglik", "ll-v1"),) and loaded.id == old["id"]
    assert json.loads(loaded.canonical_json())["loglik_set"] == "ll-v1"
    assert "channels" not in json.loads(loaded.canonical_json())
    assert "channels" in json.loads(make(channels={"later": "x-v1"}).canonical_json())
    with pytest.raises(InputError, match="described by the protocol's own fields"):
        make(channels={"text": "x"})


def test_json_round_trip_and_file(tmp_path):
    p = make(channels={"loglik": "refs-v1"})
    assert DnaProtocol.from_json(p.to_json()) == p
    path = p.save(tmp_path / "sub" / "protocol.json")
    assert DnaProtocol.load(path) == p
    assert json.loads(path.read_text())["id"] == p.id


def test_edited_record_is_rejected():
    data = make().to_dict()
    data["max_new_tokens"] = 999
    with pytest.raises(InputError, match="does not match its fields"):
        DnaProtocol.from_dict(data)


@pytest.mark.parametrize("field,value", [("n_probes", 0), ("dim", -1), ("max_new_tokens", "64"),
                                         ("embedder", ""), ("seed", -3), ("greedy", False)])
def test_bad_fields(field, value):
    with pytest.raises(InputError, match=field):
        make(**{field: value})


def test_unknown_field_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="unknown protocol field"):
        DnaProtocol.from_dict({**make().to_dict(), "colour": "red", "id": None})
    with pytest.raises(InputError, match="no protocol file"):
        DnaProtocol.load(tmp_path / "nope.json")


def test_require_same_protocol():
    a, b = make(), make(seed=7)
    assert require_same_protocol(a, a.id) == a.id
    with pytest.raises(ProtocolMismatchError, match=f"{a.id} vs {b.id}"):
        require_same_protocol(a.id, b)
    with pytest.raises(ProtocolMismatchError, match="without a protocol"):
        require_same_protocol(None, b)
