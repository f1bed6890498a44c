"""Compile modes: which rewrites run and which linker builds the function."""

import copy

from ..configdefaults import config


_LEVELS = (None, "fast_run", "fast_compile", "merge", "o1", "o2", "o3", "o4")


class Mode:
    """A rewrite level plus a linker.

    Parameters
    ----------
    linker : str or None
        'py' (the reference), 'c', 'cuda' or 'auto' (``config.linker``).
    optimizer : str or None
        'fast_run', 'fast_compile', 'merge' or None (no rewrites).

    Examples
    --------
    >>> import nettrain as theano
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> f = theano.function([x], x + 0, mode=theano.Mode(optimizer=None))
    """

    def __init__(self, linker=None, optimizer="default", including=(), excluding=(), name=None):
        self.linker = linker if linker is not None else config.linker
        if optimizer == "default":
            optimizer = config.optimizer
        if optimizer == "None":
            optimizer = None
        if optimizer not in _LEVELS:
            # an unknown level would silently run no rewrite at all
            raise ValueError("Mode: unknown optimizer %r; use one of %s" % (optimizer, _LEVELS))
        self.optimizer = optimizer
        self.include = tuple(including)
        self.exclude = tuple(excluding)
        self.name = name

    def including(self, *tags):
        """A copy of this mode that also runs the rewrites named or tagged ``tags``."""
        new = copy.copy(self)  # a copy keeps the subclass (NanGuardMode, DebugMode) and its settings
        new.include = self.include + tags
        return new

    def excluding(self, *tags):
        """A copy of this mode without the rewrites named or tagged ``tags``."""
        new = copy.copy(self)
        new.exclude = self.exclude + tags
        return new

    def node_wrapper(self, fgraph, linker):
        """``wrap(step, runner) -> runner`` applied to every node when linking, or None.

        Plain modes wrap nothing; NanGuardMode checks outputs, DebugMode compares backends.
        """
        return None

    def wrap_run(self, function, run):
        """The whole-call runner of ``function`` (DebugMode adds its graph-level checks); plain: ``run``."""
        return run

    def optimize(self, fgraph):
        """Rewrite ``fgraph`` in place according to this mode."""
        try:
            from ..graph.rewriting import rewrite_graph
        except ImportError:  # the rewrite pipeline is optional at this layer
            return fgraph
        extra_ex = tuple(t for t in config.optimizer_excluding.split(":") if t)
        extra_in = tuple(t for t in config.optimizer_including.split(":") if t)
        return rewrite_graph(fgraph, self.optimizer, self.include + extra_in, self.exclude + extra_ex)

    def get_linker(self):
        from ..backends import get_linker

        return get_linker(self.linker)

    def __getstate__(self):
        return dict(self.__dict__)

    def __setstate__(self, d):
        self.__dict__.update(d)

    def __repr__(self):
        return "Mode(linker=%r, optimizer=%r)" % (self.linker, self.optimizer)


def _predefined(name):
    if name == "FAST_RUN":
        return Mode(optimizer="fast_run", name=name)
    if name == "FAST_COMPILE":
        return Mode(linker="py", optimizer="fast_compile", name=name)
    if name == "Mode":
        return Mode(name=name)
    if name == "DebugMode":
        from .debugmode import DebugMode

        return DebugMode()
    if name == "NanGuardMode":
        from .nanguardmode import NanGuardMode

        return NanGuardMode()
    raise ValueError("unknown mode %r; use one of %s or a Mode instance" % (name, ", ".join(MODE_NAMES)))


#: every mode name ``function(mode=...)`` and ``config.mode`` accept
MODE_NAMES = ("FAST_RUN", "FAST_COMPILE", "Mode", "DebugMode", "NanGuardMode")


def get_mode(mode):
    """Resolve ``mode`` (None, a name or a Mode) to a Mode instance."""
    if mode is None:
        if config.mode == "FAST_RUN":
            # the default mode follows config.optimizer, as Theano's default 'Mode' did
            # (THEANO_FLAGS=optimizer=None turns rewrites off); an explicit 'FAST_RUN' does not
            return Mode(optimizer=config.optimizer, name="FAST_RUN")
        mode = config.mode
    if isinstance(mode, Mode):
        return mode
    if isinstance(mode, str):
        return _predefined(mode)
    raise TypeError("mode must be a string or a Mode, got %r" % (mode,))


def get_default_mode():
    """The mode ``function`` uses when given none (``config.mode`` and ``config.optimizer``)."""
    return get_mode(None)


FAST_RUN = "FAST_RUN"
FAST_COMPILE = "FAST_COMPILE"
