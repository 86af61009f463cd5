"""The run directory: what a run leaves behind, and the rules that keep one run from clobbering another.

```
runs/lenet5_digits/
  recipe.yaml      the resolved recipe (every default filled in)
  run.json         fingerprint, status, versions, timings
  data.json        classes, sizes and the normalization constants (for evaluate/predict)
  backup/          the resume point: the last two epochs' weights and optimizer state, each with a
                   record of its size and SHA-256 (`checkpoints`); removed when the run finishes
  last.keras       the model when training ended (the backup holds an interrupted run's last epoch)
  best.keras       the model at its lowest validation loss
  model.keras      the final model for inference: best weights, auxiliary heads removed
  history.csv      one row per epoch; metrics.json: best/final/test metrics, time, images/s
  logs/            TensorBoard
  curves.png       loss and accuracy, training vs validation
```

Rules: a directory holding an unfinished run of the same recipe (same fingerprint) is resumed; one
holding a different recipe's run, or a finished run, is never touched: `restart=True` starts a new run
beside it (`runs/x-2`), anything else is an error that says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from kerascnn import __version__
from kerascnn.config import ConfigError
from kerascnn.recipe import Recipe, dump


def prepare(recipe: Recipe, *, restart: bool = False,
            worker: int | None = None) -> tuple[Path, bool]:
    """The directory this run writes to, and whether it resumes an unfinished one there.

    `worker` k > 0 of a multi-worker run writes beside the chief's directory, in `<dir>.worker<k>`.
    """
    path = recipe.run_dir()
    if worker:
        path = path.with_name(f"{path.name}.worker{worker}")
    state = read_state(path)
    if state is None and path.exists() and any(path.iterdir()):
        if not restart:
            raise ConfigError(f"{path} exists and is not a kerascnn run directory; kerascnn will "
                              f"not write into it.", hint="set output.dir (or --output) to a new "
                                                          "folder, or pass --restart to use "
                                                          f"{free_path(path)}.")
        path = free_path(path)
    elif state is not None:
        same = state.get("fingerprint") == recipe.fingerprint
        finished = state.get("status") == "finished"
        if same and not finished and not restart:
            return path, True
        if not restart:
            why = ("finished" if same else
                   f"was made by a different recipe (fingerprint {state.get('fingerprint')}, "
                   f"this one {recipe.fingerprint})")
            raise ConfigError(f"the run in {path} {why}; kerascnn never overwrites a run.",
                              hint=f"pass --restart to start a new run in {free_path(path)} (the old "
                                   f"one is kept), or set output.dir.")
        path = free_path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "recipe.yaml").write_text(dump(recipe), encoding="utf-8")
    write_state(path, {"recipe": recipe.name, "fingerprint": recipe.fingerprint,
                       "status": "running", "kerascnn": __version__,
                       "created": time.strftime("%Y-%m-%d %H:%M:%S")})
    return path, False


def check_architecture(path: Path, model, *, resume: bool) -> None:
    """Record the built model's architecture (a hash of its config) in run.json; a resumed run
    whose model is built differently (its Python code changed) is refused."""
    text = json.dumps(model.get_config(), sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    recorded = (read_state(path) or {}).get("architecture")
    if resume and recorded and recorded != digest:
        raise ConfigError(f"the model built now differs from the one the run in {path} trained "
                          f"(architecture {digest}, the run's {recorded}); kerascnn will not "
                          f"resume it with other layers.",
                          hint="pass --restart (train(..., restart=True)) to start a new run "
                               "beside it.")
    update_state(path, architecture=digest)


def read_state(path: Path, name: str = "run.json") -> dict | None:
    try:
        return json.loads((Path(path) / name).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError):
        return {"status": "unreadable"}


def write_state(path: Path, state: dict, name: str = "run.json") -> None:
    """Atomic: a crash leaves the old file or the new one, never half of one."""
    write_atomic(Path(path) / name, json.dumps(state, indent=2))


def write_atomic(target: Path, text: str) -> None:
    """A text file, whole or not at all (the temporary name holds the process id: processes that
    share a directory, a distributed search's, never share one)."""
    target = Path(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8", newline="")
    os.replace(tmp, target)


def update_state(path: Path, name: str = "run.json", **changes) -> None:
    state = read_state(path, name) or {}
    state.update(changes)
    write_state(path, state, name)


def free_path(path: Path) -> Path:
    """The first `<path>-2`, `<path>-3`, ... that does not exist."""
    for i in range(2, 10_000):
        candidate = path.with_name(f"{path.name}-{i}")
        if not candidate.exists():
            return candidate
    raise ConfigError(f"no free run directory name beside {path}.")
