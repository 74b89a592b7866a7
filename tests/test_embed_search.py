"""The embed verbs on real digit images through the CLI: index, search, add, remove, evaluate, verify, cluster; the
bad inputs each named in one line; an indexing run killed mid-way resumes without duplicates."""

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ocularis.errors import SearchIndexError
from ocularis.search import ImageIndex
from ocularis.uses.indexing import open_index
from tests.conftest import cli, write_digit_images


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("digit_files") / "digits"
    write_digit_images(folder, per_class=20)
    return folder


def test_index_search_and_evaluate_a_labelled_folder(embed_model, digits_folder, tmp_path):
    out = cli("embed", "index", digits_folder, "--model", embed_model, "--out", tmp_path / "digits.index")
    assert "200 added" in out and "200 images indexed" in out
    query = digits_folder / "7" / "7_000.png"
    cli("embed", "search", query, "--index", tmp_path / "digits.index", "-k", "5", "--save")
    matches = json.loads(next((tmp_path / "runs/embed").glob("search*/matches.json")).read_text())
    hits = matches[0]["hits"]
    assert hits[0]["path"] == str(query) and hits[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert sum(hit["label"] == "7" for hit in hits) >= 4
    assert len(list((tmp_path / "runs/embed").glob("search*/*.png"))) == 1  # the contact sheet
    scored = cli("embed", "evaluate", "--index", tmp_path / "digits.index", "-k", "5")
    precision = float(scored.split("precision@5=")[1].split()[0])
    assert precision > 0.8 and f"chance@5={19 / 199:.4f}" in scored  # 20 images of each digit


def test_an_on_disk_index_through_the_cli_answers_as_the_in_memory_one(embed_model, digits_folder, tmp_path,
                                                                       capfd):
    cli("embed", "index", digits_folder, "--model", embed_model, "--out", tmp_path / "memory.index", "--kind", "ivf")
    out = cli("embed", "index", digits_folder, "--model", embed_model, "--out", tmp_path / "disk.index",
              "--kind", "ivf", "--param", "on_disk=1")
    ctypes.CDLL(None).fflush(None)  # whatever FAISS printed (C's stdout is buffered) reaches the captured fd now
    assert "200 images indexed" in out and "resizing" not in capfd.readouterr().out  # FAISS's prints kept off
    assert [p.name for p in (tmp_path / "disk.index").glob("lists-*.ivfdata")] == ["lists-1.ivfdata"]
    scores = [cli("embed", "evaluate", "--index", tmp_path / name, "-k", "5")
              for name in ("memory.index", "disk.index")]
    assert scores[0] == scores[1].replace("disk.index", "memory.index") and "precision@5=" in scores[1]


def test_reindexing_skips_unchanged_updates_changed_and_remove_hides(embed_model, digits_folder, tmp_path):
    folder = tmp_path / "album"
    write_digit_images(folder, per_class=3)
    index = tmp_path / "album.index"
    cli("embed", "index", folder, "--model", embed_model, "--out", index)
    changed = folder / "1" / "1_000.png"
    Image.open(folder / "7" / "7_000.png").save(changed)  # same path, new content
    again = cli("embed", "add", folder, "--index", index)
    assert "0 added, 1 updated, 29 unchanged" in again
    with ImageIndex.open(index) as opened:
        assert len(opened) == 30 and len(set(opened.paths())) == 30
        hits = opened.search(opened.vectors_of([str(changed)]), k=2)[0]
        assert hits[0].path == str(changed)
    removed = cli("embed", "remove", str(changed), "--index", index)
    assert "removed 1 of 1; 29 images indexed" in removed
    with ImageIndex.open(index) as opened:
        hits = opened.search(opened.vectors_of([str(folder / "7" / "7_000.png")]), k=30)[0]
    assert len(hits) == 29 and str(changed) not in [hit.path for hit in hits]


def test_a_corrupt_image_is_reported_skipped_and_the_index_stays_valid(embed_model, tmp_path):
    folder = tmp_path / "album"
    write_digit_images(folder, per_class=2)
    (folder / "3" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = cli("embed", "index", folder, "--model", embed_model, "--out", tmp_path / "a.index")
    assert "20 added" in out and "1 unreadable skipped" in out and "broken.png" in out
    with ImageIndex.open(tmp_path / "a.index") as opened:
        assert len(opened) == 20


def test_a_query_model_other_than_the_index_model_is_refused(embed_model, digits_model, digits_folder, tmp_path):
    cli("embed", "index", digits_folder / "0", "--model", embed_model, "--out", tmp_path / "z.index")
    message = cli("embed", "search", digits_folder / "0" / "0_001.png", "--index", tmp_path / "z.index",
                  "--model", digits_model, fails=True)
    assert "was built with model" in message and "rebuild the index or pass its model" in message


def test_an_index_whose_faiss_file_and_table_disagree_is_detected_and_repaired(embed_model, digits_folder,
                                                                                tmp_path):
    index = tmp_path / "c.index"
    cli("embed", "index", digits_folder / "1", digits_folder / "2", "--model", embed_model, "--out", index)
    kept = (index / "vectors.faiss").read_bytes()
    cli("embed", "add", digits_folder / "3", "--index", index)
    (index / "vectors.faiss").write_bytes(kept)  # as if the run died before replacing the FAISS file
    with pytest.raises(SearchIndexError, match="a write was interrupted; run ImageIndex.repair"):
        ImageIndex.open(index)
    assert "60 images" in cli("embed", "repair", "--index", index)
    assert "7 added" not in cli("embed", "add", digits_folder / "3", "--index", index)
    with ImageIndex.open(index) as opened:
        assert len(opened) == 60


def test_verify_says_same_for_one_class_and_different_for_two(embed_model, digits_folder):
    same = cli("embed", "verify", digits_folder / "4" / "4_000.png", digits_folder / "4" / "4_001.png",
               "--model", embed_model)
    other = cli("embed", "verify", digits_folder / "4" / "4_000.png", digits_folder / "0" / "0_000.png",
                "--model", embed_model)
    assert same.startswith("same identity") and other.startswith("different identities")


def test_verify_with_an_uncalibrated_model_asks_for_a_threshold(digits_model, digits_folder):
    message = cli("embed", "verify", digits_folder / "4" / "4_000.png", digits_folder / "4" / "4_001.png",
                  "--model", digits_model, fails=True)
    assert "was not calibrated for verification; pass --threshold" in message


def test_cluster_groups_digits_by_class(embed_model, digits_folder, tmp_path):
    out = cli("embed", "cluster", digits_folder, "--model", embed_model, "--out", tmp_path / "groups",
              "--clusters", "10")
    report = json.loads((tmp_path / "groups" / "clusters.json").read_text())
    assert len(report["clusters"]) == 10 and report["scores"]["purity"] > 0.8, out
    assert sum(len(list((tmp_path / "groups" / name).iterdir())) for name in report["clusters"]) == 200


def test_an_indexing_run_killed_midway_reopens_consistent_and_resumes_without_duplicates(embed_model, tmp_path):
    folder = tmp_path / "many"
    rng = np.random.default_rng(0)
    count = 1500
    for number in range(count):
        path = folder / f"{number % 10}" / f"{number:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(path)
    index = tmp_path / "many.index"
    command = [sys.executable, "-m", "ocularis", "embed", "index", str(folder), "--model", str(embed_model),
               "--out", str(index)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if (index / "vectors.faiss").exists():
            with ImageIndex.open(index, mmap=True) as opened:
                if len(opened):
                    break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    with open_index(index) as opened:  # consistent (repaired, if the kill fell between the commit and FAISS write)
        partial = len(opened)
        assert len(opened.vectors()) == opened.table.row_count()
    assert 0 < partial < count
    resumed = cli("embed", "add", folder, "--index", index)
    assert f"{count - partial} added, 0 updated, {partial} unchanged" in resumed
    with ImageIndex.open(index) as opened:
        assert len(opened) == count and len(set(opened.paths())) == count
