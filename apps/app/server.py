"""The app's HTTP API (the page uses it, and so can scripts) and the static page.

Every route but `/` and `/static/...` needs the token (see security.py). JSON in, JSON out; errors are
`{"error": "<the CLI's one-line message>"}` with 400 (bad input) or 404 (unknown job or image).

    GET  /api/config                    backend, device, dtype, output folder, defaults
    GET  /api/presets                   every pipeline preset: files, sizes, cache status, downloads
    GET  /api/presets/{name}            a preset's published settings and classes (the form's defaults)
    POST /api/presets/{name}/download   fetch its missing files (progress as `download` events)
    POST /api/estimate                  {job} -> peak memory and (once calibrated) time
    POST /api/jobs                      {job} (+ preview_every, low_memory) -> {"id"}
    GET  /api/jobs, /api/jobs/{id}      status, step, steps, images, error
    POST /api/jobs/{id}/cancel
    GET  /api/events                    Server-Sent Events: queued, started, loading, progress, preview,
                                        image, done, cancelled, failed, download, log
    GET  /api/images                    the gallery, newest first (?offset=&limit=)
    GET  /api/images/{name}             the PNG, with the same metadata as `rae sample` writes
    GET  /api/images/{name}/thumbnail | /metadata | /job
    POST /api/images/{name}/replay | /reveal | /save-copy
    DELETE /api/images/{name}           the image and its sidecar

A job body has the names of `rae sample`'s options (apps.job.SampleJob.from_json).
"""

from __future__ import annotations

import contextlib
import json
import secrets
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from .. import __version__
from ..errors import MissingFileError, UserError, error_message, is_user_error
from ..job import SampleJob
from .catalog import Catalog
from .events import EventBus
from .gallery import Gallery
from .security import TOKEN_COOKIE, Guard
from .worker import Worker

STATIC = {"index.html": "text/html; charset=utf-8", "app.css": "text/css; charset=utf-8",
          "app.js": "text/javascript; charset=utf-8", "favicon.svg": "image/svg+xml"}
JOB_EXTRAS = ("preview_every", "low_memory")


def static_bytes(name: str) -> bytes:
    return resources.files("rae_apps.app").joinpath("static", name).read_bytes()


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers={"cache-control": "no-store"})


def bad_request(e: Exception) -> JSONResponse:
    """400 with the CLI's one-line message for bad input (500 for anything else)."""
    return error(400 if is_user_error(e) or isinstance(e, (TypeError, ValueError)) else 500, error_message(e))


def ok(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers={"cache-control": "no-store"})


class App:
    """The routes, around one Worker, Gallery and Catalog."""

    def __init__(self, worker: Worker, events: EventBus, token: str, preset: str, dtype: str,
                 quantize: int | None, preview_every: int = 5):
        self.worker, self.events, self.token = worker, events, token
        s = worker.settings
        self.gallery = Gallery(s.output_dir)
        self.catalog = Catalog(s.registry, s.store, events, worker.timing, worker.backend)
        self.defaults = {"preset": preset, "dtype": dtype, "quantize": quantize, "preview_every": preview_every,
                         "low_memory": s.low_memory}

    # ------------------------------------------------------------------------------------------ page

    async def index(self, request: Request) -> Response:
        given = request.query_params.get("token")
        if given is not None and secrets.compare_digest(given.encode(), self.token.encode()):
            response = RedirectResponse("/", status_code=303)  # the token leaves the address bar and history
            response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict", path="/")
            return response
        return Response(static_bytes("index.html"), media_type=STATIC["index.html"],
                        headers={"cache-control": "no-store"})

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return error(404, "no such file")
        return Response(static_bytes(name), media_type=STATIC[name], headers={"cache-control": "no-cache"})

    # ------------------------------------------------------------------------------------------ settings

    async def config(self, request: Request) -> Response:
        s = self.worker.settings
        return ok({"version": __version__, "output_dir": str(s.output_dir), "backend": self.worker.backend,
                   "worker": self.worker.status(), "defaults": self.defaults,
                   "default_preset": s.registry.default_pipeline})

    def presets(self, request: Request) -> Response:
        return ok(self.catalog.presets())

    def preset(self, request: Request) -> Response:
        try:
            return ok(self.catalog.preset(request.path_params["name"]))
        except UserError as e:
            return error(404, error_message(e))

    def download(self, request: Request) -> Response:
        name = request.path_params["name"]
        if self.catalog.registry.kind_of(name) not in ("pipeline", "autoencoder"):
            try:
                self.catalog.registry.pipeline(name)  # the message with suggestions
            except UserError as e:
                return error(404, error_message(e))
        return ok(self.catalog.download(name), 202)

    async def estimate(self, request: Request) -> Response:
        body = await _json(request)
        if isinstance(body, Response):
            return body
        try:
            job, extras = self.job_from_body(body)
            with contextlib.suppress(MissingFileError):  # an estimate needs only the configs
                await run_in_threadpool(self.worker.check, job)
            low = extras["low_memory"] if extras["low_memory"] is not None else self.worker.settings.low_memory
            return ok(self.catalog.estimate(job, low))
        except Exception as e:  # noqa: BLE001
            return error(400, error_message(e))

    # ------------------------------------------------------------------------------------------ jobs

    def extras(self, body: dict[str, Any]) -> dict[str, Any]:
        """preview_every and low_memory, taken out of a request body and checked."""
        extras = {k: body.pop(k, None) for k in JOB_EXTRAS}
        if extras["preview_every"] is None:
            extras["preview_every"] = self.defaults["preview_every"]
        k = extras["preview_every"]
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise UserError(f"preview_every must be a whole number >= 0 (0 = no previews), got {k!r}")
        if extras["low_memory"] is not None and not isinstance(extras["low_memory"], bool):
            raise UserError(f"low_memory must be true or false, got {extras['low_memory']!r}")
        return extras

    def job_from_body(self, body: dict[str, Any]) -> tuple[SampleJob, dict[str, Any]]:
        """A SampleJob from a request body (the app's preset, dtype and quantization fill what it omits; no
        seed: a random one), and the extras preview_every and low_memory."""
        extras = self.extras(body)
        if body.get("preset") is None and body.get("model") is None and body.get("config") is None:
            body["preset"] = self.defaults["preset"]
        body.setdefault("dtype", self.defaults["dtype"])
        if "quantize" not in body and self.defaults["quantize"] is not None:
            body["quantize"] = self.defaults["quantize"]
        if body.get("seed") in (None, []):
            body["seed"] = [secrets.randbelow(2**31)]
        job = SampleJob.from_json(body)
        if job.preset is not None:
            self.worker.settings.registry.pipeline(job.preset)  # an unknown preset: 400 now, with suggestions
        return job, extras

    async def submit(self, request: Request) -> Response:
        body = await _json(request)
        if isinstance(body, Response):
            return body
        try:
            job, extras = self.job_from_body(body)
            await run_in_threadpool(self.worker.check, job)  # what would fail in the queue fails now
        except Exception as e:  # noqa: BLE001 - bad input is 400 with the CLI's message
            return bad_request(e)
        state = self.worker.submit(job, extras["preview_every"], extras["low_memory"])
        return ok({"id": state.id, "seed": list(job.seeds)}, 202)

    def jobs(self, request: Request) -> Response:
        return ok({"jobs": [s.public() for s in self.worker.list()]})

    def job(self, request: Request) -> Response:
        state = self.worker.get(request.path_params["id"])
        return ok(state.public()) if state is not None else error(404, "no such job")

    def cancel(self, request: Request) -> Response:
        state = self.worker.cancel(request.path_params["id"])
        return ok(state.public()) if state is not None else error(404, "no such job")

    async def event_stream(self, request: Request) -> Response:
        return StreamingResponse(self.events.stream(), media_type="text/event-stream",
                                 headers={"cache-control": "no-store", "x-accel-buffering": "no"})

    # ------------------------------------------------------------------------------------------ images

    def images(self, request: Request) -> Response:
        try:
            offset = max(0, int(request.query_params.get("offset", 0)))
            limit = min(1000, max(1, int(request.query_params.get("limit", 200))))
        except ValueError:
            return error(400, "offset and limit are whole numbers")
        return ok(self.gallery.list(offset, limit))

    def _image(self, request: Request) -> tuple[str, Path | None]:
        name = request.path_params["name"]
        return name, self.gallery.path(name)

    def image(self, request: Request) -> Response:
        name, path = self._image(request)
        if path is None:
            return error(404, "no such image in the output folder")
        return FileResponse(path, media_type="image/png", headers={"cache-control": "private, max-age=60"})

    def thumbnail(self, request: Request) -> Response:
        name, path = self._image(request)
        try:
            thumb = self.gallery.thumbnail(name) if path is not None else None
        except UserError as e:
            return error(422, error_message(e))
        if thumb is None:
            return error(404, "no such image in the output folder")
        return FileResponse(thumb, media_type="image/png", headers={"cache-control": "private, max-age=3600"})

    def metadata(self, request: Request) -> Response:
        name, path = self._image(request)
        if path is None:
            return error(404, "no such image in the output folder")
        return ok({"name": name, "record": self.gallery.record(name)})

    def _recorded_job(self, name: str) -> SampleJob | Response:
        if self.gallery.path(name) is None:
            return error(404, "no such image in the output folder")
        record = self.gallery.record(name)
        if record is None:
            return error(400, f"{name} carries no rae metadata (it was not written by rae)")
        try:
            return SampleJob.from_record(record)
        except Exception as e:  # noqa: BLE001
            return error(400, error_message(e))

    def recorded_job(self, request: Request) -> Response:
        job = self._recorded_job(request.path_params["name"])
        return job if isinstance(job, Response) else ok(job.to_json())

    async def replay(self, request: Request) -> Response:
        body = await _json(request)
        if isinstance(body, Response):
            return body
        job = self._recorded_job(request.path_params["name"])
        if isinstance(job, Response):
            return job
        try:
            extras = self.extras(body)
            await run_in_threadpool(self.worker.check, job)
        except Exception as e:  # noqa: BLE001
            return bad_request(e)
        state = self.worker.submit(job, extras["preview_every"], extras["low_memory"])
        return ok({"id": state.id, "seed": list(job.seeds)}, 202)

    def delete(self, request: Request) -> Response:
        name, _ = self._image(request)
        return ok({"deleted": name}) if self.gallery.delete(name) else error(404, "no such image in the output folder")

    def reveal(self, request: Request) -> Response:  # waits for the opener: starlette runs it in a thread
        name, _ = self._image(request)
        try:
            command = self.gallery.reveal(name)
        except OSError as e:
            return error(500, f"could not show it in a file manager: {e}")
        return ok({"command": command}) if command else error(404, "no such image in the output folder")

    async def save_copy(self, request: Request) -> Response:
        name, _ = self._image(request)
        try:
            path = self.gallery.save_copy(name)
        except OSError as e:
            return error(500, f"could not save a copy: {e}")
        return ok({"path": str(path)}) if path else error(404, "no such image in the output folder")

    # ------------------------------------------------------------------------------------------ app

    def routes(self) -> list[Route]:
        return [
            Route("/", self.index), Route("/static/{name}", self.static),
            Route("/api/config", self.config), Route("/api/presets", self.presets),
            Route("/api/presets/{name}", self.preset),
            Route("/api/presets/{name}/download", self.download, methods=["POST"]),
            Route("/api/estimate", self.estimate, methods=["POST"]),
            Route("/api/jobs", self.submit, methods=["POST"]), Route("/api/jobs", self.jobs),
            Route("/api/jobs/{id}", self.job), Route("/api/jobs/{id}/cancel", self.cancel, methods=["POST"]),
            Route("/api/events", self.event_stream),
            Route("/api/images", self.images), Route("/api/images/{name}", self.image),
            Route("/api/images/{name}", self.delete, methods=["DELETE"]),
            Route("/api/images/{name}/thumbnail", self.thumbnail), Route("/api/images/{name}/metadata", self.metadata),
            Route("/api/images/{name}/job", self.recorded_job),
            Route("/api/images/{name}/replay", self.replay, methods=["POST"]),
            Route("/api/images/{name}/reveal", self.reveal, methods=["POST"]),
            Route("/api/images/{name}/save-copy", self.save_copy, methods=["POST"]),
        ]


async def _json(request: Request) -> dict[str, Any] | Response:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError as e:
        return error(400, f"the body is not valid JSON: {e}")
    if not isinstance(body, dict):
        return error(400, "the body must be a JSON object")
    return body


def build(app: App, port_ref: list[int], allowed_hosts: set[str] = frozenset()) -> Guard:
    """The ASGI application: the routes behind the security guard. Shutting down ends the event streams."""

    @contextlib.asynccontextmanager
    async def lifespan(_):
        yield
        app.events.close()

    starlette = Starlette(routes=app.routes(), lifespan=lifespan)
    return Guard(starlette, app.token, port_ref, set(allowed_hosts))
