"""The server's generic JSON, typed for OpenAPI. Each task's result schema is its result type's own
(ocularis.core.results.Result.schema); `response_schema` wraps it into the task's predict response."""

import dataclasses
from functools import cache
from typing import Any

from pydantic import BaseModel, Field, create_model

from ocularis.config import option_fields
from ocularis.uses.verifying import PairVerdictResult


class ErrorBody(BaseModel):
    status: int
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


ERRORS = {status: {"model": ErrorResponse} for status in (400, 401, 404, 413, 415, 422, 504)}  # routes' 4xx bodies


class OptionInfo(BaseModel):
    """One predict option: a query parameter of the model's route and a control on the web page."""

    name: str
    type: str = Field(description="bool, int, float, str, or image (uploaded as a form field of its name)")
    query: str = Field(description="its name in the query (a Python keyword's underscore dropped: class)")
    default: Any = Field(description="this model's own default")
    help: str
    choices: list[str] = Field(default_factory=list)
    low: float | None = None
    high: float | None = None


class UploadInfo(BaseModel):
    name: str = Field(description="the multipart form field")
    accept: str = Field(description="the files it takes: image/* or video/*")
    help: str


class ModelInfo(BaseModel):
    name: str
    task: str
    model: str = Field(description="architecture")
    format: str = Field(description="checkpoint, onnx or torchscript")
    precision: str
    inputs: str = Field(description="what the model predicts from: image, image_pair, video or none")
    uploads: list[UploadInfo] = Field(description="the predict route's file fields (none: a generator)")
    renderer: str = Field(description="the web page's renderer for its results")
    route: str = Field(description="the model's predict route")
    explain_route: str = Field(description="the model's explain route (POST images, ?method=...)")
    explanations: list[str] = Field(description="the explanation methods the model offers (none: not explainable)")
    verify_route: str | None = Field(description="the model's verify route (POST two images), where it was "
                                                 "calibrated for verification")
    threshold: float | None = Field(description="its verification threshold (cosine similarity)")
    options: list[OptionInfo]
    classes: list[str] | None = None
    imgsz: int | None = None
    channels: int | None = None


class IndexInfo(BaseModel):
    name: str
    images: int = Field(description="images indexed")
    kind: str = Field(description="index structure: flat, ivf, ivfpq, hnsw, lsh or annoy")
    dim: int
    model: str = Field(description="the checkpoint that embeds its images and queries")
    route: str = Field(description="its search route (POST images, ?k=...)")


def index_info(name: str, index) -> IndexInfo:
    return IndexInfo(name=name, images=len(index), kind=index.kind, dim=index.dim, model=index.model,
                     route=f"/v1/indexes/{name}/search")


class VerifyResponse(BaseModel):
    model: str
    result: PairVerdictResult
    milliseconds: float


class Health(BaseModel):
    status: str
    models: int


@cache
def response_schema(result_schema: type[BaseModel]) -> type[BaseModel]:
    """The predict response of a task whose per-input result is `result_schema` (one class per task, for OpenAPI)."""
    return create_model(result_schema.__name__.removesuffix("Result") + "Response", model=(str, ...),
                        task=(str, ...), results=(list[result_schema], ...),
                        milliseconds=(float, Field(description="time spent in the server on this request")))


def model_info(name: str, task) -> ModelInfo:
    """What /v1/models says of a served task object."""
    meta, defaults = task.meta, dataclasses.asdict(task.default_options())
    threshold = task.verification_threshold()
    options = [OptionInfo(name=f.name, query=f.query, type="image" if f.picture else f.kind.__name__,
                          default=defaults[f.name], help=f.help, choices=list(f.choices), low=f.low, high=f.high)
               for f in option_fields(task.spec.options) if f.name not in task.ignored_options()]
    return ModelInfo(name=name, task=meta["task"], model=meta["model"], format=meta.get("format", "checkpoint"),
                     precision=meta.get("precision", "float32"), inputs=task.spec.inputs.name,
                     uploads=[UploadInfo(**dataclasses.asdict(u)) for u in task.spec.inputs.uploads],
                     renderer=task.result_type.renderer, route=predict_route(name), options=options,
                     explain_route=f"/v1/models/{name}/explain", explanations=list(task.explanations()),
                     verify_route=f"/v1/models/{name}/verify" if threshold is not None else None, threshold=threshold,
                     classes=meta.get("classes"), imgsz=meta.get("imgsz"), channels=meta.get("channels"))


def predict_route(name: str, verb: str = "predict") -> str:
    return f"/v1/models/{name}/{verb}"
