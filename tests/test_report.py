"""report.html: every finished run writes one, read back here as HTML (the browser test,
test_report_page.py, opens one in Chromium): its numbers against independent references (the
confusion matrix against `evaluate`, precision/recall/F1 against scikit-learn), user text escaped,
a foreign file never overwritten, the comparison and search pages, `output.report = false`."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import kerascnn
from kerascnn.config import ConfigError


class Page(HTMLParser):
    """The parts of a page the tests read: tables by id (cells' text and attributes), figures
    of the gallery, images."""

    def __init__(self, text: str):
        super().__init__()
        self.tables, self.figures, self.images = {}, [], []
        self._table = self._row = self._cell = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id"):
            self._table = self.tables.setdefault(attrs["id"], [])
        elif tag == "tr" and self._table is not None:
            self._row = []
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = {"text": "", **attrs}
            self._row.append(self._cell)
        elif tag == "figure":
            self.figures.append(attrs)
        elif tag == "img":
            self.images.append(attrs)

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = self._row = None
        elif tag in ("td", "th"):
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data


def read_page(path) -> Page:
    text = Path(path).read_text(encoding="utf-8")
    assert text.startswith("<!-- kerascnn report -->")
    assert "http://" not in text and "https://" not in text.replace("https://huggingface.co", "")
    return Page(text)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "digits"
    overrides = ["train.epochs=1", f"output.dir={json.dumps(str(out))}"]
    return kerascnn.train("lenet5_digits", overrides=overrides, verbose=0, log=lambda line: None)


def test_every_finished_run_writes_its_page_and_its_batch(run):
    assert (run.run_dir / "report.html").is_file() and (run.run_dir / "batch.png").is_file()
    page = read_page(run.run_dir / "report.html")
    alts = [i["alt"] for i in page.images]
    assert "loss and accuracy per epoch" in alts and "the first training batch" in alts
    assert all(i["src"].startswith("data:image/png;base64,") for i in page.images)
    # Images per class and split: each split's column sums to its size.
    sizes = json.loads((run.run_dir / "data.json").read_text())["sizes"]
    table = page.tables["class-counts"]
    assert [c["text"] for c in table[0]] == ["class", "train", "val", "test"]
    assert [row[0]["text"] for row in table[1:]] == [str(k) for k in range(10)]
    for k, split in enumerate(("train", "val", "test"), 1):
        assert sum(int(row[k]["text"]) for row in table[1:]) == sizes[split]
    environment = json.loads((run.run_dir / "run.json").read_text())["environment"]
    assert environment["backend"].startswith("tensorflow") and environment["device"].startswith("CPU")
    text = (run.run_dir / "report.html").read_text()
    for value in environment.values():  # the page's environment table
        assert f'<td class="name">{value}</td>' in text


def test_the_confusion_matrix_and_the_per_class_table(run):
    from sklearn.metrics import precision_recall_fscore_support

    from kerascnn.inference import evaluate

    page = read_page(run.run_dir / "report.html")
    expected = evaluate(run.run_dir)
    counts = [
        [int(c["data-count"]) for c in row if "data-count" in c] for row in page.tables["confusion"][1:]
    ]
    assert counts == expected.confusion
    assert sum(map(sum, counts)) == expected.examples == 360
    # Precision, recall, F1 against scikit-learn's, from the labels the matrix implies.
    m = np.asarray(expected.confusion)
    y = np.repeat(np.arange(10), m.sum(1))
    guess = np.concatenate([np.repeat(np.arange(10), row) for row in m])
    p, r, f, support = precision_recall_fscore_support(y, guess, labels=range(10), zero_division=0)
    rows = page.tables["per-class"][1:]
    assert [row[0]["text"] for row in rows] == expected.class_names
    for k, row in enumerate(rows):
        cells = [c["text"] for c in row[1:]]
        assert int(cells[0]) == support[k]
        assert [float(v) for v in cells[1:] if v] == pytest.approx(
            [v for v, defined in ((p[k], m[:, k].sum()), (r[k], 1), (f[k], 1)) if defined], abs=5e-4
        )
    # The most confused pairs: the largest off-diagonal counts, the most first.
    pairs = [
        (row[0]["text"], row[1]["text"], int(row[2]["text"])) for row in page.tables["confused"][1:]
    ]
    off = [(m[i, j], i, j) for i in range(10) for j in range(10) if i != j and m[i, j]]
    top = sorted(off, key=lambda c: (-c[0], c[1], c[2]))[:10]
    assert pairs == [(str(i), str(j), int(n)) for n, i, j in top]


def test_the_gallery_is_the_most_confident_mistakes(run):
    from kerascnn.inference import evaluate, load_trained

    page = read_page(run.run_dir / "report.html")
    shown = [(int(f["data-index"]), f["data-true"], f["data-predicted"]) for f in page.figures]
    kept = evaluate(load_trained(run.run_dir), mistakes=100).mistakes
    assert len(shown) == 12 and len(kept) > 12
    assert shown == [(m.index, str(m.true), str(m.predicted)) for m in kept[:12]]
    confidences = [m.confidence for m in kept]
    assert confidences == sorted(confidences, reverse=True)
    assert all(m.true != m.predicted for m in kept)
    cams = [i for i in page.images if i.get("class") == "cam"]
    assert len(cams) == 12  # each with its Grad-CAM


def test_evaluate_keeps_the_mistakes_it_is_asked_for(run):
    """`mistakes=k`: the k most confident wrong predictions, as the full set of probabilities
    ranks them (recomputed here from `predict` over the same images)."""
    from kerascnn.inference import evaluate, load_trained

    trained = load_trained(run.run_dir)
    every = evaluate(trained, mistakes=1000).mistakes
    five = evaluate(trained, mistakes=5).mistakes
    assert [m.index for m in five] == [m.index for m in every[:5]]
    wrong = sum(sum(row) - row[i] for i, row in enumerate(evaluate(trained).confusion))
    assert len(every) == wrong
    images = np.stack([m.image for m in every[:4]]).astype("float32")
    p = trained.model.predict(np.asarray(trained.preprocessing.normalize(images)), verbose=0)
    assert p.argmax(1).tolist() == [m.predicted for m in every[:4]]
    # The kept image is the one evaluated, rounded to whole 0-255 levels for display.
    assert p.max(1) == pytest.approx([m.confidence for m in every[:4]], abs=3e-3)
    with pytest.raises(ConfigError, match="one model and one view"):
        evaluate(trained, mistakes=3, crops=5, scales=[36])


def test_report_again_compare_and_refusals(run, tmp_path, capsys):
    import shutil

    from kerascnn.cli import main

    page = run.run_dir / "report.html"
    page.unlink()
    assert main(["report", str(run.run_dir)]) == 0
    assert page.is_file() and f"report {page}" in capsys.readouterr().out
    # A second run beside it (its copy, one epoch more in its files): the two on one page.
    other = shutil.copytree(run.run_dir, tmp_path / "again", ignore=shutil.ignore_patterns(".lock"))
    history = other / "history.csv"
    rows = history.read_text().splitlines()
    history.write_text("\n".join([*rows, "2" + rows[-1][1:]]) + "\n")
    metrics = json.loads((other / "metrics.json").read_text())
    (other / "metrics.json").write_text(json.dumps({**metrics, "epochs": 2}))
    out = tmp_path / "compare.html"
    assert main(["report", str(run.run_dir), str(other), "--out", str(out)]) == 0
    compared = read_page(out)
    table = compared.tables["side-by-side"]
    # Two runs of one recipe: each told apart by its directory's name.
    assert [c["text"] for c in table[0][1:]] == ["lenet5_digits (digits)", "lenet5_digits (again)"]
    epochs = next(row for row in table if row[0]["text"] == "epochs")
    assert [c["text"] for c in epochs[1:]] == ["1", "2"]
    assert main(["report", str(run.run_dir), str(other), "--out", str(out)]) == 0  # its own page
    foreign = tmp_path / "notes.html"
    foreign.write_text("<p>mine</p>")
    assert main(["report", str(run.run_dir), str(other), "--out", str(foreign)]) == 2
    assert foreign.read_text() == "<p>mine</p>"
    assert "is not a page kerascnn wrote" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "no run directory at" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "holds no run.json (a run) nor tune.json (a search)" in capsys.readouterr().err
    assert main(["report", str(run.run_dir), "--out", str(out)]) == 2  # --out: several runs


def test_user_text_is_escaped(run, tmp_path):
    """A class named like markup (a folder's name is the user's) is shown, never run."""
    import shutil

    from kerascnn.report import write_report

    copy = shutil.copytree(run.run_dir, tmp_path / "copy", ignore=shutil.ignore_patterns(".lock"))
    feeding = json.loads((copy / "data.json").read_text())
    feeding["class_names"][0] = "<img src=x onerror=alert(1)>"
    (copy / "data.json").write_text(json.dumps(feeding))
    text = write_report(copy).read_text(encoding="utf-8")
    assert "<img src=x" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text


def test_a_confusion_matrix_of_many_classes_is_a_picture(run, tmp_path, monkeypatch):
    """Past `TABLE_CLASSES` (ImageNet's 1000 classes would be a million cells) the matrix is a
    picture; the per-class table stays."""
    import shutil

    from kerascnn.report import results, write_report

    monkeypatch.setattr(results, "TABLE_CLASSES", 5)
    copy = shutil.copytree(run.run_dir, tmp_path / "copy", ignore=shutil.ignore_patterns(".lock"))
    page = read_page(write_report(copy))
    assert "confusion" not in page.tables and len(page.tables["per-class"]) == 11
    assert "the confusion matrix" in [i["alt"] for i in page.images]


def test_a_run_whose_data_is_gone_still_gets_its_page(run, tmp_path):
    """`kerascnn report` on a run whose recipe's data can no longer be read: the page without the
    held-out results, saying why."""
    import shutil

    from kerascnn.report import write_report

    copy = shutil.copytree(run.run_dir, tmp_path / "copy", ignore=shutil.ignore_patterns(".lock"))
    recipe = copy / "recipe.yaml"
    recipe.write_text(recipe.read_text().replace("source: digits", "source: folder\n  path: /nowhere"))
    page = read_page(write_report(copy))
    assert "confusion" not in page.tables and "metrics" in page.tables
    assert "The held-out results could not be made" in (copy / "report.html").read_text()
