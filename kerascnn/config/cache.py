"""kerascnn's cache folder: what it keeps between runs only to save time, never needed for a result
(removed, it costs time once): `$KERASCNN_CACHE`, else `$XDG_CACHE_HOME/kerascnn`, else
`~/.cache/kerascnn`.

- `image-checks/`: the images of a folder source already checked (`kerascnn.data.folder`).
- `jax/`: on the JAX backend, JAX's persistent compilation cache: the XLA programs a command compiles
  (the train, evaluation and predict steps, the initializers), so that a second run, a resume, a
  search's trials, a model read back for its test and `kerascnn evaluate` load what was compiled
  before instead of compiling it again (what it saves: BENCHMARKS.md). `KERASCNN_JAX_CACHE=0`
  turns it off; a folder JAX was given (`JAX_COMPILATION_CACHE_DIR`) is used as it is. Entries are
  small and never needed: the folder may be removed between runs.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "jax_compilation_cache"]

_OFF = {"0", "false", "no", "off"}


def cache_dir() -> Path:
    """kerascnn's cache folder: `$KERASCNN_CACHE`, else `$XDG_CACHE_HOME/kerascnn`, else
    `~/.cache/kerascnn` (not created here)."""
    if os.environ.get("KERASCNN_CACHE"):
        return Path(os.environ["KERASCNN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kerascnn"


def jax_compilation_cache() -> Path | None:
    """On the JAX backend, turn on JAX's persistent compilation cache in `<cache_dir>/jax/`, every
    compiled program kept (JAX's default keeps only those that took a second or more; on a CPU
    most of a small model's take less). Returns the folder in use, or None.

    Call it as the backend starts, before anything compiles: the commands do
    (`kerascnn.cli.scripting.quiet_backend`). Nothing changes where `KERASCNN_JAX_CACHE` is 0
    (off), on another backend, or where JAX has a cache folder already (`JAX_COMPILATION_CACHE_DIR`,
    or `jax.config` set by the caller: that folder is returned); JAX's own settings in its
    environment variables (`JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS`,
    `JAX_ENABLE_COMPILATION_CACHE=0`) are kept. A folder that cannot be made or written to leaves the
    cache off: it is only a cache.
    """
    if os.environ.get("KERASCNN_JAX_CACHE", "").strip().lower() in _OFF:
        return None
    import keras

    if keras.backend.backend() != "jax":
        return None
    import jax

    if jax.config.jax_compilation_cache_dir:
        return Path(jax.config.jax_compilation_cache_dir)
    folder = cache_dir() / "jax"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(folder, os.W_OK | os.X_OK):
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return folder
