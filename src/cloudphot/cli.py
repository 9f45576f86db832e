"""The ``cloudphot`` command: a thin shell over the library.

Every command takes ``--workdir`` (default ``$CLOUDPHOT_HOME``, else
``./cloudphot-work``). Commands contributed by other parts of the library
register themselves through ``add_commands(subparsers)`` (see ``_PLUGINS``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import CloudphotError

__all__ = ["build_parser", "main", "path_problem"]

#: modules contributing subcommands through add_commands(subparsers)
_PLUGINS = (
    "cloudphot.commands.pipeline",
    "cloudphot.commands.recovery",
    "cloudphot.commands.monitor",
    "cloudphot.commands.serve",
    "cloudphot.commands.cost",
    "cloudphot.commands.plan",
    "cloudphot.commands.aws",
    "cloudphot.commands.demo",
    "cloudphot.simulate.commands",
    "cloudphot.catalog.commands",
)
#: commands whose one-shot start-up matters, and the plugin that has them: ``cloudphot
#: query`` imports that plugin alone instead of every one (and what each imports)
_ONE_PLUGIN = dict.fromkeys(("query", "cone", "lightcurve", "map", "catalog"), _PLUGINS[-1])


_NEGATIVE_VALUE = re.compile(r"^-\.?\d")


def _command_of(argv: Sequence[str] | None) -> str | None:
    """The subcommand named on the command line, if one is (before any help or version flag)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--workdir", "-w")
    _, rest = pre.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    return rest[0] if rest and not rest[0].startswith("-") else None


def build_parser(plugins: Sequence[str] = _PLUGINS) -> argparse.ArgumentParser:
    from .commands import helptext

    parser = argparse.ArgumentParser(
        prog="cloudphot",
        description=(
            "Resolved-star photometry of HST-style surveys, on serverless AWS or locally. "
            "'cloudphot COMMAND --help' explains a command, with examples."
        ),
    )
    parser.add_argument("--version", action="version", version=f"cloudphot {__version__}")
    parser.add_argument(
        "--workdir",
        "-w",
        default=None,
        help="workspace directory (default: $CLOUDPHOT_HOME or ./cloudphot-work)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in plugins:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # that part of the library is not installed in this build
            raise
        module.add_commands(sub)
    helptext.apply(parser)
    for _, p in helptext.commands(parser):
        # a value starting with '-' and a digit is a value (Dec -41:16:12, radius -2arcsec,
        # which the command then explains), not an unknown option: argparse's own rule takes
        # only plain negative numbers. No cloudphot option starts with a digit.
        p._negative_number_matcher = _NEGATIVE_VALUE
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    # photutils silences this astropy warning itself with warnings.catch_warnings(), which
    # is not thread-safe before Python 3.14; the local runtime preprocesses in threads.
    warnings.filterwarnings("ignore", message="Input data contains invalid values")
    one = _ONE_PLUGIN.get(_command_of(argv) or "")
    parser = build_parser((one,) if one else _PLUGINS)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CloudphotError as exc:
        print(f"cloudphot {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted; rerun the same command to resume (finished work is kept)", file=sys.stderr
        )
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        if exc.filename is None:  # not a path the user gave: a real failure, shown in full
            raise
        print(f"cloudphot {args.command}: error: {path_problem(exc)}", file=sys.stderr)
        return 2


def path_problem(exc: OSError) -> str:
    """One line for a file-system refusal of a path the user gave (an output file in a
    folder that does not exist, an output folder that is a file...), with what to do."""
    import errno

    path = Path(str(exc.filename))
    what = {
        errno.ENOENT: "no such file or folder",
        errno.EEXIST: "exists and is a file, not a folder",
        errno.ENOTDIR: "a part of this path is a file, not a folder",
        errno.EISDIR: "is a folder; give a file name",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "on a read-only file system",
        errno.ENOSPC: "no space left on the device",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    hint = ""
    if exc.errno == errno.ENOENT and not path.parent.exists():
        hint = f" (the folder {path.parent} does not exist: create it, or write elsewhere)"
    elif exc.errno == errno.EEXIST:
        hint = " (give a new or existing folder)"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = " (write somewhere you may)"
    return f"{path}: {what}{hint}"


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def workdir_path(args) -> Path | None:
    return Path(args.workdir) if args.workdir else None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
