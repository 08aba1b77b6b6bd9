"""The `zoo` command line. Each sub-command lives in its own module that exposes `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import sys

from zoo.errors import ZooError

# module path -> registers one or more sub-commands
_COMMAND_MODULES = (
    "zoo.train.cli",
    "zoo.export_cli",
    "zoo.md_cli",
    "zoo.data.cli",
    "zoo.pretrained.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description=__doc__)
    parser.add_argument("--version", action="version", version=f"zoo {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # that part of the package is not installed/built yet
            raise
        module.register(sub)
    return parser


def _version() -> str:
    from zoo import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ZooError, FileNotFoundError) as exc:
        print(f"zoo {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
