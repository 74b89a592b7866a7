"""The REST server: /health, /v1/models, /v1/models/{name}/predict, /explain and /verify, /v1/indexes and
/v1/indexes/{name}/search, and the web page at /, for every task.

Each served model gets its own predict route, generated from its task's declared contract: the query parameters from
its predict options (with their ranges), the response from its result type's schema. A request runs the task's own
`preprocess` / `infer` / `postprocess` (the steps its `predict` uses); nothing here knows what a task computes.
"""

import asyncio
import copy
import dataclasses
import functools
import hmac
import inspect
import logging
import os
import threading
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, File, Header, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException

from ocularis.api import load
from ocularis.config import option_fields
from ocularis.contract import INPUT_KINDS
from ocularis.core.results import Result
from ocularis.errors import ConfigError, OcularisError
from ocularis.explain import IMAGE_METHODS, TARGET_HELP
from ocularis.explain.result import Explanation, ExplanationResult
from ocularis.search.results import Matches
from ocularis.serve.batching import MicroBatcher
from ocularis.serve.limits import ApiError, Limits, decode_file, decode_upload
from ocularis.serve.schemas import ERRORS, Health, ModelInfo, model_info, predict_route, response_schema
from ocularis.serve.search import ServedIndex, add_search_routes

TOKEN_ENV = "OCULARIS_TOKEN"
LOG = logging.getLogger("ocularis.serve")
# every input kind's file fields, with an example file for the message that one is missing
FILE_FIELDS = {"image": "photo.jpg", **{upload.name: "clip.mp4" if upload.accept.startswith("video") else "photo.jpg"
                                        for kind in INPUT_KINDS.values() for upload in kind.uploads}}


@dataclass
class ServedModel:
    name: str
    task: Any  # a task object: Classifier, ...
    batcher: MicroBatcher
    explaining: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @functools.cached_property
    def explainer(self) -> Any:
        """The task with its own copy of the network: explanations hook layers and take gradients, which
        predictions running meanwhile through the shared network must not meet."""
        twin = copy.copy(self.task)
        twin.network = copy.deepcopy(self.task.network)
        return twin


def model_name(path: Path) -> str:
    """runs/classify/lenet5/best.ckpt -> lenet5; .../lenet5/best.int8.onnx -> lenet5-int8-onnx; a.onnx -> a-onnx."""
    stem, _, rest = path.name.partition(".")
    base = path.parent.name if stem in ("best", "last") and path.parent.name else stem
    return base if rest == "ckpt" else f"{base}-{rest.replace('.', '-')}"


def load_models(specs: list[str], required: bool = True) -> dict[str, Any]:
    """`NAME=PATH` or `PATH` (named after its run folder) -> {name: task object}."""
    models: dict[str, Any] = {}
    for spec in specs:
        name, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        name = name or model_name(Path(path))
        if name in models:
            raise ConfigError(f"--model {spec}: the name {name!r} is taken; name it with --model NAME=PATH")
        models[name] = load(path)
    if not models and required:
        raise ConfigError("no models to serve; pass --model PATH (several times for several models)")
    return models


def create_app(models: dict[str, Any], *, indexes: dict[str, ServedIndex] | None = None, token: str | None = None,
               limits: Limits | None = None, max_batch: int = 16, max_wait_ms: float = 5.0) -> FastAPI:
    """The FastAPI application serving `models` ({name: task object}) and image `indexes` (load_indexes)."""
    limits = limits or Limits()
    indexes = indexes or {}
    token = token if token is not None else os.environ.get(TOKEN_ENV) or None
    served = {name: ServedModel(name, task, MicroBatcher(task.infer, max_batch, max_wait_ms))
              for name, task in models.items()}

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        for model in served.values():
            await model.batcher.start()
        yield
        for model in served.values():
            await model.batcher.stop()

    # /docs and /redoc from files in the installed package, not a CDN: the API page works on an air-gapped machine
    app = FastAPIOffline(title="ocularis", description="Computer-vision models over REST.", lifespan=lifespan)
    files_per_item = max([len(task.spec.inputs.uploads) for task in models.values()] or [1])
    app.add_middleware(BodyLimit, max_bytes=limits.max_upload_bytes * limits.max_images * files_per_item + 2**20)
    app.add_middleware(RequestLog)  # added last, so it runs first and times the whole request
    _add_error_handlers(app)

    def require_token(authorization: str | None = Header(None, description="Bearer TOKEN, when the server has one")):
        if token is None:
            return
        if not authorization or not authorization.startswith("Bearer "):
            raise ApiError(401, "this server needs a token: send the header 'Authorization: Bearer <token>'")
        if not hmac.compare_digest(authorization.removeprefix("Bearer ").encode(), token.encode()):
            raise ApiError(401, "wrong token in the Authorization header")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return resources.files("ocularis.serve").joinpath("static/index.html").read_text()

    scripts = {kind.renderer: kind.renderer_file() for kind in (Result, Matches, Explanation,
                                                                *(model.task.result_type for model in served.values()))}

    @app.get("/renderers/{name}.js", include_in_schema=False)
    def renderer(name: str) -> FileResponse:
        """A result type's page renderer (the page loads one per served model's result type)."""
        if name not in scripts:
            raise ApiError(404, f"no renderer named {name!r}; the page's renderers: {', '.join(scripts)}")
        return FileResponse(scripts[name], media_type="text/javascript")

    @app.get("/health", response_model=Health)
    def health() -> Health:
        return Health(status="ok", models=len(served))

    @app.get("/v1/models", response_model=list[ModelInfo], responses=ERRORS, dependencies=[Depends(require_token)])
    def list_models() -> list[ModelInfo]:
        return [model_info(name, model.task) for name, model in served.items()]

    for model in served.values():
        _add_predict_route(app, model, limits, require_token)
    add_search_routes(app, served, indexes, limits, require_token)

    @app.post("/v1/models/{name}/predict", include_in_schema=False, dependencies=[Depends(require_token)])
    def unknown_model(name: str):
        raise ApiError(404, f"no model named {name!r}; served: {', '.join(served)}")

    @app.post("/v1/models/{name}/explain", response_model=response_schema(ExplanationResult), responses=ERRORS,
              dependencies=[Depends(require_token)], summary="Where the model looks: a heat map over each image",
              tags=["explain"])
    async def explain(name: str, image: list[UploadFile] = File(..., description="one or more image files"),
                      method: str = Query("gradcam", description=f"one of {', '.join(IMAGE_METHODS)} (the model's "
                                                                  "own list: /v1/models, `explanations`)"),
                      target: str | None = Query(None, description=TARGET_HELP),
                      layer: str | None = Query(None, description="layer by name (default: the model's own)")):
        started = time.perf_counter()
        if name not in served:
            raise ApiError(404, f"no model named {name!r}; served: {', '.join(served)}")
        task = served[name].task
        if method not in task.explanations():
            raise ApiError(422, f"{name} offers the explanations {', '.join(task.explanations()) or 'none'}, not "
                                f"{method!r}")
        if len(image) > limits.max_images:
            raise ApiError(413, f"{len(image)} images in one request; the limit is {limits.max_images}")
        names = [upload.filename or f"image{index}" for index, upload in enumerate(image)]
        payloads = [await upload.read() for upload in image]

        def run():
            pictures = [decode_upload(data, n, limits) for data, n in zip(payloads, names, strict=True)]
            with served[name].explaining:  # one at a time: their layer hooks and gradients share the copy
                found = served[name].explainer.explain(method, pictures, target=target, layer=layer)
            for result, source in zip(found, names, strict=True):
                result.source = source
            return found

        try:
            results = await asyncio.wait_for(run_in_threadpool(run), limits.timeout_s)
        except asyncio.TimeoutError:
            raise ApiError(504, f"the explanation took longer than {limits.timeout_s:g} s; send fewer or smaller "
                                "images, or a faster method (gradcam, saliency)") from None
        except ConfigError as error:
            raise ApiError(422, str(error)) from None
        return {"model": name, "task": task.meta["task"], "results": [r.to_json() for r in results],
                "milliseconds": round((time.perf_counter() - started) * 1000, 3)}

    return app


def _add_predict_route(app: FastAPI, model: ServedModel, limits: Limits, require_token: Callable) -> None:
    """POST /v1/models/NAME/predict: a multipart file field per upload of the task's input kind (none for a
    generator), the task's options as query parameters (with their ranges), its result schema as the response."""
    task = model.task
    kind = task.spec.inputs
    fields = option_fields(task.spec.options)
    defaults = task.default_options()
    pictures = [field.name for field in fields if field.picture]
    uploads = [upload.name for upload in kind.uploads]
    by_query = {field.query: field.name for field in fields}

    async def predict(request: Request, **given: Any):
        started = time.perf_counter()
        files = {name: given.pop(name) for name in uploads}
        for name, sent in files.items():
            if len(sent) > limits.max_images:
                raise ApiError(413, f"{len(sent)} {'images' if name == 'image' else name + ' files'} in one request; "
                                    f"the limit is {limits.max_images}")
        unknown = [key for key in request.query_params if by_query.get(key) not in given or by_query[key] in pictures]
        if unknown:
            raise ApiError(422, f"option {unknown[0]!r} does not apply to a {task.meta['task']} model; its options: "
                                f"{', '.join(by_query) or 'none'}" + (f" (upload {', '.join(pictures)} as a file)"
                                                                     if by_query.get(unknown[0]) in pictures else ""))
        for key in pictures:  # a picture option arrives as a file beside the inputs
            if given[key] is not None:
                data = await given[key].read()
                given[key] = await run_in_threadpool(decode_upload, data, given[key].filename or key, limits)
        try:
            options = task.resolve_options(**given)
        except ConfigError as error:
            raise ApiError(422, str(error)) from None
        try:
            results = await asyncio.wait_for(_predict(model, files, limits, options), limits.timeout_s)
        except asyncio.TimeoutError:
            raise ApiError(504, f"the request took longer than {limits.timeout_s:g} s; send fewer or smaller "
                                "inputs, or retry when the server is less busy") from None
        except OcularisError as error:  # what the model refuses in an input (a face model given no face)
            raise ApiError(422, str(error)) from None
        return {"model": model.name, "task": task.meta["task"], "results": [r.to_json() for r in results],
                "milliseconds": round((time.perf_counter() - started) * 1000, 3)}

    parameters = [inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request)]
    for upload in kind.uploads:
        parameters.append(inspect.Parameter(upload.name, inspect.Parameter.KEYWORD_ONLY, annotation=list[UploadFile],
                                            default=File(..., description=upload.help)))
    for field in fields:
        default = getattr(defaults, field.name)
        if field.picture:
            parameters.append(inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY,
                                                annotation=UploadFile | None,
                                                default=File(None, description=f"{field.help} (an image file)")))
            continue
        query = Query(None, ge=field.low, le=field.high, alias=field.query,
                      description=f"{field.help} (this model's default: {default})")
        parameters.append(inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, annotation=field.kind | None,
                                            default=query))
    predict.__signature__ = inspect.Signature(parameters)
    for verb in dict.fromkeys(("predict", task.predict_verb())):  # the same route under the model's own verb
        app.post(predict_route(model.name, verb), response_model=response_schema(task.result_type.schema),
                 responses=ERRORS, dependencies=[Depends(require_token)], summary=f"{model.name}: {task.spec.summary}",
                 operation_id=f"{verb}_{model.name}", tags=[task.spec.name])(predict)


async def _predict(model: ServedModel, files: dict[str, list[UploadFile]], limits: Limits, options: Any) -> list:
    """Decode and preprocess in worker threads, infer in a shared micro-batch, postprocess per request."""
    kind = model.task.spec.inputs
    read = {upload.name: [(file.filename or f"{upload.name}{index}", await file.read(), upload.accept)
                          for index, file in enumerate(files[upload.name])] for upload in kind.uploads}

    def decode_and_preprocess() -> tuple[list, list, Any]:
        decoded = {field: [(name, decode_file(data, name, accept, limits)) for name, data, accept in items]
                   for field, items in read.items()}
        named = kind.read().from_uploads(decoded, options)
        if len(named) > limits.max_images:
            raise ApiError(413, f"{len(named)} inputs in one request; the limit is {limits.max_images}")
        names, items = [name for name, _ in named], [item for _, item in named]
        return names, items, model.task.preprocess(items, options)

    names, items, batch = await run_in_threadpool(decode_and_preprocess)
    outputs = await model.batcher.submit(batch)
    return await run_in_threadpool(lambda: model.task.postprocess(outputs, names, items, options))


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message}}, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return _error(error.status, error.message, {"WWW-Authenticate": "Bearer"} if error.status == 401 else None)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"] if part != "body")
            if item["type"] == "missing" and where in FILE_FIELDS:
                problems.append(f"no {where}: send the file as multipart/form-data field '{where}' "
                                f"(curl -F {where}=@{FILE_FIELDS[where]})")
            else:
                problems.append(f"{where}: {item['msg']}")
        return _error(422, "; ".join(problems))

    @app.exception_handler(Exception)
    async def internal_error(_: Request, error: Exception) -> JSONResponse:
        return _error(500, f"internal error ({type(error).__name__}); the request was not processed")


class BodyLimit:
    """Refuses request bodies over `max_bytes` (declared or streamed) before they fill memory or disk."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        message = f"the request body is larger than the server's limit of {self.max_bytes / 2**20:.0f} MB"
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await _error(413, message)(scope, receive, send)
        received = 0

        async def limited_receive():
            nonlocal received
            chunk = await receive()
            received += len(chunk.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, message)  # FastAPI passes HTTPExceptions raised while reading the body
            return chunk

        await self.app(scope, limited_receive, send)


class RequestLog:
    """One line per request on the `ocularis.serve` logger: `POST /v1/models/lenet5/predict 200 12.3 ms`."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), 500  # a request that raises is answered 500

        async def noted_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noted_send)
        finally:
            LOG.info("%s %s %d %.1f ms", scope["method"], scope["path"], status, 1000 * (time.perf_counter() - started))


def serve(models: dict[str, Any], host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
    """Run the server until interrupted (uvicorn, one process, its own log quietened to warnings); `options` are
    create_app's. Requests are logged one line each (RequestLog) on stderr."""
    import uvicorn

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    uvicorn.run(create_app(models, **options), host=host, port=port, log_level="warning")
