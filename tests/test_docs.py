"""Every code block of README.md and docs/*.md runs, and docs/cli.md is what the parsers print.

Python blocks of one file run in order in one namespace; bash blocks run with ``bash -e`` with
``nettrain`` on the PATH (the installed console script, or a stand-in running ``python -m nettrain``
from this checkout). Both run in a fresh temporary directory per file. A block is left out only
when the line before its fence says why: ``<!-- no-run: reason -->``; ``SKIPPED_AT_MOST`` keeps
that list short. Blocks of other languages (``text``, plain output listings) are not code.
"""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = ["README.md"] + sorted(os.path.join("docs", f) for f in os.listdir(os.path.join(ROOT, "docs"))
                               if f.endswith(".md"))
RUN = ("python", "bash", "sh")
SKIPPED_AT_MOST = 3
FENCE = re.compile(r"^```(\w*)\s*$")


def blocks(path):
    """``[(language, code, no_run_reason, line)]`` of the fenced blocks of a Markdown file."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        lang, start = m.group(1), i
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        prev = lines[start - 1].strip() if start else ""
        reason = re.match(r"<!--\s*no-run:\s*(.+?)\s*-->", prev)
        out.append((lang, "\n".join(lines[start + 1:j]), reason.group(1) if reason else None, start + 1))
        i = j + 1
    return out


def shell_env(tmp_path):
    """PATH with ``nettrain`` (a stand-in for the console script when nettrain is not installed)."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    shim = bindir / "nettrain"
    shim.write_text('#!/bin/sh\nexec "%s" -m nettrain "$@"\n' % sys.executable)
    shim.chmod(0o755)
    py = bindir / "python"
    py.write_text('#!/bin/sh\nexec "%s" "$@"\n' % sys.executable)
    py.chmod(0o755)
    env["PATH"] = str(bindir) + os.pathsep + env["PATH"]
    env["COLUMNS"] = "100"
    return env


def run_bash(code, tmp_path, what, timeout=300):
    r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", code], cwd=tmp_path, env=shell_env(tmp_path),
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, "%s failed (status %d):\n%s\n--- stdout\n%s\n--- stderr\n%s" % (
        what, r.returncode, code, r.stdout[-3000:], r.stderr[-3000:])
    return r


def test_every_block_is_run_or_says_why_not():
    skipped = [(f, line, reason) for f in FILES for lang, _, reason, line in blocks(f) if lang in RUN and reason]
    assert len(skipped) <= SKIPPED_AT_MOST, skipped
    unlabeled = [(f, line) for f in FILES for lang, _, _, line in blocks(f) if lang == ""]
    assert not unlabeled, "code blocks need a language (python, bash, text): %s" % unlabeled


@pytest.mark.parametrize("path", FILES)
def test_code_blocks_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "100")
    namespace = {"__name__": "__doc_%s__" % os.path.basename(path)}
    ran = 0
    for lang, code, reason, line in blocks(path):
        if lang not in RUN or reason:
            continue
        if path == "README.md" and _in_after_training(path, line):
            continue  # test_after_training_walkthrough runs that section and checks its results
        where = "%s, block at line %d" % (path, line)
        if lang == "python":
            exec(compile(code, where, "exec"), namespace)
        else:
            run_bash(code, tmp_path, where)
        ran += 1
    assert ran or path == "docs/cli.md" or path == "docs/design.md"


def _section_lines(path, title):
    with open(os.path.join(ROOT, path), encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip() == "## " + title)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return start + 1, end


def _in_after_training(path, line):
    start, end = _section_lines(path, "After training")
    return start <= line <= end


def test_after_training_walkthrough(tmp_path):
    """The README's "After training" section from a fresh directory: train digits, predict 10 rows, export
    to ONNX and compare the classes in onnxruntime; train char_rnn briefly and sample text of the asked length."""
    pytest.importorskip("sklearn")
    start, end = _section_lines("README.md", "After training")
    code = [c for lang, c, reason, line in blocks("README.md") if lang == "bash" and start <= line <= end]
    assert code, "README has no bash block in its After training section"
    if not _has("onnx") or not _has("onnxruntime"):
        pytest.skip("onnx and onnxruntime are not installed (pip install -e '.[onnx]')")
    r = run_bash("\n".join(code), tmp_path, "README After training", timeout=600)
    out = r.stdout
    assert "same classes: True" in out
    assert (tmp_path / "predictions.csv").read_text().count("\n") == 11  # header + 10 rows
    sample = (tmp_path / "sample.txt").read_text()
    assert len(sample.rstrip("\n")) == 300, repr(sample)


def _has(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_cli_reference_is_current():
    from nettrain.commands.docgen import cli_reference

    with open(os.path.join(ROOT, "docs", "cli.md"), encoding="utf-8") as fh:
        stored = fh.read()
    made = re.search(r"\(Python (\d+)\.(\d+);", stored)
    if made and tuple(map(int, made.groups())) != sys.version_info[:2]:
        pytest.skip("docs/cli.md was generated with Python %s.%s, whose argparse lays help out differently"
                    % made.groups())
    assert stored == cli_reference(), "docs/cli.md is out of date: python -m nettrain.commands.docgen > docs/cli.md"


def test_readme_links_stay_inside_the_repository():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        text = fh.read()
    for target in re.findall(r"\]\(([^)#]+)", text) + re.findall(r"`(\.\./[^`]+)`", text):
        if target.startswith(("http://", "https://")):
            continue
        path = os.path.normpath(os.path.join(ROOT, target))
        assert path.startswith(ROOT + os.sep) and os.path.exists(path), target
