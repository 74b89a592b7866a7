"""Readers on real pixels, and every kind of bad input they must name."""

import shutil
from pathlib import Path

import pytest
from PIL import Image

from ocularis.config import build_config
from ocularis.data.builtin import digits, shapes
from ocularis.data.csv_labels import read_csv
from ocularis.data.folder import read_folder
from ocularis.data.splits import classes_in_turn
from ocularis.errors import CorruptImageError, DataError
from ocularis.tasks.classify import ClassifyConfig
from ocularis.tasks.classify.data import read_labelled

SPLIT = {"val_fraction": 0.2, "test_fraction": 0.2, "seed": 0}


def config(**options):
    return build_config(ClassifyConfig, options)


def test_builtin_digits_are_the_real_1797_and_split_the_same_way_each_time():
    first, second = digits(**SPLIT), digits(**SPLIT)
    assert len(first.train) + len(first.val) + len(first.test) == 1797
    assert first.channels == 1 and not first.hflip_ok
    assert [t for t in first.test.targets] == [t for t in second.test.targets]
    assert first.test.sources[0].shape == (8, 8) and first.test.sources[0].max() > 200


def test_builtin_shapes_are_seeded_and_balanced():
    data = shapes(count=200, **SPLIT)
    assert len(data.classes) == 5 and len(data.train) == 120
    assert min(data.class_counts().values()) > 10
    assert (data.train.sources[0] == shapes(count=200, **SPLIT).train.sources[0]).all()


def test_folder_with_automatic_split(shape_folder):
    data = read_folder(shape_folder, **SPLIT)
    assert data.classes == ["circle", "hexagon", "square", "star", "triangle"]
    assert (len(data.train), len(data.val), len(data.test)) == (36, 12, 12)
    assert set(data.test.sources).isdisjoint(data.train.sources)


def test_folder_with_split_folders_and_no_test_reports_val_as_test(tmp_path, shape_folder):
    for split in ("train", "val"):
        shutil.copytree(shape_folder, tmp_path / "split" / split)
    data = read_folder(tmp_path / "split", **SPLIT)
    assert len(data.train) == 60 and data.test is data.val and data.test_is_val


def test_csv_single_and_multi_label(tmp_path, shape_folder):
    images = sorted(shape_folder.rglob("*.png"))
    rows = [f"{p.relative_to(tmp_path)},{p.parent.name}" for p in images]
    (tmp_path / "single.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    single = read_csv(tmp_path / "single.csv", **SPLIT)
    assert not single.multi_label and len(single.classes) == 5
    multi_rows = [f"{p.relative_to(tmp_path)},{p.parent.name}|{'big' if i % 2 else 'small'}"
                  for i, p in enumerate(images)]
    (tmp_path / "multi.csv").write_text("path,label\n" + "\n".join(multi_rows) + "\n")
    multi = read_csv(tmp_path / "multi.csv", **SPLIT)
    assert multi.multi_label and "big" in multi.classes and all(len(t) == 2 for t in multi.train.targets)


@pytest.mark.parametrize("text, message", [
    ("path,label,colour\na.png,x,red\n", "line 1: unknown column 'colour'"),
    ("label\nx\n", "missing column 'path' or 'label'"),
    ("path,label\n{img},circle\n{img},circle,extra\n", "line 3: expected 2 fields"),
    ("path,label\n{img},\n", "line 2: empty path or label"),
    ("path,label\nmissing.png,circle\n", "line 2: image .*missing.png does not exist"),
    ("path,label\n", "has no rows"),
])
def test_bad_csv_names_file_and_line(tmp_path, shape_folder, text, message):
    image = next(shape_folder.rglob("*.png")).relative_to(tmp_path)
    (tmp_path / "labels.csv").write_text(text.format(img=image))
    with pytest.raises(DataError, match=message):
        read_csv(tmp_path / "labels.csv", **SPLIT)


def test_missing_empty_and_classless_folders(tmp_path, shape_folder):
    with pytest.raises(DataError, match="data folder .*nowhere does not exist"):
        read_folder(tmp_path / "nowhere", **SPLIT)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="has no class sub-folders"):
        read_folder(tmp_path / "empty", **SPLIT)
    (shape_folder / "octagon").mkdir()
    with pytest.raises(DataError, match="class folder .*octagon has no images"):
        read_folder(shape_folder, **SPLIT)


def test_unknown_dataset_name():
    with pytest.raises(DataError, match="no such folder, CSV file or built-in dataset"):
        read_labelled("mnist-ish", config())


def _break_files(folder):
    """A truncated JPEG, a zero-byte PNG and a text file posing as an image, among good images."""
    good = next((folder / "circle").glob("*.png"))
    Image.open(good).convert("RGB").save(folder / "circle" / "whole.jpg", quality=95)
    payload = (folder / "circle" / "whole.jpg").read_bytes()
    (folder / "circle" / "truncated.jpg").write_bytes(payload[: len(payload) // 2])
    (folder / "square" / "empty.png").write_bytes(b"")
    (folder / "star" / "notes.jpg").write_text("not an image at all")
    return {"truncated.jpg", "empty.png", "notes.jpg"}


def test_corrupt_images_are_listed_not_dropped(shape_folder):
    broken = _break_files(shape_folder)
    with pytest.raises(CorruptImageError) as raised:
        read_labelled(str(shape_folder), config())
    assert {b[0].rsplit("/", 1)[-1] for b in raised.value.bad} == broken
    assert "--skip-bad" in str(raised.value)


def test_skip_bad_excludes_and_records(shape_folder):
    broken = _break_files(shape_folder)
    data = read_labelled(str(shape_folder), config(skip_bad=True))
    assert {p.rsplit("/", 1)[-1] for p, _ in data.bad_files} == broken
    everything = data.train.sources + data.val.sources + data.test.sources
    assert len(everything) == 61 and not any(p.endswith(tuple(broken)) for p in everything)


def test_bad_files_of_every_split_are_reported_together(shape_folder):
    """Eight broken files in one class folder fall into different drawn splits: one error names all eight."""
    payload = next((shape_folder / "circle").glob("*.png")).read_bytes()
    for index in range(8):
        (shape_folder / "circle" / f"broken_{index}.png").write_bytes(payload[: len(payload) // 3])
    drawn = read_folder(shape_folder, val_fraction=0.15, test_fraction=0.15, seed=0)
    homes = {name for name in ("train", "val", "test") for p in getattr(drawn, name).sources if "broken_" in p}
    assert len(homes) > 1  # the case this test is about
    with pytest.raises(CorruptImageError, match=r"^8 unreadable image file\(s\): ") as raised:
        read_labelled(str(shape_folder), config())
    assert sorted(p.rsplit("/", 1)[-1] for p, _ in raised.value.bad) == [f"broken_{i}.png" for i in range(8)]
    assert all(f"broken_{i}.png: " in str(raised.value) for i in range(8))  # each named, none left for --skip-bad
    kept = read_labelled(str(shape_folder), config(skip_bad=True))
    assert len(kept.bad_files) == 8 and len(kept.train) + len(kept.val) + len(kept.test) == 60


def test_more_bad_files_than_a_screenful_are_listed_in_a_file_the_error_names(shape_folder):
    payload = next((shape_folder / "circle").glob("*.png")).read_bytes()
    for index in range(25):
        (shape_folder / "square" / f"broken_{index}.png").write_bytes(payload[: len(payload) // 3])
    with pytest.raises(CorruptImageError, match=r"^25 unreadable image file\(s\) \(each with its reason in ") as raised:
        read_labelled(str(shape_folder), config())
    listing = Path("unreadable_images.txt").resolve()
    assert str(listing) in str(raised.value) and len(str(raised.value)) < 600
    assert sorted(line.split("\t")[0].rsplit("/", 1)[-1] for line in listing.read_text().splitlines()) == sorted(
        f"broken_{i}.png" for i in range(25))


def test_class_groups_put_a_class_in_every_run_of_per_class_keys_and_replay_by_epoch():
    from ocularis.data.sampling import ClassGroups

    labels = [i % 7 for i in range(40)] + [7, 7]  # seven classes of 5-6 images and one of two
    sampler = ClassGroups(labels, per_class=4, seed=3)
    sampler.set_epoch(2)
    keys = list(sampler)
    assert len(keys) == len(sampler) and all(epoch == 2 for epoch, _ in keys)
    groups = [[labels[i] for _, i in keys[s:s + 4]] for s in range(0, len(keys), 4)]
    assert all(len(set(group)) == 1 for group in groups)
    assert {i for _, i in keys} == set(range(len(labels)))  # every image seen in the epoch
    assert list(sampler) == keys
    sampler.set_epoch(3)
    assert list(sampler) != keys


def test_a_sample_in_turn_shows_every_class_of_a_split_sorted_by_class():
    assert classes_in_turn([0, 0, 0, 1, 1, 2], limit=5) == [0, 3, 5, 1, 4]
    assert classes_in_turn([7, 7]) == [0, 1] and classes_in_turn([]) == []
