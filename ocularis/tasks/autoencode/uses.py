"""What a trained autoencoder is used for beyond reconstructing: denoising (optionally adding the noise first, as a
demonstration), codes, and outliers ranked by reconstruction error against the model's threshold."""

from typing import Any

import numpy as np
import torch
from PIL import Image

from ocularis.core.image_result import Images
from ocularis.data.inputs import batches, expand_inputs
from ocularis.errors import ConfigError
from ocularis.tasks.autoencode.config import NOISES
from ocularis.tasks.autoencode.metrics import false_alarm_threshold, outlier_metrics
from ocularis.tasks.autoencode.module import image_psnr
from ocularis.tasks.autoencode.noise import corrupt, seeded
from ocularis.tasks.autoencode.predict import OutlierReport, Ranked, to_uint8
from ocularis.uses.indexing import labelled_files


def denoise(task, inputs: Any, add_noise: str = "none", level: float = 0.0, seed: int = 0,
            batch: int = 16) -> list[Images]:
    """Each image cleaned by the model. With `add_noise` (gaussian, salt_pepper, masking at `level`), the clean
    image is corrupted first and the result's scores say how far the noisy input and the output are from it (PSNR,
    dB) and the gain; without, the given images are taken to be the noisy ones."""
    if add_noise not in NOISES:
        raise ConfigError(f"--add-noise {add_noise!r} is not one of {', '.join(NOISES)}")
    if add_noise == "none":
        return task.predict(inputs, batch=batch)
    generator, found = seeded(seed), []
    for names, pictures in batches(expand_inputs(inputs), task.meta["channels"], batch):
        noisy = []
        for picture in pictures:
            pixels = torch.from_numpy(np.array(picture, np.float32) / 255.0).reshape(picture.height, picture.width, -1)
            dirty = corrupt(pixels.permute(2, 0, 1)[None], add_noise, level, generator)[0]
            noisy.append(Image.fromarray(to_uint8(dirty)))
        outputs = task.postprocess(task.infer(task.preprocess(noisy)), names, noisy, task.default_options())
        for output, clean, dirty in zip(outputs, pictures, noisy, strict=True):
            reference = task.reference_pixels(clean)[None]
            before = image_psnr(reference, task.reference_pixels(dirty)[None])
            after = image_psnr(reference, torch.from_numpy(output.image.astype(np.float32) / 255.0).reshape(
                reference.shape[2], reference.shape[3], -1).permute(2, 0, 1)[None])
            output.scores = {"psnr_noisy": float(before), "psnr": float(after), "psnr_gain": float(after - before)}
        found += outputs
    return found


def encode(task, inputs: Any, batch: int = 64) -> tuple[list[str], np.ndarray]:
    """The names and (N, D) codes of images (a VAE's: the means); unnormalised, as the decoder takes them."""
    names, codes = [], []
    for chunk, pictures in batches(expand_inputs(inputs), task.meta["channels"], batch):
        names += chunk
        codes.append(task.encode(task.explain_inputs(pictures)).numpy())
    return names, np.concatenate(codes)


def outliers(task, inputs: Any = None, data: str | None = None, split: str = "test",
             false_alarm: float | None = None, batch: int = 64) -> OutlierReport:
    """Images (paths, folders — class folders label them — or `data`'s `split`) ranked by reconstruction error.
    The threshold is the model's own, or the one that flags `false_alarm` of its clean validation images. Where
    every image has a label, one of the model's training classes counts as normal and any other as an outlier."""
    task._require_network()
    threshold = task.meta["threshold"] if false_alarm is None else threshold_at(task, false_alarm)
    if threshold is None:
        raise ConfigError(f"{task.source} holds no outlier threshold; pass --false-alarm to choose one")
    rows: list[Ranked] = []
    if inputs is not None:
        files = labelled_files(inputs if isinstance(inputs, list | tuple) else [inputs])
        labels = dict(files)
        for result in task.predict([path for path, _ in files], batch=batch):
            error = result.scores["error"]
            rows.append(Ranked(result.source, error, error > threshold, labels.get(result.source), result.before))
    else:
        dataset = task.dataset(data, split)
        errors = task.reconstruction_errors(dataset, batch)
        for index, (error, label) in enumerate(zip(errors, dataset.label_names(), strict=True)):
            rows.append(Ranked(dataset.source(index), float(error), bool(error > threshold), label,
                               to_uint8(dataset[index][0])))
    rows.sort(key=lambda row: -row.score)
    normal = list(task.meta["classes"])
    metrics = None
    if rows and all(row.label is not None for row in rows):
        metrics = outlier_metrics(np.array([r.score for r in rows]), np.array([r.label not in normal for r in rows]),
                                  threshold)
    chosen = task.meta["config"]["false_alarm"] if false_alarm is None else false_alarm
    return OutlierReport(rows, float(threshold), float(chosen), normal, metrics)


def threshold_at(task, false_alarm: float) -> float:
    """The error above which `false_alarm` of the model's clean validation images lie (its training data's val
    split, cut to its --classes)."""
    if not 0.0 <= false_alarm <= 1.0:
        raise ConfigError(f"--false-alarm {false_alarm} must lie in 0..1")
    return false_alarm_threshold(task.reconstruction_errors(task.clean_split("val")), false_alarm)
