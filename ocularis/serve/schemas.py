"""The server's JSON, typed for OpenAPI. A task joins the server by adding its result schema to TASK_RESULTS."""

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    status: int
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class ModelInfo(BaseModel):
    name: str
    task: str
    model: str = Field(description="architecture")
    format: str = Field(description="checkpoint, onnx or torchscript")
    precision: str
    classes: list[str]
    imgsz: int
    channels: int


class Health(BaseModel):
    status: str
    models: int


class ScoredLabel(BaseModel):
    label: str
    score: float


class LabelsResult(BaseModel):
    """Classification of one image: the chosen label(s) and the top-k ranking."""

    source: str
    labels: list[str]
    scores: list[float]
    topk: list[ScoredLabel]


class Detection(BaseModel):
    label: str
    class_id: int
    score: float
    box: list[float] = Field(description="x1, y1, x2, y2 in the image's pixels")


class BoxesResult(BaseModel):
    """Detection in one image: every object's class, score and box."""

    source: str
    width: int
    height: int
    detections: list[Detection]


# task -> the schema of one image's result; the response's `results` is a list of these.
TASK_RESULTS: dict[str, type[BaseModel]] = {"classify": LabelsResult, "detect": BoxesResult}


class PredictResponse(BaseModel):
    model: str
    task: str
    results: list[LabelsResult | BoxesResult]
    milliseconds: float = Field(description="time spent in the server on this request")


def model_info(name: str, meta: dict[str, Any]) -> ModelInfo:
    return ModelInfo(name=name, task=meta["task"], model=meta["model"], format=meta.get("format", "checkpoint"),
                     precision=meta.get("precision", "float32"), classes=meta["classes"], imgsz=meta["imgsz"],
                     channels=meta["channels"])
