"""Run the DeepLearningTutorials scripts (lisa-lab/DeepLearningTutorials, ``code/``) unchanged.

Usage::

    python scripts/run_dlt.py /path/to/DeepLearningTutorials [--only mlp,dA] [--scale 0.2]
    python scripts/run_dlt.py CHECKOUT --python /tmp/th39/bin/python --theano real   # Theano 1.0.5

The scripts are not copied into nettrain: this program copies the checkout's ``code/`` into a
temporary folder, writes synthetic data sets of the real shapes next to it (``data/mnist.pkl.gz``:
784-pixel images in [0, 1] of 10 classes; ``data/imdb.pkl``: word-id sequences with two classes;
``data/atis.fold3.pkl.gz``: word-id sentences with BIO slot labels; ``data/Nottingham/train/``:
piano rolls, read by a stand-in for the Python-2-only ``midi`` package), so that the scripts find them
where they look by default, and calls each script's own entry point with fewer epochs (arguments
the entry points accept, as the tutorials' own ``code/test.py`` does).  Each script runs in its
own process, in which ``import theano`` resolves to nettrain (``--theano nettrain``, the default)
or to a real Theano (``--theano real``, with ``--python`` an interpreter that has it).

The synthetic data are learnable (each class is a noisy template), so error rates mean
something and can be compared between nettrain and Theano on the same data.  Examples per split
are the real counts times ``--scale`` (MNIST: 50,000 / 10,000 / 10,000).

Needs: numpy, scipy, six, pillow (the tutorials save filter images), perl (rnnslu's scorer).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

# name -> (module, function, keyword arguments): the epochs follow the tutorials' code/test.py
# (rnnslu: 5 epochs, not 1)
SCRIPTS = {
    "logistic_sgd": ("logistic_sgd", "sgd_optimization_mnist", {"n_epochs": 10}),
    "logistic_cg": ("logistic_cg", "cg_optimization_mnist", {"n_epochs": 10}),
    "mlp": ("mlp", "test_mlp", {"n_epochs": 1}),
    "convolutional_mlp": ("convolutional_mlp", "evaluate_lenet5", {"n_epochs": 1, "nkerns": [5, 5]}),
    "dA": ("dA", "test_dA", {"training_epochs": 1, "output_folder": "tmp_dA_plots"}),
    "cA": ("cA", "test_cA", {"training_epochs": 1, "output_folder": "tmp_cA_plots"}),
    "SdA": ("SdA", "test_SdA", {"pretraining_epochs": 1, "training_epochs": 1, "batch_size": 300}),
    "rbm": (
        "rbm",
        "test_rbm",
        {"training_epochs": 1, "batch_size": 300, "n_chains": 1, "n_samples": 1, "n_hidden": 20,
         "output_folder": "tmp_rbm_plots"},
    ),  # fmt: skip
    "DBN": ("DBN", "test_DBN", {"pretraining_epochs": 1, "training_epochs": 1, "batch_size": 300}),
    "hmc": ("hmc.test_hmc", "test_hmc", {}),
    "rnnrbm": ("rnnrbm", "test_rnnrbm", {"num_epochs": 1}),
    "lstm": ("lstm", "train_lstm", {"max_epochs": 1, "test_size": 500, "saveto": "", "validFreq": 100}),
    "rnnslu": (
        "rnnslu",
        "main",
        {"param": {"fold": 3, "data": "atis", "lr": 0.0970806646812754, "verbose": 1, "decay": True, "win": 7,
                   "nhidden": 200, "seed": 345, "emb_dimension": 50, "nepochs": 5, "savemodel": False}},
    ),  # fmt: skip
}

# what each script reports, read from its output (the last match counts)
PATTERNS = [
    ("valid_err_%", r"[Bb]est validation score of ([0-9.]+) %"),
    ("valid_err_%", r"validation error ([0-9.]+) %"),
    ("test_err_%", r"test performance ([0-9.]+) ?%"),
    ("test_err_%", r"test error of best model ([0-9.]+) ?%"),
    ("cost", r"Training epoch \d+, (?:reconstruction )?cost(?: is)? +([-0-9.e+]+)"),
    ("cost", r"Pre-training layer \d+, epoch \d+, cost ([-0-9.e+]+)"),
    ("lstm_train_valid_test_err", r"Train\s+([0-9.]+)\s+Valid\s+([0-9.]+)\s+Test\s+([0-9.]+)"),
    ("valid_F1", r"valid F1 ([0-9.]+)"),
    ("test_F1", r"best test F1 ([0-9.]+)"),
    ("acceptance_rate", r"final acceptance_rate ([0-9.]+)"),
    ("cost", r"Epoch 1/1\n([-0-9.e+]+)"),
]


# ------------------------------------------------------------------ synthetic data (Python 3.6+, NumPy 1.x/2.x)
def _mnist(n_train, n_valid, n_test, seed=1234):
    import numpy as np

    rng = np.random.RandomState(seed)

    def blur(t):
        for _ in range(2):
            t = (t + np.roll(t, 1, -1) + np.roll(t, 1, -2)) / 2.0
        return np.clip(t, 0, 1)

    # ten "digits": blurred random strokes, 40% shared by all classes (so they overlap);
    # an example is its class's template plus noise, shifted by up to 2 pixels each way.
    # A linear least-squares classifier gets about 10% wrong, a little above real MNIST's 7.5%.
    base = blur((rng.rand(28, 28) < 0.12).astype("float64"))
    own = blur((rng.rand(10, 28, 28) < 0.12).astype("float64"))
    templates = 0.4 * base + 0.6 * own

    def split(n):
        y = rng.randint(0, 10, size=n)
        x = templates[y] + 0.5 * rng.randn(n, 28, 28)
        for axis in (1, 2):
            shift = rng.randint(-2, 3, size=n)
            for v in (-2, -1, 1, 2):
                x[shift == v] = np.roll(x[shift == v], v, axis=axis)
        return np.clip(x, 0, 1).reshape(n, 784).astype("float32"), y.astype("int64")

    return split(n_train), split(n_valid), split(n_test)


def _imdb(n_train, n_test, n_words=10000, seed=1234):
    import numpy as np

    rng = np.random.RandomState(seed)
    good, bad = rng.choice(np.arange(2, 2000), 100, replace=False), rng.choice(np.arange(2000, 4000), 100, False)

    def split(n):
        xs, ys = [], []
        for _ in range(n):
            y = int(rng.randint(0, 2))
            length = int(rng.randint(10, 120))
            seq = rng.randint(2, n_words, size=length)
            k = max(1, length // 8)
            seq[rng.choice(length, k, replace=False)] = rng.choice(good if y else bad, k)
            xs.append([int(v) for v in seq])
            ys.append(y)
        return xs, ys

    return split(n_train), split(n_test)


def _atis(n_train, n_valid, n_test, seed=1234):
    import numpy as np

    rng = np.random.RandomState(seed)
    words = ["w%d" % i for i in range(570)]
    slots = ["city", "day", "airline", "time", "class"]
    labels = ["O"] + ["%s-%s" % (b, s) for s in slots for b in ("B", "I")]
    words2idx = {w: i for i, w in enumerate(words)}
    labels2idx = {lab: i for i, lab in enumerate(labels)}
    # words 10 * j .. 10 * j + 9 name slot j; 500.. are filler.  (With these, rnnslu still
    # predicts only 'O' after 5 epochs, F1 0, with Theano 1.0.5 as with nettrain.)
    def split(n):
        lex, ne, ys = [], [], []
        for _ in range(n):
            length = int(rng.randint(5, 20))
            w = rng.randint(500, 570, size=length)
            y = np.zeros(length, dtype="int32")
            pos = 0
            while pos < length - 2:
                if rng.rand() < 0.3:
                    j = int(rng.randint(0, len(slots)))
                    span = int(rng.randint(1, 3))
                    w[pos : pos + span] = rng.randint(10 * j, 10 * j + 10, size=span)
                    y[pos] = labels2idx["B-" + slots[j]]
                    y[pos + 1 : pos + span] = labels2idx["I-" + slots[j]]
                    pos += span
                pos += 1
            lex.append(w.astype("int32"))
            ne.append(np.zeros(length, dtype="int32"))
            ys.append(y)
        return lex, ne, ys

    dicts = {"words2idx": words2idx, "labels2idx": labels2idx, "tables2idx": {}}
    return split(n_train), split(n_valid), split(n_test), dicts


def _piano_rolls(n, seed=1234):
    """Nottingham-like piano rolls (time steps x 88 notes, 0/1): a few held chords, repeated, with noise."""
    import numpy as np

    rng = np.random.RandomState(seed)
    rolls = []
    for _ in range(n):
        length = int(rng.randint(100, 400))
        chords = [rng.choice(np.arange(20, 60), 3, replace=False) for _ in range(4)]
        melody = rng.randint(40, 80, size=length)
        roll = np.zeros((length, 88), dtype="float64")
        for t in range(length):
            roll[t, chords[(t // 8) % 4]] = 1
            roll[t, melody[t - t % 2]] = 1
        roll[rng.rand(length, 88) < 0.005] = 1
        rolls.append(roll)
    return rolls


# The Nottingham files are MIDI, read by the Python-2-only ``midi`` package; the synthetic rolls
# are written as .npy under .mid names, and this stand-in for ``midi.utils`` reads them.
MIDI_SHIM = """
import numpy


class _Roll(object):
    def __init__(self, roll):
        self.piano_roll = roll


def midiread(filename, r=(21, 109), dt=0.2):
    with open(filename, "rb") as f:
        return _Roll(numpy.load(f)[:, : r[1] - r[0]])


def midiwrite(filename, piano_roll, r=(21, 109), dt=0.2):
    with open(filename, "wb") as f:
        numpy.save(f, numpy.asarray(piano_roll))
"""


def write_data(data_dir, scale):
    """The three data sets, pickled by the interpreter that will read them (NumPy pickles are not portable)."""
    import gzip
    import pickle

    os.makedirs(data_dir, exist_ok=True)
    s = lambda n: max(int(n * scale), 50)  # noqa: E731
    path = os.path.join(data_dir, "mnist.pkl.gz")
    if not os.path.exists(path):
        with gzip.open(path, "wb") as f:
            pickle.dump(_mnist(s(50000), s(10000), s(10000)), f, protocol=2)
    path = os.path.join(data_dir, "imdb.pkl")
    if not os.path.exists(path):
        train, test = _imdb(s(25000), s(25000))
        with open(path, "wb") as f:
            pickle.dump(train, f, protocol=2)
            pickle.dump(test, f, protocol=2)
    folder = os.path.join(data_dir, "Nottingham", "train")
    if not os.path.isdir(folder):
        import numpy as np

        os.makedirs(folder)
        for k, roll in enumerate(_piano_rolls(s(694))):
            with open(os.path.join(folder, "tune%03d.mid" % k), "wb") as f:
                np.save(f, roll)
    shim = os.path.join(os.path.dirname(data_dir), "shim", "midi")
    if not os.path.isdir(shim):
        os.makedirs(shim)
        open(os.path.join(shim, "__init__.py"), "w").close()
        with open(os.path.join(shim, "utils.py"), "w") as f:
            f.write(MIDI_SHIM)
    path = os.path.join(data_dir, "atis.fold3.pkl.gz")
    if not os.path.exists(path):
        with gzip.open(path, "wb") as f:
            pickle.dump(_atis(s(3983), s(995), s(893)), f, protocol=2)


# ------------------------------------------------------------------ theano -> nettrain
def alias_theano():
    """Make ``import theano`` (and ``theano.<sub>.<module>``) give nettrain's modules.

    When nettrain ships its own runner (``nettrain.compat.theano``), that is used instead.
    """
    import importlib
    import importlib.abc
    import importlib.util

    try:
        compat = importlib.import_module("nettrain.compat.theano")
    except ImportError:
        compat = None
    for name in ("install", "install_alias", "alias"):
        if compat is not None and callable(getattr(compat, name, None)):
            getattr(compat, name)()
            return "nettrain.compat.theano.%s" % name

    class TheanoAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        """``theano.X`` is ``nettrain.X`` (the same module object), for every X nettrain has."""

        def find_spec(self, fullname, path, target=None):
            if fullname != "theano" and not fullname.startswith("theano."):
                return None
            real = "nettrain" + fullname[len("theano") :]
            try:
                if importlib.util.find_spec(real) is None:
                    return None
            except ImportError:
                return None
            return importlib.util.spec_from_loader(fullname, self)

        def create_module(self, spec):
            return importlib.import_module("nettrain" + spec.name[len("theano") :])

        def exec_module(self, module):
            pass

    sys.meta_path.insert(0, TheanoAlias())
    return "scripts/run_dlt.py alias"


# ------------------------------------------------------------------ one script, in a child process
def child(name, root, scale, theano_kind):
    write_data(os.path.join(root, "data"), scale)
    how = alias_theano() if theano_kind == "nettrain" else "real theano"
    import theano

    print("theano is %s (%s)" % (theano.__file__, how), flush=True)
    sys.path.insert(0, os.path.join(root, "code"))
    sys.path.insert(1, os.path.join(root, "shim"))  # midi.utils for rnnrbm
    mod_name, fn_name, kwargs = SCRIPTS[name]
    import importlib

    mod = importlib.import_module(mod_name)
    res = getattr(mod, fn_name)(**kwargs)
    if name == "hmc":
        # test_hmc asserts on the sampler; report its numbers as well
        print("hmc: test_hmc's assertions passed")
    return res


def parse(out):
    found = {}
    for key, pat in PATTERNS:
        hits = re.findall(pat, out)
        if hits and key not in found:
            found[key] = hits[-1]
    # lstm's final report re-reads its validation/test minibatch lists, which are one-shot zip
    # iterators on Python 3 (so it says 1.0 whatever the model); its last report during training counts
    lstm = re.findall(dict(PATTERNS)["lstm_train_valid_test_err"], out)
    if len(lstm) > 1:
        found["lstm_train_valid_test_err"] = lstm[-2]
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkout", nargs="?", help="a DeepLearningTutorials checkout (with code/)")
    ap.add_argument("--only", default="", help="comma-separated script names (default: all): " + ",".join(SCRIPTS))
    ap.add_argument("--scale", type=float, default=0.2, help="examples per split, as a fraction of the real counts")
    ap.add_argument("--theano", choices=("nettrain", "real"), default="nettrain")
    ap.add_argument("--python", default=sys.executable, help="the interpreter that runs the scripts")
    ap.add_argument("--floatX", default="float32", choices=("float32", "float64"))
    ap.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads (unless set in the environment)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per script")
    ap.add_argument("--workdir", default=None, help="where to put the copy and the data (default: a temp dir)")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        child(args.child, args.workdir, args.scale, args.theano)
        return 0
    if not args.checkout or not os.path.isdir(os.path.join(args.checkout, "code")):
        ap.error("give the path of a DeepLearningTutorials checkout (a folder with code/)")
    names = [n for n in args.only.split(",") if n] or list(SCRIPTS)
    unknown = [n for n in names if n not in SCRIPTS]
    if unknown:
        ap.error("unknown script(s) %s; known: %s" % (", ".join(unknown), ", ".join(SCRIPTS)))

    root = args.workdir or tempfile.mkdtemp(prefix="dlt_%s_" % args.theano)
    code = os.path.join(root, "code")
    if not os.path.isdir(code):
        shutil.copytree(os.path.join(args.checkout, "code"), code)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([REPO] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    if args.theano == "real":
        env["PYTHONPATH"] = ""  # the real theano must not find nettrain's alias
        env["THEANO_FLAGS"] = ",".join(filter(None, [env.get("THEANO_FLAGS", ""), "floatX=" + args.floatX]))
    else:
        env["NETTRAIN_FLAGS"] = ",".join(filter(None, [env.get("NETTRAIN_FLAGS", ""), "floatX=" + args.floatX]))
    # one BLAS/OpenMP thread unless told otherwise: on a busy machine OpenBLAS's spinning threads
    # make a 16x128 @ 128x512 product 20x slower (and the comparison would measure the load)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, str(args.threads))
    results = {}
    for name in names:
        run_dir = os.path.join(root, "run", name)
        os.makedirs(run_dir, exist_ok=True)
        cmd = [args.python, os.path.abspath(__file__), "--child", name, "--workdir", root, "--scale", str(args.scale),
               "--theano", args.theano]  # fmt: skip
        t0 = time.time()
        try:
            p = subprocess.run(cmd, cwd=run_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=args.timeout)  # fmt: skip
            out, rc = p.stdout.decode("utf-8", "replace"), p.returncode
        except subprocess.TimeoutExpired as e:
            out, rc = (e.stdout or b"").decode("utf-8", "replace") + "\nTIMEOUT", -1
        secs = time.time() - t0
        with open(os.path.join(run_dir, "output.txt"), "w") as f:
            f.write(out)
        res = {"ok": rc == 0, "seconds": round(secs, 1), **parse(out)}
        if rc != 0:
            tail = [ln for ln in out.strip().splitlines() if ln.strip()][-3:]
            res["error"] = " | ".join(tail)
        results[name] = res
        print("%-18s %-4s %6.0fs  %s" % (name, "ok" if rc == 0 else "FAIL", secs,
                                         json.dumps({k: v for k, v in res.items() if k not in ("ok", "seconds")})),
              flush=True)  # fmt: skip
    print("%d of %d scripts ran to the end (theano: %s, outputs in %s)" % (
        sum(r["ok"] for r in results.values()), len(results), args.theano, os.path.join(root, "run")))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"theano": args.theano, "scale": args.scale, "floatX": args.floatX, "results": results}, f,
                      indent=1)  # fmt: skip
    return 0 if all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
