"""A real run's report.html opened in a real headless browser (Debian's Chromium, driven by
Playwright; `tests/install_browser.sh` installs both, README's full check runs it): no console
error, nothing fetched, every image loaded; the confusion matrix on the page is the one
`kerascnn evaluate --json` prints for the run; the gallery is the run's wrong predictions, the most
confident first, each image the test image itself. The screenshot is kept in
`test-artifacts/report.png`."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

ARTIFACTS = Path(os.environ.get("KERASCNN_TEST_ARTIFACTS", Path(__file__).parents[1] / "test-artifacts"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [  # no sandbox as root; none of Chromium's own connections on a closed network
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import kerascnn

    out = tmp_path_factory.mktemp("report") / "digits"
    result = kerascnn.train(
        "lenet5_digits",
        overrides=["train.epochs=1", f"output.dir={json.dumps(str(out))}"],
        verbose=0,
        log=lambda line: None,
    )
    return result.run_dir


@pytest.fixture(scope="module")
def page(run):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="tests/install_browser.sh installs Chromium and Playwright"
    )
    assert Path(CHROMIUM).exists(), "no Chromium: run tests/install_browser.sh"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        tab.console, tab.errors, tab.fetched = [], [], []
        tab.on("console", lambda m: tab.console.append((m.type, m.text)))
        tab.on("pageerror", lambda e: tab.errors.append(str(e)))
        tab.on("request", lambda r: tab.fetched.append(r.url))
        tab.goto((run / "report.html").resolve().as_uri(), wait_until="load")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        yield tab
        browser.close()


def test_the_page_opens_without_an_error_and_fetches_nothing(page):
    assert [m for m in page.console if m[0] in ("error", "warning")] == []
    assert page.errors == []
    fetched = [u for u in page.fetched if not u.startswith(("file:", "data:"))]
    assert fetched == []
    assert page.title().startswith("lenet5_digits")
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


def test_every_image_is_loaded(page):
    sizes = page.evaluate(
        "[...document.images].map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert len(sizes) >= 2 + 2 * 12  # curves, batch, and 12 mistakes with their Grad-CAM
    assert all(complete and w > 0 and h > 0 for _, complete, w, h in sizes), sizes
    alts = [alt for alt, *_ in sizes]
    assert "loss and accuracy per epoch" in alts and "the first training batch" in alts


def test_the_confusion_matrix_is_kerascnn_evaluate_s(page, run):
    shown = page.evaluate(
        "[...document.querySelectorAll('#confusion tr')].slice(1).map("
        "r => [...r.querySelectorAll('td')].map(c => Number(c.dataset.count)))"
    )
    printed = subprocess.run(
        [sys.executable, "-m", "kerascnn.cli", "evaluate", str(run), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    expected = json.loads(printed.stdout)
    assert shown == expected["confusion"]
    header = page.evaluate("[...document.querySelectorAll('#confusion th')].map(c => c.textContent)")
    assert header[1 : 1 + len(expected["class_names"])] == expected["class_names"]
    # The cell's text is the row-normalized share.
    first = page.evaluate("document.querySelector('#confusion tr:nth-child(2) td').textContent")
    row = np.asarray(expected["confusion"][0], float)
    assert float(first) == pytest.approx(row[0] / row.sum(), abs=0.005)


def test_the_gallery_is_the_wrong_predictions_the_most_confident_first(page, run):
    """Recomputed here on another path: the recipe's own test batches (`load_data`, normalized
    as training fed them) through model.keras."""
    import keras
    from PIL import Image

    from kerascnn.data import load_data
    from kerascnn.recipe import load_recipe
    from kerascnn.visualize.batch import denormalize

    items = page.evaluate(
        "[...document.querySelectorAll('#gallery figure')].map(f => [Number(f.dataset.index), "
        "f.dataset.true, f.dataset.predicted, Number(f.dataset.confidence), "
        "f.querySelector('img.image').src])"
    )
    data = load_data(load_recipe(run / "recipe.yaml"))
    model = keras.saving.load_model(run / "model.keras")
    xs, ys = zip(*((np.asarray(x), np.asarray(y)) for x, y in data.test))
    x, y = np.concatenate(xs), np.concatenate(ys).argmax(1)
    p = np.asarray(model.predict(x, verbose=0), "float64")
    predicted = p.argmax(1)
    wrong = np.flatnonzero(predicted != y)
    ranked = sorted(wrong, key=lambda i: (-p[i, predicted[i]], i))[:12]
    assert len(items) == 12 and len(wrong) > 12  # one epoch leaves mistakes to rank
    assert [i for i, *_ in items] == [int(i) for i in ranked]
    names = data.class_names
    for (index, true, guess, confidence, src), i in zip(items, ranked):
        assert index == i and (true, guess) == (names[y[i]], names[predicted[i]]) and true != guess
        assert confidence == pytest.approx(p[i, predicted[i]], abs=1e-4)
        shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))))
        factor = shown.shape[0] // x.shape[1]
        image = denormalize(x[i], data.preprocessing)[..., 0]
        assert np.abs(shown[::factor, ::factor].astype(int) - image).max() <= 1
    confidences = [c for *_, c, _ in items]
    assert confidences == sorted(confidences, reverse=True)
