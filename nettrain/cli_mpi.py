"""``nettrain train`` when an MPI launcher started it: ``mpiexec -n N nettrain train RECIPE``.

The same options as a single-process run, in three phases so that no failure leaves a rank waiting:

1. rank 0 alone decides the run directory and the checkpoint to resume (another rank could see a
   half-made ``version_N``) and sends them to every rank (or its error);
2. every rank loads the recipe, the checkpoint and builds the trainer on its own, then all ranks
   compare outcomes (and rank 0 creates the run directory): if any failed, each exits with the
   failure's status and rank 0 prints it, so a bad value in a recipe stops the job as it does on
   one process, leaving nothing behind;
3. training: an exception on any rank (a bug in a hook, out of memory, a failed checkpoint write)
   prints ``nettrain train: error (rank r of N): ...`` and aborts the whole job (``MPI_Abort``), so the
   other ranks, blocked in a reduction, end within seconds instead of hanging.  A NaN loss stops
   every rank together (the loss is reduced first), as on one process.
"""

import sys
import time

__all__ = ["cmd_train_mpi"]


def _fail_status(exc):
    from .cli import _UsageError
    from .train import ConfigError, RecipeError

    if isinstance(exc, KeyboardInterrupt):
        return 130
    return 2 if isinstance(exc, (_UsageError, RecipeError, ConfigError)) else 1


def _setup_root(args):
    """Phase 1 (rank 0): ``(out, checkpoint path or None)`` (nothing is created yet)."""
    from .cli import _train_paths
    from .train.recipe import load_recipe

    recipe = load_recipe(args.recipe)
    return _train_paths(args, recipe.name)


def _setup(args, out, ckpt_path):
    """Phase 2 (every rank): the trainer, and the checkpoint to resume from."""
    from .train import load_checkpoint
    from .train.distributed import DistributedTrainer
    from .train.recipe import load_recipe, resolve_config

    recipe = load_recipe(args.recipe)
    ckpt = load_checkpoint(ckpt_path) if ckpt_path else None
    from .cli import train_flags

    config = resolve_config(recipe.config, train_flags(args), base=ckpt.config if ckpt else None)
    trainer = DistributedTrainer.from_recipe(recipe, config, out_dir=out, progress=False if args.no_progress else None)
    if ckpt is not None:  # here, so that a checkpoint that does not fit stops every rank cleanly
        trainer.load_checkpoint(ckpt)
    return recipe, trainer, ckpt


def _agree(comm, exc):
    """Every rank's outcome of a setup phase: None if all succeeded, else ``(status, message)`` to report."""
    mine = None if exc is None else (_fail_status(exc), str(exc) or "interrupted")
    everyone = comm.allgather(mine)
    failed = [(r, f) for r, f in enumerate(everyone) if f is not None]
    if not failed:
        return None
    messages = {f[1] for _, f in failed}
    if len(failed) == comm.size and len(messages) == 1:  # the same error everywhere: say it once
        return failed[0][1]
    return max(f[0] for _, f in failed), "; ".join("rank %d: %s" % (r, f[1]) for r, f in failed)


def cmd_train_mpi(args):
    """``nettrain train`` on every rank of an MPI job; returns the exit status (the same on every rank)."""
    from .cli import _error
    from .train.distributed import world

    try:
        comm = world()
    except RuntimeError as exc:
        return _error("train", exc, 2)
    from .configdefaults import config

    if config.blas_threads == 0:  # the default: the machine's cores are shared by the ranks on it
        from .backends.threads import available_cores

        with config.change_flags(blas_threads=max(1, available_cores() // comm.local_size())):
            return _train_ranks(args, comm)
    return _train_ranks(args, comm)


def _train_ranks(args, comm):
    from .cli import _error
    from .train import NonFiniteLossError

    root = comm.rank == 0
    decided, exc = None, None
    if root:
        try:
            decided = _setup_root(args)
        except (Exception, KeyboardInterrupt) as e:  # reported below, after the other ranks learn of it
            exc = e
    decided = comm.bcast((decided, None if exc is None else (_fail_status(exc), str(exc) or "interrupted")), root=0)
    if decided[1] is not None:
        return _error("train", decided[1][1], decided[1][0]) if root else decided[1][0]
    out, ckpt_path = decided[0]
    exc = None
    try:
        recipe, trainer, ckpt = _setup(args, out, ckpt_path)
    except (Exception, KeyboardInterrupt) as e:  # a Ctrl-C too: every rank must reach the agreement below
        exc = e
    failure = _agree(comm, exc)
    if failure is None and root:  # last, so that a failed command leaves no empty directory
        from .cli import _check_writable

        try:
            _check_writable(out)
        except Exception as e:
            failure = (_fail_status(e), str(e))
    failure = comm.bcast(failure, root=0)
    if failure is not None:
        return _error("train", failure[1], failure[0]) if root else failure[0]
    if root:
        from .train.inspection import model_summary

        from .backends.threads import wanted_threads

        n = wanted_threads()
        print("%s %s on %d processes (%s, %d thread%s each) -> %s" % (
            "resuming" if ckpt else "training", recipe.name, comm.size, comm.name, n, "s" if n > 1 else "", out),
            flush=True)  # fmt: skip
        print(model_summary(trainer), flush=True)
    if ckpt is not None and trainer.epoch >= trainer.epochs:
        trainer.message("nothing to train: %d of %d epochs done (raise --epochs to train more)"
                        % (trainer.epoch, trainer.epochs))
    try:
        result = trainer.fit()  # the checkpoint is loaded already
    except NonFiniteLossError as e:  # raised on every rank at the same batch (the loss is reduced)
        return _error("train", e, 1) if root else 1
    except BaseException as e:  # one rank's failure: end every rank now
        from .compile.nanguardmode import NanGuardError

        status = 130 if isinstance(e, KeyboardInterrupt) else _fail_status(e)
        text = "interrupted" if isinstance(e, KeyboardInterrupt) else "%s: %s" % (type(e).__name__, e)
        # the one-line message first: MPI_Abort may end the launcher before it forwards everything
        print("nettrain train: error (rank %d of %d): %s" % (comm.rank, comm.size, text), file=sys.stderr, flush=True)
        if not isinstance(e, (KeyboardInterrupt, SystemExit, NanGuardError)):  # NanGuardError's message is the story
            import traceback

            traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
        sys.stdout.flush()
        time.sleep(0.5)  # let the launcher forward this rank's output before the abort ends every process
        comm.abort(status)
        raise  # only reached by a communicator whose abort returns
    if result["status"] == "interrupted":
        if root:
            print("resume with: mpiexec -n %d nettrain train %s --out %s --resume" % (comm.size, args.recipe, out),
                  flush=True)  # fmt: skip
        return 130
    if root:
        print("checkpoint: %s" % result["checkpoint"], flush=True)
    return 0
