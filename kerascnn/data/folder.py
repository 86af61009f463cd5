"""Image folders (`source = "folder"`, `kerascnn evaluate --data FOLDER`, `kerascnn predict`): one
sub-folder per class, read by kerascnn itself so that a file that cannot be read is named before
training, never met by TensorFlow in the middle of an epoch.

- `index_folder` lists the images as `keras.utils.image_dataset_from_directory` does (class names
  from the sorted sub-folders, files found recursively in sorted order, the same seeded shuffle and
  the same validation split), so a folder gives the same splits as it did through Keras.
- `check_images` decodes every image once, with the decoder and settings training uses
  (`tf.io.decode_image` in parallel tf.data on the tf.data path; Pillow in threads on the grain
  path, `kerascnn.data.images`), and says why each failing file fails: damaged
  (a JPEG cut short, a PNG with a bad block), empty, or not an image whatever its name says. Files
  in image formats TensorFlow cannot decode (TIFF, HEIC, ...) are named too, never left out without
  a word. WebP, which Keras' loader skips, is read.
- The result is remembered per file (size and modification time, per decoder) in kerascnn's cache
  folder, so a
  resumed run, a new run on the same folder or `kerascnn evaluate` decode only new or changed files
  (BENCHMARKS.md: the cost on a folder of a few thousand JPEGs, first time and after).
- `data.bad_images` chooses what happens to failing files: "error" (the default: stop before the
  first epoch, listing them) or "skip" (train without them; the run's log and metrics.json list
  them).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerascnn.config.cache import cache_dir
from kerascnn.config.limits import check_pixels, read_json
from kerascnn.data.choice import decoder as default
from kerascnn.data.images import (
    KERAS_FORMATS,  # Keras' five; WebP too where it is decoded
    decode_failure,
)
from kerascnn.data.images import readable_formats as pillow_formats
from kerascnn.data.resize import fit_size

__all__ = [
    "unreadable_format",
    "FolderIndex",
    "index_folder",
    "check_images",
    "images_dataset",
    "readable_formats",
    "cache_folder",
    "describe_bad",
    "KERAS_FORMATS",
]

# Image formats TensorFlow cannot decode: named as unreadable rather than silently left out.
OTHER_IMAGE_FORMATS = (
    ".tif",
    ".tiff",
    ".heic",
    ".heif",
    ".avif",
    ".jxl",
    ".jp2",
    ".j2k",
    ".ppm",
    ".pgm",
    ".pbm",
    ".pnm",
    ".ico",
    ".icns",
    ".psd",
    ".svg",
    ".dng",
    ".cr2",
    ".nef",
    ".arw",
    ".raw",
    ".exr",
    ".hdr",
    ".tga",
    ".jfif",
)
CHECK_BATCH = 256
CACHE_LIMIT = 1 << 30  # a cache file (one per folder of class folders: ImageNet's is ~150 MB)


def readable_formats(decoder: str | None = None) -> tuple[str, ...]:
    """The file suffixes kerascnn reads: Keras' formats, and WebP where the decoder reads it
    (TensorFlow 2.17 and later; Pillow built with libwebp). `decoder`: "tensorflow" or "pillow"
    (default: the one of this backend's input path, `kerascnn.data.choice`)."""
    if _decoder(decoder) == "pillow":
        return pillow_formats()
    import tensorflow as tf

    return KERAS_FORMATS + ((".webp",) if hasattr(tf.io, "decode_webp") else ())


def unreadable_format(suffix: str, decoder: str | None = None) -> str:
    """Why a file of a format the decoder cannot read is left out."""
    reader = "TensorFlow" if _decoder(decoder) == "tensorflow" else "Pillow"
    return f"a {suffix.lstrip('.').upper()} image, a format {reader} cannot read here"


def _decoder(decoder: str | None) -> str:
    if decoder is not None:
        return decoder

    return default()


@dataclass
class FolderIndex:
    """The images of a folder: `paths` (absolute, as strings) and `labels` in the order Keras'
    `image_dataset_from_directory(..., shuffle=True, seed=seed)` gives them, and `bad`: each file
    that cannot be read (absolute path -> why), left out of `paths`."""

    root: Path
    class_names: list[str]
    paths: list[str]
    labels: np.ndarray
    bad: dict[str, str] = field(default_factory=dict)
    empty: list[str] = field(default_factory=list)  # class folders without a single image

    @property
    def total(self) -> int:
        return len(self.paths) + len(self.bad)

    def split(self, validation_split: float):
        """(training, validation) as (paths, labels) pairs, as Keras' `subset="both"` splits: the
        last `int(validation_split * n)` images of the shuffled order are the validation set."""
        n_val = int(validation_split * len(self.paths))
        if not validation_split:
            return (self.paths, self.labels), None
        cut = len(self.paths) - n_val
        return (self.paths[:cut], self.labels[:cut]), (self.paths[cut:], self.labels[cut:])


def index_folder(
    root: str | Path,
    *,
    seed: int | None,
    channels: int = 3,
    shuffle: bool = True,
    class_names: list[str] | None = None,
    check: bool = True,
    decoder: str | None = None,
) -> FolderIndex:
    """Every image of a folder of class sub-folders, checked (see the module docstring).

    Args:
        seed: the shuffle's seed (Keras' order for that seed); `shuffle=False` keeps the sorted
            order (evaluation).
        channels: what the images are decoded to (1 or 3), as training decodes them.
        class_names: the classes in this order (default: the sorted sub-folder names).
        check: decode every image once (`check_images`); off: only unreadable formats are named.
        decoder: "tensorflow" or "pillow" (default: the one of this backend's input path).
    """
    root = Path(root).resolve()
    decoder = _decoder(decoder)
    formats = readable_formats(decoder)
    names = class_names or sorted(c.name for c in root.iterdir() if c.is_dir())
    paths, labels, bad, empty = [], [], {}, []
    for label, name in enumerate(names):
        found = 0
        walk = sorted(os.walk(root / name), key=lambda entry: entry[0])
        for folder, _, files in walk:
            for file in sorted(files):
                suffix = os.path.splitext(file)[1].lower()
                path = os.path.join(folder, file)
                if suffix in formats:
                    paths.append(path)
                    labels.append(label)
                    found += 1
                elif suffix in OTHER_IMAGE_FORMATS:
                    bad[path] = unreadable_format(suffix, decoder)
        if not found:
            empty.append(name)
    labels = np.asarray(labels, dtype="int32")
    if shuffle:  # Keras' own: the same seed, once for the paths and once for the labels
        if seed is None:
            seed = np.random.randint(1e6)
        np.random.RandomState(seed).shuffle(paths)
        np.random.RandomState(seed).shuffle(labels)
    if check and paths:
        failing = check_images(paths, channels=channels, decoder=decoder)
        if failing:
            keep = [i for i, p in enumerate(paths) if p not in failing]
            bad.update(failing)
            paths = [paths[i] for i in keep]
            labels = labels[keep]
    return FolderIndex(
        root=root,
        class_names=list(names),
        paths=paths,
        labels=labels,
        bad=dict(sorted(bad.items())),
        empty=empty,
    )


def describe_bad(bad: dict[str, str], root: Path | None = None, *, shown: int = 5) -> str:
    """ "a/3.jpg (damaged: ...), b/x.tiff (...)" and "and N more", paths relative to `root`."""
    items = []
    for path, reason in list(bad.items())[:shown]:
        try:
            name = str(Path(path).relative_to(root)) if root is not None else path
        except ValueError:
            name = path
        items.append(f"{name} ({reason})")
    more = len(bad) - shown
    return ", ".join(items) + (f" and {more} more" if more > 0 else "")


def check_images(paths: list[str], *, channels: int = 3, decoder: str | None = None) -> dict[str, str]:
    """The files among `paths` that `tf.io.decode_image(..., channels, expand_animations=False)`
    (or Pillow, `decoder="pillow"`: `kerascnn.data.images.decode`) cannot decode, with the
    reason, and those too large to decode (over
    `kerascnn.config.limits.MAX_PIXELS`, read from their headers before any is decoded: "too
    large", the same limit for every image kerascnn reads). Files checked before and unchanged
    since (same size and modification time) are not read again (`cache_folder`)."""
    decoder = _decoder(decoder)
    cache = _Cache(decoder)
    failing, todo = {}, []
    for path in paths:
        known = cache.get(path)
        if known is None:
            todo.append(path)
        elif known:
            failing[path] = known
    if todo:
        found = {path: why for path in todo if (why := check_pixels(path)) is not None}
        left = [path for path in todo if path not in found]
        found.update(
            _decode_failures(left, channels)
            if decoder == "tensorflow"
            else _pillow_failures(left, channels)
        )
        failing.update(found)
        for path in todo:
            cache.put(path, found.get(path, ""))
        cache.save()
    return failing


def _decode_failures(paths: list[str], channels: int) -> dict[str, str]:
    """Decode every file in parallel tf.data, dropping the ones that fail (`ignore_errors`); decode
    those again one at a time for their error messages."""
    if not paths:
        return {}
    import tensorflow as tf

    def decode(i, path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        return i, tf.shape(image)[0]

    ds = tf.data.Dataset.from_tensor_slices((tf.range(len(paths)), paths))
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    ds = ds.ignore_errors().batch(CHECK_BATCH)
    ok = np.zeros(len(paths), dtype=bool)
    for indices, _ in _progress(ds.as_numpy_iterator(), len(paths), CHECK_BATCH):
        ok[indices] = True
    failing = {}
    for i in np.flatnonzero(~ok):
        failing[paths[i]] = _why(paths[i], channels)
    return failing


def _pillow_failures(paths: list[str], channels: int) -> dict[str, str]:
    """Decode every file with Pillow in threads (its decoders let go of the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(32, (os.cpu_count() or 1) + 4)) as pool:
        found = pool.map(lambda path: decode_failure(path, channels), paths, chunksize=16)
        reasons = list(_progress(found, len(paths), 1))
    return {path: why for path, why in zip(paths, reasons) if why is not None}


def _progress(items, count: int, per_item: int):
    if count > 4 * CHECK_BATCH and sys.stderr.isatty():
        from rich.progress import track

        return track(
            items,
            total=-(-count // per_item),
            transient=True,
            description=f"checking {count:,} images (once; remembered)",
        )
    return items


def _why(path: str, channels: int) -> str:
    import tensorflow as tf

    try:
        size = os.path.getsize(path)
        if size == 0:
            return "an empty file"
        tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
    except OSError as e:
        return f"unreadable: {e.strerror or e}"
    except tf.errors.OpError as e:
        message = " ".join(e.message.split("}}")[-1].split("[Op:")[0].split())
        with open(path, "rb") as f:
            head = f.read(16)
        if not _looks_like_an_image(head):
            return "not an image (another kind of file under an image's name)"
        return f"damaged: {message}"
    return "could not be decoded"  # decoded now: it failed in the parallel pass (a race)


# The first bytes of the formats TensorFlow decodes.
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")


def _looks_like_an_image(head: bytes) -> bool:
    return head.startswith(_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def images_dataset(
    paths: list[str],
    labels,
    *,
    size,
    channels: int,
    resize: str = "stretch",
    interpolation: str = "bilinear",
):
    """(image, label) pairs from image files: decoded, brought to `size` as Keras' loader does
    ("stretch": resized; "pad": resized to fit, centred on black) or timm's ("shorter": the shorter
    side resized, the centre cropped), float32 0-255, int32 labels."""
    import tensorflow as tf

    height, width = int(size[0]), int(size[1])

    def load(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        if resize == "pad":
            image = tf.image.resize_with_pad(image, height, width)
        else:
            image = fit_size(tf.cast(image, "float32"), (height, width), resize, interpolation)
        image.set_shape((height, width, channels))
        return tf.cast(image, "float32"), tf.cast(label, "int32")

    ds = tf.data.Dataset.from_tensor_slices((list(paths), np.asarray(labels, "int32")))
    return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)


def cache_folder() -> Path:
    """Where kerascnn remembers which images it has checked: its cache folder
    (`kerascnn.config.cache.cache_dir`: `$KERASCNN_CACHE`, else `$XDG_CACHE_HOME/kerascnn`, else
    `~/.cache/kerascnn`)."""

    return cache_dir()


class _Cache:
    """Checked images, by absolute path: [size, modification time in ns, why it fails ("": it
    decodes)], one JSON file per folder of images and decoder (TensorFlow's and Pillow's verdicts
    differ on a few files: grey GIFs, palette BMPs). Only a cache: unreadable or unwritable, it is
    ignored and the images are decoded again."""

    def __init__(self, decoder: str = "tensorflow"):
        self.decoder = decoder
        self.files: dict[Path, dict] = {}
        self.changed: set[Path] = set()

    def _file(self, path: str) -> Path:
        folder = os.path.dirname(os.path.dirname(os.path.abspath(path)))  # the class folder's parent
        digest = hashlib.sha256(folder.encode()).hexdigest()[:20]
        suffix = "" if self.decoder == "tensorflow" else f"-{self.decoder}"
        return cache_folder() / "image-checks" / f"{digest}{suffix}.json"

    def _entries(self, file: Path) -> dict:
        if file not in self.files:
            try:
                self.files[file] = read_json(file, CACHE_LIMIT)
            except (OSError, ValueError):  # a limit passed too: the cache is only a cache
                self.files[file] = {}
        return self.files[file]

    def get(self, path: str) -> str | None:
        try:
            stat = os.stat(path)
        except OSError:
            return None
        entry = self._entries(self._file(path)).get(os.path.abspath(path))
        if entry and entry[0] == stat.st_size and entry[1] == stat.st_mtime_ns:
            return entry[2]
        return None

    def put(self, path: str, reason: str) -> None:
        try:
            stat = os.stat(path)
        except OSError:
            return
        file = self._file(path)
        self._entries(file)[os.path.abspath(path)] = [stat.st_size, stat.st_mtime_ns, reason]
        self.changed.add(file)

    def save(self) -> None:
        for file in self.changed:
            try:
                file.parent.mkdir(parents=True, exist_ok=True)
                tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps(self.files[file]), encoding="utf-8")
                os.replace(tmp, file)
            except OSError:
                pass  # a cache: the next run decodes again
        self.changed.clear()
