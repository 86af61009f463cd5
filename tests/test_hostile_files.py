"""Hostile files in bounded time and memory: each file of a corpus generated here (small on disk,
each built to cost far more than its size) is fed to the command that reads it, in a process limited
to 2 GB of address space; each must end within seconds with exit status 2 and one line naming the
file and the limit, no traceback, nothing written. The real files keep loading: the round trips of
the zoo (ResNet-1202's `.keras`) and the timm fixtures run elsewhere in the suite, unchanged."""

from __future__ import annotations

import io
import resource
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

ADDRESS_SPACE = 2 << 30  # 2 GB: every refusal below comes before the backend loads

NINE_LEVELS = "".join(
    ["x0: &x0 [lol]\n"]
    + [f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 9) + "]\n" for i in range(1, 10)]
)


def _zip(members: dict[str, bytes | int], *, lie: dict[str, int] = ()) -> bytes:
    """A zip archive: bytes stored as they are, an int n as n zero bytes deflated (a zip bomb);
    `lie` rewrites a member's declared size in both its headers."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            if isinstance(content, int):
                info = zipfile.ZipInfo(name)
                info.compress_type = zipfile.ZIP_DEFLATED
                with archive.open(info, "w", force_zip64=False) as f:
                    chunk = bytes(1 << 20)
                    for _ in range(content >> 20):
                        f.write(chunk)
            else:
                archive.writestr(name, content)
    data = bytearray(buffer.getvalue())
    for name, declared in dict(lie).items():
        encoded = name.encode()
        local = data.find(b"PK\x03\x04")
        while local != -1:
            if data[local + 30 : local + 30 + len(encoded)] == encoded:
                struct.pack_into("<I", data, local + 22, declared)
            local = data.find(b"PK\x03\x04", local + 4)
        central = data.find(b"PK\x01\x02")
        while central != -1:
            if data[central + 46 : central + 46 + len(encoded)] == encoded:
                struct.pack_into("<I", data, central + 24, declared)
            central = data.find(b"PK\x01\x02", central + 4)
    return bytes(data)


def _png(width: int, height: int) -> bytes:
    """A PNG header declaring width x height pixels, and almost no data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def _jpeg(width: int, height: int) -> bytes:
    """A baseline JPEG's frame header (SOF0) declaring width x height pixels, and no scan."""
    return (
        b"\xff\xd8\xff\xc0"
        + struct.pack(">HBHHB", 17, 8, height, width, 3)
        + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00\xff\xd9"
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Every hostile file, beside a small real run (a model.keras and data.json) and image."""
    import keras
    from PIL import Image
    from safetensors.numpy import save_file

    root = tmp_path_factory.mktemp("hostile")
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(2, 3),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ],
        name="small",
    )
    run = root / "run"
    run.mkdir()
    model.save(run / "model.keras")
    (run / "data.json").write_text('{"class_names": ["a", "b"]}')
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "ok.png")
    with zipfile.ZipFile(run / "model.keras") as archive:
        config = archive.read("config.json")
        metadata = archive.read("metadata.json")

    files = {
        "alias_bomb_recipe.yaml": (
            NINE_LEVELS + "model:\n  name: lenet5\n  options:\n"
            "    dropout: *x9\ndata:\n  source: digits\n"
        ),
        "alias_bomb_spec.yaml": NINE_LEVELS + "stages: *x9\nhead: {classes: 10}\n",
        "deep.toml": ('[model]\nname = "lenet5"\noptions = {x = ' + "[" * 5000 + "]" * 5000 + "}\n"),
        "deep_spec.yaml": "stages: " + "[" * 5000 + "]" * 5000 + "\n",
        "huge.toml": "# padding\n" * 300_000 + '[model]\nname = "lenet5"\n',
    }
    for name, text in files.items():
        (root / name).write_text(text)
    deep_run = root / "deep_run"
    deep_run.mkdir()
    (deep_run / "model.keras").write_bytes((run / "model.keras").read_bytes())
    (deep_run / "data.json").write_text("[" * 100_000 + "]" * 100_000)
    (root / "config_bomb.keras").write_bytes(_zip({"metadata.json": metadata, "config.json": 200 << 20}))
    (root / "weights_bomb.keras").write_bytes(
        _zip({"metadata.json": metadata, "config.json": config, "model.weights.h5": 200 << 20})
    )
    (root / "lying.keras").write_bytes(
        _zip({"metadata.json": metadata, "config.json": 50 << 20}, lie={"config.json": 1_000})
    )
    (root / "huge_header.safetensors").write_bytes(struct.pack("<Q", 1 << 40) + b"{" * 64)
    timm = root / "timm"
    timm.mkdir()
    save_file({"w": np.zeros(2, "float32")}, str(timm / "model.safetensors"))
    (timm / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    (root / "huge.png").write_bytes(_png(30_000, 30_000))
    (root / "huge.jpg").write_bytes(_jpeg(30_000, 30_000))
    return root


# The file, the command that reads it, and what the one line must say (the file and the limit).
CASES = {
    "billion laughs in a recipe": (
        "alias_bomb_recipe.yaml",
        ["train", "alias_bomb_recipe.yaml"],
        "the document holds more than 100,000 values once its YAML aliases are expanded",
    ),
    "billion laughs in a spec": (
        "alias_bomb_spec.yaml",
        ["summary", "alias_bomb_spec.yaml"],
        "the document holds more than 100,000 values once its YAML aliases are expanded",
    ),
    "deep nesting in TOML": (
        "deep.toml",
        ["train", "deep.toml"],
        "the document nests deeper than 100 levels",
    ),
    "deep nesting in YAML": (
        "deep_spec.yaml",
        ["summary", "deep_spec.yaml"],
        "the document nests deeper than 100 levels",
    ),
    "deep nesting in a run's JSON": (
        "deep_run/data.json",
        ["predict", "deep_run", "ok.png"],
        "the document nests deeper than 100 levels",
    ),
    "deep nesting in timm's config.json": (
        "timm/config.json",
        ["port", "resnet18", "--weights", "timm/model.safetensors", "-o", "r18.keras"],
        "the document nests deeper than 100 levels",
    ),
    "deep nesting in a --set value": (
        "--set model.options.x",
        ["train", "lenet5_digits", "--set", "model.options.x=" + "[" * 5000 + "]" * 5000],
        "the document nests deeper than 100 levels",
    ),
    "an over-large document": (
        "huge.toml",
        ["train", "huge.toml"],
        "larger than 1 MiB, kerascnn's limit for a recipe",
    ),
    "a .keras zip bomb (config.json)": (
        "config_bomb.keras",
        ["predict", "config_bomb.keras", "ok.png"],
        "its member config.json would inflate",
    ),
    "a .keras zip bomb (the weights)": (
        "weights_bomb.keras",
        ["predict", "weights_bomb.keras", "ok.png"],
        "its member model.weights.h5 would inflate",
    ),
    "a .keras whose declared sizes lie": (
        "lying.keras",
        ["predict", "lying.keras", "ok.png"],
        "does not end at the 1,000 bytes the archive declares, the limit kerascnn reads it to",
    ),
    "a safetensors file with a huge declared header": (
        "huge_header.safetensors",
        ["port", "resnet18", "--weights", "huge_header.safetensors", "-o", "r18.keras"],
        "declares a safetensors header of 1 TiB, over kerascnn's limit of 16 MiB",
    ),
    "a huge-pixel PNG": (
        "huge.png",
        ["predict", "run", "huge.png"],
        "huge.png (too large: 30,000 x 30,000 = 900,000,000 pixels, over kerascnn's limit of 67,108,864",
    ),
    "a huge-pixel JPEG": (
        "huge.jpg",
        ["predict", "run", "huge.jpg"],
        "huge.jpg (too large: 30,000 x 30,000 = 900,000,000 pixels, over kerascnn's limit of 67,108,864",
    ),
}


def _limited():
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_file_is_refused_in_one_line_within_seconds_and_2_gb(corpus, case):
    file, argv, message = CASES[case]
    before = _tree(corpus)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "kerascnn.cli", *argv],
        cwd=corpus,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limited,
    )
    seconds = time.perf_counter() - started
    err = done.stderr
    assert "Traceback" not in err and "MemoryError" not in err, err[-3000:]
    assert done.returncode == 2, f"exit {done.returncode}: {err[-3000:]}"
    assert err.count("\n") == 1 and err.startswith("error: "), repr(err)
    assert file in err and message in err, err
    assert seconds < 10, f"{seconds:.1f} s"
    assert _tree(corpus) == before  # nothing written (no run directory, no model, no cache)


def test_the_limits_hold_the_real_files_kerascnn_writes(tmp_path):
    """The limits sit far above the real files: the shipped recipes and specs (measured here),
    a saved zoo model's archive, a timm safetensors header, a photo-sized image."""
    import kerascnn
    from kerascnn.config import load_document
    from kerascnn.config.limits import (
        MAX_DOCUMENT_BYTES,
        MAX_HEADER_BYTES,
        check_pixels,
        check_safetensors,
    )
    from kerascnn.recipe.shipped import recipes_folder
    from kerascnn.runs.saving import check_archive

    shipped = [
        *recipes_folder().glob("*.toml"),
        *recipes_folder().glob("*.yaml"),
        *(recipes_folder() / "specs").glob("*"),
    ]
    assert len(shipped) > 20
    for path in shipped:
        assert path.stat().st_size < MAX_DOCUMENT_BYTES // 50, path
        load_document(path)
    model = kerascnn.build("densenet121", input_shape=(32, 32, 3), classes=10)
    model.save(tmp_path / "densenet121.keras")
    check_archive(tmp_path / "densenet121.keras")
    assert kerascnn.load_model(tmp_path / "densenet121.keras").count_params() == model.count_params()
    from safetensors.numpy import save_file

    save_file(
        {f"features.{i}.weight": np.zeros((4, 4), "float32") for i in range(500)},
        str(tmp_path / "model.safetensors"),
    )
    check_safetensors(tmp_path / "model.safetensors")
    (header,) = struct.unpack("<Q", (tmp_path / "model.safetensors").read_bytes()[:8])
    assert header < MAX_HEADER_BYTES // 100
    (tmp_path / "photo.png").write_bytes(_png(9504, 6336))  # a 61-megapixel camera's frame
    assert check_pixels(tmp_path / "photo.png") is None


def test_an_image_folder_names_a_too_large_image_and_can_skip_it(tmp_path):
    """Training and evaluation read folders through the same check: a PNG that declares 900
    million pixels among good images is "too large", named before anything is decoded (error) or
    left out and listed (skip); it is never handed to the decoder."""
    from PIL import Image

    from kerascnn.config import ConfigError
    from kerascnn.data import load_data
    from kerascnn.recipe import load_recipe

    for name in ("a", "b"):
        (tmp_path / "images" / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((8, 8, 3), 30 * i, np.uint8)).save(
                tmp_path / "images" / name / f"{i}.png"
            )
    (tmp_path / "images" / "b" / "huge.png").write_bytes(_png(30_000, 30_000))
    doc = {
        "model": {"name": "lenet5"},
        "data": {
            "source": "folder",
            "path": str(tmp_path / "images"),
            "image_size": [8, 8],
            "validation_split": 0.0,
            "batch_size": 4,
        },
    }
    with pytest.raises(
        ConfigError,
        match=r"1 of the 9 image files in .* is unreadable: "
        r"b/huge.png \(too large: 30,000 x 30,000 = "
        r"900,000,000 pixels, over kerascnn's limit",
    ):
        load_data(load_recipe(doc))
    doc["data"]["bad_images"] = "skip"
    data = load_data(load_recipe(doc))
    assert list(data.skipped) == [str(tmp_path / "images" / "b" / "huge.png")]
    assert data.sizes["train"] == 8
