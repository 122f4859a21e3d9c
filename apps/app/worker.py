"""The one thread that owns the models and runs jobs from a FIFO queue.

MLX streams belong to the thread that made them, so this thread creates the engine and loads every
model itself, and keeps them loaded between jobs. A change of dtype or quantization makes a new engine;
a change of preset loads only the models that differ. Cancel is a flag read between steps. Every error
becomes a `failed` event with the one-line message the CLI would print; the thread never dies with a
job left running (its loop catches everything, and a dying thread fails the waiting jobs).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import io
import itertools
import queue
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from rae_spec.parameters import parameter_count
from rae_spec.step_state import Cancelled, StepState

from ..engines import check_quantize, choose_backend, make_engine
from ..errors import error_message, is_user_error
from ..estimate import Timing, TimingStore
from ..hub import Store
from ..images import to_uint8
from ..job import (
    Listener,
    Plan,
    SampleJob,
    generate,
    grid_image,
    image_record,
    load_models,
    plan_job,
    save_image,
)
from ..machine import (
    FULL_SIZE_PARAMETERS,
    MAX_AUTO_BATCH,
    available_memory,
    choose_batch_size,
    precision_of,
    slow_path,
)
from ..registry import Registry
from .events import EventBus

STATUSES = ("queued", "running", "done", "cancelled", "failed")
PROGRESS_INTERVAL = 0.05  # seconds between progress events (every preview step is sent regardless)


@dataclass
class JobState:
    """A job in the queue, as `GET /api/jobs/{id}` reports it."""

    id: str
    job: SampleJob
    preview_every: int = 0
    low_memory: bool | None = None  # None: the app's setting
    status: str = "queued"
    step: int = 0
    steps: int = 0
    images: list[str] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    eta: float | None = None
    timing: dict[str, float] = field(default_factory=dict)  # seconds spent sampling, in previews, decoding
    cancel: threading.Event = field(default_factory=threading.Event)

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "step": self.step, "steps": self.steps,
                "images": list(self.images), "error": self.error, "notes": list(self.notes),
                "eta": self.eta, "timing": dict(self.timing), "job": self.job.to_json(),
                "preview_every": self.preview_every,
                "created": self.created, "started": self.started, "finished": self.finished}


@dataclass
class Settings:
    """What `rae app` was started with."""

    registry: Registry
    store: Store
    output_dir: Path
    backend: str = "auto"
    low_memory: bool = False


class Worker:
    def __init__(self, settings: Settings, events: EventBus, timing: TimingStore | None = None):
        self.settings = settings
        self.events = events
        self.timing = timing or TimingStore()
        self.backend = choose_backend(settings.backend)
        self.queue: queue.Queue[JobState | tuple | None] = queue.Queue()
        self.jobs: dict[str, JobState] = {}
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.engine: Any = None
        self.engine_key: tuple[str, int | None] | None = None
        self.engine_info: dict[str, Any] = {}
        self.current: JobState | None = None
        self.thread = threading.Thread(target=self._loop, name="rae-app-worker", daemon=True)

    # ------------------------------------------------------------------------------------------ control

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        for state in self.list():
            state.cancel.set()
        self.queue.put(None)
        self.thread.join(timeout)

    def preload(self, job: SampleJob) -> None:
        """Load a job's models now (on the worker thread), so the first image comes sooner."""
        self.queue.put(("load", job))

    def submit(self, job: SampleJob, preview_every: int = 0, low_memory: bool | None = None) -> JobState:
        state = JobState(f"{datetime.now():%H%M%S}-{next(self.ids)}", job, max(0, int(preview_every)), low_memory)
        with self.lock:
            self.jobs[state.id] = state
        if not self.thread.is_alive():  # never accept work nobody will do
            self._finish(state, "failed", "the worker thread is not running; restart `rae app`")
            return state
        self.queue.put(state)
        self.events.publish("queued", id=state.id, position=self.queue.qsize(), job=job.to_json())
        return state

    def check(self, job: SampleJob) -> Plan:
        """What running the job would find wrong before any compute (unknown classes, options the pipeline or
        the backend cannot do, files not downloaded), found now so a request can answer 400 at once instead
        of queueing a job that fails later. Never downloads."""
        check_quantize(self.backend, job.quantize)
        return plan_job(job, self.settings.registry, self.settings.store, download=False)

    def cancel(self, job_id: str) -> JobState | None:
        state = self.get(job_id)
        if state is None:
            return None
        with self.lock:  # the loop claims a queued job under the same lock
            state.cancel.set()
            was_queued = state.status == "queued"
            if was_queued:
                state.status = "cancelled"
        if was_queued:  # the loop skips it; say so now
            self._finish(state, "cancelled")
        return state

    def get(self, job_id: str) -> JobState | None:
        with self.lock:
            return self.jobs.get(job_id)

    def list(self) -> list[JobState]:
        with self.lock:
            return list(self.jobs.values())

    def status(self) -> dict[str, Any]:
        return {"backend": self.backend, "engine": self.engine_info, "alive": self.thread.is_alive(),
                "current": self.current.id if self.current else None, "queued": self.queue.qsize(),
                "loaded": self._loaded()}

    def _loaded(self) -> list[str]:
        engine = self.engine
        return sorted(getattr(engine, "loaded", {}) or {}) if engine is not None else []

    # ------------------------------------------------------------------------------------------ the thread

    def _loop(self) -> None:
        try:
            while True:
                state = self.queue.get()
                if state is None:
                    return
                if isinstance(state, tuple):
                    self._preload(state[1])
                    continue
                with self.lock:
                    if state.status != "queued":  # cancelled while waiting
                        continue
                    state.status = "running"
                try:
                    self._run(state)
                except BaseException as e:  # noqa: BLE001 - _run reports; this is the last line of defence
                    self._finish(state, "failed", error_message(e))
                    if not isinstance(e, Exception):
                        raise
        finally:
            for state in self.list():  # nothing waits forever on a dead worker
                if state.status in ("queued", "running"):
                    self._finish(state, "failed", "the worker thread stopped")
            self.engine = None

    def _finish(self, state: JobState, status: str, error: str | None = None) -> None:
        state.status, state.error, state.finished = status, error, time.time()
        state.eta = None
        self.events.publish(status, id=state.id, images=list(state.images), error=error, step=state.step,
                            steps=state.steps, seconds=(state.finished - state.started) if state.started else None)

    def _engine_for(self, job: SampleJob):
        """The warm engine, or a new one when dtype or quantization changed (the old one is dropped first)."""
        key = (job.dtype, job.quantize)
        if self.engine is None or self.engine_key != key:
            if self.engine is not None:
                for what in ("dit", "decoder"):
                    self.engine.release(what)
                self.engine = None
            self.engine = make_engine(self.backend, job.dtype, job.quantize,
                                      lambda message: self.events.publish("log", message=message))
            self.engine_key = key
            self.engine_info = self.engine.describe()
        return self.engine

    def _preload(self, job: SampleJob) -> None:
        try:
            plan = plan_job(job, self.settings.registry, self.settings.store, download=False)
            self.events.publish("loading", id=None, models=["dit", "decoder"])
            engine = self._engine_for(job)
            load_models(engine, plan.pipe, self.settings.low_memory)
            self.events.publish("loaded", models=sorted(engine.loaded))
        except Exception as e:  # noqa: BLE001 - a preset that is not downloaded yet: say so, keep going
            self.events.publish("log", message=f"models not loaded at start: {error_message(e)}")

    def _run(self, state: JobState) -> None:
        state.status, state.started = "running", time.time()
        self.current = state
        self.events.publish("started", id=state.id)
        s = self.settings
        try:
            low_memory = s.low_memory if state.low_memory is None else state.low_memory
            auto = state.job.batch_size is None
            job = dataclasses.replace(state.job, batch_size=MAX_AUTO_BATCH) if auto else state.job
            plan = plan_job(job, s.registry, s.store, download=False)
            engine = self._engine_for(state.job)
            if auto:  # the largest batch that fits the memory this engine can see, said in the log
                batch, line = choose_batch_size(plan.pipe, precision_of(job.dtype, job.quantize),
                                                plan.rows_per_seed * len(job.seeds),
                                                available_memory(engine.name, engine.device), low_memory, engine.name,
                                                hint="the Batch size field")
                if line:
                    self.events.publish("log", message=line)
                if batch != job.batch_size:
                    plan = plan_job(dataclasses.replace(job, batch_size=batch), s.registry, s.store, download=False)
            slow = slow_path(engine.name, engine.device)
            if slow and parameter_count(plan.pipe.dit.config) >= FULL_SIZE_PARAMETERS:
                self.events.publish("log", message=f"warning: {slow}")
            state.notes = list(plan.notes)
            state.steps = plan.total_steps
            missing = [w for w in ("dit", "decoder") if w not in getattr(engine, "loaded", {})]
            if missing:
                self.events.publish("loading", id=state.id, models=missing)
            listener = AppListener(self, state, plan, engine, previews=not low_memory)
            grid_images: list[np.ndarray] = []
            for item, image in generate(engine, plan, listener, state.cancel.is_set, low_memory=low_memory,
                                        phase=listener.phase):
                if state.job.grid:
                    grid_images.append(image)
                    continue
                record = image_record(plan, item, self.engine_info)
                path = save_image(self._new_path(state, item.index, item.seed, item.class_id), image, record)
                state.images.append(path.name)
                self.events.publish("image", id=state.id, name=path.name, index=item.index, seed=item.seed,
                                    **{"class": item.class_id})
            if state.job.grid:
                image, record = grid_image(plan, grid_images, self.engine_info)
                path = save_image(self._new_path(state, None, state.job.seeds[0], None), image, record)
                state.images.append(path.name)
                self.events.publish("image", id=state.id, name=path.name, index=0, seed=state.job.seeds[0],
                                    **{"class": None})
            listener.remember()
            state.timing = {"sampling": listener.sampling, "previews": listener.preview_seconds,
                            "decoding": listener.decode_seconds}
            self._finish(state, "done")
        except Cancelled:
            self._finish(state, "cancelled")
        except Exception as e:  # noqa: BLE001 - every error reaches the page
            if not is_user_error(e):
                traceback.print_exc()
            self._finish(state, "failed", error_message(e))
        finally:
            self.current = None

    def _new_path(self, state: JobState, index: int | None, seed: int, class_id: int | None) -> Path:
        """A fresh name in the output folder (never an existing file)."""
        folder = self.settings.output_dir
        what = f"grid-s{seed}" if index is None else f"{index:03d}-s{seed}-c{class_id}"
        stem = f"rae-{datetime.now():%Y%m%d-%H%M%S}-{state.id.split('-')[-1]}-{what}"
        path = folder / f"{stem}.png"
        for k in itertools.count(2):
            if not path.exists():
                return path
            path = folder / f"{stem}-{k}.png"
        raise AssertionError("unreachable")


class AppListener(Listener):
    """Progress (throttled), previews every k steps and ETA, as events; timing for the next estimate."""

    def __init__(self, worker: Worker, state: JobState, plan: Plan, engine, previews: bool = True):
        self.worker, self.state, self.plan, self.engine = worker, state, plan, engine
        self.previews = previews  # low-memory jobs sample without the decoder: no previews
        self.start = time.perf_counter()
        self.sampling = 0.0  # seconds spent in steps (without previews)
        self.preview_seconds = 0.0
        self.decode_seconds = 0.0
        self.step_seconds: dict[int, list[float]] = {}  # batch rows -> [seconds, steps] of the job's steps
        self.last = self.start
        self.last_sent = 0.0
        self.rows = 0
        self.batch = (1, 1)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """generate's phases: decoding time is measured here (per image, for the next estimate)."""
        t0 = time.perf_counter()
        yield
        if name == "decode":
            self.decode_seconds += time.perf_counter() - t0

    def batch_started(self, index: int, count: int, chunk) -> None:
        self.rows = len(chunk)
        self.batch = (index + 1, count)  # the steps count over all work batches: say which one this is
        self.last = time.perf_counter()

    def step(self, state: StepState) -> None:
        now = time.perf_counter()
        self.sampling += now - self.last
        measured = self.step_seconds.setdefault(self.rows, [0.0, 0])
        measured[0] += now - self.last
        measured[1] += 1
        s = self.state
        s.step += 1
        remaining = s.steps - s.step
        s.eta = remaining * self.sampling / max(s.step, 1)
        k = s.preview_every
        preview = self.previews and bool(k) and state.step % k == 0
        if preview or now - self.last_sent >= PROGRESS_INTERVAL or s.step == s.steps:
            self.last_sent = now
            self.worker.events.publish("progress", id=s.id, step=s.step, steps=s.steps, eta=s.eta,
                                       elapsed=now - self.start, batch=self.batch[0], batches=self.batch[1])
        if preview:
            t0 = time.perf_counter()
            image = to_uint8(self.engine.decode(self.engine.numpy(state.x0(1))))[0]
            self.worker.events.publish("preview", id=s.id, step=s.step, steps=s.steps, image=png_data_url(image))
            self.preview_seconds += time.perf_counter() - t0
        self.last = time.perf_counter()

    def remember(self) -> None:
        """Calibrate the next estimate from this job."""
        if not self.step_seconds:
            return
        job = self.state.job
        pipeline = job.config or job.model or job.preset or self.worker.settings.registry.default_pipeline
        key = TimingStore.key(pipeline, self.worker.backend, job.dtype, job.quantize)
        per_image = self.decode_seconds / max(sum(len(c) for c in self.plan.work), 1)
        steps = {rows: seconds / count for rows, (seconds, count) in self.step_seconds.items()}
        self.worker.timing.put(key, Timing(steps, per_image))


def png_data_url(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()

