"""The compile cache: one build per key, atomic entries, no hangs, corrupt entries rebuilt."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from nettrain import config
from nettrain.backends.c import cache
from nettrain.backends.c.compiler import CompileError, available

pytestmark = [pytest.mark.c, pytest.mark.skipif(not available(), reason="no working C compiler")]

SRC = '__attribute__((visibility("default"))) int f(int x){return x+%d;}'


def call_f(path, x):
    import cffi

    ffi = cffi.FFI()
    ffi.cdef("int f(int);")
    return ffi.dlopen(path).f(x)


@pytest.fixture
def compiledir(tmp_path):
    """A fresh cache directory, fresh counters and no memory of earlier verifications."""
    d = str(tmp_path / "cache")
    cache.reset_cache_stats()
    cache._valid.clear()
    with config.change_flags(compiledir=d):
        yield d
    cache._fallback.pop(d, None)


def child_env(compiledir):
    return dict(os.environ, NETTRAIN_FLAGS="compiledir=" + compiledir)


def hold_lock(path):
    """A child process that holds the flock on ``path`` until killed."""
    code = ("import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(60)\n")  # fmt: skip
    os.makedirs(os.path.dirname(path), exist_ok=True)
    p = subprocess.Popen([sys.executable, "-c", code, path], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "locked"
    return p


def test_second_lookup_hits_and_entry_holds_library_source_and_meta(compiledir):
    src = SRC % 1
    path = cache.get_or_build(src)
    assert cache.get_or_build(src) == path
    stats = cache.cache_stats()
    assert (stats["builds"], stats["hits"], stats["misses"]) == (1, 1, 1)
    assert call_f(path, 41) == 42
    d = os.path.dirname(path)
    assert d == cache.entry_dir(cache.cache_key(src))
    with open(os.path.join(d, "mod.c")) as f:
        assert f.read() == src
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    assert meta["key"] == cache.cache_key(src) and meta["size"] == os.path.getsize(path)
    assert [n for n in os.listdir(os.path.dirname(d)) if ".tmp-" in n] == []


def test_cache_key_is_identical_in_other_processes_and_hash_seeds(compiledir):
    src = SRC % 2
    code = "import sys; from nettrain.backends.c.cache import cache_key; print(cache_key(sys.argv[1]))"
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", code, src], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == cache.cache_key(src)


def test_cache_key_changes_with_source_and_compile_flags(compiledir, monkeypatch):
    from nettrain.backends.c import compiler

    key = cache.cache_key(SRC % 1)
    assert cache.cache_key(SRC % 2) != key
    flags = compiler.compile_flags()
    monkeypatch.setattr(compiler, "compile_flags", lambda: flags + ["-DEXTRA"])
    assert cache.cache_key(SRC % 1) != key


CHILD = """
import json, os, sys, time
from nettrain.backends.c import cache
src, go = sys.argv[1], sys.argv[2]
cache.cache_key(src)  # run the toolchain probes before the race starts
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.001)
path = cache.get_or_build(src)
import cffi
ffi = cffi.FFI(); ffi.cdef("int f(int);")
print(json.dumps(dict(cache.cache_stats(), value=ffi.dlopen(path).f(1), path=path)))
"""


def test_four_processes_compiling_the_same_source_build_it_once(compiledir, tmp_path):
    src, go = SRC % 3, str(tmp_path / "go")
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, src, go], env=child_env(compiledir),
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]  # fmt: skip
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    open(go, "w").close()  # start all four at once
    results = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert sum(r["builds"] for r in results) == 1
    assert sum(r["hits"] for r in results) == 3
    assert {r["value"] for r in results} == {4}
    assert len({r["path"] for r in results}) == 1


def corrupt_truncate(d):
    with open(os.path.join(d, "lib.so"), "r+b") as f:
        f.truncate(100)


def corrupt_flip_bytes(d):  # same size, different content
    lib = os.path.join(d, "lib.so")
    with open(lib, "r+b") as f:
        data = bytearray(f.read())
        f.seek(0)
        f.write(bytes(b ^ 0xFF for b in data[:64]) + data[64:])


def corrupt_meta_garbage(d):
    with open(os.path.join(d, "meta.json"), "wb") as f:
        f.write(b"\x00\xffnot json{")


def corrupt_meta_missing(d):
    os.unlink(os.path.join(d, "meta.json"))


def corrupt_meta_wrong_sha(d):
    meta_path = os.path.join(d, "meta.json")
    with open(meta_path) as f:
        meta = json.load(f)
    meta["sha256"] = "0" * 64
    with open(meta_path, "w") as f:
        json.dump(meta, f)


def corrupt_lib_missing(d):
    os.unlink(os.path.join(d, "lib.so"))


@pytest.mark.parametrize("corrupt", [corrupt_truncate, corrupt_flip_bytes, corrupt_meta_garbage,
                                     corrupt_meta_missing, corrupt_meta_wrong_sha, corrupt_lib_missing])  # fmt: skip
def test_corrupt_entry_is_detected_and_rebuilt(compiledir, corrupt):
    src = SRC % 4
    d = os.path.dirname(cache.get_or_build(src))
    corrupt(d)
    cache._valid.clear()  # as a fresh process would see it
    assert cache.check_entry(d) is not None
    assert [e["status"][:7] for e in cache.list_entries()] == ["corrupt"]
    path = cache.get_or_build(src)
    stats = cache.cache_stats()
    assert (stats["builds"], stats["rebuilt_corrupt"]) == (2, 1)
    assert cache.check_entry(d) is None
    assert call_f(path, 1) == 5


def test_lock_of_a_killed_process_does_not_block(compiledir):
    src = SRC % 5
    holder = hold_lock(cache.lock_path(cache.cache_key(src)))
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    t0 = time.monotonic()
    path = cache.get_or_build(src)
    assert time.monotonic() - t0 < 5
    assert call_f(path, 1) == 6


def test_lock_held_too_long_by_a_live_process_times_out_with_a_warning(compiledir, monkeypatch):
    src = SRC % 6
    monkeypatch.setattr(cache, "LOCK_TIMEOUT", 0.3)
    holder = hold_lock(cache.lock_path(cache.cache_key(src)))
    try:
        with pytest.warns(cache.CompileCacheWarning, match="waited"):
            path = cache.get_or_build(src)
    finally:
        holder.kill()
        holder.wait()
    assert cache.cache_stats()["lock_timeouts"] == 1
    assert call_f(path, 1) == 7


def test_file_system_without_locks_builds_unlocked_with_one_warning(compiledir, monkeypatch):
    import errno

    def no_locks(fd):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(cache, "_flock_nb", no_locks)
    with pytest.warns(cache.CompileCacheWarning, match="without locks") as record:
        paths = [cache.get_or_build(SRC % i) for i in (18, 19)]
    assert len(record) == 1 and cache.cache_stats()["unlocked_builds"] == 2
    assert [call_f(p, 1) for p in paths] == [19, 20]


def test_waiter_relocks_when_clear_unlinks_its_lock_file(compiledir):
    src = SRC % 7
    lock = cache.lock_path(cache.cache_key(src))
    fd = cache._try_lock(lock, 0)
    result = {}
    waiter = threading.Thread(target=lambda: result.update(path=cache.get_or_build(src)))
    waiter.start()
    time.sleep(0.2)  # the waiter now polls the lock file we hold
    os.unlink(lock)  # what `cache clear` does while holding the lock
    os.close(fd)
    waiter.join(10)
    assert call_f(result["path"], 1) == 8
    assert os.path.exists(lock)  # the waiter locked a fresh file


def test_compiledir_that_cannot_be_created_falls_back_with_one_warning(compiledir, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    bad = str(blocker / "cache")
    try:
        with config.change_flags(compiledir=bad):
            with pytest.warns(cache.CompileCacheWarning, match="not writable") as record:
                paths = [cache.get_or_build(SRC % i) for i in (8, 9)]
                assert cache.get_or_build(SRC % 8) == paths[0]
    finally:
        cache._fallback.pop(bad, None)
    assert len(record) == 1
    assert [call_f(p, 1) for p in paths] == [9, 10]
    assert not paths[0].startswith(str(tmp_path))
    assert cache.cache_stats()["fallbacks"] == 1


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_compiledir_falls_back_and_still_serves_its_entries(compiledir):
    old = cache.get_or_build(SRC % 10)
    cache._fallback.clear()
    os.chmod(compiledir, 0o500)
    try:
        with pytest.warns(cache.CompileCacheWarning, match="not writable") as record:
            assert cache.get_or_build(SRC % 10) == old
            new = cache.get_or_build(SRC % 11)
    finally:
        os.chmod(compiledir, 0o700)
    assert len(record) == 1
    assert not new.startswith(compiledir) and call_f(new, 1) == 12


def test_unwritable_existing_compiledir_still_serves_its_entries(compiledir, monkeypatch):
    old = cache.get_or_build(SRC % 16)
    cache._fallback.clear()
    monkeypatch.setattr(cache, "is_writable", lambda path: False)  # what a read-only mount looks like, even to root
    with pytest.warns(cache.CompileCacheWarning, match="not writable") as record:
        assert cache.get_or_build(SRC % 16) == old
        new = cache.get_or_build(SRC % 17)
    assert len(record) == 1
    assert not new.startswith(compiledir) and call_f(new, 1) == 18


def test_compile_error_leaves_no_entry_and_no_lock_held(compiledir):
    with pytest.raises(CompileError, match="C compilation failed"):
        cache.get_or_build("int f(int x){ return x + ; }")
    assert cache.list_entries() == []
    key = cache.cache_key("int f(int x){ return x + ; }")
    fd = cache._try_lock(cache.lock_path(key), 0)
    assert fd is not None
    os.close(fd)


def test_clear_removes_idle_entries_and_skips_one_being_built(compiledir):
    busy_key = cache.cache_key(SRC % 12)
    cache.get_or_build(SRC % 12)
    cache.get_or_build(SRC % 13)
    fd = cache._try_lock(cache.lock_path(busy_key), 0)  # as if another process were building it
    try:
        done = cache.clear_cache()
    finally:
        os.close(fd)
    assert (done["removed"], done["busy"]) == (1, 1) and done["bytes"] > 0
    assert [e["key"] for e in cache.list_entries()] == [busy_key]
    assert cache.clear_cache()["removed"] == 1
    assert os.listdir(compiledir) == []


def test_clear_removes_unfinished_build_of_a_killed_process(compiledir):
    key = cache.cache_key(SRC % 14)
    tmp = cache.entry_dir(key) + ".tmp-host-1-abc"
    os.makedirs(tmp)
    open(os.path.join(tmp, "mod.c"), "w").close()
    assert [e["status"] for e in cache.list_entries()] == ["building"]
    assert cache.clear_cache()["removed"] == 0
    assert cache.list_entries() == [] and os.listdir(compiledir) == []


def test_clear_older_than_keeps_recent_entries(compiledir):
    path = cache.get_or_build(SRC % 15)
    assert cache.clear_cache(older_than=3600) == dict(removed=0, bytes=0, busy=0)
    assert os.path.exists(path)
