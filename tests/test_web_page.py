"""The web page in headless Chromium: it lists the served models, takes an uploaded image and shows the label."""

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

import ocularis
from ocularis.serve.app import create_app, load_models
from tests.serving import needs_browser, page_at


@needs_browser
def test_upload_in_the_browser_shows_the_predicted_label(digits_model, tmp_path):
    digits = load_digits()
    image_path = tmp_path / "digit.png"
    Image.fromarray((digits.images[1000] * 255 / 16).astype(np.uint8)).save(image_path)
    expected = ocularis.load(digits_model).predict(str(image_path))[0]
    with page_at(create_app(load_models([str(digits_model)]))) as page:
        page.wait_for_selector("#model option[value='lenet5']", state="attached")
        page.set_input_files("#file", str(image_path))
        page.wait_for_selector("#top1", timeout=30_000)
        assert page.inner_text("#top1") == expected.label
        bars = page.locator(".bar")
        assert bars.count() == 5 and bars.first.inner_text().startswith(expected.label)
        assert "ms" in page.inner_text("#status") and page.inner_text("#error") == ""
        page.set_input_files("#file", files=[{"name": "notes.txt", "mimeType": "text/plain",
                                              "buffer": b"not an image"}])
        page.wait_for_function("document.getElementById('error').textContent.length > 0")
        assert "not an image" in page.inner_text("#error")


@needs_browser
def test_the_explain_toggle_shows_a_heat_map_beside_the_prediction(digits_model, tmp_path):
    digits = load_digits()
    image_path = tmp_path / "digit.png"
    Image.fromarray((digits.images[7] * 255 / 16).astype(np.uint8)).save(image_path)
    with page_at(create_app(load_models([str(digits_model)]))) as page:
        page.wait_for_selector("#explain option[value='gradcam']", state="attached")
        page.select_option("#explain", "occlusion")
        page.set_input_files("#file", str(image_path))
        page.wait_for_selector("#explanation", timeout=60_000)
        assert page.eval_on_selector("#explanation", "img => img.naturalWidth") >= 32
        assert page.inner_text("#output").count("occlusion:") == 1 and page.inner_text("#error") == ""



@needs_browser
def test_a_long_option_name_keeps_clear_of_its_slider(digits_model):
    """The page lays out whatever options a model lists; an instance segmenter's mask_threshold is the longest."""
    with page_at(create_app(load_models([str(digits_model)]))) as page:
        def with_a_long_option(route):
            listed = route.fetch().json()
            listed[0]["options"].append({**listed[0]["options"][0], "name": "mask_threshold", "query": "mask_threshold",
                                         "type": "float", "low": 0.0, "high": 1.0, "default": 0.5, "choices": []})
            route.fulfill(json=listed)

        page.route("**/v1/models", with_a_long_option)
        page.reload()
        page.wait_for_selector("#option-mask_threshold", state="attached")
        for label in page.locator("#controls label").all():
            text_end, control_start = label.evaluate(
                "l => { const r = document.createRange(); r.selectNodeContents(l);"
                " return [r.getBoundingClientRect().right, l.nextElementSibling.getBoundingClientRect().left]; }")
            assert text_end < control_start, (label.inner_text(), text_end, control_start)


@needs_browser
def test_the_api_page_renders_its_routes_with_no_network_beyond_the_server(digits_model):
    """/docs draws Swagger UI from files the package ships: every request the page makes goes to the server."""
    with page_at(create_app(load_models([str(digits_model)]))) as page:
        server = page.url.rstrip("/")
        elsewhere: list[str] = []

        def only_the_server(route):
            if route.request.url.startswith(server):
                return route.continue_()
            elsewhere.append(route.request.url)
            return route.abort()

        page.route("**/*", only_the_server)
        page.goto(server + "/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=30_000)
        routes = page.locator(".opblock-summary-path").all_inner_texts()
        assert "/v1/models" in routes and "/v1/models/lenet5/predict" in routes, routes
        assert elsewhere == []


@needs_browser
def test_the_token_box_shows_only_where_the_server_asks_for_one(digits_model):
    for token, asks in ((None, False), ("secret", True)):
        with page_at(create_app(load_models([str(digits_model)]), token=token)) as page:
            page.wait_for_function("document.getElementById('status').textContent.length > 0"
                                   " || document.getElementById('error').textContent.length > 0")
            assert page.is_visible("#token") == asks
