"""Write the command-line reference (``docs/cli.md``) from the argparse parsers themselves.

    python -m nettrain.commands.docgen > docs/cli.md

``tests/test_docs.py`` checks that the file is current.
"""

import argparse
import os

__all__ = ["cli_reference"]

WIDTH = "100"


def _walk(parser, name):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _walk(sub, "%s %s" % (name, sub_name))


def cli_reference():
    """The Markdown text of ``docs/cli.md``: every command's ``--help``, formatted 100 columns wide."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH  # argparse wraps to the terminal width; the file must not depend on it
    try:
        from ..cli import build_parser

        parser = build_parser()
        import sys

        parts = ["# Command-line reference", "",
                 "Generated from the argparse parsers by `python -m nettrain.commands.docgen > docs/cli.md` "
                 "(Python %d.%d; argparse's layout differs a little between versions); `tests/test_docs.py` fails "
                 "when it is out of date. `nettrain COMMAND --help` prints the same." % sys.version_info[:2], ""]
        for name, p in _walk(parser, "nettrain"):
            p.prog = name
            parts += ["## `%s`" % name, "", "```text", p.format_help().rstrip(), "```", ""]
        return "\n".join(parts)
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


if __name__ == "__main__":
    print(cli_reference(), end="")
