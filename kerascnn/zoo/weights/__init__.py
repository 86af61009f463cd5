"""Published weights, in one place: what `weights=` names for a network (`resolve_weights`: "imagenet",
a Hub id, a timm `model.safetensors`), the cards that say how each set of weights expects its images
(`PRETRAINED`), the Hub (`hub_file`), and the ports that carry timm's and keras.applications' weights
into the zoo's networks (`load_timm_weights`, `port_weights`), with the first convolution adapted to
other input channels.

Modules: `cards` (the weights kerascnn knows and how they are fed; resolving `weights=`; the Hub),
`timm` (timm's key layouts), `applications` (keras.applications' layers), `channels`.
"""

from kerascnn.zoo.weights.applications import PortSource, find_source, port_weights, portable
from kerascnn.zoo.weights.cards import (
    PRETRAINED,
    Pretrained,
    WeightsSource,
    card_for_file,
    check_weights_file,
    hub_file,
    hub_id_of,
    network_of,
    resolve_weights,
)
from kerascnn.zoo.weights.channels import adapt_input_channels
from kerascnn.zoo.weights.timm import (
    ARCHITECTURES,
    TimmArchitecture,
    architecture_for,
    detect_layout,
    load_timm_weights,
    read_state_dict,
)

__all__ = [
    "resolve_weights",
    "WeightsSource",
    "Pretrained",
    "PRETRAINED",
    "hub_file",
    "hub_id_of",
    "network_of",
    "card_for_file",
    "check_weights_file",
    "TimmArchitecture",
    "ARCHITECTURES",
    "architecture_for",
    "detect_layout",
    "read_state_dict",
    "load_timm_weights",
    "PortSource",
    "find_source",
    "portable",
    "port_weights",
    "adapt_input_channels",
]
