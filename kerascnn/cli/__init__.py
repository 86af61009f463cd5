"""The `kerascnn` command. Thin: parses arguments, calls the API, prints.

One module per group of commands (`recipes`: train, tune, lr-find, recipes; `models`: list,
summary, compare, port; `trained`: evaluate, predict, export, report; `pictures`: explain, show), each
command an `add_<name>`
that declares its arguments and a `run_<name>` that checks what they name and calls the verb;
`arguments` holds what they share: the model argument, the checks before Keras loads, the files a
command may write (never one that exists).

What loads Keras (the verbs, training, analysis, the report, the pictures, a model's build) is
imported inside a command's `run_` function, or the `arguments` helper it calls, after its checks and
`quiet_backend()`; everything else at the top of its module. So `--help`, `list` and a refused
argument answer before Keras loads, and TensorFlow's start-up noise stays off stderr.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys

from kerascnn import __version__
from kerascnn.cli.models import add_compare, add_list, add_port, add_summary
from kerascnn.cli.pictures import add_explain, add_show
from kerascnn.cli.recipes import add_lr_find, add_recipes, add_train, add_tune
from kerascnn.cli.trained import add_average, add_evaluate, add_export, add_predict, add_report
from kerascnn.config.errors import ConfigError, on_command_line
from kerascnn.config.paths import describe_os_error

__all__ = ["main", "build_parser"]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        with on_command_line():  # advice names --flags, not Python arguments
            return args.run(args)
    except ConfigError as e:  # bad input; a file the run could not write (a full disk: 74)
        print(f"error: {e}", file=sys.stderr)
        return getattr(e, "exit_status", 2)
    except OSError as e:
        if e.filename is None or isinstance(e, BrokenPipeError):
            raise
        # A path the checks before the work could not foresee (it changed meanwhile): one line.
        print(f"error: {describe_os_error(e)}", file=sys.stderr)
        return 74 if e.errno in _DISK_FULL else 2
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM during training (its message is logged)
        return 143 if type(e).__name__ == "Terminated" else 130
    except BrokenPipeError:  # `kerascnn list | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}  # as a run's full disk: 74 (sysexits' EX_IOERR)


def build_parser() -> argparse.ArgumentParser:
    """The `kerascnn` command line: one sub-command per verb, declared by the module of its group."""
    parser = argparse.ArgumentParser(
        prog="kerascnn",
        description="The classic convolutional networks, declared as data, built with Keras 3.",
    )
    parser.add_argument("--version", action="version", version=f"kerascnn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_list(commands)
    add_train(commands)
    add_tune(commands)
    add_lr_find(commands)
    add_recipes(commands)
    add_evaluate(commands)
    add_predict(commands)
    add_summary(commands)
    add_compare(commands)
    add_port(commands)
    add_export(commands)
    add_report(commands)
    add_average(commands)
    add_explain(commands)
    add_show(commands)
    return parser
