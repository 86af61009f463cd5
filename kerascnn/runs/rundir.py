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
  batch.png        the first training batch as the network receives it (augmented, denormalized)
  report.html      the run on one page (`kerascnn.report`): data, curves, test results, mistakes
  README.md        the model card: trained on what, results, how to feed it, how to reproduce it
```

Rules: a directory holding an unfinished run of the same recipe (same fingerprint) is resumed; one
holding a different recipe's run, or a finished run, is never touched: `restart=True` starts a new run
beside it (`runs/x-2`), anything else is an error that says so.

A run directory has one writer: `claim` holds an exclusive lock on `<dir>/.lock` (`DirectoryLock`)
from before it reads the directory's state until the run ends, and a second process that wants the
same directory is refused at once, told which process holds it. The operating system releases the
lock when its holder ends, however it ends (even SIGKILL), so a killed run still resumes. Searches
(`kerascnn tune`) and fine-tuning runs hold their directories the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from pathlib import Path

from kerascnn import __version__
from kerascnn.config import ConfigError, check_folder, option
from kerascnn.config.limits import MAX_EPOCHS, read_json, read_json_object, too_large
from kerascnn.config.paths import os_reason
from kerascnn.recipe import Recipe, dump

LOCK = ".lock"


class RunDir:
    """A run directory's files, named in this one place (kerascnn writes and reads them through
    it): `RunDir(path).model` is `<path>/model.keras`. A search's directory (`kerascnn tune`) keeps
    its own files, named here too (`SEARCH_STATE`, `TUNER`, `RESULTS`, `BEST_RECIPE`)."""

    RECIPE = "recipe.yaml"  # the resolved recipe
    STATE = "run.json"  # fingerprint, status, versions, timings
    DATA = "data.json"  # classes, sizes, normalization: how to feed the model
    BACKUP = "backup"  # the resume point (kerascnn.training.checkpoints)
    LAST = "last.keras"
    BEST = "best.keras"
    MODEL = "model.keras"
    KEPT = "best_epochs"  # the k best epochs' weights (`[output] keep_best`)
    AVERAGED = "averaged.keras"  # their average (kerascnn.training.averaging)
    HISTORY = "history.csv"
    METRICS = "metrics.json"
    CURVES = "curves.png"
    LOGS = "logs"  # TensorBoard
    CARD = "README.md"  # the model card (kerascnn.report.card)
    BATCH = "batch.png"  # the first training batch as the network receives it
    REPORT = "report.html"  # the run's (or the search's) page (kerascnn.report)
    LOCK = LOCK
    # A search's directory.
    SEARCH_STATE = "tune.json"  # the search's fingerprint and status
    TUNER = "tuner"  # keras-tuner's project
    RESULTS = "results.csv"
    BEST_RECIPE = "best_recipe.yaml"

    def __init__(self, path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    recipe = property(lambda self: self.path / self.RECIPE)
    state = property(lambda self: self.path / self.STATE)
    data = property(lambda self: self.path / self.DATA)
    backup = property(lambda self: self.path / self.BACKUP)
    last = property(lambda self: self.path / self.LAST)
    best = property(lambda self: self.path / self.BEST)
    model = property(lambda self: self.path / self.MODEL)
    kept = property(lambda self: self.path / self.KEPT)
    averaged = property(lambda self: self.path / self.AVERAGED)
    history = property(lambda self: self.path / self.HISTORY)
    metrics = property(lambda self: self.path / self.METRICS)
    curves = property(lambda self: self.path / self.CURVES)
    logs = property(lambda self: self.path / self.LOGS)
    card = property(lambda self: self.path / self.CARD)
    batch = property(lambda self: self.path / self.BATCH)
    report = property(lambda self: self.path / self.REPORT)
    search_state = property(lambda self: self.path / self.SEARCH_STATE)
    tuner = property(lambda self: self.path / self.TUNER)
    results = property(lambda self: self.path / self.RESULTS)
    best_recipe = property(lambda self: self.path / self.BEST_RECIPE)

    def trained_model(self) -> Path | None:
        """The model to use: the finished run's `model.keras`, else an unfinished run's best or last."""
        return next((p for p in (self.model, self.best, self.last) if p.is_file()), None)

    def kind(self) -> str:
        """What the directory holds: "run" (run.json: a run or a fine-tuning run) or "search"
        (tune.json); anything else is an error that says what the folder lacks."""
        if not self.path.is_dir():
            raise ConfigError(f"no run directory at {str(self.path)!r}.")
        if self.search_state.is_file():
            return "search"
        if self.state.is_file():
            return "run"
        raise ConfigError(
            f"{self.path} holds no {self.STATE} (a run) nor {self.SEARCH_STATE} (a search): not a "
            f"directory kerascnn train or kerascnn tune wrote."
        )

    def finished_model(self) -> Path:
        """A finished run's `model.keras`, which its data.json says how to feed (a run to start
        from); an error naming the directory when it holds no finished run."""
        if not self.model.is_file() or not self.data.is_file():
            raise ConfigError(
                f"{self.path} holds no finished kerascnn run (model.keras and data.json).",
                hint="finish the run first (kerascnn train its recipe), or name a .keras file.",
            )
        return self.model

    def write_feeding(self, feeding) -> None:
        write_atomic(self.data, feeding.to_json())


class DiskWriteError(ConfigError):
    """A file of a run could not be written (a full disk, a quota, a read-only or vanished mount):
    what was written before is intact, and the same command resumes once the cause is gone."""

    exit_status = 74  # sysexits' EX_IOERR: the command line tells it from a bad recipe (2)

    def __init__(self, target: Path, error: OSError, *, resume: str):
        self.target, self.error = Path(target), error
        reason = os_reason(error)
        super().__init__(
            f"could not write {target}: {reason}. Nothing written before was lost; {resume}."
        )


def unwritable(error: OSError, directory: Path, *, resume: str) -> Exception:
    """`error` as a `DiskWriteError` when it is about writing a file inside `directory` (a full
    disk, a quota); any other OSError as it is. `resume`: what the user can do, in words."""
    target = Path(error.filename) if isinstance(error.filename, str) else None
    if target is None or Path(directory).resolve() not in target.resolve().parents:
        return error
    return DiskWriteError(target, error, resume=resume)


def written(target: Path, write) -> None:
    """`write()`, with an OSError (a full disk, ...) raised as an `OSError` whose filename is
    `target`: h5py, zipfile and matplotlib name the temporary file, or no file at all."""
    try:
        write()
    except OSError as e:
        if e.filename == str(target):
            raise
        # h5py's message is a page of HDF5 internals: the system's words for the errno instead.
        reason = os_reason(e)
        raise OSError(e.errno, reason, str(target)) from e


class DirectoryLock:
    """An exclusive, non-blocking lock on `<path>/.lock`, held until `release` (or the process
    ends: the operating system drops it then, whatever killed the process). The file says who
    holds it: the process id, the command and when it started."""

    def __init__(self, path: Path, what: str = "run"):
        self.path = Path(path)
        self.file = self.path / LOCK
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> DirectoryLock:
        fd = os.open(self.file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock(fd)
        except OSError:
            os.close(fd)
            holder = _holder(self.file)
            raise ConfigError(
                f"{self.path} is in use: {holder} is writing this {self.what}, and a {self.what} "
                f"directory has one writer at a time; kerascnn left it untouched.",
                hint="wait for that process to end, or stop it (Ctrl-C, kill): the same command "
                f"then resumes where it stopped. For a second run beside it, pass "
                f"{option('restart', True)} or set output.dir.",
            ) from None
        self._fd = fd
        facts = {
            "pid": os.getpid(),
            "command": " ".join(sys.argv) or sys.executable,
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(facts).encode(), 0)
        return self

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the lock
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _lock(fd: int) -> None:
    if os.name == "nt":  # pragma: no cover  (Windows)
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _holder(file: Path) -> str:
    try:
        facts = read_json(file)
        return f"process {facts['pid']} (`{facts['command']}`, since {facts['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def has_content(path: Path) -> bool:
    """The folder holds something besides kerascnn's lock file."""
    return path.is_dir() and any(child.name != LOCK for child in path.iterdir())


@contextlib.contextmanager
def claim(recipe: Recipe, *, restart: bool = False, worker: int | None = None):
    """`with claim(recipe) as (path, resume)`: the directory this run writes to, and whether it
    resumes an unfinished one there, held by this process alone until the block ends (a directory
    another process holds is a `ConfigError` naming that process). A new run's files are written by
    `begin`, once its data has loaded: bad data leaves nothing in the directory but the lock."""
    lock = None
    try:
        path, resume, lock = prepare(recipe, restart=restart, worker=worker)
        yield path, resume
    finally:
        if lock is not None:
            lock.release()


def prepare(
    recipe: Recipe, *, restart: bool = False, worker: int | None = None
) -> tuple[Path, bool, DirectoryLock]:
    """The directory this run writes to, whether it resumes an unfinished one there, and the lock
    that makes this process its one writer (release it when the run ends; `claim` does). Nothing
    is written but the lock; `begin` starts a new run's files.

    `worker` k > 0 of a multi-worker run writes beside the chief's directory, in `<dir>.worker<k>`.
    """
    path = recipe.run_dir()
    if worker:
        path = path.with_name(f"{path.name}.worker{worker}")
    check_folder(path, what="the run directory")
    try:
        state = read_state(path)
    except ConfigError as e:  # which recipe made it, and whether it finished: unknown
        raise ConfigError(
            f"{e.message} kerascnn cannot tell which recipe made this run nor whether it "
            f"finished, and will not write into it.",
            file=e.file,
            hint=f"pass {option('restart', True)} to start a new run in {free_path(path)} (this "
            f"one is kept), or set output.dir.",
        ) from None
    if state is None and has_content(path):
        if not restart:
            raise ConfigError(
                f"{path} exists and is not a kerascnn run directory; kerascnn will not write into it.",
                hint="set output.dir (or --output) to a new "
                "folder, or pass "
                f"{option('restart', True)} to use "
                f"{free_path(path)}.",
            )
        path = free_path(path)
    path.mkdir(parents=True, exist_ok=True)
    lock = DirectoryLock(path).acquire()  # before the state is read: one decision at a time
    try:
        state = read_state(path)
        if state is not None:
            same = state.get("fingerprint") == recipe.fingerprint
            finished = state.get("status") == "finished" and not _continued(state, recipe)
            if same and not finished and not restart:
                return path, True, lock
            if not restart:
                why = (
                    "finished"
                    if same
                    else f"was made by a different recipe (fingerprint {state.get('fingerprint')}, "
                    f"this one {recipe.fingerprint})"
                )
                raise ConfigError(
                    f"the run in {path} {why}; kerascnn never overwrites a run.",
                    hint=f"pass {option('restart', True)} to start a new run in "
                    f"{free_path(path)} (the old one is kept), or set "
                    f"output.dir.",
                )
            lock.release()
            path = free_path(path)
            path.mkdir(parents=True, exist_ok=True)
            lock = DirectoryLock(path).acquire()
    except BaseException:
        lock.release()
        raise
    return path, False, lock


# How a reason for stopping early (run.json's "stopped") begins when the time budget gave it.
BUDGET_STOP = "time budget"


def stopped_by_budget(stopped: str | None) -> bool:
    """Whether a run's reason for stopping early is its time budget (`train.time_budget`)."""
    return str(stopped or "").startswith(BUDGET_STOP)


def _continued(state: dict, recipe: Recipe) -> bool:
    """Whether a finished run goes on: its time budget stopped it and the recipe asks for more
    epochs than it trained (the same command, or `--set train.epochs=...`)."""
    epochs = int(state.get("epochs") or 0)
    return stopped_by_budget(state.get("stopped")) and recipe.train.epochs > epochs


def begin(path: Path, recipe: Recipe, **state) -> None:
    """A new run's first files: the resolved recipe and run.json ("running", with `state`)."""
    write_atomic(RunDir(path).recipe, dump(recipe))
    write_state(
        path,
        {
            "recipe": recipe.name,
            "fingerprint": recipe.fingerprint,
            "status": "running",
            "kerascnn": __version__,
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            **state,
        },
    )


def record(path: Path, recipe: Recipe, model, feeding, *, environment: dict, resume: bool) -> None:
    """A run's records, once its data is loaded and its model built: a new run's resolved recipe;
    run.json with the model's architecture (a hash of its config: a resumed run whose model is
    built differently, its Python code changed, is refused) and what the run trains on; data.json,
    how the model is fed (`feeding`). Nothing is written for a run its data or model refused."""
    text = json.dumps(model.get_config(), sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    if not resume:
        begin(path, recipe, architecture=digest, environment=environment)
    else:
        state = read_state(path) or {}
        recorded = state.get("architecture")
        if recorded and recorded != digest:
            raise ConfigError(
                f"the model built now differs from the one the run in {path} trained "
                f"(architecture {digest}, the run's {recorded}); kerascnn will not "
                f"resume it with other layers.",
                hint=f"pass {option('restart', True)} to start a new run beside it.",
            )
        write_state(path, {**state, "architecture": digest, "environment": environment})
    RunDir(path).write_feeding(feeding)


def read_state(path: Path, name: str = RunDir.STATE) -> dict | None:
    """The run's state record (run.json), None when there is none yet; a `ConfigError` naming the
    file when it is damaged (not UTF-8 JSON, not an object)."""
    try:
        return read_json_object(Path(path) / name)
    except (FileNotFoundError, NotADirectoryError):
        return None


def write_state(path: Path, state: dict, name: str = RunDir.STATE) -> None:
    """Atomic: a crash leaves the old file or the new one, never half of one."""
    write_atomic(Path(path) / name, json.dumps(state, indent=2))


MAX_TABLE_BYTES = 64 << 20  # history.csv, results.csv: a row an epoch or a trial
MAX_TABLE_ROWS = MAX_EPOCHS  # a run writes a row an epoch, a search one a trial: at most this many


def read_rows(path: Path, *, required: tuple[str, ...] = ()) -> list[dict]:
    """The rows of a CSV file kerascnn wrote (history.csv, results.csv), each a dict of its
    columns; none when the file is missing (a run that has finished no epoch yet).

    Read as a stream, within what a run can have written: at most `MAX_TABLE_BYTES` bytes (a larger
    file is refused unread) and `MAX_TABLE_ROWS` rows (refused at the first row past them). A file
    that is not UTF-8, a row with more or fewer fields than the header (a file cut short), or a
    header without the `required` columns is refused in one `ConfigError` naming the file and line.
    """
    import csv

    try:
        f = open(path, encoding="utf-8", newline="")  # noqa: SIM115  (closed below)
    except FileNotFoundError:
        return []

    def damaged(message: str, line: int | None = None) -> ConfigError:
        return ConfigError(
            f"{message}: damaged, or not a file kerascnn wrote.", file=str(path), line=line
        )

    with f:
        if os.fstat(f.fileno()).st_size > MAX_TABLE_BYTES:
            raise too_large(path, MAX_TABLE_BYTES, what="a table kerascnn wrote")
        reader = csv.DictReader(f)
        rows = []
        try:
            missing = [c for c in required if c not in (reader.fieldnames or required)]
            if missing:
                raise damaged(f"its header has no {', '.join(map(repr, missing))} column", 1)
            width = len(reader.fieldnames or ())
            for row in reader:
                if None in row or None in row.values():
                    fields = width + len(row.get(None, ())) - sum(v is None for v in row.values())
                    raise damaged(
                        f"the row has {fields} fields where the header has {width} (cut short?)",
                        reader.line_num,
                    )
                if len(rows) == MAX_TABLE_ROWS:
                    raise ConfigError(
                        f"the file holds more than {MAX_TABLE_ROWS:,} rows, where a run writes "
                        f"one an epoch (at most {MAX_EPOCHS:,}); refused.",
                        file=str(path),
                    )
                rows.append(row)
        except UnicodeDecodeError as e:
            raise damaged(f"the file is not UTF-8 text ({e.reason})", reader.line_num + 1) from None
        except csv.Error as e:
            raise damaged(f"not CSV ({e})", reader.line_num) from None
    return rows


def read_history(path: Path) -> list[dict]:
    """history.csv's rows (`read_rows`), each with an integer epoch and a number (or nothing) in
    every column but a fine-tuning run's "phase"."""
    rows = read_rows(path, required=("epoch",))
    for line, row in enumerate(rows, 2):
        for key, value in row.items():
            if key == "phase" or (value == "" and key != "epoch"):
                continue
            try:
                int(value) if key == "epoch" else float(value)
            except ValueError:
                kind = "an integer" if key == "epoch" else "a number"
                raise ConfigError(
                    f"{key} is {value!r} where kerascnn writes {kind}: damaged, or not a history "
                    f"kerascnn wrote.",
                    file=str(path),
                    line=line,
                ) from None
    return rows


def write_rows(path: Path, rows: list[dict]) -> None:
    """Write rows as a CSV file, whole or not at all: the columns in the order they first appear
    (a column a later row adds comes last; earlier rows leave it empty)."""
    import csv
    import io

    keys = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=keys or ["epoch"])
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, text.getvalue())


def write_atomic(target: Path, text: str) -> None:
    """A text file, whole or not at all (the temporary name holds the process id: processes that
    share a directory, a distributed search's, never share one). An OSError names `target`."""
    target = Path(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        written(
            target, lambda: (tmp.write_text(text, encoding="utf-8", newline=""), os.replace(tmp, target))
        )
    finally:
        tmp.unlink(missing_ok=True)


def update_state(path: Path, name: str = RunDir.STATE, **changes) -> None:
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
