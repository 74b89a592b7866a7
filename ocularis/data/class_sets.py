"""Images with a class each, from any source a classifying task reads: a registered dataset name, a folder of class
folders, or a path,label CSV. Shared by the tasks that learn from classes (classification, metric learning)."""

from pathlib import Path

from ocularis.config import TrainConfig
from ocularis.data.cache import ImageCache, check_decodable
from ocularis.data.csv_labels import read_csv
from ocularis.data.folder import has_loose_images, read_folder, read_loose
from ocularis.data.labelled import LabelledImages
from ocularis.errors import DataError
from ocularis.registry import DATASETS


def read_classes(data: str, config: TrainConfig, task: str, training: bool = True,
                 channels: int | None = None, unlabelled: bool = False) -> LabelledImages:
    """A dataset registered for `task`, a folder of class folders, or a path,label CSV; unreadable images (of all
    splits, in one error) raise or, with skip_bad, are dropped and listed in `bad_files`. Each file is decoded once
    here, and with --cache ram|disk that decode is kept for training. Evaluation (not `training`) may read one split
    of one class, in the model's `channels`. A task that learns without labels (`unlabelled`: autoencoders) trains
    on one class too, and reads a folder of loose images as one class named after the folder."""
    split_options = {"val_fraction": config.val_fraction, "test_fraction": config.test_fraction, "seed": config.seed}
    path = Path(data)
    if (task, data) in DATASETS and not path.exists():
        labelled = DATASETS.get(data, task=task)(**split_options)
    elif path.suffix.lower() == ".csv":
        labelled = read_csv(path, **split_options)
    elif path.is_dir():
        labelled = read_loose(path, **split_options) if unlabelled and has_loose_images(path) else \
            read_folder(path, **split_options)
    else:
        raise DataError(f"--data {data}: no such folder, CSV file or built-in dataset "
                        f"({', '.join(DATASETS.names(task=task))})")
    labelled.channels = channels or labelled.channels  # a trained model reads any data in its own channels
    labelled.images = ImageCache(config.cache, labelled.channels)
    same = labelled.test is labelled.val  # no test split: val stands in for it, one object as the reader made it
    (labelled.train, labelled.val, labelled.test), bad = check_decodable(
        [labelled.train, labelled.val, labelled.test], labelled.images, config.skip_bad)
    labelled.test = labelled.val if same else labelled.test
    labelled.bad_files += [b for b in bad if b not in labelled.bad_files]
    if training and (not len(labelled.train) or not len(labelled.val)):  # evaluation may read one split
        raise DataError(f"--data {data}: the train or val split is empty; add images or lower --val-fraction")
    if training and len(labelled.classes) < 2 and not unlabelled:
        raise DataError(f"--data {data}: found one class ({labelled.classes[0]}); {task} needs two or more")
    return labelled
