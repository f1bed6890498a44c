"""``nettrain cache list|clear|info`` on a temporary compile cache (no C compiler needed)."""

import hashlib
import json
import os
import subprocess
import sys

import pytest

from nettrain.backends.c import cache
from nettrain.cli import main


def fake_entry(root, n, payload=b"\x7fELF fake library"):
    """Write a complete, valid-looking cache entry by hand; returns its key."""
    key = hashlib.sha256(b"entry %d" % n).hexdigest()
    d = cache.entry_dir(key, root)
    os.makedirs(d)
    with open(os.path.join(d, "lib.so"), "wb") as f:
        f.write(payload)
    with open(os.path.join(d, "mod.c"), "w") as f:
        f.write("int f(void){return %d;}" % n)
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(dict(key=key, size=len(payload), sha256=hashlib.sha256(payload).hexdigest()), f)
    return key


@pytest.fixture
def root(tmp_path):
    return str(tmp_path / "compiledir")


def test_cache_list_shows_each_entry_with_size_last_use_and_the_total(root, capsys):
    keys = [fake_entry(root, i) for i in range(3)]
    assert main(["cache", "list", "--compiledir", root]) == 0
    out = capsys.readouterr().out
    for key in keys:
        assert key[:16] in out
    assert "KEY" in out and "SIZE" in out and "LAST USE" in out
    assert "3 entries" in out and root in out
    assert out.count(" ok") == 3


def test_cache_list_marks_a_corrupt_entry(root, capsys):
    key = fake_entry(root, 1)
    with open(os.path.join(cache.entry_dir(key, root), "lib.so"), "ab") as f:
        f.write(b"extra")
    main(["cache", "list", "--compiledir", root])
    out = capsys.readouterr().out
    assert "corrupt: lib.so has the wrong size" in out and "(1 not ok)" in out


def test_cache_list_json_is_machine_readable(root, capsys):
    key = fake_entry(root, 1)
    assert main(["cache", "list", "--json", "--compiledir", root]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["compiledir"] == root
    assert [(e["key"], e["status"]) for e in data["entries"]] == [(key, "ok")]


def test_cache_list_of_a_missing_directory_says_so(root, capsys):
    assert main(["cache", "list", "--compiledir", root]) == 0
    assert "no compile cache at" in capsys.readouterr().out
    assert not os.path.exists(root)


def test_cache_clear_removes_every_entry(root, capsys):
    for i in range(2):
        fake_entry(root, i)
    assert main(["cache", "clear", "--compiledir", root]) == 0
    assert "removed 2 entries" in capsys.readouterr().out
    assert os.listdir(root) == []
    main(["cache", "list", "--compiledir", root])
    assert "0 entries" in capsys.readouterr().out


def test_cache_clear_skips_an_entry_whose_lock_is_held(root, capsys):
    busy = fake_entry(root, 1)
    fake_entry(root, 2)
    fd = cache._try_lock(cache.lock_path(busy, root), 0)
    try:
        assert main(["cache", "clear", "--compiledir", root]) == 0
    finally:
        os.close(fd)
    out = capsys.readouterr().out
    assert "removed 1 entries" in out and "skipped 1 being compiled" in out
    assert [e["key"] for e in cache.list_entries(root)] == [busy]


def test_cache_clear_older_than_keeps_fresh_entries(root, capsys):
    fake_entry(root, 1)
    main(["cache", "clear", "--older-than", "1", "--compiledir", root])
    assert "removed 0 entries" in capsys.readouterr().out
    assert len(cache.list_entries(root)) == 1


def test_cache_info_reports_location_entries_and_format(root, capsys):
    fake_entry(root, 1)
    assert main(["cache", "info", "--compiledir", root]) == 0
    out = capsys.readouterr().out
    assert root in out and "writable:    yes" in out and "entries:     1" in out and "format:" in out


def test_cache_without_an_action_prints_usage_and_fails(capsys):
    assert main(["cache"]) == 2
    assert "list" in capsys.readouterr().err
    assert main([]) == 2


def test_unknown_cache_action_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["cache", "prune"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_python_m_nettrain_cache_uses_compiledir_from_nettrain_flags(root):
    key = fake_entry(root, 1)
    env = dict(os.environ, NETTRAIN_FLAGS="compiledir=" + root)

    def run(*args):
        r = subprocess.run([sys.executable, "-m", "nettrain", "cache", *args], env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout

    assert key[:16] in run("list") and "1 entries" in run("list")
    assert "removed 1 entries" in run("clear")
    assert "0 entries" in run("list")
