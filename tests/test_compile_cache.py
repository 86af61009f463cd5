"""kerascnn's cache folder, and JAX's compilations kept in it between runs (issue 43): what a command
compiles on JAX is written to `<cache>/jax/`, and compiling the same programs again reads them back.

The JAX part runs in a process of its own (`KERAS_BACKEND=jax`, `KERASCNN_CACHE` a folder of the
test's), so this process's JAX settings stay as they are."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kerascnn.config.cache import cache_dir, jax_compilation_cache
from kerascnn.data.folder import cache_folder

# A command's start (`quiet_backend`), then the same tiny fit and evaluation twice, JAX's in-memory
# caches emptied in between, as a second process starts with none: the second round is to find
# every program it compiles in the cache folder and add nothing to it.
_TWICE = """
import json, sys
from pathlib import Path

from kerascnn.cli.scripting import quiet_backend

quiet_backend()
import jax
import keras
import numpy as np

events = {}
jax.monitoring.register_event_listener(
    lambda event, **_: events.__setitem__(event, events.get(event, 0) + 1)
)
folder = Path(sys.argv[1]) / "jax"


def entries():
    return sorted(p.name for p in folder.glob("*-cache")) if folder.is_dir() else []


def run():
    events.clear()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = np.ones((4, 4), "float32"), np.zeros(4, "int32")
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    model.evaluate(x, y, batch_size=2, verbose=0)
    return {
        "requests": events.get("/jax/compilation_cache/compile_requests_use_cache", 0),
        "hits": events.get("/jax/compilation_cache/cache_hits", 0),
        "entries": entries(),
    }


first = run()
jax.clear_caches()
second = run()
print(json.dumps({"dir": jax.config.jax_compilation_cache_dir, "first": first, "second": second}))
"""


def _jax_env(cache: Path) -> dict:
    """This environment without JAX's own settings or kerascnn's switch, on JAX, caching in `cache`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("JAX_") and k not in ("KERASCNN_JAX_CACHE", "XLA_FLAGS")
    }
    env.update(KERAS_BACKEND="jax", KERASCNN_CACHE=str(cache), JAX_PLATFORMS="cpu")
    return env


def test_cache_dir_is_kerascnn_cache_or_the_users_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("KERASCNN_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    assert cache_folder() == cache_dir()  # the image checks' folder is the same
    monkeypatch.delenv("KERASCNN_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "kerascnn"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "kerascnn"


class _Config:
    """Stands in for `jax.config`: what `jax_compilation_cache` sets, without touching this
    process's JAX."""

    def __init__(self, folder=None):
        self.jax_compilation_cache_dir = folder
        self.jax_persistent_cache_min_compile_time_secs = 1.0

    def update(self, name, value):
        setattr(self, name, value)


@pytest.fixture
def fake_jax(monkeypatch, tmp_path):
    import keras

    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    jax = type(sys)("jax")
    jax.config = _Config()
    monkeypatch.setitem(sys.modules, "jax", jax)
    monkeypatch.setenv("KERASCNN_CACHE", str(tmp_path / "cache"))
    for name in ("KERASCNN_JAX_CACHE", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"):
        monkeypatch.delenv(name, raising=False)
    return jax.config


def test_on_jax_the_cache_goes_to_kerascnn_cache(fake_jax, tmp_path):
    assert jax_compilation_cache() == tmp_path / "cache" / "jax"
    assert fake_jax.jax_compilation_cache_dir == str(tmp_path / "cache" / "jax")
    assert fake_jax.jax_persistent_cache_min_compile_time_secs == 0.0  # every program kept
    assert (tmp_path / "cache" / "jax").is_dir()


@pytest.mark.parametrize("off", ["0", "off", "False"])
def test_kerascnn_jax_cache_0_turns_it_off(fake_jax, monkeypatch, off):
    monkeypatch.setenv("KERASCNN_JAX_CACHE", off)
    assert jax_compilation_cache() is None
    assert fake_jax.jax_compilation_cache_dir is None


def test_a_folder_jax_was_given_is_kept(fake_jax, monkeypatch, tmp_path):
    """`JAX_COMPILATION_CACHE_DIR` (JAX reads it as it loads) or the caller's own `jax.config`, and
    JAX's own threshold in its environment variable."""
    fake_jax.jax_compilation_cache_dir = str(tmp_path / "theirs")
    assert jax_compilation_cache() == tmp_path / "theirs"
    assert fake_jax.jax_compilation_cache_dir == str(tmp_path / "theirs")
    assert fake_jax.jax_persistent_cache_min_compile_time_secs == 1.0
    fake_jax.jax_compilation_cache_dir = None
    monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")
    assert jax_compilation_cache() == tmp_path / "cache" / "jax"
    assert fake_jax.jax_persistent_cache_min_compile_time_secs == 1.0


def test_a_folder_that_cannot_be_made_leaves_the_cache_off(fake_jax, monkeypatch, tmp_path):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("KERASCNN_CACHE", str(tmp_path / "file"))
    assert jax_compilation_cache() is None
    assert fake_jax.jax_compilation_cache_dir is None


def test_other_backends_are_left_alone(fake_jax, monkeypatch):
    import keras

    monkeypatch.setattr(keras.backend, "backend", lambda: "tensorflow")
    assert jax_compilation_cache() is None
    assert fake_jax.jax_compilation_cache_dir is None


def test_what_jax_compiles_is_kept_and_read_back(tmp_path):
    pytest.importorskip("jax")
    cache = tmp_path / "cache"
    done = subprocess.run(
        [sys.executable, "-c", _TWICE, str(cache)],
        env=_jax_env(cache),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    first, second = result["first"], result["second"]
    assert result["dir"] == str(cache / "jax")
    # Every program the first round compiled (the initializer, the train and test steps) is in the
    # folder, small ones included (JAX's default keeps only those of 1 s or more).
    assert first["requests"] > 0 and first["hits"] == 0
    assert len(first["entries"]) == first["requests"], first
    assert {"jit_train_step", "jit_test_step"} <= {e.rsplit("-", 2)[0] for e in first["entries"]}
    # The second round compiles nothing: every program is read back, none added.
    assert second["requests"] > 0
    assert second["hits"] == second["requests"], second
    assert second["entries"] == first["entries"]
