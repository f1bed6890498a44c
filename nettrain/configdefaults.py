"""Configuration: ``nettrain.config.floatX = 'float32'`` works as in Theano.

Values come from defaults, then ``THEANO_FLAGS``, then ``NETTRAIN_FLAGS``
(``name=value,name2=value2``), then run-time assignment.  Every option is
validated when set, so a typo fails at once with the list of valid names.
"""

import contextlib
import os


class _Option:
    def __init__(self, name, default, doc, check=None, choices=None):
        self.name = name
        self.default = default
        self.doc = doc
        self.check = check
        self.choices = choices

    def convert(self, value):
        if self.choices is not None:
            v = str(value)
            if v not in self.choices:
                raise ValueError(
                    "config.%s must be one of %s, got %r" % (self.name, ", ".join(map(repr, self.choices)), value)
                )
            return v
        if self.check is not None:
            return self.check(self.name, value)
        return value


def _bool(name, v):
    if isinstance(v, str):
        low = v.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off", ""):
            return False
        raise ValueError("config.%s must be a boolean, got %r" % (name, v))
    return bool(v)


def _str(name, v):
    return str(v)


def _int(name, v):
    try:
        return int(v)
    except (TypeError, ValueError):
        raise ValueError("config.%s must be an integer, got %r" % (name, v)) from None


def _nonneg_int(name, v):
    v = _int(name, v)
    if v < 0:
        raise ValueError("config.%s must be >= 0 (0: automatic), got %d" % (name, v))
    return v


def _default_base_compiledir():
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "nettrain")


class Config:
    """Attribute-style configuration with validation and ``change_flags``."""

    def __init__(self):
        object.__setattr__(self, "_options", {})
        object.__setattr__(self, "_values", {})

    def add(self, name, default, doc, check=None, choices=None):
        opt = _Option(name, default, doc, check, choices)
        self._options[name] = opt
        self._values[name] = opt.convert(default) if not callable(default) else default

    def __getattr__(self, name):
        values = object.__getattribute__(self, "_values")
        if name in values:
            v = values[name]
            if callable(v):
                v = v(self)
            return v
        if any(k.startswith(name + "__") for k in values):
            return _Section(self, name)
        raise AttributeError("nettrain.config has no option %r; known options: %s" % (name, ", ".join(sorted(values))))

    def __setattr__(self, name, value):
        if name not in self._options:
            raise AttributeError(
                "nettrain.config has no option %r; known options: %s" % (name, ", ".join(sorted(self._options)))
            )
        self._values[name] = self._options[name].convert(value)

    def __dir__(self):
        return sorted(self._options)

    @contextlib.contextmanager
    def _change(self, **kwargs):
        old = {k: self._values[k] for k in kwargs if k in self._options}
        try:
            for k, v in kwargs.items():
                setattr(self, k, v)
            yield self
        finally:
            self._values.update(old)

    def change_flags(self, *args, **kwargs):
        """Temporarily set options; a context manager and a decorator.

        Examples
        --------
        >>> import nettrain
        >>> with nettrain.config.change_flags(floatX='float32'):
        ...     nettrain.config.floatX
        'float32'
        """
        if args:
            kwargs = dict(args[0], **kwargs)
        cfg = self

        class _Ctx(contextlib.ContextDecorator):
            def __enter__(self_inner):
                self_inner._cm = cfg._change(**kwargs)
                return self_inner._cm.__enter__()

            def __exit__(self_inner, *exc):
                return self_inner._cm.__exit__(*exc)

        return _Ctx()

    def parse_flags(self, text, source):
        for item in text.split(","):
            item = item.strip()
            if not item:
                continue
            if "=" not in item:
                raise ValueError("%s: expected name=value, got %r" % (source, item))
            k, v = item.split("=", 1)
            k = k.strip().replace(".", "__")
            if k not in self._options:
                raise ValueError(
                    "%s: unknown option %r; known options: %s" % (source, k, ", ".join(sorted(self._options)))
                )
            setattr(self, k, v.strip())

    def describe(self):
        """One line per option: name, value, doc."""
        return "\n".join("%s = %r  # %s" % (n, getattr(self, n), o.doc) for n, o in sorted(self._options.items()))


class _Section:
    """``config.warn.round``: Theano's dotted option names (stored as ``warn__round``)."""

    def __init__(self, cfg, prefix):
        object.__setattr__(self, "_cfg", cfg)
        object.__setattr__(self, "_prefix", prefix + "__")

    def __getattr__(self, name):
        return getattr(self._cfg, self._prefix + name)

    def __setattr__(self, name, value):
        setattr(self._cfg, self._prefix + name, value)

    def __dir__(self):
        return sorted(k[len(self._prefix) :] for k in dir(self._cfg) if k.startswith(self._prefix))


def _device(v):
    v = str(v)
    if v == "cpu" or v == "cuda" or v.startswith("cuda") or v.startswith("gpu"):
        return v
    raise ValueError("config.device must be 'cpu' or 'cuda' (optionally 'cudaN'), got %r" % (v,))


config = Config()
config.add(
    "floatX",
    "float64",
    "default float dtype of constructors and Python floats",
    choices=("float64", "float32", "float16"),
)
config.add("device", "cpu", "where float32 shared variables and kernels live", check=lambda n, v: _device(v))
config.add("nvcc", "nvcc", "the CUDA compiler (else $CUDA_HOME/bin/nvcc)", check=_str)
config.add("cuda_arch", "", "GPU architecture to build for (e.g. sm_90); empty: the device's own", check=_str)
config.add(
    "cuda_runtime",
    "auto",
    "how device=cuda runs kernels: pycuda, driver (the CUDA driver API through cffi: no pycuda needed), auto "
    "(pycuda where installed, else driver) or the emulator (CUDA source compiled for the CPU, for tests; "
    "emulator-threads runs real block sizes, one OS thread per CUDA thread)",
    choices=("auto", "pycuda", "driver", "emulator", "emulator-threads"),
)
config.add(
    "mode",
    "FAST_RUN",
    "default compile mode",
    choices=("FAST_RUN", "FAST_COMPILE", "DebugMode", "NanGuardMode", "Mode"),
)
config.add(
    "linker",
    "auto",
    "backend linker: auto (C when a compiler works), py, c, cuda",
    choices=("auto", "py", "c", "cvm", "c|py", "vm", "cuda"),
)
config.add(
    "optimizer",
    "fast_run",
    "rewrite level",
    choices=("fast_run", "fast_compile", "merge", "None", "o1", "o2", "o3", "o4"),
)
config.add("optimizer_excluding", "", "':'-separated rewrite names/tags to skip", check=_str)
config.add("optimizer_including", "", "':'-separated rewrite names/tags to add", check=_str)
config.add("optimizer_verbose", False, "print every rewrite that fires", check=_bool)
config.add("base_compiledir", lambda c: _default_base_compiledir(), "root of the compile cache", check=_str)
config.add("compiledir", lambda c: os.path.join(c.base_compiledir, "compiledir"), "compile cache directory", check=_str)
config.add("exception_verbosity", "low", "detail of run-time error messages", choices=("low", "high"))
config.add(
    "on_unused_input", "raise", "what to do when a function input is unused", choices=("raise", "warn", "ignore")
)
config.add("allow_gc", True, "free intermediate results after their last use", check=_bool)
config.add(
    "compute_test_value",
    "off",
    "compute test values (var.tag.test_value) as the graph is built, so errors point at the building line",
    choices=("off", "ignore", "warn", "raise", "pdb"),
)
config.add("warn_float64", "ignore", "report float64 variables created", choices=("ignore", "warn", "raise", "pdb"))
def _cast_policy(name, v):
    if str(v) == "custom":
        raise NotImplementedError(
            "config.cast_policy='custom' (Theano's own casting rules) is not implemented: nettrain follows NumPy 2 "
            "promotion with Python floats as floatX ('numpy+floatX'); cast explicitly with T.cast(x, dtype)"
        )
    if str(v) != "numpy+floatX":
        raise ValueError("config.cast_policy must be 'numpy+floatX', got %r" % (v,))
    return str(v)


config.add(
    "cast_policy",
    "numpy+floatX",
    "dtype rules: NumPy 2 promotion; Python floats alone give floatX",
    check=_cast_policy,
)
config.add("profile", False, "profile compiled functions", check=_bool)
config.add("cxx", "gcc", "C compiler used by the C backend ('' disables it)", check=_str)
config.add("openmp", True, "use OpenMP threads in large C loops", check=_bool)
config.add(
    "blas_threads",
    0,
    "threads of BLAS and of the C kernels' OpenMP loops; 0: the cores available to the process (affinity and "
    "cgroup quota)",
    check=lambda n, v: _nonneg_int(n, v),
)
config.add("deterministic", "default", "prefer deterministic kernels", choices=("default", "more"))
config.add("print_global_stats", False, "print global statistics at exit", check=_bool)
# Theano's warn.* flags switch off warnings about results that old Theano versions got wrong;
# nettrain never had those bugs, so it has nothing to warn about whatever they say.
for _bug in ("argmax_pushdown_bug", "gpusum_01_011_0111_bug", "sum_sum_bug", "sum_div_dimshuffle_bug",
             "subtensor_merge_bug", "gpu_set_subtensor1", "vm_gc_bug", "signal_conv2d_interface", "reduce_join",
             "inc_set_subtensor1", "round", "inc_subtensor1_opt"):  # fmt: skip
    config.add("warn__" + _bug, False, "Theano's warn.%s (no such bug here: never warns)" % _bug, check=_bool)
config.add("warn__ignore_bug_before", "0.9", "Theano's warn.ignore_bug_before (no old bugs here)", check=_str)


for _var in ("THEANO_FLAGS", "NETTRAIN_FLAGS"):
    if os.environ.get(_var):
        config.parse_flags(os.environ[_var], _var)

change_flags = config.change_flags


#: What every option changes (``tests/test_config_effects.py`` shows each effect; keep one entry per
#: option: an option that changes nothing is not accepted, it raises NotImplementedError naming what to use).
EFFECTS = {
    "floatX": "dtype of Python floats, T.scalar()/T.matrix() and shared float constructors",
    "device": "'cuda' runs functions on the CUDA linker (kernels on the GPU or the emulator)",
    "nvcc": "the nvcc executable the CUDA runtimes build kernels with (nvcc_path())",
    "cuda_arch": "the -arch of kernels built by the pycuda and driver runtimes (GPU only)",
    "cuda_runtime": "which runtime runs device kernels: pycuda, driver or the emulator",
    "mode": "the default mode of function(): FAST_RUN, FAST_COMPILE, Mode, DebugMode, NanGuardMode",
    "linker": "the backend of function(): py, c (cvm, c|py, auto: C when a compiler works), cuda",
    "optimizer": "the rewrite level of the default mode (None: no rewrites)",
    "optimizer_excluding": "rewrites (names or tags) skipped by every mode",
    "optimizer_including": "rewrites (names or tags) added to every mode",
    "optimizer_verbose": "print every rewrite that fires",
    "base_compiledir": "root of the compile cache (compiledir defaults to <base_compiledir>/compiledir)",
    "compiledir": "where compiled C and CUDA libraries are cached",
    "exception_verbosity": "'high' adds input statistics and the node's graph to run-time errors",
    "on_unused_input": "function() with an unused input: raise, warn or ignore",
    "allow_gc": "free intermediate results after their last reader during a call",
    "compute_test_value": "compute tag.test_value while the graph is built (off, ignore, warn, raise, pdb)",
    "warn_float64": "warn, raise or enter pdb when an op makes a float64 output",
    "cast_policy": "'numpy+floatX' (the only policy; 'custom' raises NotImplementedError)",
    "profile": "profile every compiled function; summaries printed at exit",
    "cxx": "the C compiler of the C backend and the emulator ('' disables C: the py linker runs)",
    "openmp": "build C kernels with OpenMP threads",
    "blas_threads": "threads of BLAS and of the C kernels' OpenMP loops, applied when a function is compiled",
    "deterministic": "'more': CUDA scatters with device indices use the sorted kernel, not atomicAdd",
    "print_global_stats": "print compile and profile totals at exit",
}
# Theano's warn.* flags: documented as having no effect (nettrain never had the bugs they warn about)
_NO_BUG = "no effect: Theano's warning about a bug of old Theano versions that nettrain never had (accepted so " \
    "that programs setting it run)"
EFFECTS.update({name: _NO_BUG for name in dir(config) if name.startswith("warn__")})
