"""The ``nettrain`` command line: ``nettrain <command> ...`` (also ``python -m nettrain``).

Each command is one ``_add_<command>(subparsers)`` function that declares its
arguments and sets ``func`` to the function running it; add a new command by
writing such a pair and listing the adder in ``COMMANDS``.

Examples
--------
>>> from nettrain.cli import main
>>> main(["cache", "list", "--compiledir", "/nonexistent"])
no compile cache at /nonexistent
0
"""

import argparse
import json
import os
import sys
import time

__all__ = ["main", "build_parser"]


# ---------------------------------------------------------------- formatting helpers


def _size(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (n, unit)
        n /= 1024.0


def _age(seconds):
    seconds = max(0.0, seconds)
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length:
            return "%d%s" % (seconds // length, unit)
    return "%ds" % seconds


# ---------------------------------------------------------------- nettrain cache


def _add_cache(sub):
    p = sub.add_parser("cache", help="inspect or clear the compile cache",
                       description="Inspect or clear the on-disk cache of compiled C code.")  # fmt: skip
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--compiledir", help="cache directory (default: config.compiledir)")

    a = actions.add_parser("list", parents=[common], help="entries with sizes, ages and status")
    a.add_argument("--json", action="store_true", help="machine-readable output")
    a.set_defaults(func=cmd_cache_list)
    a = actions.add_parser("clear", parents=[common], help="remove entries (skips those being compiled)")
    a.add_argument("--older-than", type=float, metavar="DAYS", help="only remove entries older than DAYS")
    a.set_defaults(func=cmd_cache_clear)
    a = actions.add_parser("info", parents=[common], help="cache location, toolchain and totals")
    a.set_defaults(func=cmd_cache_info)
    p.set_defaults(func=lambda args: _usage(p))


def _usage(parser):
    parser.print_help(sys.stderr)
    return 2


def _compiledir(args):
    from .configdefaults import config

    return os.path.abspath(args.compiledir or config.compiledir)


def cmd_cache_list(args):
    """``nettrain cache list``: one line per entry, then the total."""
    from .backends.c.cache import list_entries

    root = _compiledir(args)
    entries = list_entries(root)
    if args.json:
        print(json.dumps({"compiledir": root, "entries": entries}, indent=1))
        return 0
    if not os.path.isdir(root):
        print("no compile cache at %s" % root)
        return 0
    now = time.time()
    if entries:
        print("%-16s %10s %6s  %s" % ("KEY", "SIZE", "AGE", "STATUS"))
    for e in sorted(entries, key=lambda e: -e["mtime"]):
        print("%-16s %10s %6s  %s" % (e["key"][:16], _size(e["size"]), _age(now - e["mtime"]), e["status"]))
    bad = sum(not e["status"].startswith("ok") for e in entries)
    print("%d entries, %s in %s%s" % (len(entries), _size(sum(e["size"] for e in entries)), root,
                                      " (%d not ok)" % bad if bad else ""))  # fmt: skip
    return 0


def cmd_cache_clear(args):
    """``nettrain cache clear``: remove entries; builds in progress are left alone."""
    from .backends.c.cache import clear_cache

    root = _compiledir(args)
    if not os.path.isdir(root):
        print("no compile cache at %s" % root)
        return 0
    older = None if args.older_than is None else args.older_than * 86400.0
    try:
        done = clear_cache(root, older_than=older)
    except OSError as e:
        print("cannot clear %s: %s" % (root, e), file=sys.stderr)
        return 1
    msg = "removed %d entries (%s) from %s" % (done["removed"], _size(done["bytes"]), root)
    if done["busy"]:
        msg += "; skipped %d being compiled by another process" % done["busy"]
    print(msg)
    return 0


def cmd_cache_info(args):
    """``nettrain cache info``: where the cache is, whether it is usable, and the toolchain in the keys."""
    from .backends.c import compiler
    from .backends.c.cache import FORMAT, is_writable, list_entries, toolchain_info

    root = _compiledir(args)
    entries = list_entries(root, verify=False)
    print("compiledir:  %s" % root)
    if not os.path.isdir(root):
        print("writable:    not created yet")
    else:
        print("writable:    %s" % ("yes" if is_writable(root) else "no (builds fall back to a temporary directory)"))
    print("entries:     %d, %s" % (len(entries), _size(sum(e["size"] for e in entries))))
    print("format:      %d" % FORMAT)
    info = compiler.compiler_info()
    print("compiler:    %s" % (" ".join(info) if info else "none (C backend unavailable)"))
    if info:
        tc = toolchain_info()
        print("flags:       %s" % " ".join(tc["flags"]))
        print("key inputs:  cpu=%s python=%s numpy=%s nettrain=%s"
              % (tc["cpu"], tc["python"][0], tc["numpy"], tc["nettrain"]))  # fmt: skip
    return 0


# ---------------------------------------------------------------- entry point

COMMANDS = [_add_cache]


def build_parser():
    """The argparse parser with one sub-command per entry of ``COMMANDS``."""
    parser = argparse.ArgumentParser(prog="nettrain", description="nettrain command line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv=None):
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        return _usage(parser)
    return args.func(args)
