"""The ASGI app: the page, its static files and the JSON API the page (and any script) uses.

API (all JSON unless said; errors are ``{"error": "..."}`` with a 4xx status; the list is served at ``/docs``):

* ``GET /api/health`` — ``{"status": "ok", ...}`` with the queue's state.
* ``GET /api/options`` — presets, modes, formats, lab models, methods, bundled images, limits.
* ``POST /api/cloak/jobs`` — multipart: ``photos`` (files), ``preset``, ``mode``, ``ensure``, ``format`` →
  202 ``{"id", "photos", "events", "status"}``; 429 when the queue is full.
* ``GET /api/jobs/{id}`` — the job's state and summary; ``GET /api/jobs/{id}/events`` — server-sent events, from
  the first; ``GET /api/jobs/{id}/files/{key}`` — an output (``?download=1`` as an attachment);
  ``DELETE /api/jobs/{id}`` — cancel and delete.
* ``GET /api/lab/images/{name}`` — a bundled image (PNG); ``GET /api/lab/labels/{model}`` — its label names;
  ``POST /api/lab/attack`` — multipart: ``image`` (a bundled name) or ``upload`` (a file), ``model``, ``method``,
  ``eps``, ``target``, ``steps`` → the predictions and the URLs of the figure, the adversarial file and the sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import io
import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import anyio
from fastapi import FastAPI, Path, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.types import ASGIApp

from camo.choices import DEFAULT_PRESET
from camo.errors import CamoError
from camo.serve.cloak_job import FORMATS, MODES, CloakOptions, run_cloak_job
from camo.serve.guard import Guard
from camo.serve.jobs import Job, JobStore
from camo.serve.lab import BUNDLED, DEFAULT_EPS, LAB_MODELS, LabRequest, Models, bundled_image, parse_eps, run_attack
from camo.serve.rejected import Rejected
from camo.serve.settings import ServeSettings
from camo.serve.uploads import Form, Upload, check_image, read_form

#: The page's files, served from the package (no CDN): name -> media type.
STATIC = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "style.css": "text/css; charset=utf-8"}

#: The HTML report embeds its images and styles; it gets its own, equally closed, policy.
REPORT_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'none'"

JOB_ID = Path(pattern=r"^[0-9a-f]{32}$", description="the job's id (32 hex digits)")

_MULTIPART = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {"type": "object"}}}}}


def _static(name: str) -> bytes:
    return resources.files("camo.serve").joinpath("static", name).read_bytes()


def _truthy(text: str) -> bool:
    value = text.lower()
    if value in ("1", "true", "on", "yes"):
        return True
    if value in ("0", "false", "off", "no", ""):
        return False
    raise Rejected(400, f"expected true or false; got {text[:20]!r}")


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise Rejected(400, f"{name} must be a whole number; got {text[:20]!r}") from None


def create_app(settings: ServeSettings | None = None) -> ASGIApp:
    """The web app for ``settings`` (default: 127.0.0.1:8000 and the default caps), behind its :class:`Guard`.

    The job store (its private temporary folder and worker threads) starts with the app's lifespan and is deleted,
    files and all, when the app shuts down. Run it with uvicorn (``camo serve``) or any ASGI server that runs the
    lifespan.
    """
    settings = settings or ServeSettings()
    models = Models()
    lab_slots = threading.BoundedSemaphore(settings.lab_slots)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = JobStore(settings)
        store.start(asyncio.get_running_loop())
        app.state.store = store

        async def janitor() -> None:  # finished jobs go after keep_seconds even when no request comes
            while True:
                await asyncio.sleep(min(60.0, settings.keep_seconds / 2))
                await anyio.to_thread.run_sync(store.expire)

        sweeper = asyncio.create_task(janitor())
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await anyio.to_thread.run_sync(store.close)

    app = FastAPI(title="camo", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Cloak face photos and try attacks on image classifiers, on this machine only.")

    def store_of(request: Request) -> JobStore:
        store: JobStore = request.app.state.store
        return store

    @app.exception_handler(Rejected)
    async def rejected(_: Request, err: Rejected) -> JSONResponse:
        headers = {"Retry-After": str(err.retry_after)} if err.retry_after is not None else None
        return JSONResponse({"error": str(err)}, status_code=err.status, headers=headers)

    @app.exception_handler(CamoError)
    async def camo_error(_: Request, err: CamoError) -> JSONResponse:
        return JSONResponse({"error": str(err)}, status_code=400)

    # -- the page -----------------------------------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return Response(_static("index.html"), media_type=STATIC["index.html"])

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in STATIC or name == "index.html":
            raise Rejected(404, "no such file")
        return Response(_static(name), media_type=STATIC[name])

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:  # browsers ask on every page; there is none
        return Response(status_code=204)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(_docs_page(app.openapi()))

    # -- API ----------------------------------------------------------------------------------------------------------

    @app.get("/api/health", summary="Is the server up, and how full is its queue?")
    async def health(request: Request) -> dict[str, Any]:
        return {"status": "ok", **store_of(request).counts()}

    @app.get("/api/options", summary="What the page offers: presets, modes, lab models, methods, images, limits")
    async def options() -> dict[str, Any]:
        from camo.attacks import METHODS
        from camo.face.cloak import PRESETS

        presets = {name: {mode: CloakOptions(preset=name, mode=mode).to_dict() for mode in MODES}
                   for name in PRESETS}
        return {"presets": presets, "default_preset": DEFAULT_PRESET, "modes": list(MODES), "formats": list(FORMATS),
                "lab": {"models": list(LAB_MODELS), "methods": list(METHODS), "default_eps": DEFAULT_EPS,
                        "images": [{"name": name, "model": model} for name, (model, _) in BUNDLED.items()]},
                "limits": {"max_file_mb": settings.max_file_bytes / 2**20, "max_files": settings.max_files,
                           "max_megapixels": settings.max_pixels / 1e6,
                           "max_request_mb": settings.max_request_bytes / 2**20,
                           "keep_minutes": settings.keep_seconds / 60}}

    async def receive_form(request: Request, job: Job, *, max_files: int) -> Form:
        try:
            return await read_form(request.stream(), request.headers.get("content-type", ""), job.folder,
                                   max_request_bytes=settings.max_request_bytes,
                                   max_file_bytes=settings.max_file_bytes, max_files=max_files)
        except BaseException:
            store_of(request).delete(job.id)
            raise

    async def checked(request: Request, job: Job, uploads: list[Upload]) -> None:
        try:
            for upload in uploads:
                await anyio.to_thread.run_sync(functools.partial(check_image, upload, max_pixels=settings.max_pixels))
        except BaseException:
            store_of(request).delete(job.id)
            raise

    @app.post("/api/cloak/jobs", status_code=202, openapi_extra=_MULTIPART,
              summary="Cloak a batch of photos (multipart: photos, preset, mode, ensure, format)")
    async def new_cloak_job(request: Request) -> dict[str, Any]:
        store = store_of(request)
        job = store.reserve("cloak")  # 429 before reading a byte of the upload when the queue is full
        form = await receive_form(request, job, max_files=settings.max_files)
        uploads = [u for files in form.files.values() for u in files]
        try:
            if not uploads:
                raise Rejected(400, "no photos in the request: send them as file fields named 'photos'")
            options = CloakOptions(preset=form.text("preset", DEFAULT_PRESET), mode=form.text("mode", "dodge"),
                                   ensure=_truthy(form.text("ensure", "true")),
                                   image_format=form.text("format", "png"))
        except BaseException:
            store.delete(job.id)
            raise
        await checked(request, job, uploads)
        job.summary = {"settings": options.to_dict(), "photos": [], "total": len(uploads)}

        def work(job: Job) -> None:
            run_cloak_job(job, uploads, options, emit=lambda event: store.publish(job, event),
                          preview_side=settings.preview_side, closing=lambda: store.closing)

        store.submit(job, work)
        return {"id": job.id, "photos": [u.stem for u in uploads], "settings": options.to_dict(),
                "status": f"/api/jobs/{job.id}", "events": f"/api/jobs/{job.id}/events"}

    @app.get("/api/jobs/{job_id}", summary="A job's state and results so far")
    async def job_state(request: Request, job_id: str = JOB_ID) -> dict[str, Any]:
        return store_of(request).get(job_id).to_dict()

    @app.delete("/api/jobs/{job_id}", summary="Cancel a job and delete its files now")
    async def delete_job(request: Request, job_id: str = JOB_ID) -> dict[str, Any]:
        store = store_of(request)
        store.get(job_id)
        store.delete(job_id)
        return {"deleted": job_id}

    @app.get("/api/jobs/{job_id}/events", summary="Live progress as server-sent events (JSON in each data line)")
    async def job_events(request: Request, job_id: str = JOB_ID) -> StreamingResponse:
        store = store_of(request)
        job = store.get(job_id)

        async def stream() -> AsyncIterator[bytes]:
            async for event in store.follow(job):
                yield b": keep-alive\n\n" if event is None else f"data: {json.dumps(event)}\n\n".encode()

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})

    @app.get("/api/jobs/{job_id}/files/{key}", summary="One output of a job (?download=1: as an attachment)")
    async def job_file(request: Request, key: str, download: bool = False, job_id: str = JOB_ID) -> FileResponse:
        job = store_of(request).get(job_id)
        if key not in job.files:
            raise Rejected(404, f"this job has no file {key[:40]!r}")
        path, name, media = job.files[key]
        headers = {"Content-Security-Policy": REPORT_POLICY} if media == "text/html" else None
        return FileResponse(path, media_type=media, filename=name,
                            content_disposition_type="attachment" if download else "inline", headers=headers)

    # -- attack lab ---------------------------------------------------------------------------------------------------

    @app.get("/api/lab/images/{name}", summary="A bundled image, as PNG")
    async def lab_image(name: str) -> Response:
        if name not in BUNDLED:
            raise Rejected(404, f"no bundled image {name[:40]!r}")
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(bundled_image(name)).save(buffer, format="PNG")
        return Response(buffer.getvalue(), media_type="image/png")

    @app.get("/api/lab/labels/{model}", summary="A lab model's label names")
    async def lab_labels(model: str) -> dict[str, Any]:
        if model not in LAB_MODELS:
            raise Rejected(404, f"no lab model {model[:40]!r}")
        if model == "mnist":
            return {"model": model, "labels": [str(d) for d in range(10)]}
        from camo.models.zoo import imagenet_labels

        return {"model": model, "labels": [name.split(",")[0].strip() for name in imagenet_labels()]}

    @app.post("/api/lab/attack", openapi_extra=_MULTIPART,
              summary="Attack one image (multipart: image or upload, model, method, eps, target, steps)")
    async def lab_attack(request: Request) -> dict[str, Any]:
        if not lab_slots.acquire(blocking=False):
            raise Rejected(429, "busy: an attack is running; retry in a moment", retry_after=5)
        try:
            return await _lab(request)
        finally:
            lab_slots.release()

    async def _lab(request: Request) -> dict[str, Any]:
        store = store_of(request)
        job = store.reserve("lab")
        form = await receive_form(request, job, max_files=1)
        uploads = [u for files in form.files.values() for u in files]
        await checked(request, job, uploads)
        try:
            model_name = form.text("model", "mnist")
            target = form.text("target", "") or None
            lab = LabRequest(model=model_name, method=form.text("method", "fgsm"),
                             eps=parse_eps(form.text("eps", DEFAULT_EPS.get(model_name, "8/255"))), target=target,
                             steps=_int(form.text("steps", "10"), "steps"))
            if uploads:
                image, shown = uploads[0].path, uploads[0].stem
            else:
                from camo.images import save

                shown = form.text("image", "digit-7" if model_name == "mnist" else "chelsea")
                pixels = bundled_image(shown)
                place = job.folder / "in"
                place.mkdir(mode=0o700)
                image = save(pixels, place / f"{shown}.png")
        except BaseException:
            store.delete(job.id)
            raise
        outcome: dict[str, Any] = {}

        def work(job: Job) -> None:
            model = models.get(lab.model)
            outcome.update(run_attack(model, image, job.folder, lab, shown_name=shown))
            for key, (path, name) in outcome.pop("files").items():
                job.files[key] = (path, name, "image/png")
            job.summary = dict(outcome)

        try:
            await anyio.to_thread.run_sync(store.run_now, job, work)
        except BaseException:
            store.delete(job.id)
            raise
        urls = {key: f"/api/jobs/{job.id}/files/{key}" for key in job.files}
        return {"id": job.id, "image": shown, **outcome, "urls": urls}

    return Guard(app, settings)


def _docs_page(schema: dict[str, Any]) -> str:
    """The API as a plain page built from the OpenAPI schema (FastAPI's own /docs loads scripts from a CDN)."""
    rows = []
    for path, methods in schema.get("paths", {}).items():
        for method, operation in methods.items():
            params = ", ".join(p["name"] for p in operation.get("parameters", []))
            rows.append(f"<tr><td><code>{html.escape(method.upper())}</code></td><td><code>{html.escape(path)}"
                        f"</code></td><td>{html.escape(operation.get('summary', ''))}</td>"
                        f"<td>{html.escape(params)}</td></tr>")
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>camo API</title>"
            "<link rel='stylesheet' href='/static/style.css'></head><body><main><h1>camo API</h1>"
            "<p>JSON over HTTP on this machine; errors are <code>{\"error\": \"...\"}</code> with a 4xx status. "
            "The full schema: <a href='/openapi.json'>/openapi.json</a>. Example:</p>"
            "<pre>curl -F photos=@me.jpg -F preset=mid http://127.0.0.1:8000/api/cloak/jobs\n"
            "curl -N http://127.0.0.1:8000/api/jobs/ID/events</pre>"
            "<table class='docs'><tr><th>method</th><th>path</th><th>what</th><th>parameters</th></tr>"
            + "".join(rows) + "</table></main></body></html>")
