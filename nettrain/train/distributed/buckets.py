"""Gradient buckets: the gradients of many parameters packed into a few contiguous flat buffers.

One ``Allreduce`` per bucket instead of one per parameter: each call has a fixed latency (a few
microseconds on shared memory, tens on a network), which dominates for the many small tensors
(biases, norms) of a model.  Buckets hold parameters of one dtype, in model order, each bucket up
to ``bucket_bytes`` (a parameter larger than that gets a bucket of its own).

The packing and unpacking are graph expressions (a ``concatenate`` of flattened gradients, and
slices reshaped back), so they run inside the compiled functions: the gradient function's outputs
are the buckets themselves, ready to be reduced in place.
"""

from dataclasses import dataclass, field

import numpy as np

from ...tensor.basic import cast
from ...tensor.join import concatenate

__all__ = ["Bucket", "plan_buckets", "pack", "unpack", "BucketSlice"]


@dataclass
class Bucket:
    """``entries``: ``(name, offset, shape)`` of each parameter, in order; ``size`` in elements."""

    dtype: np.dtype
    entries: list = field(default_factory=list)
    size: int = 0

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize


def plan_buckets(shapes, bucket_bytes):
    """Buckets for ``{name: (shape, dtype)}`` (model order kept; one dtype per bucket).

    Examples
    --------
    >>> from nettrain.train.distributed.buckets import plan_buckets
    >>> bs = plan_buckets({"a": ((4, 4), "float32"), "b": ((4,), "float32"), "c": ((100,), "float32")}, 80)
    >>> [[e[0] for e in b.entries] for b in bs], [b.size for b in bs]
    ([['a', 'b'], ['c']], [20, 100])
    """
    if not bucket_bytes > 0:
        raise ValueError("the bucket size must be positive, got %r bytes" % (bucket_bytes,))
    open_buckets, done = {}, []
    for name, (shape, dtype) in shapes.items():
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError("cannot all-reduce the gradient of %s: dtype %s is not floating point" % (name, dtype))
        size = int(np.prod(shape, dtype=np.int64))
        b = open_buckets.get(dtype)
        if b is not None and b.size and (b.size + size) * dtype.itemsize > bucket_bytes:
            done.append(b)
            b = None
        if b is None:
            b = open_buckets[dtype] = Bucket(dtype)
        b.entries.append((name, b.size, tuple(shape)))
        b.size += size
    done += [b for b in open_buckets.values() if b.size]
    return done


def pack(bucket, grads):
    """The flat gradient of ``bucket``: ``grads`` (name -> symbolic gradient) flattened and joined."""
    parts = [cast(grads[name], bucket.dtype.name).reshape((int(np.prod(shape, dtype=np.int64)),))
             for name, _, shape in bucket.entries]  # fmt: skip
    return parts[0] if len(parts) == 1 else concatenate(parts)


def unpack(bucket, flat):
    """``{name: symbolic view of flat}`` with each parameter's shape."""
    return {name: flat[offset:offset + int(np.prod(shape, dtype=np.int64))].reshape(shape)
            for name, offset, shape in bucket.entries}  # fmt: skip


class _Type:
    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, dtype


class BucketSlice:
    """One parameter's part of a bucket's shared buffer, with a shared variable's ``get_value`` /
    ``set_value`` and ``type.shape``/``type.dtype``: checkpoints see ``grad_accum.<param>`` arrays,
    the same names and shapes as a single-process run with gradient accumulation."""

    def __init__(self, var, offset, shape):
        self.var, self.offset, self.shape = var, offset, tuple(shape)
        self.size = int(np.prod(self.shape, dtype=np.int64))
        self.type = _Type(self.shape, var.type.dtype)

    def get_value(self, borrow=False):
        flat = np.asarray(self.var.get_value(borrow=True))
        return flat[self.offset:self.offset + self.size].reshape(self.shape).copy()

    def set_value(self, value, borrow=False):
        flat = np.array(self.var.get_value(borrow=False))  # a host copy; the bucket is written back whole
        flat[self.offset:self.offset + self.size] = np.asarray(value, dtype=flat.dtype).reshape(-1)
        self.var.set_value(flat)
