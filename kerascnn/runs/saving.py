"""Loading models: the one loader every kerascnn command uses (`load_model`: safe mode, hostile
files refused before Keras reads them), and the facts a saved model records about how it is fed
(`write_feeding`, `read_feeding`). Loading the deepest graphs needs room for Keras' recursion
(`kerascnn.backend.internals`)."""

from __future__ import annotations

from pathlib import Path

from kerascnn.backend.internals import plain_variable_scopes, recursion_headroom
from kerascnn.config import ConfigError, check_new_file, first_line, option
from kerascnn.config.limits import (
    MAX_CONFIG_BYTES,
    MAX_JSON_BYTES,
    loads_json,
    open_archive,
    read_member,
)
from kerascnn.zoo.weights.cards import check_weights_file

__all__ = ["load_model", "check_archive", "write_feeding", "read_feeding", "check_port_output"]

# A member of a `.keras` archive that Keras does not read: how the model expects its images (a model
# ported from published weights: their size, crop, interpolation, mean and std).
FEEDING = "kerascnn.json"


def load_model(
    path, *, allow_h5: bool = False, trusted_modules: tuple[str, ...] = (), compile: bool = True
):
    """The one loader every kerascnn command uses: `keras.saving.load_model` with `safe_mode=True`
    (no switch turns it off), after `check_archive` has read the file's config, and with room for
    the deepest graphs.

    Args:
        path: a `.keras` file. A legacy `.h5` model is refused unless `allow_h5=True`: Keras'
            legacy loader reads it, and the format can carry Python code.
        trusted_modules: packages whose registered Keras classes the file may use besides Keras'
            and kerascnn's (your own layers: `("mypackage",)`).
        compile: restore the training configuration, as Keras does.

    Raises:
        ConfigError: the file is missing, not a model, truncated, or names a Lambda layer or any
            class or function outside Keras, kerascnn and `trusted_modules`; it says which.
    """
    import keras  # with the two below: keeps kerascnn.runs free of Keras

    import kerascnn.layers  # noqa: F401  (registers the toolkit's layers and activations)
    import kerascnn.optim  # noqa: F401  (a checkpoint's optimizer and its schedule)

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no model file at {str(path)!r}.")
    if path.suffix.lower() in (".h5", ".hdf5"):
        if not allow_h5:
            raise ConfigError(
                f"{path} is a legacy HDF5 model; kerascnn loads .keras files. The "
                f"legacy format can carry Python code and is read by Keras' legacy "
                f"loader.",
                hint="if you trust the file, pass allow_h5=True and save it again as .keras.",
            )
    elif path.suffix.lower() == ".keras":
        check_archive(path, trusted_modules)
    else:
        raise ConfigError(f"{path}: a model file ends in .keras. Received: {path.suffix!r}.")
    try:
        with recursion_headroom(), plain_variable_scopes():
            return keras.saving.load_model(path, safe_mode=True, compile=compile)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001  (Keras raises many types for a damaged file)
        raise ConfigError(f"{path}: Keras could not load the model: {first_line(e)}") from e


def write_feeding(path, feeding) -> None:
    """Record in a saved `.keras` archive how its model expects its images (a
    `kerascnn.data.feeding.Feeding`: the preprocessing, and where the weights came from), so that
    `kerascnn evaluate` and `predict` feed it without being told."""
    import zipfile

    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(FEEDING, feeding.to_json())


def read_feeding(path):
    """What `write_feeding` recorded in a `.keras` archive (a JSON object: read it with
    `kerascnn.data.feeding.Feeding.recorded`), or None."""
    import zipfile

    try:
        with open_archive(path) as archive:
            if FEEDING not in archive.namelist():
                return None
            facts = loads_json(
                read_member(archive, FEEDING, MAX_JSON_BYTES, path=path), file=f"{path}: {FEEDING}"
            )
    except ConfigError:  # past a limit: said, not taken for "nothing recorded"
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    return facts if isinstance(facts, dict) else None


def check_archive(path, trusted_modules: tuple[str, ...] = ()) -> None:
    """Read a `.keras` archive's config.json without building anything, and refuse what
    `load_model` must not run: a Lambda layer (Python code, also refused by Keras' safe mode) and
    any class or function whose module is not Keras', kerascnn's or one of `trusted_modules`
    (configs that name `os.system` or `subprocess.Popen`, whatever Keras' own checks allow).

    What the archive may cost is bounded first (`kerascnn.config.limits`): its members' declared
    sizes and compression ratios, config.json's size (read no further than declared) and nesting.
    """
    import zipfile

    path = Path(path)
    try:
        with open_archive(path) as archive:
            config = loads_json(
                read_member(archive, "config.json", MAX_CONFIG_BYTES, path=path),
                file=f"{path}: config.json",
            )
    except zipfile.BadZipFile:
        raise ConfigError(f"{path} is not a .keras archive (truncated, or another format).") from None
    except KeyError:
        raise ConfigError(f"{path} has no config.json: not a saved Keras model.") from None
    except ConfigError:  # past a limit: said as it is
        raise
    except (OSError, ValueError, EOFError, NotImplementedError) as e:
        raise ConfigError(f"{path}: its config.json is unreadable ({e}).") from None
    trusted = ("keras", "kerascnn", *trusted_modules)

    def allowed(module: str) -> bool:
        return any(module == t or module.startswith(t + ".") for t in trusted)

    def walk(node, layer: str) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, layer)
            return
        if not isinstance(node, dict):
            return
        inner = node.get("config")
        if isinstance(inner, dict) and isinstance(inner.get("name"), str) and "class_name" in node:
            layer = inner["name"]
        where = f"{path}: layer {layer!r}" if layer else f"{path}"
        class_name, module = node.get("class_name"), node.get("module")
        if class_name in ("Lambda", "__lambda__"):
            raise ConfigError(
                f"{where} is a Lambda layer: Python code inside a model file. kerascnn never loads one."
            )
        if isinstance(module, str) and "class_name" in node:
            if module == "builtins" and class_name == "function":
                name = node.get("config")
                if not (isinstance(name, str) and any(name.startswith(f"{t}>") for t in trusted)):
                    raise ConfigError(
                        f"{where} names the function {name!r}, which is neither "
                        f"Keras' nor registered by kerascnn; refused."
                    )
            elif not allowed(module):
                raise ConfigError(
                    f"{where} names {module}.{class_name}, outside Keras and kerascnn; refused.",
                    hint="if these are your own registered layers, pass their "
                    "package: load_model(path, trusted_modules=(...)).",
                )
        for value in node.values():
            walk(value, layer)

    walk(config, "")


def check_port_output(output, weights=None) -> None:
    """The output of `kerascnn port` is a new .keras file and the weights file exists: checked
    before anything loads."""
    output = Path(output)
    if output.suffix != ".keras":
        raise ConfigError(f"{option('output')} must end in .keras. Received: {str(output)!r}.")
    if output.exists():
        raise ConfigError(
            f"{str(output)!r} exists; kerascnn never overwrites a saved model. "
            f"Choose another name or remove it first."
        )
    check_new_file(output, what=option("output"))
    if weights is not None and not Path(weights).is_file():
        raise ConfigError(f"no weights file at {weights!r}.")
    if weights is not None and Path(weights).suffix == ".safetensors":
        check_weights_file(weights)
