"""A real HTTP server on 127.0.0.1 that speaks (and, on purpose, breaks) OpenAI's /v1/completions and
/v1/chat/completions (whose answer, the user message's words reversed in capitals, differs from /completions').

The request's `model` picks the behaviour, so one server serves a whole manifest of misbehaving
models. `ok` answers deterministically from the prompt (the words reversed, cut at `max_tokens` words)
with usage counts and echo log-probabilities (one token per word, log p = -len(word)/4), so a model
served by it gets a DNA and a log-likelihood profile like any other. Counters say what was asked.

Behaviours: ok, ok-no-logprobs, empty, html, nonjson, truncated, long (ignores max_tokens),
storm (429 forever), storm-then-ok (429 twice per prompt, then ok), flaky (500 after `fail_after`
answers), unknown (404 model not found), keyed (401 unless the Bearer key is `good_key`; the error
echoes the key it got, as OpenAI's does), slow (ok after 0.05 s: shows concurrency).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.seen: Counter[tuple[str, str]] = Counter()
        self.endpoints: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.fail_after: int | None = None
        self.good_key = "sk-good-key-123456"
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def start(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.seen.clear()
            self.endpoints.clear()
            self.max_in_flight = 0
            self.fail_after = None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def send(self, status: int, body: bytes, content_type: str = "application/json",
                     headers: dict[str, str] | None = None, length: int | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                chat = self.path.endswith("/v1/chat/completions")
                if not (chat or self.path.endswith("/v1/completions")):
                    self.send(404, b'{"detail":"Not Found"}')
                    return
                body = json.loads(raw)
                model = body.get("model", "")
                prompt = body["messages"][-1]["content"] if chat else body.get("prompt", "")
                with fake.lock:
                    fake.requests[model] += 1
                    fake.endpoints[self.path.rsplit("/v1/", 1)[1]] += 1
                    fake.seen[(model, prompt)] += 1
                    seen = fake.seen[(model, prompt)]
                    total = fake.requests[model]
                if chat and model in ("ok", "slow"):
                    self.send(200, json.dumps(chat_completion(body)).encode())
                    return
                self.answer(model, body, seen, total)

            def answer(self, model: str, body: dict[str, Any], seen: int, total: int) -> None:
                if model == "html":
                    self.send(200, b"<!DOCTYPE html><html><body>Welcome to nginx!</body></html>", "text/html")
                elif model == "nonjson":
                    self.send(200, b"OK completions are great", "text/plain")
                elif model == "truncated":
                    whole = json.dumps(completion(body)).encode()
                    self.send(200, whole[: len(whole) // 2], length=len(whole))  # promises more, then closes
                    self.close_connection = True
                elif model == "storm" or (model == "storm-then-ok" and seen <= 2):
                    self.send(429, b'{"error":{"message":"Rate limit reached","type":"rate_limit"}}',
                              headers={"Retry-After": "0"})
                elif model == "flaky" and fake.fail_after is not None and total > fake.fail_after:
                    self.send(503, b'{"error":{"message":"overloaded"}}', headers={"Retry-After": "0"})
                elif model == "unknown":
                    self.send(404, json.dumps({"error": {"message": f"The model `{model}` does not exist",
                                                          "code": "model_not_found"}}).encode())
                elif model == "keyed" and self.headers.get("Authorization") != f"Bearer {fake.good_key}":
                    got = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                    self.send(401, json.dumps({"error": {"message": f"Incorrect API key provided: {got}."}}).encode())
                else:
                    if model == "slow":  # in flight while it "thinks", not while the answer is on its way
                        with fake.lock:
                            fake.in_flight += 1
                            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                        time.sleep(0.05)
                        with fake.lock:
                            fake.in_flight -= 1
                    self.send(200, json.dumps(completion(body, empty=model == "empty", long=model == "long",
                                                         logprobs=model != "ok-no-logprobs")).encode())

        return Handler


def completion(body: dict[str, Any], *, empty: bool = False, long: bool = False, logprobs: bool = True) -> dict[str, Any]:
    prompt = str(body.get("prompt", ""))
    words = prompt.split()
    budget = int(body.get("max_tokens") or 16)
    answer = [] if empty else list(reversed(words))[: (budget * 10 if long else budget)]
    text = (" " + " ".join(answer)) if answer else ""
    choice: dict[str, Any] = {"index": 0, "finish_reason": "length", "logprobs": None}
    if body.get("echo"):
        choice["text"] = prompt + text
        if logprobs and body.get("logprobs") is not None:
            offsets, pos = [], 0
            for word in words:
                pos = prompt.index(word, pos)
                offsets.append(pos)
                pos += len(word)
            values: list[float | None] = [-len(w) / 4 for w in words]
            if values:
                values[0] = None
            choice["logprobs"] = {"tokens": words + answer, "text_offset": offsets + [len(prompt)] * len(answer),
                                  "token_logprobs": values + [-1.0] * len(answer), "top_logprobs": None}
    else:
        choice["text"] = text
    return {"id": "cmpl-fake", "object": "text_completion", "model": body.get("model"),
            "system_fingerprint": "fp_fake", "choices": [choice],
            "usage": {"prompt_tokens": len(words) + 1, "completion_tokens": len(answer),
                      "total_tokens": len(words) + 1 + len(answer)}}


def chat_completion(body: dict[str, Any]) -> dict[str, Any]:
    """A /chat/completions answer: the user message's words reversed in capitals, cut at `max_tokens` words."""
    words = str(body["messages"][-1]["content"]).split()
    answer = [w.upper() for w in reversed(words)][: int(body.get("max_tokens") or 16)]
    return {"id": "chatcmpl-fake", "object": "chat.completion", "model": body.get("model"),
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "finish_reason": "length",
                         "message": {"role": "assistant", "content": " ".join(answer)}}],
            "usage": {"prompt_tokens": len(words) + 4, "completion_tokens": len(answer),
                      "total_tokens": len(words) + 4 + len(answer)}}
