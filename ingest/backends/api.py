"""The `api` backend: a model behind an OpenAI-compatible HTTP server (`POST {base_url}/completions`, or
`{base_url}/chat/completions` under a chat-template protocol).

What the local backends do with weights, this one does with requests, under the same contract
(ingest/backends/base.py) so that an API model's DNA compares with a local one of the same protocol:

- generate: one completion per probe, the prompt as plain text, `temperature` 0, `top_p` 1, `seed` 0,
  `max_tokens` = the protocol's budget, no stop strings (the server stops at the model's end token).
  Whether the server adds the model's BOS token is its own business (llama.cpp's server does when the
  GGUF says so); a server's non-greedy defaults beyond OpenAI's fields (llama.cpp's `repeat_penalty`
  1.1) are switched off through the entry's `extra_body`. With `chat=True` each probe is one user message
  to `/chat/completions` (the server applies the model's own chat template), the answer
  `choices[0].message.content`; the same fields otherwise. Raw and chat answers are cached under
  different keys (the key hashes the endpoint and the body), so they never mix.
- score: `echo` + `logprobs` with `max_tokens` 1; the prompt's token log-probabilities are summed. The
  API reports no log-probability for the first token (OpenAI's convention, kept by llama.cpp), so the
  first token given BOS, which the local backends score, is missing: measured in bench/RESULTS.md. A
  server that gives no prompt log-probabilities makes the channel unavailable for that model (the
  reason is kept), not a failure.
- determinism: every request asks `seed` 0 at temperature 0; the first probe is asked a second time,
  past the cache, and the artifact's meta says whether the two answers were identical and which
  `system_fingerprint`s the server reported (a server that ignores `seed` shows it there).

What a paid API needs: `concurrency` requests in flight; retries with exponential backoff on 429 and
5xx (honouring `Retry-After`), on timeouts and on answers cut short; a count of requests and tokens;
every valid answer cached (`ResponseCache`, one JSON line each, in the model's artifact folder) so an
interrupted run resumes without asking again; one clear line for a bad key, an unknown model, an
unreachable host, or a server that does not speak the protocol. The key is read from the environment
variable the entry names, at run time only, and is scrubbed from every message.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import math
import os
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import DnaKbError, InputError
from ingest.backends.base import Backend, ProgressFn

DEFAULT_CONCURRENCY = 4
DEFAULT_RETRIES = 5
DEFAULT_TIMEOUT = 120.0
BACKOFF_BASE = 1.0
"""Seconds before the first retry; doubled each time, with up to 25% jitter, capped at BACKOFF_CAP."""
BACKOFF_CAP = 60.0
CACHE_FILE = "api-responses.jsonl"
BYTES_PER_TOKEN = 4
"""The dry-run's estimate of prompt tokens when no tokenizer is at hand (OpenAI's rule of thumb for English)."""
MAX_BYTES_PER_TOKEN = 64
"""An answer longer than this many UTF-8 bytes per allowed token means the server ignored `max_tokens`
(used only when the server reports no token usage)."""
RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ApiError(DnaKbError):
    """The server could not serve this model (bad key, unknown model, unreachable, not OpenAI-compatible,
    rate-limited past every retry): the model fails, the rest of the batch goes on."""


# --- what names an API model -------------------------------------------------------------------
@dataclass(frozen=True)
class ApiSpec:
    """One model behind an API: where (`base_url`, e.g. http://127.0.0.1:8080/v1), which (`model`), the
    environment variable holding the key (None: no key), and how to ask (`extra_body`: JSON fields sent
    with every request, e.g. {"repeat_penalty": 1.0} for llama.cpp's server)."""

    base_url: str
    model: str
    api_key_env: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    extra_body: tuple[tuple[str, Any], ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES

    def __post_init__(self) -> None:
        problems = check_spec(self.base_url, self.model, self.api_key_env, self.concurrency, dict(self.extra_body))
        if problems:
            raise InputError("; ".join(problems))
        object.__setattr__(self, "base_url", normalise_url(self.base_url))
        object.__setattr__(self, "extra_body", tuple(sorted(dict(self.extra_body).items())))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ApiSpec":
        extra = data.get("extra_body") or {}
        return cls(base_url=data["base_url"], model=data["model"], api_key_env=data.get("api_key_env"),
                   concurrency=int(data.get("concurrency") or DEFAULT_CONCURRENCY),
                   extra_body=tuple(extra.items()) if isinstance(extra, dict) else tuple(map(tuple, extra)),
                   timeout=float(data.get("timeout") or DEFAULT_TIMEOUT),
                   retries=int(data["retries"]) if data.get("retries") is not None else DEFAULT_RETRIES)

    def to_dict(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "model": self.model, "api_key_env": self.api_key_env,
                "concurrency": self.concurrency, "extra_body": dict(self.extra_body), "timeout": self.timeout,
                "retries": self.retries}

    def identity(self) -> dict[str, Any]:
        """What names the model (and what it is asked with): the base of its fingerprint."""
        return {"kind": "api", "base_url": self.base_url, "model": self.model, "extra_body": dict(self.extra_body)}

    def fingerprint(self) -> str:
        """sha256 of the identity's canonical JSON: the artifact key that a weights hash is for a local model."""
        blob = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.model} at {self.base_url}"

    def key(self) -> str | None:
        """The key from the environment, read now; ApiError when the named variable is unset."""
        if not self.api_key_env:
            return None
        value = os.environ.get(self.api_key_env)
        if not value:
            raise ApiError(f"the environment variable {self.api_key_env} (api_key_env of {self.label}) is not set: "
                           "export the API key in it")
        return value


def normalise_url(url: str) -> str:
    return url.strip().rstrip("/")


def check_spec(base_url: Any, model: Any, api_key_env: Any, concurrency: Any = DEFAULT_CONCURRENCY,
               extra_body: Any = None) -> list[str]:
    """Every problem with an API entry's fields (empty when none): used by the manifest's validation."""
    problems = []
    if not isinstance(base_url, str) or not base_url.strip():
        problems.append("missing 'base_url' (the server's OpenAI API root, e.g. http://127.0.0.1:8080/v1)")
    else:
        parts = urllib.parse.urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(f"base_url {base_url!r} is not an http(s) URL with a host")
        elif parts.username or parts.password or parts.query or parts.fragment:
            problems.append(f"base_url {_redact_url(base_url)!r} carries credentials, a query or a fragment: "
                            "give the bare API root and the key through api_key_env")
        elif any(c.isspace() or ord(c) < 32 for c in base_url.strip()):
            problems.append("base_url holds whitespace or control characters")
    if not isinstance(model, str) or not model.strip():
        problems.append("missing 'model' (the model id the server knows)")
    elif any(ord(c) < 32 for c in model):
        problems.append("model holds a control character")
    if api_key_env is not None and (not isinstance(api_key_env, str) or not _ENV_NAME.match(api_key_env)):
        problems.append(f"api_key_env must name an environment variable (letters, digits, _), got {api_key_env!r}"
                        if not (isinstance(api_key_env, str) and api_key_env.startswith(("sk-", "Bearer")))
                        else "api_key_env must NAME the environment variable holding the key, not hold the key")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 256:
        problems.append(f"concurrency={concurrency!r}: a whole number from 1 to 256")
    if extra_body is not None:
        if not isinstance(extra_body, dict) or not all(isinstance(k, str) for k in extra_body):
            problems.append("extra_body must be a mapping of request fields")
        else:
            reserved = sorted(set(extra_body) & {"model", "prompt", "messages", "max_tokens", "echo", "logprobs",
                                                 "stream", "n"})
            if reserved:
                problems.append(f"extra_body must not set {', '.join(reserved)} (the backend sets them)")
            try:
                json.dumps(extra_body, allow_nan=False)
            except (TypeError, ValueError):
                problems.append("extra_body must be plain JSON")
    return problems


def _redact_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    return urllib.parse.urlunsplit((parts.scheme, host + (f":{parts.port}" if parts.port else ""), parts.path, "", ""))


# --- request bodies (shared with the dry-run's estimate) ---------------------------------------
def generate_body(spec: ApiSpec, prompt: str, max_tokens: int) -> dict[str, Any]:
    return {**dict(spec.extra_body), "model": spec.model, "prompt": prompt, "max_tokens": int(max_tokens),
            "temperature": 0.0, "top_p": 1.0, "seed": 0, "n": 1, "stream": False}


def chat_body(spec: ApiSpec, prompt: str, max_tokens: int) -> dict[str, Any]:
    """generate_body for /chat/completions: the probe as one user message."""
    body = generate_body(spec, prompt, max_tokens)
    del body["prompt"]
    return {**body, "messages": [{"role": "user", "content": prompt}]}


def generation_request(spec: ApiSpec, prompt: str, max_tokens: int, chat: bool) -> tuple[str, dict[str, Any]]:
    """(endpoint, body) of one probe: /chat/completions under a chat-template protocol, else /completions."""
    if chat:
        return "chat/completions", chat_body(spec, prompt, max_tokens)
    return "completions", generate_body(spec, prompt, max_tokens)


def score_body(spec: ApiSpec, text: str) -> dict[str, Any]:
    return {**dict(spec.extra_body), "model": spec.model, "prompt": text, "max_tokens": 1, "temperature": 0.0,
            "top_p": 1.0, "seed": 0, "n": 1, "stream": False, "echo": True, "logprobs": 1}


def request_key(endpoint: str, body: dict[str, Any]) -> str:
    blob = json.dumps([endpoint, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


# --- the response cache ------------------------------------------------------------------------
class ResponseCache:
    """Valid answers by request key, one JSON line each, appended and flushed as they arrive.

    A run killed mid-write leaves at most a cut last line, which is ignored when read; only answers that
    passed every check are written, so the cache never holds an error page or an over-long answer.
    """

    def __init__(self, path: Path | None, *, read: bool = True) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._entries: dict[str, Any] = {}
        if path is not None and read and path.is_file():
            self._entries = read_cache(path)

    def get(self, key: str) -> Any | None:
        return self._entries.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, key: str, value: Any) -> None:
        line = json.dumps({"key": key, "value": value}, ensure_ascii=False, allow_nan=False) + "\n"
        with self._lock:
            self._entries[key] = value
            if self.path is None:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()


def read_cache(path: Path) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return entries
    for line in lines:
        try:
            item = json.loads(line)
            entries[str(item["key"])] = item["value"]
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by a crash
    return entries


# --- HTTP --------------------------------------------------------------------------------------
@dataclass
class Usage:
    """What one run asked of the server (answers from the cache cost nothing)."""

    requests: int = 0
    retries: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    system_fingerprints: set[str] = field(default_factory=set)
    server_models: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "retries": self.retries, "cached": self.cached,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}


class _Retry(Exception):
    """A failure worth another try: (reason, seconds the server asked us to wait, or None)."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.wait = reason, wait


class ApiClient:
    """POSTs JSON to one OpenAI-compatible server with retries; thread-safe counters."""

    def __init__(self, spec: ApiSpec, *, backoff: float = BACKOFF_BASE, sleep: Callable[[float], None] = time.sleep) -> None:
        self.spec = spec
        self._key = spec.key()
        self.backoff = backoff
        self._sleep = sleep
        self.usage = Usage()
        self._lock = threading.Lock()

    def scrub(self, text: str) -> str:
        """One line of server text, at most 200 characters, with the key (and any bearer token) removed."""
        text = " ".join(str(text).split())
        if self._key:
            text = text.replace(self._key, "***")
        text = re.sub(r"(?i)(bearer\s+)\S+", r"\1***", text)
        text = re.sub(r"\bsk-[A-Za-z0-9_\-]{6,}", "sk-***", text)
        return text[:200] + ("…" if len(text) > 200 else "")

    def post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """The JSON object the server answers, after up to `retries` retries of transient failures."""
        url = f"{self.spec.base_url}/{endpoint}"
        data = json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "dnakb"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        last = ""
        for attempt in range(self.spec.retries + 1):
            with self._lock:
                self.usage.requests += 1
                if attempt:
                    self.usage.retries += 1
            try:
                return self._once(url, data, headers, endpoint)
            except _Retry as retry:
                last = retry.reason
                if attempt == self.spec.retries:
                    break
                delay = retry.wait if retry.wait is not None else min(BACKOFF_CAP, self.backoff * 2 ** attempt)
                self._sleep(min(BACKOFF_CAP, delay) * (1 + 0.25 * random.random()))
        raise ApiError(f"{self.spec.label}: {last} through {self.spec.retries} retries: try later, or lower "
                       "the entry's concurrency; answers so far are cached")

    def _once(self, url: str, data: bytes, headers: dict[str, str], endpoint: str) -> dict[str, Any]:
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.spec.timeout) as response:  # noqa: S310 - http(s) checked
                raw = response.read()
                content_type = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as error:
            raise self._http_error(error, endpoint) from None
        except (http.client.IncompleteRead, http.client.RemoteDisconnected, ConnectionResetError) as error:
            raise _Retry(f"the server cut its answer short ({type(error).__name__})") from None
        except (TimeoutError, socket.timeout):
            raise _Retry(f"no answer within {self.spec.timeout:g} s") from None
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, (TimeoutError, socket.timeout)):
                raise _Retry(f"no answer within {self.spec.timeout:g} s") from None
            if isinstance(reason, ConnectionResetError):
                raise _Retry("the connection was reset") from None
            raise ApiError(f"cannot reach {self.spec.base_url} ({self.scrub(str(reason))}): is the server up "
                           "and the base_url right?") from None
        except http.client.HTTPException as error:
            raise _Retry(f"a broken HTTP answer ({type(error).__name__})") from None
        except OSError as error:
            raise ApiError(f"cannot reach {self.spec.base_url} ({self.scrub(str(error))})") from None
        return self._parse(raw, content_type, endpoint)

    def _parse(self, raw: bytes, content_type: str, endpoint: str) -> dict[str, Any]:
        text = raw.decode("utf-8", errors="replace")
        try:
            answer = json.loads(text)
        except ValueError:
            if not text.strip():
                raise _Retry(f"an empty answer to /{endpoint}") from None
            if "html" in content_type.lower() or text.lstrip()[:1] == "<":
                raise ApiError(f"{self.spec.base_url} is not an OpenAI-compatible server: /{endpoint} answered an "
                               f"HTML page ({self.scrub(text[:80])!r})") from None
            if text.lstrip()[:1] in "{[":  # JSON cut short: a truncated stream
                raise _Retry(f"the server cut its JSON answer short ({len(raw)} bytes)") from None
            raise ApiError(f"{self.spec.base_url} is not an OpenAI-compatible server: /{endpoint} answered "
                           f"non-JSON ({self.scrub(text[:80])!r})") from None
        if not isinstance(answer, dict):
            raise ApiError(f"{self.spec.base_url} is not an OpenAI-compatible server: /{endpoint} answered a JSON "
                           f"{type(answer).__name__}, not an object")
        if "error" in answer and "choices" not in answer:
            raise ApiError(f"{self.spec.label}: the server answered an error ({self.scrub(_error_text(answer))})")
        return answer

    def _http_error(self, error: urllib.error.HTTPError, endpoint: str) -> Exception:
        status = error.code
        try:
            body = error.read().decode("utf-8", errors="replace")
        except Exception:  # noqa: BLE001 - the body of an error is a courtesy
            body = ""
        try:
            message = _error_text(json.loads(body))
        except ValueError:
            message = "an HTML page" if body.lstrip()[:1] == "<" else body
        message = self.scrub(message)
        if status in RETRY_STATUS:
            return _Retry(f"HTTP {status}" + (f" ({message})" if message else ""), _retry_after(error.headers))
        if status in (401, 403):
            where = f"the key in {self.spec.api_key_env}" if self.spec.api_key_env else "no key (set api_key_env)"
            return ApiError(f"{self.spec.base_url} refused {where} (HTTP {status}" + (f": {message}" if message else "")
                            + "): check the key and its access to this model")
        lowered = message.lower()
        if status in (400, 404, 422) and "model" in lowered and any(
                w in lowered for w in ("not found", "does not exist", "unknown", "no such", "not exist", "invalid model")):
            return ApiError(f"{self.spec.base_url} does not serve model {self.spec.model!r} (HTTP {status}: {message})")
        if status in (404, 405):
            return ApiError(f"{self.spec.base_url} has no /{endpoint} (HTTP {status}): not an OpenAI-compatible "
                            "server, or the base_url lacks its /v1")
        return ApiError(f"{self.spec.label}: the server refused the request (HTTP {status}"
                        + (f": {message}" if message else "") + ")")


def _error_text(answer: Any) -> str:
    if isinstance(answer, dict):
        err = answer.get("error", answer.get("detail", answer))
        if isinstance(err, dict):
            return str(err.get("message") or err.get("msg") or err)
        if isinstance(err, list) and err and isinstance(err[0], dict):
            return str(err[0].get("msg") or err[0])
        return str(err)
    return str(answer)


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


# --- the backend -------------------------------------------------------------------------------
class ApiBackend(Backend):
    """A model behind an OpenAI-compatible API, under the shared backend contract."""

    name = "api"

    def __init__(self, spec: ApiSpec, *, cache_dir: str | os.PathLike[str] | None = None, fresh: bool = False,
                 backoff: float = BACKOFF_BASE) -> None:
        super().__init__(Path(spec.base_url))
        self.spec = spec
        self.client = ApiClient(spec, backoff=backoff)
        self.cache = ResponseCache(Path(cache_dir) / CACHE_FILE if cache_dir else None, read=not fresh)
        self.architecture = None
        self.device = "remote"
        self.dtype = None
        self.determinism: dict[str, Any] = {}

    # -- one request, cached ------------------------------------------------------------------------
    def _ask(self, endpoint: str, body: dict[str, Any], check: Callable[[dict[str, Any]], Any],
             use_cache: bool = True) -> Any:
        key = request_key(endpoint, body)
        if use_cache and key in self.cache:
            with self.client._lock:
                self.client.usage.cached += 1
            return self.cache.get(key)
        answer = self.client.post(endpoint, body)
        value = check(answer)
        usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else {}
        with self.client._lock:
            self.client.usage.prompt_tokens += _int(usage.get("prompt_tokens"))
            self.client.usage.completion_tokens += _int(usage.get("completion_tokens"))
            if isinstance(answer.get("system_fingerprint"), str):
                self.client.usage.system_fingerprints.add(answer["system_fingerprint"])
            if isinstance(answer.get("model"), str):
                self.client.usage.server_models.add(answer["model"])
        if use_cache:
            self.cache.put(key, value)
        return value

    def _in_parallel(self, items: Sequence[Any], call: Callable[[Any], Any], progress: ProgressFn | None,
                     label: str) -> list[Any]:
        """call(item) for every item, `concurrency` at a time, in order; the first error stops the rest."""
        out: list[Any] = [None] * len(items)
        every = max(1, len(items) // 20)
        done = 0
        stop = threading.Event()

        def guarded(item: Any) -> Any:  # the failing thread stops the others before it reports
            if stop.is_set():
                return None
            try:
                return call(item)
            except BaseException:
                stop.set()
                raise

        with ThreadPoolExecutor(max_workers=self.spec.concurrency, thread_name_prefix="dnakb-api") as pool:
            futures = {pool.submit(guarded, item): i for i, item in enumerate(items)}
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in finished:
                    error = future.exception()
                    if error is not None:
                        for other in pending:
                            other.cancel()
                        raise error
                    out[futures[future]] = future.result()
                    done += 1
                    if progress and (done % every == 0 or done == len(items)):
                        progress(f"{label}: {done}/{len(items)}")
        return out

    # -- generation ---------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[str], max_new_tokens: int, progress: ProgressFn | None = None, *,
                 chat: bool = False) -> list[str]:
        if max_new_tokens < 1:
            raise InputError(f"max_new_tokens={max_new_tokens}: expected at least 1")
        self.chat_used = "template" if chat else None  # the server applies the model's template
        check = lambda answer: self._completion_text(answer, max_new_tokens, chat)  # noqa: E731
        texts = self._in_parallel(list(prompts),
                                  lambda p: self._ask(*generation_request(self.spec, p, max_new_tokens, chat), check),
                                  progress, "generate")
        if texts and not any(t.strip() for t in texts):
            hint = "a wrong model id?" if chat else "a wrong model id, or a chat-only endpoint (try --chat-template)?"
            raise ApiError(f"{self.spec.label}: every one of {len(texts)} answers is empty: the server returns no "
                           f"text for this model ({hint})")
        if prompts:
            again = self._ask(*generation_request(self.spec, prompts[0], max_new_tokens, chat), check, use_cache=False)
            self.determinism = {"temperature": 0.0, "seed": 0, "repeated_probe": 0, "repeat_identical": again == texts[0],
                                "system_fingerprints": sorted(self.client.usage.system_fingerprints)}
            if again != texts[0]:
                self.determinism["note"] = ("the server answered the same greedy request differently: it ignores "
                                            "seed/temperature 0 or batches non-deterministically")
        self.tokens_generated = self.client.usage.completion_tokens
        return texts

    def _completion_text(self, answer: dict[str, Any], max_tokens: int, chat: bool = False) -> str:
        choice = _first_choice(answer, self.spec)
        if chat:
            message = choice.get("message")
            if not isinstance(message, dict) or not isinstance(message.get("content") or "", str):
                raise ApiError(f"{self.spec.base_url} is not an OpenAI-compatible chat server: its answer has no "
                               "choices[0].message.content")
            text = message.get("content") or ""  # null content: an empty answer
        else:
            text = choice.get("text")
        if not isinstance(text, str):
            raise ApiError(f"{self.spec.base_url} is not an OpenAI-compatible completions server: its answer has no "
                           "choices[0].text")
        usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else {}
        used = usage.get("completion_tokens")
        if (isinstance(used, int) and used > max_tokens) or len(text.encode()) > MAX_BYTES_PER_TOKEN * max_tokens:
            got = f"{used} tokens" if isinstance(used, int) else f"{len(text.encode())} bytes"
            raise ApiError(f"{self.spec.label}: the server ignored max_tokens={max_tokens} (answered {got}): it "
                           "cannot run this protocol")
        return text

    # -- scoring ------------------------------------------------------------------------------------
    def score(self, texts: Sequence[str]) -> list[tuple[float, int]]:
        return self._in_parallel(list(texts), self._score_one, None, "score")

    def _score_one(self, text: str) -> tuple[float, int]:
        nbytes = len(text.encode("utf-8"))
        value = self._ask("completions", score_body(self.spec, text), lambda answer: self._prompt_logprob(answer, text))
        return float(value), nbytes

    def _prompt_logprob(self, answer: dict[str, Any], text: str) -> float:
        """Σ log p of the prompt's tokens from an echo + logprobs answer (the first has none)."""
        choice = _first_choice(answer, self.spec)
        logprobs = choice.get("logprobs")
        unavailable = (f"{self.spec.label} gives no prompt log-probabilities (echo + logprobs on /completions): "
                       "log-likelihood channel unavailable for this model")
        if not isinstance(logprobs, dict) or not isinstance(logprobs.get("token_logprobs"), list):
            raise InputError(unavailable)
        values = logprobs["token_logprobs"]
        offsets = logprobs.get("text_offset")
        usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else {}
        if isinstance(offsets, list) and len(offsets) == len(values) and all(isinstance(o, int) for o in offsets):
            n_prompt = sum(1 for o in offsets if o < len(text))
        elif isinstance(usage.get("prompt_tokens"), int):
            n_prompt = min(len(values), int(usage["prompt_tokens"]))
        else:
            raise InputError(unavailable + " (no text offsets or prompt token count to tell prompt from answer)")
        echoed = choice.get("text")
        if n_prompt < 1 or (isinstance(echoed, str) and not echoed.startswith(text[: max(1, min(len(text), 8))])):
            raise InputError(unavailable + " (the prompt was not echoed)")
        prompt = values[:n_prompt]
        if not all(v is None or isinstance(v, (int, float)) for v in prompt):
            raise ApiError(f"{self.spec.label}: token_logprobs holds non-numbers: not an OpenAI-compatible answer")
        total = float(sum(v for v in prompt if v is not None))
        if not math.isfinite(total):
            raise ApiError(f"{self.spec.label}: a prompt log-probability is not finite")
        return total

    # -- what the artifact records -------------------------------------------------------------------
    def usage(self) -> dict[str, Any]:
        return self.client.usage.as_dict()

    def describe(self) -> dict[str, object]:
        usage = self.client.usage
        chat = {"chat": self.chat_used} if self.chat_used else {}
        endpoint = "chat/completions" if self.chat_used else "completions"
        return {"backend": self.name, "device": self.device, "dtype": None, "architecture": None, **chat,
                "model_path": None, "api": {"base_url": self.spec.base_url, "model": self.spec.model,
                                            "endpoint": endpoint,
                                            "identity": "sha256 of base_url + model + extra_body",
                                            "extra_body": dict(self.spec.extra_body),
                                            "concurrency": self.spec.concurrency,
                                            "server_models": sorted(usage.server_models)},
                "determinism": self.determinism or {"temperature": 0.0, "seed": 0},
                "usage": usage.as_dict()}


def _first_choice(answer: dict[str, Any], spec: ApiSpec) -> dict[str, Any]:
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ApiError(f"{spec.base_url} is not an OpenAI-compatible completions server: its answer has no choices")
    return choices[0]


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


# --- the dry-run's estimate --------------------------------------------------------------------
def estimate(spec: ApiSpec, prompts: Sequence[str], max_new_tokens: int, texts: Sequence[str],
             cache_dir: str | os.PathLike[str] | None, chat: bool = False) -> dict[str, int]:
    """Requests and tokens one extraction would ask for, those the cache already holds left out.

    Prompt tokens are estimated at 4 bytes each (no tokenizer is at hand for a remote model); answer
    tokens are the budget's upper bound. The first probe's determinism check counts as one more request.
    """
    cached = read_cache(Path(cache_dir) / CACHE_FILE) if cache_dir else {}
    todo = [p for p in prompts if request_key(*generation_request(spec, p, max_new_tokens, chat)) not in cached]
    scored = [t for t in texts if request_key("completions", score_body(spec, t)) not in cached]
    check = 1 if prompts else 0
    prompt_tokens = sum(_tokens(p) for p in todo + list(prompts[:check])) + sum(_tokens(t) for t in scored)
    completion_tokens = (len(todo) + check) * max_new_tokens + len(scored)
    return {"requests": len(todo) + check + len(scored), "cached": len(prompts) - len(todo) + len(texts) - len(scored),
            "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _tokens(text: str) -> int:
    return 1 + math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN)


__all__ = ["ApiBackend", "ApiClient", "ApiError", "ApiSpec", "ResponseCache", "chat_body", "check_spec", "estimate",
           "generate_body", "generation_request", "score_body"]
