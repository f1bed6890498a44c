"""Cache administration: list and clear entries (``nettrain cache list|clear``).

Clearing takes each key's lock without waiting, so entries being built by another
process are skipped, never removed under it.
"""

import os
import shutil
import time

from ...configdefaults import config
from .cache import _discard, _is_key, _try_lock, _unlock, check_entry, entry_dir, fcntl, lock_path

def _dir_size(path):
    total = 0
    for base, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except OSError:
                pass
    return total


def _uses(path):
    """Names of the nettrain functions recorded as using the entry ``path`` (see ``cache._note_use``)."""
    try:
        with open(os.path.join(path, "uses")) as f:
            return [n for n in f.read().split("\n") if n]
    except OSError:
        return []


def _key_of(name):
    """The key an item of a shard directory belongs to ('' for foreign files)."""
    key = name[len(".trash-"):][:64] if name.startswith(".trash-") else name[:64]
    return key if _is_key(key) else ""


def _items(root):
    """``{key: [(name, path), ...]}`` for everything in the shard directories of ``root``."""
    groups = {}
    try:
        shards = sorted(os.listdir(root))
    except OSError:
        return groups
    for shard in shards:
        sd = os.path.join(root, shard)
        if len(shard) != 2 or not os.path.isdir(sd):
            continue
        try:
            names = sorted(os.listdir(sd))
        except OSError:
            continue
        for name in names:
            if _key_of(name):
                groups.setdefault(_key_of(name), []).append((name, os.path.join(sd, name)))
    return groups


def list_entries(root=None, verify=True):
    """Entries under ``root`` (default compiledir) as dicts: key, path, size, mtime, status, names.

    ``mtime`` is the entry's last use (every lookup touches it); ``names`` lists the nettrain
    functions (``function(..., name=...)``) recorded as using it.

    ``status`` is ``'ok'``, ``'building'`` for an unpublished build, or ``'corrupt: <why>'``.

    Examples
    --------
    >>> from nettrain.backends.c.cache import list_entries
    >>> list_entries("/nonexistent")
    []
    """
    out = []
    for key, items in _items(root or config.compiledir).items():
        for name, path in items:
            if name.startswith(".") or name.endswith(".lock"):
                continue
            try:
                mtime = os.lstat(path).st_mtime
            except OSError:
                continue  # removed meanwhile
            if ".tmp-" in name:
                status = "building"
            else:
                why = check_entry(path) if verify else None
                status = "ok" if why is None else "corrupt: " + why
            out.append(dict(key=key, path=path, size=_dir_size(path), mtime=mtime, status=status, names=_uses(path)))
    return out


def clear_cache(root=None, older_than=None):
    """Delete the entries under ``root`` (default compiledir) that no process is building.

    ``older_than`` (seconds) keeps younger entries.  Returns ``dict(removed, bytes, busy)``;
    ``busy`` counts keys skipped because another process holds their lock (a build in progress).

    Examples
    --------
    >>> from nettrain.backends.c.cache import clear_cache
    >>> clear_cache("/nonexistent")
    {'removed': 0, 'bytes': 0, 'busy': 0}
    """
    root = root or config.compiledir
    done = dict(removed=0, bytes=0, busy=0)
    now = time.time()
    for key, items in _items(root).items():
        entry = entry_dir(key, root)
        try:
            if older_than is not None and now - os.lstat(entry).st_mtime < older_than:
                continue
        except OSError:
            pass  # no published entry: only leftovers (lock, unfinished build, trash) to tidy
        fd = None
        if fcntl is not None:
            try:
                fd = _try_lock(lock_path(key, root), 0)
            except OSError:
                pass  # no locking on this file system: deleting is still atomic for readers
            else:
                if fd is None:
                    done["busy"] += 1
                    continue
        try:
            for name, path in items:
                if name.endswith(".lock"):
                    continue
                done["bytes"] += _dir_size(path)
                done["removed"] += path == entry
                _discard(path)
            try:  # unlinked while we hold it: a waiter notices (inode check) and locks a fresh file
                os.unlink(lock_path(key, root))
            except OSError:
                pass
        finally:
            _unlock(fd)
    if older_than is None:
        # parsed cffi declarations and compiler probes (compiler.py): small, rebuilt on demand
        for sub in ("ffi-abi", "toolchain"):
            shutil.rmtree(os.path.join(root, sub), ignore_errors=True)
    for shard in os.listdir(root) if os.path.isdir(root) else []:
        if len(shard) == 2:
            try:
                os.rmdir(os.path.join(root, shard))  # succeeds only when empty
            except OSError:
                pass
    return done
