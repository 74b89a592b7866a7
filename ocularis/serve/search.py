"""The server's search and verification routes: image indexes served beside the models (GET /v1/indexes, POST
/v1/indexes/{name}/search) and POST /v1/models/{name}/verify for every model calibrated for verification. A request
decodes its uploads, embeds them with the index's (or model's) own network in a worker thread, and answers JSON."""

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, File, Query, UploadFile
from fastapi.concurrency import run_in_threadpool

from ocularis.engine.embedding import model_fingerprint
from ocularis.engine.loading import load_model
from ocularis.errors import ConfigError, OcularisError
from ocularis.search.results import MatchesResult
from ocularis.serve.limits import ApiError, Limits, decode_upload
from ocularis.serve.schemas import ERRORS, IndexInfo, VerifyResponse, index_info, response_schema
from ocularis.uses.indexing import search_images
from ocularis.uses.verifying import pair_verdict


@dataclass
class ServedIndex:
    """An image index opened read-only (memory-mapped) with the model that embeds its queries; embedding may hook a
    layer of that model, so searches take turns."""

    name: str
    index: Any  # ocularis.search.ImageIndex
    task: Any
    searching: threading.Lock = dataclasses.field(default_factory=threading.Lock)


def load_indexes(specs: list[str]) -> dict[str, ServedIndex]:
    """`NAME=FOLDER` or `FOLDER` (named after the folder) -> {name: ServedIndex}; each with the model it was built
    with."""
    from ocularis.search import ImageIndex

    indexes: dict[str, ServedIndex] = {}
    for spec in specs:
        name, _, folder = spec.rpartition("=") if "=" in spec else ("", "", spec)
        name = name or Path(folder).name.split(".")[0]
        if name in indexes:
            raise ConfigError(f"--index {spec}: the name {name!r} is taken; name it with --index NAME=FOLDER")
        index = ImageIndex.open(folder, mmap=True)
        if not index.model or not Path(index.model).is_file():
            raise ConfigError(f"--index {spec}: its model {index.model or '(none recorded)'} is not a file; rebuild "
                              "the index with `ocularis embed index --model CHECKPOINT`")
        task = load_model(index.model)
        index.check_fingerprint(model_fingerprint(task), index.model)  # once, not per search
        indexes[name] = ServedIndex(name, index, task)
    return indexes


def add_search_routes(app: FastAPI, served: dict[str, Any], indexes: dict[str, ServedIndex], limits: Limits,
                      require_token: Callable) -> None:
    """The index routes for `indexes` and the verify route for the `served` models (ServedModel by name)."""

    @app.get("/v1/indexes", response_model=list[IndexInfo], responses=ERRORS, dependencies=[Depends(require_token)],
             tags=["search"])
    def list_indexes() -> list[IndexInfo]:
        return [index_info(name, found.index) for name, found in indexes.items()]

    @app.post("/v1/indexes/{name}/search", response_model=response_schema(MatchesResult), responses=ERRORS,
              dependencies=[Depends(require_token)], summary="The indexed images nearest each uploaded image",
              tags=["search"])
    async def search(name: str, image: list[UploadFile] = File(..., description="one or more query images"),
                     k: int = Query(10, ge=1, le=100, description="neighbours per query"),
                     expand: int = Query(0, ge=0, le=20, description="average query expansion: search again with "
                                                                     "the query averaged with its top hits")):
        started = time.perf_counter()
        if name not in indexes:
            raise ApiError(404, f"no index named {name!r}; served: {', '.join(indexes) or 'none'}")
        found = indexes[name]
        pictures, names = await _decoded(image, limits)

        def run():
            with found.searching:
                results = search_images(found.task, found.index, pictures, k=k, expand=expand, thumbnails=True,
                                        checked=True)
            for result, source in zip(results, names, strict=True):
                result.source = source
            return results

        results = await _within(run, limits, "the search")
        return {"model": name, "task": "search", "results": [r.to_json() for r in results],
                "milliseconds": round((time.perf_counter() - started) * 1000, 3)}

    @app.post("/v1/models/{name}/verify", response_model=VerifyResponse, responses=ERRORS,
              dependencies=[Depends(require_token)], summary="Do two images show the same identity?",
              tags=["verify"])
    async def verify(name: str, image: list[UploadFile] = File(..., description="exactly two images"),
                     threshold: float | None = Query(None, ge=-1, le=1, description="cosine similarity at or above "
                                                     "which they match (default: the model's own)")):
        started = time.perf_counter()
        if name not in served:
            raise ApiError(404, f"no model named {name!r}; served: {', '.join(served)}")
        if len(image) != 2:
            raise ApiError(422, f"verify compares two images; got {len(image)} (send two 'image' fields)")
        model = served[name]
        pictures, names = await _decoded(image, limits)

        def run():
            with model.explaining:  # embedding a non-embedding model hooks a layer of its private copy
                vectors = model.explainer.embed(pictures)
            return pair_verdict(model.task, vectors, tuple(names), threshold)

        verdict = await _within(run, limits, "the verification")
        return {"model": name, "result": verdict.to_json(),
                "milliseconds": round((time.perf_counter() - started) * 1000, 3)}


async def _decoded(uploads: list[UploadFile], limits: Limits) -> tuple[list, list[str]]:
    """The uploads decoded (in a worker thread), with their names; refused by the limits' rules."""
    if len(uploads) > limits.max_images:
        raise ApiError(413, f"{len(uploads)} images in one request; the limit is {limits.max_images}")
    names = [upload.filename or f"image{index}" for index, upload in enumerate(uploads)]
    payloads = [await upload.read() for upload in uploads]
    pictures = await run_in_threadpool(lambda: [decode_upload(data, name, limits)
                                                for data, name in zip(payloads, names, strict=True)])
    return pictures, names


async def _within(work: Callable, limits: Limits, what: str) -> Any:
    """`work()` in a worker thread; past the request time limit a 504, a user error (an uncalibrated model, an image
    without a face) a 422."""
    try:
        return await asyncio.wait_for(run_in_threadpool(work), limits.timeout_s)
    except asyncio.TimeoutError:
        raise ApiError(504, f"{what} took longer than {limits.timeout_s:g} s; send fewer or smaller images") from None
    except OcularisError as error:
        raise ApiError(422, str(error)) from None
