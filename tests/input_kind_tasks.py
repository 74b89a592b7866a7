"""The test-only tasks of tests/test_input_kinds.py, one per input kind: a conditional generator (nothing in), a
pair task, a clip task and a stream task (per-video state), with the real inputs they are shown (the handwritten
digits, a digit sliding across frames written as a video file)."""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from pydantic import BaseModel
from torch import nn

from ocularis.config import GenerateOptions, PredictOptions, TrainConfig, option
from ocularis.contract import Inputs, TaskSpec
from ocularis.core.image_result import Images
from ocularis.core.results import Metrics, Result
from ocularis.core.video import VideoWriter
from ocularis.data.builtin import digits
from ocularis.engine.task import Stream, Task
from ocularis.errors import ConfigError

DIGITS = digits(val_fraction=0.15, test_fraction=0.15, seed=0).test.sources  # 8 x 8 scans of handwriting


@dataclass
class SketchOptions(GenerateOptions):
    class_: int = option(0, "which digit to draw", low=0, high=9)


@dataclass
class SameOptions(PredictOptions):
    threshold: float = option(0.9, "a pair is the same above this cosine similarity", low=-1.0, high=1.0)


class Score(BaseModel):
    source: str
    score: float


@dataclass
class Scored(Result):
    """A number per input; the page's generic renderer shows it."""

    schema = Score
    source_column = "input"

    source: str
    score: float

    def to_json(self) -> dict:
        return {"source": self.source, "score": round(self.score, 6)}

    def row(self) -> dict[str, str]:
        return {"score": f"{self.score:.4f}"}

    def plot(self, enlarge: bool = True) -> np.ndarray:
        return np.full((8, 8, 3), int(255 * min(max(self.score, 0), 1)), np.uint8)


@dataclass
class RunningScore(Scored):
    running: float = field(default=0.0)  # the mean over the video's frames so far: what the stream keeps

    def to_json(self) -> dict:
        return {**super().to_json(), "running": round(self.running, 6)}


class Untrained(Task):
    """What the four tasks share: a network fixed by its seed, made and saved by `create` (what the contract's
    entry points need is a model file, not a training run), images of 16 px normalised to [-1, 1]."""

    META = {"channels": 1, "imgsz": 16, "mean": [0.5], "std": [0.5]}

    @classmethod
    def create(cls, path: Path) -> Path:
        task = cls()
        torch.manual_seed(0)
        task.network = cls.build({})
        task.meta = {"task": cls.spec.name, "model": "tiny", "config": {}, **cls.META}
        return task.save(path)

    def prepare(self, *_):
        raise ConfigError(f"{self.spec.name} is a test's task: it does not train")

    training_module = read_data = split_dataset = prepare

    def score(self, dataset) -> Metrics:
        raise ConfigError("not scored")

    def agreement(self, reference, outputs) -> float:
        return float(((reference - outputs).abs().reshape(len(reference), -1).amax(1) < 1e-3).float().mean())

    def sample_inputs(self, data=None, split="test", count=None, dataset=None) -> torch.Tensor:
        return self.preprocess(self.examples(), self.default_options())


class Sketcher(Untrained):
    """A conditional generator: (noise from the seed, the class one-hot) -> a 16 x 16 picture."""

    spec = TaskSpec("sketch", "Draws a digit from nothing (a test's generator).", TrainConfig, SketchOptions,
                    "tests.input_kind_tasks:Sketcher", inputs=Inputs.NONE)
    result_type = Images

    @staticmethod
    def build(meta) -> nn.Module:
        return nn.Sequential(nn.Linear(18, 256), nn.Tanh(), nn.Unflatten(1, (1, 16, 16)))

    def examples(self) -> list[int]:
        return list(range(6))

    def preprocess(self, seeds: list[int], options: SketchOptions) -> torch.Tensor:
        onehot = F.one_hot(torch.tensor(options.class_), 10).float()
        return torch.stack([torch.cat([torch.randn(8, generator=torch.Generator().manual_seed(seed)), onehot])
                            for seed in seeds])

    def postprocess(self, outputs, names, seeds, options) -> list[Images]:
        pictures = ((outputs[:, 0] + 1) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
        return [Images(name, picture) for name, picture in zip(names, pictures, strict=True)]


class Embedder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())


class PairSimilarity(Embedder):
    """(B, 2, 1, H, W) -> the cosine similarity of the two images' features, (B,)."""

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        first, second = self.body(pairs[:, 0]), self.body(pairs[:, 1])
        return F.cosine_similarity(first, second)


class Same(Untrained):
    spec = TaskSpec("same", "Are two images alike? (a test's pair task)", TrainConfig, SameOptions,
                    "tests.input_kind_tasks:Same", inputs=Inputs.IMAGE_PAIR)
    result_type = Scored

    @staticmethod
    def build(meta) -> nn.Module:
        return PairSimilarity()

    def examples(self) -> list:
        return [(Image.fromarray(DIGITS[i]), Image.fromarray(DIGITS[i + 1])) for i in range(6)]

    def preprocess(self, pairs, options) -> torch.Tensor:
        return torch.stack([self.image_tensors(list(pair)) for pair in pairs])

    def postprocess(self, outputs, names, pairs, options) -> list[Scored]:
        return [Scored(name, float(value)) for name, value in zip(names, outputs, strict=True)]


class ClipMotion(Embedder):
    """(B, T, 1, H, W) -> how much the features change from frame to frame, (B,)."""

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        features = self.body(clips.flatten(0, 1)).unflatten(0, clips.shape[:2])
        return (features[:, 1:] - features[:, :-1]).abs().mean((1, 2))


class Motion(Untrained):
    FRAMES = 4  # each clip sampled to 4 frames, evenly over its length

    spec = TaskSpec("motion", "How much a clip moves (a test's clip task).", TrainConfig, PredictOptions,
                    "tests.input_kind_tasks:Motion", inputs=Inputs.VIDEO)
    result_type = Scored

    @staticmethod
    def build(meta) -> nn.Module:
        return ClipMotion()

    def examples(self) -> list:
        return [moving_digit(i, step) for i, step in enumerate((0, 2, 4))]

    def preprocess(self, clips, options) -> torch.Tensor:
        picks = [np.linspace(0, len(clip) - 1, self.FRAMES).round().astype(int) for clip in clips]
        return torch.stack([self.image_tensors([clip[i] for i in pick]) for clip, pick in zip(clips, picks,
                                                                                              strict=True)])

    def postprocess(self, outputs, names, clips, options) -> list[Scored]:
        return [Scored(name, float(value)) for name, value in zip(names, outputs, strict=True)]


class RunningMean(Stream):
    """The mean brightness of the video's frames so far."""

    def __init__(self):
        self.total, self.count = 0.0, 0

    def update(self, results: list[RunningScore]) -> list[RunningScore]:
        for result in results:
            self.total, self.count = self.total + result.score, self.count + 1
            result.running = self.total / self.count
        return results


class Brightness(Untrained):
    spec = TaskSpec("glow", "Each frame's brightness and its running mean (a test's stream task).", TrainConfig,
                    PredictOptions, "tests.input_kind_tasks:Brightness")
    result_type = RunningScore

    @staticmethod
    def build(meta) -> nn.Module:
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(0))

    def examples(self) -> list:
        return [Image.fromarray(DIGITS[i]) for i in range(6)]

    def postprocess(self, outputs, names, pictures, options) -> list[RunningScore]:
        return [RunningScore(name, float(value) * 0.5 + 0.5) for name, value in zip(names, outputs, strict=True)]

    def stream(self) -> RunningMean:
        return RunningMean()


TASK_CLASSES = (Sketcher, Same, Motion, Brightness)


def moving_digit(index: int, step: int, frames: int = 8) -> list[Image.Image]:
    """A digit drawn twice its size sliding `step` pixels a frame across a 32 px canvas (0: standing still)."""
    digit, clip = np.kron(DIGITS[index], np.ones((2, 2), np.uint8)), []
    for t in range(frames):
        canvas = np.zeros((32, 32), np.uint8)
        x = step * t % 16
        canvas[8:24, x:x + 16] = digit
        clip.append(Image.fromarray(canvas))
    return clip


def write_video(path: Path, frames: list[Image.Image]) -> Path:
    writer = VideoWriter(path, 8)
    for frame in frames:
        writer.write(np.asarray(frame.convert("RGB")))
    writer.close()
    return path


