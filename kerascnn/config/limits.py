"""What a file kerascnn reads for a user may cost: every limit in one place, each checked before the
expensive part, each refusal one `ConfigError` naming the file and the limit.

A small hostile file can cost far more than its size: a YAML document whose aliases expand a
billion-fold ("billion laughs"), a zip member that inflates a thousand-fold, a document nested
thousands deep (a `RecursionError` in whatever walks it), a header that declares terabytes, an image
whose few kilobytes decode to billions of pixels. The limits below are far above every real file the
toolkit reads or writes (measured: the largest recipe or spec shipped is 2.1 KB, a ResNet-1202
`.keras` has a 4.1 MB config.json and 89 MB of weights, a VGG-19 `.keras` 550 MB, timm's VGG-19
`model.safetensors` a header of 3 KB) and far below what would hurt the machine.

RELIABILITY.md lists each limit with the test that feeds it a hostile file.
"""

from __future__ import annotations

import json
import os
import struct
import zipfile
from pathlib import Path

from kerascnn.config.errors import ConfigError
from kerascnn.config.paths import os_reason

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_JSON_BYTES",
    "MAX_DEPTH",
    "MAX_VALUES",
    "MAX_EPOCHS",
    "MAX_MEMBER_BYTES",
    "MAX_CONFIG_BYTES",
    "MAX_RATIO",
    "MAX_MEMBERS",
    "MAX_HEADER_BYTES",
    "MAX_PIXELS",
    "decode_text",
    "read_bounded",
    "too_large",
    "read_json_object",
    "read_json",
    "loads_json",
    "check_nesting",
    "open_archive",
    "read_member",
    "check_safetensors",
    "check_pixels",
    "image_size",
]

MAX_DOCUMENT_BYTES = 1 << 20  # a recipe or spec file (TOML, YAML): 1 MiB
MAX_JSON_BYTES = 64 << 20  # a JSON file kerascnn or keras-tuner wrote in a run directory: 64 MiB
MAX_DEPTH = 100  # nesting of a recipe, spec or JSON document (a Keras config: 11-12 a model)
MAX_VALUES = 100_000  # values in a recipe or spec, with YAML's aliases expanded
MAX_EPOCHS = 100_000  # epochs a recipe may ask for (or trials a search): the rows a table can hold
MAX_CONFIG_BYTES = 64 << 20  # a .keras archive's config.json (ResNet-1202's: 4.1 MB)
MAX_MEMBER_BYTES = 16 << 30  # any member of a .keras archive, declared (VGG-19's weights: 0.55 GB)
MAX_RATIO = 100  # declared size / compressed size of a .keras member (Keras stores: 1)
MAX_MEMBERS = 1_000  # members of a .keras archive (Keras writes 3)
MAX_HEADER_BYTES = 16 << 20  # a safetensors header (timm's VGG-19: 3 KB)
MAX_SIDE = 8192
MAX_PIXELS = MAX_SIDE * MAX_SIDE  # an image to decode: 67 megapixels (a 61-megapixel camera's fit)


def _size(n: int) -> str:
    """1048576 -> "1 MiB"."""
    for unit, shift in (("EiB", 60), ("PiB", 50), ("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.3g} {unit}"
    return f"{n} bytes"


def _name(file) -> str | None:
    return None if file is None else str(file)


def read_bounded(path: str | Path, limit: int, *, what: str) -> bytes:
    """The bytes of a file of at most `limit` bytes; a larger one is refused without reading it
    whole (`what` names the kind of file: "a recipe")."""
    path = Path(path)
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise too_large(path, limit, what=what)
    return data


def too_large(path, limit: int, *, what: str) -> ConfigError:
    """The refusal of a file past `limit` bytes, read no further (`what`: the kind of file)."""
    return ConfigError(
        f"the file is larger than {_size(limit)}, kerascnn's limit for {what}; refused unread.",
        file=str(path),
    )


def check_nesting(
    value, *, file, what: str = "a JSON file", limit: int = MAX_DEPTH, values: int | None = None
) -> None:
    """A parsed document nests at most `limit` deep (and, with `values`, holds at most that many
    values); walked without recursion, so that no depth makes the walk itself fail. `what` names
    the kind of document in the message."""
    stack, count = [(value, 1)], 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if values is not None and count > values:
            raise ConfigError(
                f"the document holds more than {values:,} values, kerascnn's limit for {what}; refused.",
                file=_name(file),
            )
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            continue
        if depth > limit:
            raise ConfigError(
                f"the document nests deeper than {limit} levels, kerascnn's limit for {what}; refused.",
                file=_name(file),
            )
        stack.extend((child, depth + 1) for child in children)


def decode_text(data: bytes, *, file) -> str:
    """UTF-8 bytes as text; a `ConfigError` naming the file and the first byte that is not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"the file is not UTF-8 text (byte {e.start} is 0x{data[e.start]:02x}): damaged, or not "
            f"a file kerascnn wrote.",
            file=_name(file),
        ) from None


def loads_json(data: bytes | str, *, file) -> object:
    """JSON text, parsed and its nesting checked (`check_nesting`); a `ConfigError` (a
    `ValueError`) naming the file for bytes that are not UTF-8, text that is not JSON (an emptied
    or cut-short file), and nesting past the limit."""
    text = decode_text(data, file=file) if isinstance(data, bytes) else data
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        what = (
            "empty"
            if not text.strip()
            else f"not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})"
        )
        raise ConfigError(
            f"the file is {what}: damaged (emptied or cut short?), or not a file kerascnn wrote.",
            file=_name(file),
        ) from None
    except RecursionError:
        raise ConfigError(
            f"the document nests deeper than {MAX_DEPTH} levels, kerascnn's limit "
            f"for a JSON file; refused.",
            file=_name(file),
        ) from None
    check_nesting(value, file=file)
    return value


def read_json(path: str | Path, limit: int = MAX_JSON_BYTES) -> object:
    """A JSON file of at most `limit` bytes and `MAX_DEPTH` levels. Raises `OSError` as
    `open` would, `ConfigError` (a `ValueError`) naming the file for one that is not UTF-8 JSON
    or is past a limit."""
    return loads_json(read_bounded(path, limit, what="a JSON file"), file=path)


def read_json_object(path: str | Path, limit: int = MAX_JSON_BYTES) -> dict:
    """`read_json` of a file that holds a JSON object (a run's metrics.json, run.json, data.json):
    any other value is refused, naming the file and what it holds."""
    value = read_json(path, limit)
    if not isinstance(value, dict):
        raise ConfigError(
            f"the file holds {_kind(value)} where kerascnn writes an object ({{...}}): damaged, or "
            f"not a file kerascnn wrote.",
            file=_name(path),
        )
    return value


def _kind(value) -> str:
    names = {list: "a list", str: "a string", bool: "true or false", type(None): "null"}
    return names.get(type(value), "a number")


# --- .keras archives ---------------------------------------------------------------------------------


def open_archive(path: str | Path) -> zipfile.ZipFile:
    """A `.keras` (zip) archive whose central directory is within the limits: at most `MAX_MEMBERS`
    members, none declaring more than `MAX_MEMBER_BYTES` or inflating more than `MAX_RATIO`-fold
    (members over 1 MiB; Keras stores its members uncompressed). The sizes are the archive's own
    declarations; `read_member` then reads no more than declared (a member whose data inflates past
    its declared size fails its checksum, and zipfile stops at the declared size)."""
    path = Path(path)
    archive = zipfile.ZipFile(path)
    try:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise ConfigError(
                f"{path} holds {len(members):,} members, over kerascnn's limit of "
                f"{MAX_MEMBERS:,} for a .keras archive; refused unread."
            )
        for info in members:
            if info.file_size > MAX_MEMBER_BYTES:
                raise ConfigError(
                    f"{path}: its member {info.filename} declares "
                    f"{_size(info.file_size)}, over kerascnn's limit of "
                    f"{_size(MAX_MEMBER_BYTES)} for a .keras member; refused unread."
                )
            if info.file_size > MAX_RATIO * max(info.compress_size, 1) and info.file_size > 1 << 20:
                raise ConfigError(
                    f"{path}: its member {info.filename} would inflate "
                    f"{info.file_size / max(info.compress_size, 1):,.0f}-fold "
                    f"({_size(info.compress_size)} to {_size(info.file_size)}), over "
                    f"kerascnn's limit of {MAX_RATIO}-fold (Keras stores its members "
                    f"uncompressed): a zip bomb? Refused unread."
                )
    except BaseException:
        archive.close()
        raise
    return archive


def read_member(archive: zipfile.ZipFile, name: str, limit: int, *, path) -> bytes:
    """A member of an archive from `open_archive`, at most `limit` bytes (declared and read)."""
    info = archive.getinfo(name)  # KeyError: no such member
    if info.file_size > limit:
        raise ConfigError(
            f"{path}: its {name} declares {_size(info.file_size)}, over kerascnn's "
            f"limit of {_size(limit)}; refused unread."
        )
    try:
        with archive.open(info) as f:
            data = f.read(limit + 1)  # zipfile stops at the declared size, then checks the CRC
    except zipfile.BadZipFile as e:
        if "CRC" not in str(e):
            raise
        raise ConfigError(
            f"{path}: its {name} does not end at the {info.file_size:,} bytes the "
            f"archive declares, the limit kerascnn reads it to (damaged, or crafted "
            f"to inflate past it); refused."
        ) from None
    return data


# --- safetensors -------------------------------------------------------------------------------------


def check_safetensors(path: str | Path) -> None:
    """A safetensors file's header is within `MAX_HEADER_BYTES` and within the file: its first 8
    bytes declare the header's length (a little-endian u64), and a file that declares terabytes is
    refused before anything reads them."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
        size = os.path.getsize(path)
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {os_reason(e)}.") from None
    if len(head) < 8:
        raise ConfigError(
            f"{str(path)!r} is not a complete safetensors file (truncated, or "
            f"another format): {size} bytes."
        )
    (declared,) = struct.unpack("<Q", head)
    if declared > MAX_HEADER_BYTES:
        raise ConfigError(
            f"{path} declares a safetensors header of {_size(declared)}, over "
            f"kerascnn's limit of {_size(MAX_HEADER_BYTES)}; refused unread."
        )
    if declared + 8 > size:
        raise ConfigError(
            f"{str(path)!r} is not a complete safetensors file (truncated, or "
            f"another format): its header declares {declared:,} bytes, the file "
            f"holds {size - 8:,} after the length."
        )


# --- images --------------------------------------------------------------------------------------------


def image_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) from an image file's header, without decoding it (Pillow reads the header
    alone); None when Pillow does not recognize the file (the decoder then says why). Pillow's own
    decompression-bomb limit is lifted for the look: only the size is read, and ours applies."""
    from PIL import Image

    saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with Image.open(path) as image:
            return tuple(image.size)
    except Exception:  # noqa: BLE001  (not an image Pillow knows, damaged: the decoder says why)
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def check_pixels(path: str | Path) -> str | None:
    """Why an image file is too large to decode ("too large: 30,000 x 30,000 = 900,000,000 pixels,
    over kerascnn's limit of 67,108,864 (8192 x 8192)"), or None when it is within the limit (or
    not an image Pillow reads: the decoder then says why)."""
    size = image_size(path)
    if size is None or size[0] * size[1] <= MAX_PIXELS:
        return None
    return (
        f"too large: {size[0]:,} x {size[1]:,} = {size[0] * size[1]:,} pixels, over "
        f"kerascnn's limit of {MAX_PIXELS:,} ({MAX_SIDE} x {MAX_SIDE}) for an image"
    )
