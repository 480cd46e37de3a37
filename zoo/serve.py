"""`zoo serve`: the shipped models behind an HTTP API that batches concurrent requests.

    pip install 'rnn-zoo[serve]'
    zoo serve                      # every shipped model, each loaded on its first request
    zoo serve lstm-seq2seq-attn    # only these, loaded at start (GET /health is 503 until they are)

Endpoints (JSON in and out; docs/serving.md has examples):

- `GET /` a page to try the models; `GET /health`; `GET /models`;
- `POST /translate` `{"model", "texts": [...], "beam_size": 5, "attention": false}`
  -> `{"translations": [...]}` (and `"attention"`: per text its source and
  output pieces and the weights `[output, source]`, null for a model without
  attention);
- `POST /caption`: images as multipart form files named `image` (fields
  `model`, `beam_size`, `attention`), or one image as the raw request body
  (the options in the query string) -> `{"captions": [...]}` (and
  `"attention"`: per image its words and a `[words, h, w]` grid);
- `POST /generate` `{"model", "prompt", "length", "temperature", "seed",
  "top_k", "top_p", "gates": false}` -> `{"text"}` (and `"gates"`: per gate
  of the first layer, its mean over units at each character of prompt + text).

Batching: each model has one worker thread, where it is loaded and where all
its calls run, one at a time, off the event loop (the models' Python API is
not meant to be called from several threads at once). Requests for the same
model and decoding options that arrive within `max_wait_ms` of the first
one, or while the model is busy, are joined, up to `max_batch` texts or
images, into one call of the model's batched API (`model.translate(texts,
beam_size=k)`), whose answers are split back to their requests: each request
gets what the Python API returns for its inputs (docs/serving.md names the
one exception: `translate`'s default length bound is computed per batch). A
text-generation request is a call of its own (`generate` continues one
prompt per call).

A bad request is a 4xx answer `{"error": "...", "field": "..."}` naming the
field; the sizes a request may have are `Limits`.
"""

import asyncio
import contextlib
import dataclasses
import functools
import io
import json
import math
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import uvicorn
from PIL import Image, ImageOps
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

import zoo
from zoo import tasks
from zoo.checks import finite_number, integer

PAGE = Path(__file__).with_name("serve_page.html")
VERBS = {task.name: task.verb for task in tasks.TASKS.values()}  # and the endpoint of its models
# The model a request without "model" gets, when it is served (else the first served model of the task):
# its `zoo` verb's default.
DEFAULTS = {task.name: next(o["default"] for flags, o in task.arguments if flags[0] in ("--model", "name"))
            for task in tasks.TASKS.values()}


@dataclasses.dataclass(frozen=True)
class Limits:
    """The most a request may ask for; beyond, a 4xx answer naming the field."""

    body_bytes: int = 10 * 2**20  # 413 beyond, before the body is read where Content-Length says so
    texts: int = 64  # per translation request
    text_chars: int = 2000  # per text
    images: int = 8  # per caption request
    image_pixels: int = 40_000_000  # width x height, read from the header before the image is decoded
    beam_size: int = 16
    prompt_chars: int = 2000
    length: int = 2000  # characters generated per request


class RequestError(Exception):
    """A bad request: answered `{"error": message, "field": field}` with `status`."""

    def __init__(self, message, field=None, status=400):
        super().__init__(message)
        self.message, self.field, self.status = message, field, status


def _shown(value):
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, (str, int, float, bool, type(None))) else None
    text = text or type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _integer(field, value, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RequestError(f"`{field}` must be an integer in [{low}, {high}], got {_shown(value)}.", field)
    return value


def _number(field, value, low, high, low_open=False):
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or not (value > low if low_open else value >= low) or value > high:
        bracket = "(" if low_open else "["
        raise RequestError(f"`{field}` must be a number in {bracket}{low:g}, {high:g}], got {_shown(value)}.", field)
    return float(value)


def _boolean(field, value):
    if not isinstance(value, bool):
        raise RequestError(f"`{field}` must be true or false, got {_shown(value)}.", field)
    return value


def _text(field, value, most, empty_ok=True):
    if not isinstance(value, str) or (not value and not empty_ok):
        allowed = "a string" if empty_ok else "a non-empty string"
        raise RequestError(f"`{field}` must be {allowed}, got {_shown(value)}.", field)
    if len(value) > most:
        raise RequestError(f"`{field}` has {len(value):,} characters; at most {most:,} are allowed.", field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise RequestError(f"`{field}` holds a lone surrogate (\\u{ord(value[e.start]):04x} at {e.start}): send "
                           f"valid UTF-8 text.", field) from None
    return value


def _fields(body, allowed):
    if not isinstance(body, dict):
        raise RequestError(f"the body must be a JSON object, got {type(body).__name__}.", "body")
    for field in body:
        if field not in allowed:
            field = field[:60]
            raise RequestError(f"unknown field `{field}`; allowed: {', '.join(sorted(allowed))}.", field)
    return body


# -- the calls each model's worker thread makes ---------------------------------------


def _weights(array):
    return None if array is None else np.round(np.asarray(array, np.float64), 4).tolist()


def _attends(model):
    """Whether a model has attention to show (the baselines have none)."""
    return bool(model.get_config().get("attention", True))


def _translate(model, texts, beam_size, attention):
    if not attention or not _attends(model):
        found = model.translate(texts, beam_size=beam_size)
        return [(text, None) for text in found] if attention else found
    found, maps = model.translate(texts, beam_size=beam_size, return_attention=True)
    return [(text, {"source": source, "output": output, "weights": _weights(weights)})
            for text, (source, output, weights) in zip(found, maps)]


def _caption(model, images, beam_size, attention):
    if not attention or not _attends(model):
        found = model.caption(images, beam_size=beam_size)
        return [(text, None) for text in found] if attention else found
    found, maps = model.caption(images, beam_size=beam_size, return_attention=True)
    return [(text, {"words": words, "weights": _weights(weights)}) for text, (words, weights) in zip(found, maps)]


def _generate(model, requests):
    (options,) = requests  # one prompt per call
    options = dict(options)
    prompt, length, gates = options.pop("prompt"), options.pop("length"), options.pop("gates")
    text = model.generate(prompt, length, **options)
    if not gates:
        return [{"text": text}]
    activations = model.gates(prompt + text)
    return [{"text": text, "gates": {name: _weights(values.mean(-1)) for name, values in activations.items()}}]


# -- batching ---------------------------------------------------------------------


@dataclasses.dataclass
class _Job:
    call: object  # call(model, items) -> one result per item
    items: list
    future: asyncio.Future
    arrived: float


class ModelWorker:
    """One model: loaded once on its own thread, where every call of it runs.

    `submit(key, call, items)` queues `items`; jobs with the same `key` (the
    verb and its options) that wait together are run as one `call(model,
    all_items)`, gathered for at most `max_wait` seconds after the first
    arrived, up to `max_batch` items (a job of more runs alone). A key of
    None runs alone. If a joined call fails, each job is run alone, so a
    request's bad input fails that request only.
    """

    def __init__(self, name, loader, max_wait, max_batch):
        self.name, self.loader = name, loader
        self.max_wait, self.max_batch = max_wait, max_batch
        self.thread = ThreadPoolExecutor(1, thread_name_prefix=f"zoo-serve-{name}")
        self.model = self.error = self._task = None
        self.calls = 0  # model calls made (the batches)
        self._pending = {}  # key -> [_Job], oldest first
        self._wake = asyncio.Event()

    @property
    def state(self):
        return "failed" if self.error else "loaded" if self.model is not None else (
            "loading" if self._task else "not loaded")

    def start(self):
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._serve())

    async def submit(self, key, call, items):
        """The results of `call(model, ...)` for `items`, in order."""
        self.start()
        loop = asyncio.get_running_loop()
        job = _Job(call, list(items), loop.create_future(), loop.time())
        self._pending.setdefault(object() if key is None else key, []).append(job)
        self._wake.set()
        return await job.future

    async def close(self):
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for jobs in self._pending.values():
            for job in jobs:
                job.future.cancel()
        await asyncio.get_running_loop().run_in_executor(None, self.thread.shutdown)

    async def _serve(self):
        loop = asyncio.get_running_loop()
        try:
            self.model = await loop.run_in_executor(self.thread, self.loader, self.name)
        except Exception as e:  # every request for it is answered 503, naming the reason
            self.error = f"{type(e).__name__}: {e}"
        while True:
            while not self._pending:
                self._wake.clear()
                await self._wake.wait()
            key = min(self._pending, key=lambda k: self._pending[k][0].arrived)
            jobs = self._pending[key]
            deadline = jobs[0].arrived + self.max_wait
            while sum(len(j.items) for j in jobs) < self.max_batch and loop.time() < deadline:
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), deadline - loop.time())
            batch, size = [], 0
            while jobs and (not batch or size + len(jobs[0].items) <= self.max_batch):
                size += len(jobs[0].items)
                batch.append(jobs.pop(0))
            if not jobs:
                del self._pending[key]
            await self._run(batch)

    async def _run(self, jobs):
        if self.error:
            for job in jobs:
                _settle(job.future, error=RequestError(f"{self.name} could not be loaded: {self.error}",
                                                       "model", 503))
            return
        items = [item for job in jobs for item in job.items]
        try:
            results = await asyncio.get_running_loop().run_in_executor(self.thread, jobs[0].call, self.model, items)
        except Exception as e:
            if len(jobs) > 1:
                for job in jobs:
                    await self._run([job])
            else:
                _settle(jobs[0].future, error=e)
            return
        self.calls += 1
        start = 0
        for job in jobs:
            _settle(job.future, results[start : start + len(job.items)])
            start += len(job.items)


def _settle(future, result=None, error=None):
    if not future.done():  # its request may have been cancelled
        future.set_exception(error) if error else future.set_result(result)


# -- the application ---------------------------------------------------------------


class _BodyLimit:
    """ASGI middleware: a body over `limit` bytes is a 413, refused from its
    Content-Length before it is read, else once it has grown past the limit."""

    def __init__(self, app, limit):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            response = _error(RequestError(f"the body must be at most {self.limit:,} bytes, got a Content-Length "
                                           f"of {length.decode('latin-1')!r}.", "body", 413))
            return await response(scope, receive, send)
        received = 0

        async def limited():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise RequestError(f"the body must be at most {self.limit:,} bytes.", "body", 413)
            return message

        await self.app(scope, limited, send)


def _error(e):
    return JSONResponse({"error": e.message, "field": e.field}, e.status)


async def _request_error(request, e):
    return _error(e)


async def _http_error(request, e):
    return JSONResponse({"error": str(e.detail), "field": None}, e.status_code, headers=e.headers)


async def _server_error(request, e):  # the traceback goes to the log; the client gets JSON
    return JSONResponse({"error": f"internal error ({type(e).__name__})", "field": None}, 500)


def _api_error(e, field):
    """A ValueError/TypeError of the Python API (a check on the input) as a 400
    naming the field, the argument it names if it is one of the request's."""
    message = " ".join(str(e).split())
    named = message[1 : message.find("`", 1)] if message.startswith("`") else ""
    return RequestError(message, named if named in ("prompt", "temperature", "top_k", "top_p", "seed") else field)


def _form_value(text):
    """A form or query-string value: JSON where it parses (3, true), else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


class Server:
    """The models of `names` (None: every shipped model, each loaded on first
    use) behind the HTTP API; `app` is the ASGI application."""

    def __init__(self, names=None, max_wait_ms=5.0, max_batch=32, limits=None, loader=None):
        if isinstance(names, (str, bytes)):
            raise TypeError(f"`names` must be a list of model names or None (every shipped model), got the "
                            f"string {names!r}: pass [{names!r}].")
        infos = {name: zoo.info(name) for name in zoo.list_models()}
        shipped = [name for name, info in infos.items() if info["card"] is not None]
        self.eager = names is not None
        names = shipped if names is None else list(dict.fromkeys(names))
        for name in names:
            zoo.info(name)  # an unknown name: a ValueError naming it and the close ones
            if name not in shipped:
                raise ValueError(f"No trained model ships for {name!r}: shipped are {', '.join(shipped)}.")
        if not names:
            raise ValueError("`names` must name at least one shipped model, or be None for all of them.")
        self.descriptions = {name: infos[name]["description"] for name in names}
        self.max_wait_ms = finite_number("max_wait_ms", max_wait_ms, minimum=0, maximum=10_000)
        self.max_batch = integer("max_batch", max_batch, minimum=1, maximum=4096)
        if limits is not None and not isinstance(limits, Limits):
            raise TypeError(f"`limits` must be a zoo.serve.Limits or None, got {type(limits).__name__}.")
        self.limits = limits or Limits()
        self.loader = loader or zoo.load
        self.tasks = {name: infos[name]["task"] for name in names}
        self.workers = {}
        routes = [Route("/", self.page), Route("/health", self.health), Route("/models", self.models),
                  Route("/translate", self.translate, methods=["POST"]),
                  Route("/caption", self.caption, methods=["POST"]),
                  Route("/generate", self.generate, methods=["POST"])]
        app = Starlette(routes=routes, lifespan=self._lifespan,
                        exception_handlers={RequestError: _request_error, HTTPException: _http_error,
                                            Exception: _server_error})
        self.app = _BodyLimit(app, self.limits.body_bytes)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app):
        if self.eager:
            for name in self.tasks:
                self._worker(name).start()
        yield
        for worker in list(self.workers.values()):
            await worker.close()

    def _worker(self, name):
        if name not in self.workers:
            self.workers[name] = ModelWorker(name, self.loader, self.max_wait_ms / 1000, self.max_batch)
        return self.workers[name]

    def _model(self, value, task):
        """The served model of `task` a request names (its default if None)."""
        if value is None:
            served = [n for n, t in self.tasks.items() if t == task]
            if not served:
                raise RequestError(f"no {task} model is served here; `zoo serve NAME` serves one.", "model", 404)
            return DEFAULTS[task] if DEFAULTS[task] in served else served[0]
        if not isinstance(value, str) or value not in self.tasks:
            raise RequestError(f"`model` must be one of the models served here ({', '.join(self.tasks)}), "
                               f"got {_shown(value)}.", "model", 404)
        if self.tasks[value] != task:
            raise RequestError(f"`model` {value!r} is a {self.tasks[value]} model: POST it to "
                               f"/{VERBS[self.tasks[value]]}.", "model")
        return value

    async def _submit(self, name, key, call, items, field):
        try:
            return await self._worker(name).submit(key, call, items)
        except (ValueError, TypeError) as e:
            raise _api_error(e, field) from e

    async def _json(self, request, allowed):
        body = await request.body()
        try:
            return _fields(json.loads(body), allowed)
        except (ValueError, RecursionError) as e:
            raise RequestError(f"the body must be a JSON object: {e}", "body") from None

    # -- endpoints ------------------------------------------------------------------

    async def page(self, request):
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    async def health(self, request):
        states = {name: (self.workers[name].state if name in self.workers else "not loaded") for name in self.tasks}
        waiting = self.eager and any(s != "loaded" for s in states.values())
        status = "failed" if "failed" in states.values() else "loading" if waiting else "ok"
        return JSONResponse({"status": status, "models": states}, 200 if status == "ok" else 503)

    async def models(self, request):
        models = []
        for name, task in self.tasks.items():
            worker = self.workers.get(name)
            models.append({"name": name, "task": task, "endpoint": f"/{VERBS[task]}",
                           "description": self.descriptions[name], "state": worker.state if worker else "not loaded",
                           "calls": worker.calls if worker else 0, "default": name == self._model(None, task)})
        return JSONResponse({"models": models, "max_batch": self.max_batch, "max_wait_ms": self.max_wait_ms,
                             "limits": dataclasses.asdict(self.limits)})

    async def translate(self, request):
        body = await self._json(request, {"model", "texts", "beam_size", "attention"})
        limits = self.limits
        name = self._model(body.get("model"), tasks.TRANSLATION.name)
        texts = body.get("texts")
        if not isinstance(texts, list) or not 1 <= len(texts) <= limits.texts:
            got = f"a list of {len(texts)}" if isinstance(texts, list) else _shown(texts)
            raise RequestError(f"`texts` must be a list of 1 to {limits.texts} strings, got {got}.", "texts")
        for i, text in enumerate(texts):
            _text(f"texts[{i}]", text, limits.text_chars)
        beam_size = _integer("beam_size", body.get("beam_size", 5), 1, limits.beam_size)
        attention = _boolean("attention", body.get("attention", False))
        call = functools.partial(_translate, beam_size=beam_size, attention=attention)
        results = await self._submit(name, ("translate", beam_size, attention), call, texts, "texts")
        if not attention:
            return JSONResponse({"model": name, "translations": results})
        return JSONResponse({"model": name, "translations": [t for t, _ in results],
                             "attention": [a for _, a in results]})

    async def caption(self, request):
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        allowed = {"model", "beam_size", "attention"}
        if content_type == "multipart/form-data":
            try:
                form = await request.form(max_files=self.limits.images, max_fields=len(allowed) + 1)
            except HTTPException as e:  # a malformed form, or too many files or fields
                raise RequestError(f"the multipart form: {e.detail}", "image") from None
            try:
                blobs = [await f.read() for f in form.getlist("image") if not isinstance(f, str)]
                options = {}
                for field, value in form.multi_items():
                    if field != "image" and not isinstance(value, str):
                        raise RequestError(f"unknown file field `{field}`: send images as `image`.", field)
                    if isinstance(value, str):
                        options[field] = _form_value(value)
            finally:
                await form.close()
            _fields(options, allowed | {"image"})
            options.pop("image", None)
            if not blobs:
                raise RequestError("send the images as form files named `image`.", "image")
        elif content_type.startswith("image/") or content_type == "application/octet-stream":
            options = _fields({k: _form_value(v) for k, v in request.query_params.multi_items()}, allowed)
            blobs = [await request.body()]
        else:
            raise RequestError(f"send images as multipart/form-data (files named `image`) or one image as the body "
                               f"(Content-Type image/*), got Content-Type {content_type or 'none'!r}.", "image", 415)
        name = self._model(options.get("model"), tasks.CAPTIONING.name)
        beam_size = _integer("beam_size", options.get("beam_size", 3), 1, self.limits.beam_size)
        attention = _boolean("attention", options.get("attention", False))
        field = lambda i: "image" if len(blobs) == 1 else f"image[{i}]"  # noqa: E731
        images = [await asyncio.to_thread(open_image, blob, self.limits.image_pixels, field(i))
                  for i, blob in enumerate(blobs)]
        call = functools.partial(_caption, beam_size=beam_size, attention=attention)
        results = await self._submit(name, ("caption", beam_size, attention), call, images, "image")
        if not attention:
            return JSONResponse({"model": name, "captions": results})
        return JSONResponse({"model": name, "captions": [c for c, _ in results], "attention": [a for _, a in results]})

    async def generate(self, request):
        allowed = {"model", "prompt", "length", "temperature", "seed", "top_k", "top_p", "gates"}
        body = await self._json(request, allowed)
        limits = self.limits
        name = self._model(body.get("model"), tasks.TEXT_GENERATION.name)
        options = {
            "prompt": _text("prompt", body.get("prompt", "\n"), limits.prompt_chars, empty_ok=False),
            "length": _integer("length", body.get("length", min(300, limits.length)), 1, limits.length),
            "temperature": _number("temperature", body.get("temperature", 1.0), 0, 100),
            "seed": None if body.get("seed") is None else _integer("seed", body["seed"], 0, 2**63 - 1),
            "top_k": None if body.get("top_k") is None else _integer("top_k", body["top_k"], 1, 10_000),
            "top_p": None if body.get("top_p") is None else _number("top_p", body["top_p"], 0, 1, low_open=True),
            "gates": _boolean("gates", body.get("gates", False)),
        }
        (result,) = await self._submit(name, None, _generate, [options], "prompt")
        return JSONResponse({"model": name, **result})


def open_image(data, most_pixels, field="image"):
    """The PIL image in the encoded bytes `data`, as `zoo`'s image loading reads
    it (EXIF orientation applied). Its size is read from the header first: an
    image of more than `most_pixels` pixels is refused before it is decoded."""
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        raise RequestError(f"`{field}`: {e}", field, 413) from None
    except (OSError, SyntaxError, ValueError):
        raise RequestError(f"`{field}` is not an image file Pillow reads ({len(data):,} bytes).", field) from None
    width, height = image.size
    if width * height > most_pixels:
        raise RequestError(f"`{field}` is {width} x {height} = {width * height:,} pixels; at most {most_pixels:,} "
                           f"are allowed.", field, 413)
    try:
        image.load()
        return ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise RequestError(f"`{field}` could not be decoded: {' '.join(str(e).split())}", field) from None


def run(server, host="127.0.0.1", port=8080, log_level="info"):
    """Serves `server` (a `Server`) until Ctrl-C or SIGTERM, which stop taking
    connections, finish the requests in flight (uvicorn's graceful shutdown)
    and return."""
    served = uvicorn.Server(_config(server, host, port, log_level))
    # uvicorn sends the signal that stopped it again once it has stopped: a handler
    # that does nothing lets the stop end here, as a return, instead of a KeyboardInterrupt.
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda *_: None) for s in handled} if _main_thread() else {}
    try:
        served.run()
    except SystemExit:  # uvicorn's answer to an address it cannot bind, after logging why
        raise OSError(f"could not serve on {host}:{port} (the line above says why)") from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def serving(server, host="127.0.0.1", port=0, log_level="warning"):
    """Runs `server` on a background thread for the `with` block (port 0: a free
    one) and yields its URL; leaving the block stops it gracefully."""

    served = uvicorn.Server(_config(server, host, port, log_level))
    thread = threading.Thread(target=served.run, name="zoo-serve", daemon=True)
    thread.start()
    while not served.started:
        if not thread.is_alive():
            raise OSError(f"could not serve on {host}:{port}")
        thread.join(0.05)
    port = served.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        served.should_exit = True
        thread.join()


def _config(server, host, port, log_level):
    return uvicorn.Config(server.app, host=host, port=port, log_level=log_level, access_log=False,
                          timeout_graceful_shutdown=60)


def _main_thread():
    return threading.current_thread() is threading.main_thread() and sys.platform != "win32"
