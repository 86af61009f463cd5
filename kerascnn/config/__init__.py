"""Reading and validating user documents (specs now, recipes later): one mechanism, one error type."""

from kerascnn.config.documents import Source, load_document, loads
from kerascnn.config.errors import ConfigError, did_you_mean, first_line, format_path
from kerascnn.config.schema import check_call, check_keys, check_value, describe, parameters

__all__ = [
    "ConfigError", "Source", "check_call", "check_keys", "check_value", "describe", "did_you_mean",
    "first_line", "format_path", "load_document", "loads", "parameters",
]
