"""The api backend against a real local HTTP server that misbehaves on purpose (tests/api/fake_server.py):
every failure is one clear line, retries and the concurrency limit work, answers are cached."""

from __future__ import annotations

import json

import pytest

from ingest.backends.api import (
    ApiBackend, ApiError, ApiSpec, ResponseCache, chat_body, check_spec, estimate, generate_body,
)
from kb.errors import InputError

PROMPTS = ["the cat sat on the mat", "a dog runs in the park", "birds sing at dawn", "rain falls on the roof"]


def backend(fake, model: str, tmp_path=None, **options) -> ApiBackend:
    spec = ApiSpec(base_url=fake.base_url, model=model, **options)
    return ApiBackend(spec, cache_dir=tmp_path, backoff=0.001)


def test_ok_answers_greedy_requests_and_counts(fake, tmp_path):
    api = backend(fake, "ok", tmp_path)
    assert api.generate(PROMPTS, 3) == [" mat the on", " park the in", " dawn at sing", " roof the on"]
    assert fake.requests["ok"] == len(PROMPTS) + 1  # +1: the first probe asked again, past the cache
    usage = api.usage()
    assert (usage["requests"], usage["cached"], usage["retries"]) == (5, 0, 0)
    assert usage["completion_tokens"] == 15 and usage["prompt_tokens"] == sum(len(p.split()) + 1 for p in PROMPTS) + 7
    meta = api.describe()
    assert meta["determinism"]["repeat_identical"] is True and meta["determinism"]["system_fingerprints"] == ["fp_fake"]
    assert meta["api"]["server_models"] == ["ok"]
    body = generate_body(api.spec, "x", 3)
    assert (body["temperature"], body["top_p"], body["seed"], body["max_tokens"]) == (0.0, 1.0, 0, 3)
    # scoring: Σ log p over the prompt's tokens, the first having none (OpenAI's convention)
    assert api.score(["one three fives"]) == [(-(5 + 5) / 4, 15)]


def test_answers_are_cached_so_a_rerun_asks_nothing_again(fake, tmp_path):
    first = backend(fake, "ok", tmp_path)
    answers = first.generate(PROMPTS, 4)
    asked = fake.requests["ok"]
    again = backend(fake, "ok", tmp_path)
    assert again.generate(PROMPTS, 4) == answers
    assert fake.requests["ok"] == asked + 1  # only the determinism check
    assert again.usage()["cached"] == len(PROMPTS)
    fresh = ApiBackend(first.spec, cache_dir=tmp_path, fresh=True)  # --force asks again
    fresh.generate(PROMPTS[:2], 4)
    assert fake.requests["ok"] == asked + 1 + 3


def test_a_cut_last_cache_line_is_ignored(tmp_path):
    cache = ResponseCache(tmp_path / "c.jsonl")
    cache.put("a", "one")
    cache.put("b", [1.5, 2])
    with (tmp_path / "c.jsonl").open("a") as handle:
        handle.write('{"key": "c", "val')  # a crash mid-line
    again = ResponseCache(tmp_path / "c.jsonl")
    assert (again.get("a"), again.get("b"), "c" in again) == ("one", [1.5, 2], False)


def test_concurrency_is_limited_and_used(fake, tmp_path):
    prompts = [f"prompt number {i}" for i in range(24)]
    backend(fake, "slow", tmp_path, concurrency=3).generate(prompts, 2)
    assert fake.max_in_flight == 3
    fake.reset()
    backend(fake, "slow", None, concurrency=1).generate(prompts[:6], 2)
    assert fake.max_in_flight == 1


def test_rate_limits_are_retried_with_backoff_then_give_up_clearly(fake, tmp_path):
    api = backend(fake, "storm-then-ok", tmp_path, retries=3)
    assert api.generate(PROMPTS[:2], 2) == [" mat the", " park the"]
    assert api.usage()["retries"] == 4  # two 429s per prompt
    with pytest.raises(ApiError, match=r"storm at http://127\.0\.0\.1:\d+/v1: HTTP 429 \(Rate limit reached\) "
                                       r"through 2 retries"):
        backend(fake, "storm", tmp_path, retries=2).generate(PROMPTS[:1], 2)
    assert fake.requests["storm"] == 3


@pytest.mark.parametrize("model, message", [
    ("html", r"is not an OpenAI-compatible server: /completions answered an HTML page \('<!DOCTYPE html>"),
    ("nonjson", r"is not an OpenAI-compatible server: /completions answered non-JSON \('OK completions"),
    ("truncated", r"the server cut its answer short \(IncompleteRead\) through 1 retries"),
    ("long", r"the server ignored max_tokens=3 \(answered [4-6] tokens\): it cannot run this protocol"),
    ("empty", r"every one of 4 answers is empty"),
    ("unknown", r"does not serve model 'unknown' \(HTTP 404: The model `unknown` does not exist\)"),
])
def test_each_misbehaviour_is_one_clear_line_and_nothing_is_cached(fake, tmp_path, model, message):
    with pytest.raises(ApiError, match=message) as caught:
        backend(fake, model, tmp_path, retries=1).generate(PROMPTS, 3)
    assert "\n" not in str(caught.value) and "Traceback" not in str(caught.value)
    cached = tmp_path / "api-responses.jsonl"
    assert not cached.exists() or model == "empty"  # empty answers are valid answers, just useless together


def test_unreachable_host_and_wrong_path(fake, tmp_path):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ApiError, match=rf"cannot reach http://127\.0\.0\.1:{port}/v1 \(.*refused.*\): is the server up"):
        ApiBackend(ApiSpec(base_url=f"http://127.0.0.1:{port}/v1", model="ok")).generate(["hi"], 2)
    with pytest.raises(ApiError, match=r"has no /completions \(HTTP 404\): not an OpenAI-compatible server, or the base_url lacks its /v1"):
        ApiBackend(ApiSpec(base_url=fake.base_url.removesuffix("/v1"), model="ok")).generate(["hi"], 2)


def test_bad_key_is_named_by_its_variable_and_never_shown(fake, tmp_path, monkeypatch):
    secret = "sk-live-SECRET-abcdef987654"
    monkeypatch.setenv("FAKE_KEY", secret)
    with pytest.raises(ApiError) as caught:
        backend(fake, "keyed", tmp_path, api_key_env="FAKE_KEY").generate(PROMPTS, 2)
    assert "refused the key in FAKE_KEY (HTTP 401: Incorrect API key provided: ***.)" in str(caught.value)
    assert secret not in str(caught.value)
    monkeypatch.setenv("FAKE_KEY", fake.good_key)
    assert backend(fake, "keyed", tmp_path, api_key_env="FAKE_KEY").generate(PROMPTS[:1], 2) == [" mat the"]
    assert fake.good_key not in (tmp_path / "api-responses.jsonl").read_text()
    monkeypatch.delenv("FAKE_KEY")
    with pytest.raises(ApiError, match="the environment variable FAKE_KEY .* is not set"):
        backend(fake, "keyed", tmp_path, api_key_env="FAKE_KEY")


def test_no_prompt_logprobs_makes_the_channel_unavailable_not_a_failure(fake, tmp_path):
    with pytest.raises(InputError, match="gives no prompt log-probabilities .* log-likelihood channel unavailable"):
        backend(fake, "ok-no-logprobs", tmp_path).score(["some text here"])


def test_spec_checks_and_identity():
    assert check_spec("http://h:1/v1", "m", "OK_NAME") == []
    problems = check_spec("ftp://h/v1", "", "sk-abcdef", 0, {"prompt": "x"})
    assert len(problems) == 5 and "not an http(s) URL" in problems[0] and "NAME the environment variable" in problems[2]
    assert "carries credentials" in check_spec("https://user:pw@h/v1", "m", None)[0]
    assert "pw" not in check_spec("https://user:pw@h/v1", "m", None)[0]
    a = ApiSpec(base_url="http://h:1/v1/", model="m")
    assert a.base_url == "http://h:1/v1" and a.fingerprint() == ApiSpec(base_url="http://h:1/v1", model="m").fingerprint()
    assert a.fingerprint() != ApiSpec(base_url="http://h:1/v1", model="m2").fingerprint()
    assert a.fingerprint() != ApiSpec(base_url="http://h:1/v1", model="m", extra_body=(("top_k", 1),)).fingerprint()
    assert json.loads(json.dumps(a.to_dict())) == ApiSpec.from_dict(a.to_dict()).to_dict()


def test_estimate_counts_what_a_run_asks_and_leaves_out_the_cache(fake, tmp_path):
    spec = ApiSpec(base_url=fake.base_url, model="ok")
    texts = ["alpha beta", "gamma delta epsilon"]
    before = estimate(spec, PROMPTS, 3, texts, tmp_path)
    assert before["requests"] == len(PROMPTS) + 1 + len(texts) and before["cached"] == 0
    assert before["completion_tokens"] == (len(PROMPTS) + 1) * 3 + len(texts)
    api = ApiBackend(spec, cache_dir=tmp_path)
    api.generate(PROMPTS, 3)
    api.score(texts)
    assert api.usage()["requests"] == before["requests"]
    after = estimate(spec, PROMPTS, 3, texts, tmp_path)
    assert (after["requests"], after["cached"]) == (1, len(PROMPTS) + len(texts))


def test_chat_asks_chat_completions_and_never_mixes_with_raw_answers(fake, tmp_path):
    api = backend(fake, "ok", tmp_path)
    raw = api.generate(PROMPTS, 3)
    assert "chat" not in api.describe() and api.describe()["api"]["endpoint"] == "completions"
    chat = api.generate(PROMPTS, 3, chat=True)
    assert chat == ["MAT THE ON", "PARK THE IN", "DAWN AT SING", "ROOF THE ON"] and chat != raw
    assert (fake.endpoints["completions"], fake.endpoints["chat/completions"]) == (5, 5)  # the cache held raw apart
    meta = api.describe()
    assert meta["chat"] == "template" and meta["api"]["endpoint"] == "chat/completions"
    body = chat_body(api.spec, "x y", 3)
    assert body["messages"] == [{"role": "user", "content": "x y"}] and "prompt" not in body
    assert (body["temperature"], body["seed"], body["max_tokens"]) == (0.0, 0, 3)

    again = backend(fake, "ok", tmp_path)  # a rerun: both kinds come from the cache, each its own
    assert again.generate(PROMPTS, 3, chat=True) == chat and again.generate(PROMPTS, 3) == raw
    assert again.usage()["cached"] == 2 * len(PROMPTS) and fake.endpoints["chat/completions"] == 6
    assert estimate(api.spec, PROMPTS, 3, [], tmp_path, chat=True)["cached"] == len(PROMPTS)
    assert estimate(api.spec, PROMPTS, 3, [], tmp_path / "other", chat=True)["cached"] == 0
    with pytest.raises(ApiError, match=r"not an OpenAI-compatible chat server: its answer has no choices\[0\]\.message"):
        backend(fake, "ok-no-logprobs", tmp_path / "x").generate(PROMPTS[:1], 3, chat=True)
