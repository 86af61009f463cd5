"""What `kerascnn.build(name, weights=...)` can start from: timm's ImageNet weights, with how they
expect to be fed.

`weights` is None (random), "imagenet" (the tag chosen below for that network), a Hugging Face Hub id
of timm weights (`"timm/resnet50.a1_in1k"`, also written `"hf://timm/resnet50.a1_in1k"`), or the path of
a timm `model.safetensors` file (offline; its layout is read from its keys). The Hub's file is fetched
with `huggingface_hub` (its cache, its token) and read with `safetensors`: no torch.

The tags: the best timm weights of each architecture trained on ImageNet-1k alone, at a 224 (Inception:
299) input, hosted as `timm/<arch>.<tag>`. Weights fine-tuned from larger data (the `fb_swsl_ig1b`
tags, 1-2 points better for some ResNets and ResNeXts) are left out: their licence is non-commercial
(CC BY-NC 4.0); pass their Hub id to use them. The top-1 accuracies are timm's own, **reported, not
measured here**: `results/results-imagenet.csv` of pytorch-image-models (the row at the input size
given, commit aa4b5850, 2026-08), on the ImageNet-1k validation set with the crop below.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from kerascnn.config import ConfigError, first_line
from kerascnn.config.limits import check_safetensors, read_json
from kerascnn.zoo.weights.timm import ARCHITECTURES, architecture_for, detect_layout

__all__ = [
    "Pretrained",
    "PRETRAINED",
    "WeightsSource",
    "resolve_weights",
    "hub_file",
    "hub_id_of",
    "network_of",
    "card_for_file",
    "check_weights_file",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class Pretrained:
    """One set of published weights and how they expect their images: resized so that the centre
    crop of `crop_pct` of the image is `input_size`, with `interpolation`, then `(x / 255 - mean) /
    std` per RGB channel."""

    hub_id: str  # "timm/resnet50.a1_in1k"
    top1: float | None  # reported by timm (results-imagenet.csv), not measured here
    top5: float | None
    input_size: int = 224
    crop_pct: float = 0.875
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def preprocessing(self, size: int | None = None, channels: int = 3) -> dict:
        """How to feed the weights an image, as a `kerascnn.data.Preprocessing` dict: the shorter
        side resized to `size / crop_pct` with `interpolation`, the centre `size` cropped, then
        `(x - 255 mean) / (255 std)` on 0-255 pixels (one channel: the means of the three)."""
        import math

        size = int(size or self.input_size)
        load = int(math.floor(size / self.crop_pct))
        mean = [255.0 * m for m in self.mean]
        std = [255.0 * s for s in self.std]
        if channels == 1:
            mean, std = [sum(mean) / 3], [sum(std) / 3]
        return {
            "input_shape": [size, size, channels],
            "load_size": [load, load],
            "resize": "shorter",
            "mean": mean,
            "std": std,
            "bgr": False,
            "interpolation": self.interpolation,
        }

    def to_dict(self) -> dict:
        """The weights' facts (recorded beside a model saved from them)."""
        return {
            "weights": self.hub_id,
            "reported_top1": self.top1,
            "reported_top5": self.top5,
            "input_size": self.input_size,
            "crop_pct": self.crop_pct,
            "interpolation": self.interpolation,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    @classmethod
    def from_timm_config(cls, hub_id: str, config: dict) -> Pretrained:
        """From the `config.json` timm publishes beside `model.safetensors` (its `pretrained_cfg`);
        no reported accuracy (kerascnn's table has it for the tags it knows)."""
        cfg = config.get("pretrained_cfg", config)
        size = cfg.get("input_size", [3, 224, 224])
        return cls(
            hub_id=hub_id,
            top1=None,
            top5=None,
            input_size=int(size[-1]),
            crop_pct=float(cfg.get("crop_pct", 0.875)),
            interpolation=str(cfg.get("interpolation", "bicubic")),
            mean=tuple(float(v) for v in cfg.get("mean", IMAGENET_MEAN)),
            std=tuple(float(v) for v in cfg.get("std", IMAGENET_STD)),
        )

    @property
    def architecture(self) -> str:
        """timm's architecture name: "resnet50" of "timm/resnet50.a1_in1k"."""
        return self.hub_id.split("/", 1)[1].split(".", 1)[0]

    @property
    def tag(self) -> str:
        return self.hub_id.split(".", 1)[1] if "." in self.hub_id else ""


def _table() -> dict[str, Pretrained]:
    a1 = dict(crop_pct=0.95, interpolation="bicubic")
    tv = dict(crop_pct=0.875, interpolation="bilinear")
    return {
        "resnet18": Pretrained("timm/resnet18.a1_in1k", 71.504, 90.086, **a1),
        "resnet34": Pretrained(
            "timm/resnet34.ra4_e3600_r224_in1k",
            77.492,
            93.498,
            crop_pct=0.9,
            mean=INCEPTION_MEAN,
            std=INCEPTION_STD,
        ),
        "resnet50": Pretrained("timm/resnet50.a1_in1k", 80.382, 94.598, **a1),
        "resnet101": Pretrained("timm/resnet101.a1h_in1k", 81.950, 95.760, **a1),
        "resnet152": Pretrained("timm/resnet152.a1h_in1k", 82.818, 96.124, **a1),
        "resnext50_32x4d": Pretrained("timm/resnext50_32x4d.a1h_in1k", 81.140, 95.320, **a1),
        # torchvision's v2 recipe, evaluated at its test size (224, crop 0.965): timm's row at 224.
        "resnext101_32x8d": Pretrained(
            "timm/resnext101_32x8d.tv2_in1k", 82.832, 96.234, crop_pct=0.965, interpolation="bilinear"
        ),
        "wide_resnet50_2": Pretrained("timm/wide_resnet50_2.racm_in1k", 81.466, 95.544),
        "se_resnet50": Pretrained("timm/seresnet50.ra2_in1k", 80.260, 95.068),
        "se_resnext50_32x4d": Pretrained("timm/seresnext50_32x4d.racm_in1k", 81.268, 95.624),
        "densenet121": Pretrained("timm/densenet121.ra_in1k", 75.574, 92.648),
        "densenet169": Pretrained("timm/densenet169.tv_in1k", 75.922, 92.976),
        "densenet201": Pretrained("timm/densenet201.tv_in1k", 77.284, 93.480),
        "vgg11": Pretrained("timm/vgg11.tv_in1k", 69.050, 88.630, **tv),
        "vgg13": Pretrained("timm/vgg13.tv_in1k", 69.950, 89.262, **tv),
        "vgg16": Pretrained("timm/vgg16.tv_in1k", 71.594, 90.398, **tv),
        "vgg19": Pretrained("timm/vgg19.tv_in1k", 72.400, 90.878, **tv),
        "inception_v4": Pretrained(
            "timm/inception_v4.tf_in1k",
            80.144,
            94.982,
            input_size=299,
            mean=INCEPTION_MEAN,
            std=INCEPTION_STD,
        ),
        "inception_resnet_v2": Pretrained(
            "timm/inception_resnet_v2.tf_in1k",
            80.434,
            95.312,
            input_size=299,
            crop_pct=0.8975,
            mean=INCEPTION_MEAN,
            std=INCEPTION_STD,
        ),
    }


# The most kerascnn reads of timm's config.json beside a model.safetensors (timm's are about 1 KB).
CONFIG_LIMIT = 1 << 20

# kerascnn model -> what weights="imagenet" means for it.
PRETRAINED: dict[str, Pretrained] = _table()


@dataclass(frozen=True)
class WeightsSource:
    """Resolved `weights=`: the safetensors file (local, or fetched from the Hub), where it came
    from in the user's words, and the metadata when kerascnn knows the weights (None for a local
    file or an unknown tag)."""

    path: Path
    described: str
    pretrained: Pretrained | None


_HUB_ID = re.compile(r"^(?:hf://|hf-hub:)?(?P<id>timm/[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)?)$")


def resolve_weights(name: str, weights) -> WeightsSource:
    """What `weights=` names for the model `name`, fetched when it is on the Hub.

    Raises:
        ConfigError: an unknown value, a model without ImageNet weights, a missing file, or no way
            to reach the Hub (at once, naming the Hub id and how to pass a local file).
    """
    if not isinstance(weights, (str, Path)):
        raise ConfigError(
            f'`weights` is None, "imagenet", a Hub id such as '
            f'"timm/resnet50.a1_in1k" or the path of a model.safetensors file. '
            f"Received: weights={weights!r}."
        )
    text = str(weights)
    if text == "imagenet":
        if name not in PRETRAINED:
            raise ConfigError(
                f"kerascnn has no ImageNet weights for {name!r}; the networks that "
                f"have them: {', '.join(PRETRAINED)}.",
                hint="`kerascnn list --pretrained` shows them with their source.",
            )
        known = PRETRAINED[name]
        return WeightsSource(hub_file(known.hub_id), f'{known.hub_id} (weights="imagenet")', known)
    hub_id = hub_id_of(text)
    if hub_id is not None:
        _check_architecture(name, hub_id)  # before any download
        path = hub_file(hub_id)
        return WeightsSource(path, hub_id, _known(hub_id) or _beside(path, hub_id))
    path = Path(text).expanduser()
    if path.is_dir() and (path / "model.safetensors").is_file():
        path = path / "model.safetensors"
    if not path.is_file():
        raise ConfigError(
            f'no weights file at {text!r} (and not "imagenet" or a Hub id such as '
            f'"timm/resnet50.a1_in1k").'
        )
    check_weights_file(path)
    return WeightsSource(path, str(path), _beside(path, None))


def check_weights_file(path: str | Path) -> None:
    """A timm `model.safetensors` and the `config.json` beside it are within kerascnn's limits
    (`kerascnn.config.limits`: the header the file declares, the config's size and nesting),
    checked before either is read for its content."""
    check_safetensors(path)
    _beside(Path(path), None)


def hub_id_of(text) -> str | None:
    """ "timm/resnet50.a1_in1k" of a Hub id as written ("hf://timm/...", "hf-hub:timm/..."); None
    for anything else (a file path that exists is a path)."""
    match = _HUB_ID.match(str(text))
    if match is None or Path(str(text)).exists():
        return None
    return match["id"]


def _known(hub_id: str) -> Pretrained | None:
    return next((p for p in PRETRAINED.values() if p.hub_id == hub_id), None)


def _beside(path: Path, hub_id: str | None) -> Pretrained | None:
    """The weights' facts from the `config.json` beside a `model.safetensors` (as the Hub and
    `huggingface-cli download` lay them out), with the tag kerascnn knows if the file names one."""
    config = Path(path).with_name("config.json")
    try:
        facts = read_json(config, CONFIG_LIMIT)
    except ConfigError:  # past a limit: said, not taken for "no config.json"
        raise
    except (OSError, ValueError):
        return None
    if not isinstance(facts, dict):
        return None
    if hub_id is None:
        cfg = facts.get("pretrained_cfg", {})
        architecture = facts.get("architecture")
        tag = cfg.get("tag") if isinstance(cfg, dict) else None
        hub_id = f"timm/{architecture}.{tag}" if architecture and tag else f"file {path}"
        if _known(hub_id) is not None:
            return _known(hub_id)
    return Pretrained.from_timm_config(hub_id, facts)


def card_for_file(name: str, path: str | Path) -> Pretrained:
    """How to feed timm weights from a local `model.safetensors` that has no timm `config.json`
    beside it: as kerascnn's card for the network says (`PRETRAINED[name]`: the input size, crop,
    interpolation, mean and std of its "imagenet" tag), when the file's keys are in the layout of
    that tag's timm architecture. The facts returned name the file, not the tag, and no reported
    accuracy: the tag is assumed, not known.

    Raises:
        ConfigError: the file is not a safetensors file, its keys are another architecture's
            layout (the SENet authors' `legacy_seresnet50` for se_resnet50, whose card is timm's
            `seresnet50`), or the network has no card; the message gives the ways out.
    """
    import dataclasses

    path = Path(path)
    check_safetensors(path)
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            keys = list(f.keys())
    except Exception as e:  # noqa: BLE001  (safetensors' errors: a truncated file, another format)
        raise ConfigError(
            f"{str(path)!r} is not a complete safetensors file (truncated, or "
            f"another format): {first_line(e)}"
        ) from None
    card = PRETRAINED.get(name)
    architecture = architecture_for(name, detect_layout(keys), source=str(path))
    if card is None or card.architecture != architecture.timm:
        raise ConfigError(
            f"{path} has no timm config.json beside it, so how its images are fed (size, crop, "
            f"interpolation, mean, std) is unknown: it holds timm's {architecture.timm} weights, "
            f"which kerascnn has no card for.",
            hint="put the config.json of the weights' Hub repository beside the file "
            f"(huggingface-cli download timm/{architecture.timm}.<tag> config.json "
            "--local-dir DIR), or port from the Hub id itself "
            f"(kerascnn port timm/{architecture.timm}.<tag>).",
        )
    return dataclasses.replace(card, hub_id=f"file {path}", top1=None, top5=None)


def network_of(hub_id: str) -> str:
    """The kerascnn network that computes the architecture of timm's weights `hub_id`
    ("timm/resnet50.a1_in1k" -> "resnet50"); a `ConfigError` for one kerascnn does not port."""
    timm_name = hub_id.split("/", 1)[1].split(".", 1)[0]
    if timm_name not in ARCHITECTURES:
        known = ", ".join(sorted(ARCHITECTURES))
        raise ConfigError(f"kerascnn has no port of timm's {timm_name!r} ({hub_id}); it ports {known}.")
    return ARCHITECTURES[timm_name].model


def _check_architecture(name: str, hub_id: str) -> None:
    model = network_of(hub_id)
    timm_name = hub_id.split("/", 1)[1].split(".", 1)[0]
    if model != name:
        raise ConfigError(
            f"the weights {hub_id} are timm's {timm_name}, which is kerascnn's {model!r}, not {name!r}.",
            hint=f"kerascnn.build({model!r}, weights={hub_id!r}).",
        )


# Where huggingface_hub downloads from (its default endpoint).
HUB_HOST = ("huggingface.co", 443)


def hub_file(hub_id: str) -> Path:
    """The `model.safetensors` of a Hub repository: from huggingface_hub's cache when it is there
    (no network at all), else downloaded (a progress bar, the user's token if any). Without a way
    to the Hub, one error at once rather than huggingface_hub's retries."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:  # pragma: no cover  (a dependency of kerascnn)
        raise ConfigError(
            "downloading weights needs huggingface_hub: pip install huggingface_hub."
        ) from None
    try:
        path = Path(hf_hub_download(hub_id, "model.safetensors", local_files_only=True))
        _config(hf_hub_download, hub_id, local_files_only=True)
        return path
    except Exception:  # noqa: BLE001  (not cached: download below)
        pass
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    how = (
        f"download it where there is internet (`huggingface-cli download {hub_id} "
        f"model.safetensors`, or the same kerascnn command there) and pass the file's path as "
        f"weights="
    )
    if offline:
        raise ConfigError(
            f"the weights {hub_id} are not in huggingface_hub's cache and HF_HUB_OFFLINE is set.",
            hint=how,
        )
    import socket

    endpoint = os.environ.get("HF_ENDPOINT")
    host = HUB_HOST if not endpoint else (re.sub(r"^https?://", "", endpoint).split("/")[0], 443)
    try:
        socket.create_connection(host, timeout=10).close()
    except OSError as e:
        raise ConfigError(
            f"cannot download the weights {hub_id}: this machine cannot reach {host[0]} ({e}).", hint=how
        ) from None
    try:
        path = Path(hf_hub_download(hub_id, "model.safetensors"))
        _config(hf_hub_download, hub_id)
        return path
    except Exception as e:  # noqa: BLE001  (a missing repository, a gated one, a network failure)
        raise ConfigError(
            f"could not download {hub_id}'s model.safetensors from the Hugging Face "
            f"Hub: {first_line(e)}",
            hint=how,
        ) from None


def _config(download, hub_id: str, **options) -> None:
    """The repository's config.json too (timm's pretrained_cfg: crop, interpolation, mean, std),
    into the same snapshot folder; a repository without one is no error."""
    try:
        download(hub_id, "config.json", **options)
    except Exception:  # noqa: BLE001
        pass
