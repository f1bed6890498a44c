"""Training under the inspection tools: ``nan_guard`` and ``profile`` settings of the Trainer.

``nan_guard=True`` compiles the training step(s) under
:class:`~nettrain.compile.nanguardmode.NanGuardMode` (the first NaN/Inf names
its node and the line of the model code that built it); ``profile=True``
profiles the training and evaluation steps and, at the end of training,
writes ``profile.txt`` into the run directory and the totals to TensorBoard
(``profile/<step function>/<figure>``).  Every run with a run directory also
writes its compiled training step to TensorBoard's Graphs tab.
"""

import os

from .hooks import Hook


def step_options(settings, train=True):
    """``function`` keyword arguments for a train (or eval) step under the trainer ``settings``."""
    opts = {}
    if settings.get("nan_guard") and train:
        from ..compile.nanguardmode import NanGuardMode

        opts["mode"] = NanGuardMode()
    if settings.get("profile"):
        opts["profile"] = True
    return opts


def model_summary(trainer):
    """The model's summary table for the shape and dtype of the trainer's data."""
    import numpy as np

    from ..layers.summary import summary

    x = np.asarray(trainer.loader.dataset[np.arange(1)][0])
    return summary(trainer.model, x.shape[1:], x.dtype.name)


class GraphToTensorBoard(Hook):
    """The compiled training step in TensorBoard's Graphs tab (written once, when a run starts)."""

    order = 60  # after TensorBoard (50) made its writer

    def on_train_begin(self, trainer):
        from .tbgraph import write_graph

        tb = next((h for h in trainer.hooks if type(h).__name__ == "TensorBoard"), None)
        step = getattr(trainer, "_grad_fn", None) or trainer._train_fn  # the MPI trainer's compiled step is _grad_fn
        if tb is not None and tb.logger is not None and step is not None and not trainer.resumed_from:
            write_graph(tb.logger, step)


class ProfileReport(Hook):
    """At the end of training: ``profile.txt`` (every step function's summary and a global one), and the
    totals as TensorBoard scalars when the TensorBoard hook runs."""

    order = 40  # before TensorBoard closes its writer (close() comes after every on_train_end)

    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.path = None

    def functions(self, trainer):
        fns = [getattr(trainer, a, None) for a in ("_train_fn", "_grad_fn", "_apply_fn", "_eval_fn")]
        return [f for f in fns if f is not None and getattr(f, "profile", None) is not None]

    def report(self, trainer):
        from ..compile.profiling import global_report

        fns = self.functions(trainer)
        parts = [f.profile.report() for f in fns if f.profile.calls]
        parts.append(global_report([f.profile for f in fns]))
        return "\n\n".join(parts) + "\n"

    def on_train_end(self, trainer):
        text = self.report(trainer)
        if self.out_dir is None:
            trainer.message(text)
            return
        os.makedirs(self.out_dir, exist_ok=True)
        self.path = os.path.join(self.out_dir, "profile.txt")
        with open(self.path, "w") as fh:
            fh.write(text)
        trainer.message("profile written to %s" % self.path)
        tb = next((h for h in trainer.hooks if type(h).__name__ == "TensorBoard"), None)
        if tb is not None and tb.logger is not None:
            for f in self.functions(trainer):
                for key, value in f.profile.totals().items():
                    tb.logger.scalar("profile/%s/%s" % (f.name, key), float(value), trainer.step)
            tb.logger.text("profile", "```\n%s```" % text, trainer.step)
