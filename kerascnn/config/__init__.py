"""Reading and validating what users give: documents (specs, recipes), paths to write to, and the
options named in advice; one mechanism, one error type."""

from kerascnn.config.documents import Source, load_document, loads
from kerascnn.config.errors import (
    ConfigError,
    did_you_mean,
    first_line,
    format_path,
    on_command_line,
    option,
)
from kerascnn.config.paths import check_folder, check_new_file
from kerascnn.config.validation import check_call, check_keys, check_value, describe, parameters

__all__ = [
    "ConfigError",
    "Source",
    "check_call",
    "check_folder",
    "check_keys",
    "check_new_file",
    "check_value",
    "describe",
    "did_you_mean",
    "first_line",
    "format_path",
    "load_document",
    "loads",
    "on_command_line",
    "option",
    "parameters",
]
