"""The real ants-vs-bees photos (when ../shared/assets is present): the reader handles the GIF and odd names."""

import pytest

import ocularis
from ocularis.config import build_config
from ocularis.tasks.classify import ClassifyConfig
from ocularis.tasks.classify.data import read_labelled

from .conftest import ASSETS

HYMENOPTERA = ASSETS / "hymenoptera_data"
pytestmark = pytest.mark.skipif(not HYMENOPTERA.is_dir(), reason="real assets (../shared/assets) are absent")


def test_hymenoptera_reads_every_photo_including_the_gif_and_the_spaced_name():
    data = read_labelled(str(HYMENOPTERA), build_config(ClassifyConfig, {}))
    assert data.classes == ["ants", "bees"] and data.test_is_val
    assert (len(data.train), len(data.val)) == (245, 153)
    names = {source.rsplit("/", 1)[-1] for source in data.train.sources}
    assert {"imageNotFound.gif", "ant photos.jpg"} <= names


def test_one_epoch_on_real_photos_predicts_them(tmp_path):
    run = ocularis.Classifier(model="simple_cnn", imgsz=48, progress=False).fit(str(HYMENOPTERA), epochs=1)
    assert sum(map(sum, run.metrics.confusion)) == 153  # every val photo was scored
    (result,) = ocularis.load(run.best).predict(str(HYMENOPTERA / "train" / "ants" / "ant photos.jpg"))
    assert result.label in ("ants", "bees") and 0.5 <= result.score <= 1.0
