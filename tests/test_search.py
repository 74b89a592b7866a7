"""The image search index (ocularis.search): exactness, recall of the approximate kinds, updates, crash safety,
model checks, query expansion, geometric verification on real photos, and retrieval metrics against torchmetrics."""

import os
import subprocess
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest
from PIL import Image

from ocularis.errors import ConfigError, DataError, SearchIndexError
from ocularis.search import backends
from ocularis.search import index as index_module
from ocularis.search.hits import Hit
from ocularis.search.index import ImageIndex
from ocularis.search.metrics import retrieval_metrics
from ocularis.search.rerank import geometric_verification, rerank_by_inliers

ASSETS = Path(os.environ.get("OCULARIS_ASSETS", Path(__file__).resolve().parents[1].parent / "shared" / "assets"))
HYMENOPTERA = ASSETS / "hymenoptera_data"
DIM = 64


def clustered(count: int, noise: float = 0.2, seed: int = 0, clusters: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """L2-normalised vectors around 50 fixed centres (the same centres for every seed) and their cluster numbers.

    noise 0.2 per coordinate spreads a cluster beyond its centre's length, so clusters overlap and the approximate
    kinds can miss: with it, ivf at nprobe=2 reaches recall@10 0.80, lsh with 64 bits 0.63."""
    centres = np.random.default_rng(1234).standard_normal((clusters, DIM)) / np.sqrt(DIM)
    rng = np.random.default_rng(seed)
    labels = rng.integers(clusters, size=count)
    vectors = centres[labels] + noise * rng.standard_normal((count, DIM))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32), labels


def paths_of(count: int, start: int = 0) -> list[str]:
    return [f"images/{i:05d}.jpg" for i in range(start, start + count)]


@pytest.fixture(scope="module")
def data():
    database, labels = clustered(5000)
    queries, _ = clustered(200, seed=1)
    exact = np.argsort(-(queries @ database.T), axis=1)[:, :10]
    return database, labels, queries, exact


@pytest.fixture(autouse=True)
def _one_faiss_thread():
    """Another job shares these CPUs: one OpenMP thread is faster than two fighting (and deterministic)."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


def built(folder: Path, kind: str, vectors: np.ndarray, labels=None, **params) -> ImageIndex:
    index = ImageIndex.create(folder, DIM, kind, **params)
    index.add(vectors, paths_of(len(vectors)), labels=None if labels is None else [str(x) for x in labels])
    return index


def ids(hits: list[list[Hit]]) -> list[list[int]]:
    return [[hit.id for hit in row] for row in hits]


def test_flat_search_is_exactly_the_brute_force_top_k(tmp_path, data):
    database, _, queries, exact = data
    hits = built(tmp_path / "flat", "flat", database).search(queries, k=10)
    assert ids(hits) == exact.tolist() == hits.ids.tolist()  # the Hit objects and the arrays alike
    assert hits.scores.shape == (200, 10) and ids(hits[:2]) == exact[:2].tolist()
    expected = np.take_along_axis(queries @ database.T, exact, axis=1)
    np.testing.assert_allclose([[hit.score for hit in row] for row in hits], expected, rtol=1e-5)
    assert hits[0][0].path == paths_of(5000)[exact[0, 0]]


def recall_at_10(index: ImageIndex, queries: np.ndarray, exact: np.ndarray) -> float:
    hits = ids(index.search(queries, k=10))
    assert all(len(row) == 10 for row in hits)
    return float(np.mean([len(set(found) & set(truth)) / 10 for found, truth in zip(hits, exact, strict=True)]))


# recall@10 against exact search with the default parameters, measured on these data (one thread): ivf 0.967,
# hnsw 1.000, ivfpq 0.940 (nbits shrunk to 7 for 5,000 vectors), lsh 0.994, annoy (2,000 vectors) 0.99
@pytest.mark.parametrize("kind", ["ivf", "hnsw", "ivfpq", "lsh"])
def test_approximate_kinds_find_nine_in_ten_of_the_exact_neighbours(tmp_path, data, kind):
    database, _, queries, exact = data
    recall = recall_at_10(built(tmp_path / kind, kind, database), queries, exact)
    assert recall >= 0.9, f"{kind} recall@10 {recall:.3f}"


def test_ivfpq_needs_its_exact_refinement(tmp_path, data):
    database, _, queries, exact = data
    recall = recall_at_10(built(tmp_path / "pq", "ivfpq", database, refine=1), queries, exact)
    assert recall < 0.6  # measured 0.43: PQ codes alone order neighbours coarsely


def test_ivf_shrinks_nlist_to_the_vectors_it_trains_on_and_records_it(tmp_path):
    vectors, _ = clustered(200)
    index = built(tmp_path / "small", "ivfpq", vectors, nlist=64)
    assert index.params["nlist"] == 200 // 39 and index.requested["nlist"] == 64
    assert ImageIndex.open(tmp_path / "small").params["nlist"] == 5  # recorded in the metadata
    assert index.search(vectors[:3], k=1)[0][0].id == 0


def test_readding_a_path_updates_it_removing_hides_it_and_compacting_keeps_results(tmp_path):
    vectors, _ = clustered(300)
    index = built(tmp_path / "index", "ivf", vectors)
    moved = clustered(1, seed=7)[0]
    assert index.add(moved, [paths_of(1, 5)[0]]) == {"added": 0, "updated": 1}
    assert len(index) == 300 and index.paths().count(paths_of(1, 5)[0]) == 1
    (top,) = index.search(moved, k=1)
    assert top[0].path == paths_of(1, 5)[0] and top[0].score == pytest.approx(1.0, abs=1e-5)
    assert all(hit.id != 5 for hit in index.search(vectors[5], k=300)[0])  # the old row is gone

    assert index.remove(paths_of(1, 7) + ["images/never-added.jpg"]) == 1
    assert len(index) == 299 and not index.contains(paths_of(1, 7)[0])
    assert all(hit.path != paths_of(1, 7)[0] for hit in index.search(vectors[7], k=20)[0])
    before = index.search(vectors[:20], k=5)
    index.compact()
    assert index.search(vectors[:20], k=5) == before
    assert ImageIndex.open(tmp_path / "index").search(vectors[:20], k=5) == before


def test_searches_step_over_many_tombstones_and_compact_once_they_are_most_rows(tmp_path):
    vectors, _ = clustered(400)
    index = built(tmp_path / "index", "flat", vectors)
    index.remove(paths_of(190))  # 190 of 400 tombstoned: kept in the FAISS file, skipped by searches
    assert index._index.ntotal == 400
    (hits,) = index.search(vectors[0], k=10)
    assert len(hits) == 10 and min(hit.id for hit in hits) >= 190
    index.remove(paths_of(20, 190))  # now 210 > half: compacted
    assert index._index.ntotal == 190 == len(index)


@pytest.mark.parametrize("kind", ["flat", "ivf"])
@pytest.mark.parametrize("mmap", [False, True])
def test_reopening_gives_the_same_results(tmp_path, data, kind, mmap):
    database, _, queries, _ = data
    index = built(tmp_path / kind, kind, database[:1000], labels=[f"c{i % 3}" for i in range(1000)])
    before = index.search(queries[:50], k=10)
    index.close()
    reopened = ImageIndex.open(tmp_path / kind, mmap=mmap)
    assert reopened.search(queries[:50], k=10) == before and before[0][0].label.startswith("c")
    assert len(reopened) == 1000 and reopened.kind == kind
    if mmap:
        with pytest.raises(ConfigError, match="read-only"):
            reopened.add(queries[:1], ["new.jpg"])


def test_a_table_too_large_to_hold_names_its_hits_from_sqlite_alike(tmp_path, data, monkeypatch):
    database, _, queries, _ = data
    index = built(tmp_path / "flat", "flat", database[:1000], labels=[f"c{i % 3}" for i in range(1000)])
    held = index.search(queries[:20], k=10)
    monkeypatch.setattr(index_module, "ROW_CACHE", 999)
    assert ImageIndex.open(tmp_path / "flat").search(queries[:20], k=10) == held


def test_a_crash_between_commit_and_faiss_write_is_detected_and_repaired(tmp_path, monkeypatch):
    vectors, _ = clustered(300)
    folder = tmp_path / "index"
    built(folder, "ivf", vectors[:200])

    def crash(index, path):
        raise OSError("simulated power cut")

    monkeypatch.setattr(backends, "write_index", crash)
    with pytest.raises(OSError, match="power cut"):  # rows committed, FAISS file still the old one
        ImageIndex.open(folder).add(vectors[150:], paths_of(150, 150))
    monkeypatch.undo()

    with pytest.raises(SearchIndexError, match=r"holds 200 vectors .* records 350.*repair") as caught:
        ImageIndex.open(folder)
    assert str(folder) in str(caught.value) and "\n" not in str(caught.value)
    repaired = ImageIndex.repair(folder)
    assert len(repaired) == 300 and len(set(repaired.paths())) == 300
    (hits,) = repaired.search(vectors[250], k=1)
    assert hits[0].path == paths_of(1, 250)[0]
    reopened = ImageIndex.open(folder)
    assert len(reopened) == 300 and reopened.search(vectors[160], k=1)[0][0].path == paths_of(1, 160)[0]


def lists_files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob(index_module.LISTS_PATTERN))


@pytest.mark.parametrize("kind", ["ivf", "ivfpq"])
def test_on_disk_lists_give_the_in_memory_results_and_follow_a_moved_folder(tmp_path, data, kind):
    database, _, queries, _ = data
    in_memory = built(tmp_path / "memory", kind, database, nlist=16)
    on_disk = built(tmp_path / "disk", kind, database, nlist=16, on_disk=1)
    assert on_disk.search(queries, k=10) == in_memory.search(queries, k=10)
    assert lists_files(tmp_path / "disk") == ["lists-1.ivfdata"] and not lists_files(tmp_path / "memory")
    payload = len(database) * (on_disk._index.code_size + 8)  # codes and ids: in the lists file, not vectors.faiss
    sizes = [(tmp_path / name / index_module.FAISS_FILE).stat().st_size for name in ("memory", "disk")]
    assert sizes[0] - sizes[1] >= 0.9 * payload

    on_disk.add(clustered(500, seed=3)[0], paths_of(500, 5000))  # grows the lists in place
    in_memory.add(clustered(500, seed=3)[0], paths_of(500, 5000))
    assert lists_files(tmp_path / "disk") == ["lists-1.ivfdata"]
    on_disk.close()
    (tmp_path / "disk").rename(tmp_path / "moved")
    for mmap in (False, True):
        reopened = ImageIndex.open(tmp_path / "moved", mmap=mmap)
        assert reopened.search(queries, k=10) == in_memory.search(queries, k=10) and len(reopened) == 5500
        reopened.close()
    reopened = ImageIndex.open(tmp_path / "moved")
    reopened.compact()  # a rebuild writes the next lists file and drops the old one
    assert lists_files(tmp_path / "moved") == ["lists-2.ivfdata"]
    assert ImageIndex.open(tmp_path / "moved", mmap=True).search(queries[:5], k=1)[0][0].id >= 0


def test_on_disk_lists_train_on_a_sample_when_the_folder_is_larger_than_k_means_reads(tmp_path, data):
    database, _, queries, exact = data
    index = built(tmp_path / "disk", "ivf", database, nlist=4, nprobe=2, on_disk=1)  # 5,000 > 256 x 4 rows
    everything = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, 4, faiss.METRIC_INNER_PRODUCT)
    everything.train(database)  # FAISS trained on all 5,000
    everything.add(database)
    everything.nprobe = 2
    found = everything.search(queries, 10)[1]
    reference = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact, strict=True)])
    # measured: 0.845 from the 1,024-row sample, 0.84 from all rows (0.81-0.84 over k-means seeds)
    assert recall_at_10(index, queries, exact) >= reference - 0.05
    with pytest.raises(ConfigError, match="on_disk=2 must be 0 .* or 1"):
        ImageIndex.create(tmp_path / "bad", DIM, "ivf", on_disk=2)


def test_a_crash_while_adding_to_on_disk_lists_is_found_and_repaired(tmp_path, data, monkeypatch):
    database, _, queries, _ = data
    folder = tmp_path / "disk"
    built(folder, "ivfpq", database[:3000], nlist=16, on_disk=1).close()

    def crash(*args, **kwargs):
        raise OSError("simulated power cut")

    monkeypatch.setattr(index_module.ItemTable, "add", crash)  # lists grown, nothing committed
    with pytest.raises(OSError, match="power cut"):
        ImageIndex.open(folder).add(database[3000:], paths_of(2000, 3000))
    monkeypatch.undo()
    with pytest.raises(SearchIndexError, match=r"inverted lists are being added to.*repair") as caught:
        ImageIndex.open(folder, mmap=True)
    assert "\n" not in str(caught.value)
    repaired = ImageIndex.repair(folder)
    assert len(repaired) == 3000 and lists_files(folder) == ["lists-2.ivfdata"]
    repaired.add(database[3000:], paths_of(2000, 3000))
    fresh = built(tmp_path / "fresh", "ivfpq", database[:3000], nlist=16)
    fresh.add(database[3000:], paths_of(2000, 3000))
    found, expected = ids(ImageIndex.open(folder).search(queries, k=10)), ids(fresh.search(queries, k=10))
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, expected, strict=True)]) >= 0.95


def test_a_crash_before_the_commit_leaves_extra_vectors_that_opening_drops(tmp_path):
    vectors, _ = clustered(50)
    folder = tmp_path / "index"
    built(folder, "flat", vectors).close()
    with open(folder / index_module.VECTORS_FILE, "ab") as file:  # appended, never committed
        file.write(vectors[:3].tobytes() + b"\x01\x02")
    index = ImageIndex.open(folder)
    assert (folder / index_module.VECTORS_FILE).stat().st_size == 50 * DIM * 4
    assert index.add(vectors[:1], ["extra.jpg"]) == {"added": 1, "updated": 0}
    assert index.vectors_of(["extra.jpg"]).tolist() == vectors[:1].tolist()


def test_other_models_wrong_dimensions_and_bad_vectors_are_refused(tmp_path):
    index = ImageIndex.create(tmp_path / "index", DIM, fingerprint="sha:aaa", model="resnet18")
    index.check_fingerprint("sha:aaa", "resnet18")
    with pytest.raises(SearchIndexError, match="built with model resnet18; the query model vit_b16 gives other"):
        index.check_fingerprint("sha:bbb", "vit_b16")
    with pytest.raises(SearchIndexError, match="64-d"):
        index.add(np.ones((1, 32), np.float32) / np.sqrt(32), ["a.jpg"])
    with pytest.raises(SearchIndexError, match="64-d"):
        index.search(np.ones((1, 128), np.float32))
    with pytest.raises(DataError, match="NaN"):
        index.add(np.full((1, DIM), np.nan, np.float32), ["a.jpg"])
    with pytest.raises(DataError, match="norm"):
        index.add(np.ones((1, DIM), np.float32), ["a.jpg"])
    with pytest.raises(DataError, match="more than once"):
        index.add(clustered(2)[0], ["a.jpg", "a.jpg"])
    with pytest.raises(ConfigError, match="m=7 must divide"):
        ImageIndex.create(tmp_path / "pq", DIM, "ivfpq", m=7)
    with pytest.raises(ConfigError, match="takes nlist, nprobe, on_disk; got M"):
        ImageIndex.create(tmp_path / "ivf", DIM, "ivf", M=8)
    with pytest.raises(SearchIndexError, match="already holds an index"):
        ImageIndex.create(tmp_path / "index", DIM)
    with pytest.raises(SearchIndexError, match="holds no index"):
        ImageIndex.open(tmp_path / "nothing")
    assert index.search(clustered(1)[0]) == [[]]  # empty index: no hits, no error


def test_annoy_asks_for_its_package_when_absent(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "annoy", None)  # what a Python without annoy sees: import fails
    with pytest.raises(ConfigError, match=r"pip install annoy-mm"):
        ImageIndex.create(tmp_path / "annoy", DIM, "annoy")


def test_annoy_finds_most_exact_neighbours_and_survives_updates(tmp_path, data):
    database, _, queries, _ = data
    index = built(tmp_path / "annoy", "annoy", database[:2000], trees=20)
    index.add(database[:1], paths_of(1))  # annoy is rebuilt, not grown: the update must still hold
    assert len(index) == 2000
    index.close()
    index = ImageIndex.open(tmp_path / "annoy")
    truth = np.argsort(-(queries @ database[:2000].T), axis=1)[:, :10]
    hits = ids(index.search(queries, k=10))
    recall = np.mean([len(set(found) & set(t)) / 10 for found, t in zip(hits, truth.tolist(), strict=True)])
    assert recall >= 0.8, recall


def test_query_expansion_finds_same_cluster_images_at_least_as_well(tmp_path):
    database, labels = clustered(3000, noise=0.25)
    queries, query_labels = clustered(200, noise=0.25, seed=3)
    index = built(tmp_path / "index", "flat", database, labels=labels)

    def same_cluster(expand: int) -> float:
        hits = index.search(queries, k=10, expand=expand)
        return np.mean([[hit.label == str(label) for hit in row] for row, label in zip(hits, query_labels,
                                                                                       strict=True)])

    plain, expanded = same_cluster(0), same_cluster(3)
    # measured (exact search, so deterministic): plain 0.476, expand=1 0.526, expand=3 0.589
    assert expanded >= plain + 0.05


@pytest.mark.skipif(not HYMENOPTERA.is_dir(), reason="real assets (../shared/assets) are absent")
@pytest.mark.parametrize("detector", ["auto", "orb"])  # auto is SIFT in OpenCV >= 4.4
def test_geometric_verification_puts_a_rotated_crop_of_the_query_first(tmp_path, detector):
    photos = sorted((HYMENOPTERA / "train" / "ants").glob("*.jpg"))[:2] + sorted(
        (HYMENOPTERA / "train" / "bees").glob("*.jpg"))[:2]
    query = photos[0]
    with Image.open(query) as image:
        width, height = image.size
        copy = image.rotate(12, expand=False).crop((width // 10, height // 10, width * 9 // 10, height * 9 // 10))
        copy.save(tmp_path / "copy.jpg", quality=85)
    candidates = [*photos[1:], tmp_path / "copy.jpg", tmp_path / "missing.jpg"]
    inliers = geometric_verification(query, candidates, detector=detector)  # measured: [4, 0, 4, 447] (SIFT)
    assert inliers[-1] == 0 and inliers[3] > 3 * max(inliers[:3]) and inliers[3] >= 30
    hits = [Hit(str(path), 0.9 - 0.1 * i, None, i) for i, path in enumerate(candidates)]  # the copy ranked 4th
    assert rerank_by_inliers(hits, inliers)[0].path == str(tmp_path / "copy.jpg")


def test_retrieval_metrics_equal_torchmetrics(tmp_path):
    """torchmetrics (1.9): precision@k = relevant in top k / k and recall@k = relevant in top k / all relevant, as
    ours; its AP@k averages precision@i over the relevant hits *found* in the top k, ours divides the same sum by
    min(R, k), so that a query finding one of five relevant images at rank 1 scores 0.2, not 1. The test checks
    AP through that conversion, on cases where the two differ."""
    torch = pytest.importorskip("torch")
    from torchmetrics.retrieval import RetrievalMAP, RetrievalPrecision, RetrievalRecall

    rng, k = np.random.default_rng(0), 5
    hit_labels, query_labels, relevant_counts, preds, targets, indexes = [], [], [], [], [], []
    for query in range(40):
        wanted = str(rng.integers(3))
        hits = [str(label) for label in rng.integers(3, size=k + 3)]
        unretrieved = int(rng.integers(0, 4))
        hit_labels.append(hits), query_labels.append(wanted)
        relevant_counts.append(sum(label == wanted for label in hits) + unretrieved)
        # torchmetrics ranks documents by pred and ignores preds <= 0: hits get falling positive scores, the
        # relevant images the search missed get smaller positive ones
        preds += [1.0 - 0.01 * rank for rank in range(len(hits))] + [0.001] * unretrieved
        targets += [label == wanted for label in hits] + [True] * unretrieved
        indexes += [query] * (len(hits) + unretrieved)
    preds, targets, indexes = torch.tensor(preds), torch.tensor(targets), torch.tensor(indexes)
    ours = retrieval_metrics(hit_labels, query_labels, relevant_counts, k)
    assert ours[f"precision@{k}"] == pytest.approx(RetrievalPrecision(top_k=k)(preds, targets, indexes).item())
    assert ours[f"recall@{k}"] == pytest.approx(RetrievalRecall(top_k=k)(preds, targets, indexes).item())

    differ = 0
    for query, (hits, wanted, total) in enumerate(zip(hit_labels, query_labels, relevant_counts, strict=True)):
        mine = retrieval_metrics([hits], [wanted], [total], k)[f"map@{k}"]
        mask = indexes == query
        theirs = RetrievalMAP(top_k=k)(preds[mask], targets[mask], indexes[mask]).item()
        found = sum(label == wanted for label in hits[:k])
        assert mine * min(total, k) == pytest.approx(theirs * found, abs=1e-6)
        differ += found < min(total, k)
    assert differ >= 5  # the conversion was exercised, not only the cases where both agree
    assert retrieval_metrics([["a", "b"]], ["a"], [1], k=2) == {"precision@2": 0.5, "recall@2": 1.0, "map@2": 1.0}
    with pytest.raises(DataError, match="relevant_counts"):
        retrieval_metrics([["a", "a"]], ["a"], [1], k=2)


def test_the_search_package_loads_neither_torch_nor_the_task_layers():
    code = ("import sys, ocularis.search.index, ocularis.search.rerank, ocularis.search.metrics\n"
            "bad = [m for m in sys.modules if m == 'torch' or m.split('.')[:2] in "
            "[['ocularis', layer] for layer in ('tasks', 'engine', 'api', 'serve', 'cli')]]\n"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
