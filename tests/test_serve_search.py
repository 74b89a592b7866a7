"""Search and verification over REST on real digits: /v1/indexes/NAME/search returns the same neighbours as the
Python API with thumbnails, /v1/models/NAME/verify the same verdict, and bad requests get a named 4xx."""

import pytest
from fastapi.testclient import TestClient

import ocularis
from ocularis.search import ImageIndex
from ocularis.serve.app import create_app, load_models
from ocularis.serve.search import load_indexes
from ocularis.uses.indexing import index_images, search_images
from tests.conftest import write_digit_images
from tests.serving import needs_browser, page_at


@pytest.fixture(scope="module")
def served(embed_model, digits_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    paths = write_digit_images(root / "digits", per_class=10)
    embedder = ocularis.load(embed_model)
    index_images(embedder, [root / "digits"], root / "digits.index", model_path=str(embed_model))
    models = load_models([f"faces={embed_model}", f"lenet={digits_model}"])
    with TestClient(create_app(models, indexes=load_indexes([f"digits={root / 'digits.index'}"]))) as client:
        yield client, paths, embedder, root / "digits.index"


def upload(*paths):
    return [("image", (path.name, path.read_bytes(), "image/png")) for path in paths]


def test_search_over_rest_matches_the_python_api(served):
    client, paths, embedder, folder = served
    query = paths[35]
    response = client.post("/v1/indexes/digits/search?k=5", files=upload(query))
    assert response.status_code == 200, response.text
    hits = response.json()["results"][0]["hits"]
    with ImageIndex.open(folder) as index:
        expected = search_images(embedder, index, [query], k=5)[0].hits
    assert [h["path"] for h in hits] == [h.path for h in expected]
    assert hits[0]["path"] == str(query) and hits[0]["label"] == query.parent.name
    assert all(h["thumbnail"].startswith("data:image/jpeg;base64,") for h in hits)
    listed = client.get("/v1/indexes").json()
    assert listed == [{"name": "digits", "images": 100, "kind": "flat", "dim": 128, "model": str(embedder.source),
                       "route": "/v1/indexes/digits/search"}]


def test_verify_over_rest_gives_the_python_verdict(served):
    client, paths, embedder, _ = served
    from ocularis.uses.verifying import verify_pair

    for first, second in ((paths[0], paths[1]), (paths[0], paths[50])):
        response = client.post("/v1/models/faces/verify", files=upload(first, second))
        assert response.status_code == 200, response.text
        expected = verify_pair(embedder, first, second)
        result = response.json()["result"]
        assert result["same"] == expected.same and result["similarity"] == pytest.approx(expected.similarity,
                                                                                          abs=1e-5)
    info = {m["name"]: m for m in client.get("/v1/models").json()}
    assert info["faces"]["verify_route"] == "/v1/models/faces/verify" and info["lenet"]["verify_route"] is None


@pytest.mark.parametrize("route, files, status, message", [
    ("/v1/indexes/nowhere/search", 1, 404, "no index named 'nowhere'"),
    ("/v1/models/faces/verify", 1, 422, "verify compares two images; got 1"),
    ("/v1/models/lenet/verify", 2, 422, "was not calibrated for verification"),
    ("/v1/indexes/digits/search?k=0", 1, 422, "k:"),
])
def test_bad_search_and_verify_requests_are_named(served, route, files, status, message):
    client, paths, _, _ = served
    response = client.post(route, files=upload(*paths[:files]))
    assert response.status_code == status and message in response.json()["error"]["message"]


@needs_browser
def test_the_page_shows_search_hits_as_a_grid_and_a_verdict_against_the_threshold(served, embed_model,
                                                                                   digits_model):
    _, paths, embedder, folder = served
    from ocularis.uses.verifying import verify_pair

    app = create_app(load_models([f"faces={embed_model}"]), indexes=load_indexes([f"digits={folder}"]))
    with page_at(app) as page:
        page.wait_for_selector("#model option[value='index:digits']", state="attached")
        page.select_option("#model", "index:digits")
        page.set_input_files("#file", str(paths[72]))
        page.wait_for_selector("#hits figure", timeout=30_000)
        assert page.locator("#hits figure").count() == 12
        assert page.locator("#hits figcaption").first.inner_text() == f"1.000 {paths[72].parent.name}"
        assert page.eval_on_selector("#hits img", "img => img.naturalWidth") > 0  # the thumbnail decoded
        page.select_option("#model", "faces")
        assert page.is_visible("#verify")
        page.set_input_files("#file", str(paths[72]))
        page.wait_for_selector("#top1", timeout=30_000)
        page.set_input_files("#verify-file", str(paths[5]))
        page.wait_for_selector("#verdict", timeout=30_000)
        expected = verify_pair(embedder, paths[72], paths[5])
        assert page.inner_text("#verdict").startswith("same identity" if expected.same else "different identities")
