"""Where per-model extraction runs: local worker processes, or Ray tasks on a cluster.

Both pools run the same job (`run_job`: weights -> DNA artifact -> evidence channels) and yield
events to the caller, which is the single writer of the graph store.

Local pool: `workers` processes started with multiprocessing's *spawn* method (no inherited CUDA or
thread state). A worker takes one model at a time over its own pipe, frees it (the job's objects
go out of scope, `gc`, CUDA cache emptied) and asks for the next. A worker that dies mid-job
(segfault, `os._exit`, out-of-memory kill) is noticed through its process sentinel: that model is
reported failed with the exit signal, a fresh worker replaces the dead one, the others go on.
Workers die with the parent (Linux `PR_SET_PDEATHSIG`), so a killed ingest leaves no orphans.

Ray pool: one Ray task per model (`num_gpus=1` on a CUDA device list, `max_retries=0` so a crash
fails that model once, as locally); results come back to the driver in completion order.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import DnaKbError, InputError
from kb.faults import FAULT_ENV, fault_point


@dataclass(frozen=True)
class Job:
    """One model to extract; plain data so it pickles to a worker process or a Ray task."""

    key: int
    model_id: str
    path: str
    backend: str | None
    protocol: dict[str, Any]
    artifacts: str | None
    force: bool = False
    n_threads: int | None = None
    batch_size: int | None = None
    device: str = "cpu"  # "cpu" or "cuda" (the worker sees only its own GPU)
    api: dict[str, Any] | None = None  # a model behind an API (ingest/backends/api.py ApiSpec.to_dict); path unused


@dataclass
class Stage:
    """A progress event: a model reached a stage (loading, generating, embedding, ...)."""

    key: int
    stage: str
    worker: int


@dataclass
class JobResult:
    key: int
    ok: bool
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    worker: int = -1


def one_line(error: BaseException) -> str:
    """An exception as one line: our own errors by message, others with their type."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, DnaKbError):
        return text or type(error).__name__
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


# --- the job -----------------------------------------------------------------------------------
def run_job(job: Job, stage: Callable[[str], None] = lambda _s: None) -> dict[str, Any]:
    """Extract one model's channels (ingest/extract.py writes the artifacts); return plain data for
    the graph store. A channel other than the text DNA that fails becomes a warning, not a failure."""
    fault_point("worker", job.model_id)
    from ingest.backends.api import ApiSpec
    from ingest.extract import extract
    from kb.protocol import DnaProtocol

    stage("extracting")
    model = ApiSpec.from_dict(job.api) if job.api else job.path
    done = extract(model, DnaProtocol.from_dict(job.protocol), backend=job.backend, artifacts=job.artifacts,
                   force=job.force, batch_size=job.batch_size, n_threads=job.n_threads, device=job.device,
                   progress=stage)
    text = done.produced["text"]
    return {
        "fingerprint": done.fingerprint,
        "backend": text.detail.get("backend") or done.backend,
        "reused": done.reused,
        "n_empty": int(text.detail.get("n_empty", 0)),
        "timings": {k: float(v) for k, v in done.timings.items()},
        "vectors": {name: [float(x) for x in v] for name, v in done.vectors().items()},
        "record": done.record_fields(),
        "warnings": [f"{name} skipped: {why}" for name, why in sorted(done.skipped().items())],
        "usage": done.usage,
    }


# --- local processes ---------------------------------------------------------------------------
def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _configure_device(device: str) -> None:
    """Pin a worker to one device before torch is imported: cpu hides GPUs, cuda:N shows only N."""
    if device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    elif device.startswith("cuda:"):
        os.environ["CUDA_VISIBLE_DEVICES"] = device.split(":", 1)[1]


def _free_memory() -> None:
    gc.collect()
    try:
        import sys

        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001
        pass


def _worker_main(conn: Any, device: str, n_threads: int | None) -> None:
    _die_with_parent()
    _configure_device(device)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if n_threads:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(n_threads)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        started = time.perf_counter()
        try:
            if n_threads:
                import torch

                torch.set_num_threads(n_threads)
            job = dataclasses.replace(job, device="cpu" if device == "cpu" else "cuda")  # this worker's device
            data = run_job(job, lambda stage, key=job.key: conn.send(("stage", key, str(stage))))
            conn.send(("done", job.key, data, time.perf_counter() - started))
        except Exception as error:  # noqa: BLE001 - reported to the parent, the worker lives on
            conn.send(("error", job.key, one_line(error), time.perf_counter() - started))
        finally:
            job = None
            _free_memory()


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class _Worker:
    def __init__(self, ctx: Any, index: int, device: str, n_threads: int | None) -> None:
        parent_end, child_end = ctx.Pipe(duplex=True)
        self.index, self.device, self.conn = index, device, parent_end
        self.process = ctx.Process(
            target=_worker_main, args=(child_end, device, n_threads), name=f"dnakb-worker-{index}", daemon=True
        )
        self.process.start()
        child_end.close()
        self.job: Job | None = None
        self.started = 0.0
        self.stage = "starting"

    def give(self, job: Job) -> None:
        self.job, self.started, self.stage = job, time.perf_counter(), "queued"
        self.conn.send(job)

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, BrokenPipeError):
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class LocalPool:
    """`workers` spawned processes, round-robin over `devices`."""

    def __init__(self, workers: int = 1, devices: Sequence[str] = ("cpu",), n_threads: int | None = None) -> None:
        if workers < 1:
            raise InputError(f"--workers {workers}: need at least 1")
        self.workers = workers
        self.devices = check_devices(devices)
        cores = os.cpu_count() or 1
        self.n_threads = n_threads or max(1, cores // workers)

    def run(self, jobs: Sequence[Job]) -> Iterator[Stage | JobResult]:
        import multiprocessing
        from multiprocessing.connection import wait

        ctx = multiprocessing.get_context("spawn")
        todo = deque(jobs)
        pool: list[_Worker] = []
        spawned = 0

        def spawn() -> _Worker:
            nonlocal spawned
            worker = _Worker(ctx, spawned, self.devices[spawned % len(self.devices)], self.n_threads)
            spawned += 1
            return worker

        try:
            while todo or any(w.job is not None for w in pool):
                # fill: replace dead idle workers, give idle ones the next model
                for worker in list(pool):
                    if worker.job is None and not worker.process.is_alive():
                        pool.remove(worker)
                        worker.conn.close()
                idle = sum(1 for w in pool if w.job is None)
                for _ in range(min(self.workers - len(pool), len(todo) - idle)):
                    pool.append(spawn())
                for worker in pool:
                    if worker.job is None and todo:
                        worker.give(todo.popleft())
                busy = [w for w in pool if w.job is not None]
                ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
                for worker in busy:
                    if worker.conn not in ready and worker.process.sentinel not in ready:
                        continue
                    finished: JobResult | None = None
                    while worker.job is not None:
                        try:
                            if not worker.conn.poll():
                                break
                            message = worker.conn.recv()
                        except (EOFError, OSError):
                            break
                        if message[0] == "stage":
                            worker.stage = message[2]
                            yield Stage(message[1], message[2], worker.index)
                            continue
                        kind, key, payload, seconds = message
                        finished = JobResult(
                            key, kind == "done", payload if kind == "done" else {},
                            None if kind == "done" else payload, seconds, worker.index,
                        )
                        worker.job = None
                    if worker.job is not None and not worker.process.is_alive():
                        worker.process.join()
                        finished = JobResult(
                            worker.job.key, False,
                            error=f"worker crashed ({_exit_reason(worker.process.exitcode)}) while {worker.stage}",
                            seconds=time.perf_counter() - worker.started, worker=worker.index,
                        )
                        worker.job = None
                    if finished is not None:
                        yield finished
        finally:
            for worker in pool:
                worker.stop()


# --- Ray ---------------------------------------------------------------------------------------
def _ray_job(job: Job) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    return run_job(job), time.perf_counter() - started


class RayPool:
    """One Ray task per model on the cluster at `address` ("local" starts a private local Ray)."""

    def __init__(self, address: str, devices: Sequence[str] = ("cpu",), n_threads: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise InputError("--ray needs Ray, an optional extra: pip install 'llm-dna-kb[ray]' (scripts/setup installs it)") from None
        self.ray = ray
        self.devices = check_devices(devices)
        self.n_threads = n_threads
        self.gpus = 1 if any(d.startswith("cuda") for d in self.devices) else 0
        package_root = str(Path(__file__).resolve().parents[1])
        env = {"PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", FAULT_ENV, "DNAKB_ARTIFACTS"):
            if name in os.environ:
                env[name] = os.environ[name]
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
        self.started_here = not ray.is_initialized()
        if self.started_here:
            kwargs: dict[str, Any] = {"runtime_env": {"env_vars": env}, "log_to_driver": False}
            if address == "local":
                kwargs.update(include_dashboard=False, object_store_memory=256 << 20)
            else:
                kwargs["address"] = address
            try:
                ray.init(**kwargs)
            except ConnectionError as error:
                raise InputError(f"cannot reach the Ray cluster at {address!r} ({error}); start it with `ray start --head`") from None

    def run(self, jobs: Sequence[Job]) -> Iterator[Stage | JobResult]:
        ray = self.ray
        # max_calls=1: a Ray worker process runs one model and exits, freeing its memory (and GPU)
        task = ray.remote(num_gpus=self.gpus, num_cpus=1, max_retries=0, max_calls=1)(_ray_job)
        refs = {}
        for job in jobs:
            if self.n_threads and job.n_threads is None:
                job = Job(**{**job.__dict__, "n_threads": self.n_threads})
            refs[task.remote(job)] = job
            yield Stage(job.key, "submitted", -1)
        submitted = {ref: time.perf_counter() for ref in refs}
        try:
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1)
                for ref in done:
                    job = refs.pop(ref)
                    try:
                        data, seconds = ray.get(ref)
                        yield JobResult(job.key, True, data, None, seconds)
                    except ray.exceptions.RayTaskError as error:
                        cause = error.cause if isinstance(error.cause, BaseException) else error
                        yield JobResult(job.key, False, error=one_line(cause), seconds=time.perf_counter() - submitted[ref])
                    except ray.exceptions.RayError as error:  # worker died, node lost, ...
                        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                        yield JobResult(
                            job.key, False, error=f"Ray worker crashed ({type(error).__name__}: {reason[:200]})",
                            seconds=time.perf_counter() - submitted[ref],
                        )
        finally:
            for ref in refs:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self.started_here:
            self.ray.shutdown()


def check_devices(devices: Sequence[str] | str) -> list[str]:
    """`cpu` or `cuda:N` names (`cuda` alone means cuda:0)."""
    if isinstance(devices, str):
        devices = [d for d in devices.split(",")]
    out: list[str] = []
    for raw in devices:
        device = raw.strip().lower()
        if device == "cuda":
            device = "cuda:0"
        if device != "cpu" and not (device.startswith("cuda:") and device[5:].isdigit()):
            raise InputError(f"unknown device {raw!r}: use cpu or cuda:N (e.g. --devices cuda:0,cuda:1)")
        out.append(device)
    if not out:
        raise InputError("no devices: use --devices cpu or cuda:0,...")
    return out


__all__ = ["Job", "JobResult", "Stage", "LocalPool", "RayPool", "run_job", "check_devices", "one_line"]
