"""Run Lasagne's own test suite with ``theano`` resolved to nettrain (or to a real Theano) and count the results.

Lasagne's code is not part of nettrain: point this script at a checkout
(``git clone https://github.com/Lasagne/Lasagne``, or ``git archive`` of one)::

    python scripts/run_lasagne_tests.py /path/to/Lasagne
    python scripts/run_lasagne_tests.py /path/to/Lasagne --numpy-fix -- -n 2
    # the same suite on Theano 1.0.5 (in a Python 3.9 venv with numpy<1.21), for comparison
    python scripts/run_lasagne_tests.py /path/to/Lasagne --python /tmp/th39/bin/python --real-theano

With nettrain the suite runs through ``python -m nettrain.compat.theano -m
pytest``: nothing named ``theano`` is installed.  It needs ``pytest`` and
``mock``.  Everything after ``--`` goes to pytest (``-k``, ``-n 2``, ``-x``).
A test file that fails to import counts as one error and the rest still run.

``--numpy-fix`` runs a copy of the checkout in which the helpers of
``lasagne/tests/layers/test_conv.py`` index NumPy arrays with a tuple of
slices instead of a list: NumPy 1.23 made list-of-slices indexing an error,
which stops that whole file at collection on the NumPy that nettrain needs
(>= 1.26).  Nothing else is changed, and nothing about ``theano``.

The script prints the pass / fail / error / skip counts and the failing tests,
and exits 0 when none failed.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# NumPy >= 1.23 rejects a list of slices as an index; these are the places in Lasagne's test helpers.
NUMPY_FIXES = [
    ("lasagne/tests/layers/test_conv.py", "output = output[slices]", "output = output[tuple(slices)]"),
    ("lasagne/tests/layers/test_conv.py", "output[[slice(None, None, factor) for factor in factors]] = input",
     "output[tuple(slice(None, None, factor) for factor in factors)] = input"),
]  # fmt: skip


def apply_numpy_fixes(tree):
    """Rewrite the list-of-slices indexing in ``tree`` (a copy); return how many lines changed."""
    changed = 0
    for rel, old, new in NUMPY_FIXES:
        path = os.path.join(tree, rel)
        with open(path) as f:
            text = f.read()
        changed += text.count(old)
        with open(path, "w") as f:
            f.write(text.replace(old, new))
    return changed


def summary_counts(output):
    """``{'passed': n, 'failed': n, ...}`` from pytest's last summary line."""
    lines = [ln for ln in output.splitlines() if re.search(r"\d+ (passed|failed|skipped|error)", ln)]
    if not lines:
        return {}
    found = re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected)", lines[-1])
    return {("errors" if k == "error" else k): int(n) for n, k in found}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout", help="a Lasagne checkout (the folder holding lasagne/)")
    parser.add_argument("--python", default=sys.executable, help="the Python that runs pytest (default: this one)")
    parser.add_argument("--real-theano", action="store_true",
                        help="import the installed theano instead of resolving it to nettrain")  # fmt: skip
    parser.add_argument("--log", help="also write pytest's whole output to this file")
    parser.add_argument("--numpy-fix", action="store_true",
                        help="run a copy with the test helpers' list-of-slices indexing made tuples (NumPy >= 1.23)")
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    args.pytest_args = extra

    checkout = os.path.abspath(args.checkout)
    if not os.path.isdir(os.path.join(checkout, "lasagne", "tests")):
        parser.error("%s has no lasagne/tests folder; give the root of a Lasagne checkout" % checkout)
    tmp = None
    if args.numpy_fix:
        tmp = tempfile.mkdtemp(prefix="lasagne-")
        copy = os.path.join(tmp, "Lasagne")  # the whole checkout: test_examples.py runs the examples/ folder
        shutil.copytree(checkout, copy, ignore=shutil.ignore_patterns(".git"))
        n = apply_numpy_fixes(copy)
        print("numpy fix: %d line(s) of lasagne/tests/layers/test_conv.py changed in a copy at %s" % (n, copy))
        checkout = copy
    try:
        env = dict(os.environ)
        paths = [checkout] + ([] if args.real_theano else [ROOT])
        env["PYTHONPATH"] = os.pathsep.join(paths + [p for p in [env.get("PYTHONPATH")] if p])
        has_w9 = subprocess.run([args.python, "-c", "import pytest; print(hasattr(pytest, 'PytestRemovedIn9Warning'))"],
                                capture_output=True, text=True, env=env).stdout.strip() == "True"  # fmt: skip
        runner = ["-m", "pytest"] if args.real_theano else ["-m", "nettrain.compat.theano", "-m", "pytest"]
        cmd = [args.python, *runner, os.path.join(checkout, "lasagne", "tests"), "-q", "-p", "no:cacheprovider",
               "-rfE", "--tb=line", "--continue-on-collection-errors",
               # Lasagne's setup.cfg asks for pytest-pep8 and pytest-cov; its conftest uses the py.path hook
               # argument that pytest 9 removed (a warning turned error): neither is about theano
               "-o", "addopts="]  # fmt: skip
        cmd += (["-W", "ignore::pytest.PytestRemovedIn9Warning"] if has_w9 else []) + args.pytest_args
        print("running:", " ".join(cmd), flush=True)
        proc = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    out = proc.stdout + proc.stderr
    if args.log:
        with open(args.log, "w") as f:
            f.write(out)
    failing = [ln.split(" ", 1)[1].split(" - ")[0] for ln in out.splitlines() if ln.startswith(("FAILED ", "ERROR "))]
    by_test = Counter(re.sub(r"\[.*", "", t).split("/lasagne/tests/")[-1] for t in failing)
    counts = summary_counts(out)
    if not counts:
        print(out[-4000:])
        print("could not read pytest's summary (exit status %d)" % proc.returncode)
        return 2
    for name, n in sorted(by_test.items(), key=lambda kv: (-kv[1], kv[0])):
        print("  %3d  %s" % (n, name))
    keys = ["passed", "failed", "errors", "skipped"] + sorted(set(counts) - {"passed", "failed", "errors", "skipped"})
    print("lasagne tests: " + ", ".join("%s %d" % (k, counts.get(k, 0)) for k in keys))
    return 0 if not failing else 1


if __name__ == "__main__":
    raise SystemExit(main())
