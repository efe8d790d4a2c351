"""Fixtures for the API backend: llama-cpp-python's own OpenAI-compatible server serving a zoo GGUF,
and a fake-but-real HTTP server that misbehaves on purpose (tests/api/fake_server.py). Both bind
127.0.0.1 on a free port, start once per session and stop at its end."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.fake_server import FakeOpenAI

IN_CI = os.environ.get("CI", "").lower() == "true"
SERVER_PACKAGES = ("fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_models(base_url: str, proc: subprocess.Popen, log: Path, seconds: float = 90) -> None:
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"llama_cpp.server did not answer within {seconds:g} s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def llama_server(small_zoo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """`python -m llama_cpp.server` serving the small zoo's zoo/llama-s-f16 GGUF: {"base_url", "gguf", "model"}."""
    missing = [name for name in SERVER_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        reason = f"llama-cpp-python[server] is not installed (missing {', '.join(missing)}): scripts/setup installs it"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    gguf = small_zoo.parent / "llama-s-f16.gguf"
    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
             "--port", str(port), "--n_threads", "1", "--n_ctx", "1024"],
            stdout=out, stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_for_models(base_url, proc, log)
        yield {"base_url": base_url, "gguf": gguf, "model": "llama-s-f16", "zoo_id": "zoo/llama-s-f16", "port": port}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


LLAMA_EXTRA = {"repeat_penalty": 1.0}
"""llama.cpp's server applies repeat_penalty 1.1 unless told otherwise: greedy means 1.0."""


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def fake(fake_openai: FakeOpenAI) -> FakeOpenAI:
    fake_openai.reset()
    return fake_openai


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One artifact store for the session (a model extracted once is reused: speed only)."""
    return tmp_path_factory.mktemp("api-artifacts")


@pytest.fixture
def kb(tmp_path: Path):
    from kb.stores import StoreConfig, open_store

    with open_store(StoreConfig(kind="embedded", db=tmp_path / "kb")) as opened:
        yield opened
