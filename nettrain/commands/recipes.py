"""``nettrain recipes``: the bundled recipes, one line each (name and description)."""

__all__ = ["add"]


def add(sub):
    p = sub.add_parser("recipes", help="list the bundled recipes (nettrain train NAME runs one)",
                       description="List the recipes installed with nettrain; `nettrain train NAME` trains one, "
                                   "`nettrain recipes --path NAME` prints its file (copy it to make your own).")
    p.add_argument("--path", metavar="NAME", help="print the file of the recipe NAME")
    p.set_defaults(func=run)


def run(args):
    from ..recipes import available, describe, recipe_path
    from . import error

    if args.path:
        path = recipe_path(args.path)
        if path is None:
            return error("recipes", "no bundled recipe named %r (bundled: %s)" % (args.path, ", ".join(available())),
                         2)
        print(path)
        return 0
    names = available()
    width = max(map(len, names))
    for name in names:
        print("%-*s  %s" % (width, name, describe(recipe_path(name))))
    return 0
