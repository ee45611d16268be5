#!/usr/bin/env python3
"""Runs the shell commands of the docs (test docs.commands), so that they cannot drift.

Every ```sh block of README.md, docs/*.md and examples/*/README.md is run,
unless the line just before it says why not:

    <!-- doc-test: not run: REASON -->         the block is an example, a synopsis, a transcript
    <!-- doc-test: lines A-B: REASON -->        only its lines A to B (1-based) are run

The runnable blocks of one file run in order, in one `bash -e -o pipefail`,
from the top of a scratch copy of the source tree whose build/ is the build
under test (a symlink), with HOME a scratch directory and FEDC_SKIP_SETUP=1
(the scripts use that build as it is, rather than installing packages and
building again). Whatever a block leaves running is stopped afterwards.

Usage: run_doc_commands.py SOURCE_DIR BUILD_DIR [FILE...]
Exit 1 if a block fails or a marker is malformed, else 0.
"""
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

MARK = re.compile(r"^<!-- doc-test: (?:(not run)|lines (\d+)-(\d+)): (\S.*?) -->$")
TIMEOUT_S = 600


def blocks(path):
    """(first line number, lines to run) for each runnable ```sh block; errors."""
    out, errors = [], []
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```sh":
            i += 1
            continue
        start = i + 1
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        body = lines[start:end]
        prev = lines[i - 1].strip() if i > 0 else ""
        m = MARK.match(prev)
        if prev.startswith("<!-- doc-test") and not m:
            errors.append(f"{path}:{i}: malformed marker: {prev}")
        elif m and m.group(1):
            pass  # not run, and it says why
        elif m:
            a, b = int(m.group(2)), int(m.group(3))
            if not 1 <= a <= b <= len(body):
                errors.append(f"{path}:{i}: lines {a}-{b} outside the block's {len(body)} lines")
            else:
                out.append((start + a, body[a - 1:b]))
        else:
            out.append((start + 1, body))
        i = end + 1
    return out, errors


def scratch_copy(source, build, root):
    src = os.path.join(root, "src")
    ignore = shutil.ignore_patterns(".git", "build*", "out", "fed")
    shutil.copytree(source, src, ignore=ignore, symlinks=True)
    os.symlink(os.path.abspath(build), os.path.join(src, "build"))
    os.makedirs(os.path.join(root, "home"))
    return src


def run_file(source, build, doc, runnable):
    root = tempfile.mkdtemp(prefix="fedc-doc-test.")
    src = scratch_copy(source, build, root)
    script = ["set -e -o pipefail"]
    for line, body in runnable:
        script.append(f"echo '--- {doc}:{line}'")
        script.extend(body)
    env = dict(os.environ, HOME=os.path.join(root, "home"), FEDC_SKIP_SETUP="1")
    env.pop("FEDC_BUILD_DIR", None)
    started = time.monotonic()
    proc = subprocess.Popen(["bash", "-c", "\n".join(script)], cwd=src, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=TIMEOUT_S)
        status = proc.returncode
    except subprocess.TimeoutExpired:
        output, status = "", f"timeout after {TIMEOUT_S} s"
    finally:
        try:  # whatever the blocks left running
            os.killpg(proc.pid, signal.SIGTERM)
            time.sleep(0.5)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    took = time.monotonic() - started
    if status != 0:
        print(output[-6000:])
        print(f"FAIL {doc}: exit {status} after {took:.0f} s; scratch copy kept in {root}")
        return False
    print(f"ok   {doc}: {len(runnable)} block(s) in {took:.0f} s")
    shutil.rmtree(root, ignore_errors=True)
    return True


def main():
    source, build = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    docs = sys.argv[3:] or sorted(
        [os.path.join(source, "README.md")] + glob.glob(os.path.join(source, "docs", "*.md")) +
        glob.glob(os.path.join(source, "examples", "*", "README.md")))
    ok, ran = True, 0
    for doc in docs:
        runnable, errors = blocks(doc)
        for e in errors:
            print(e)
            ok = False
        if runnable:
            ran += 1
            ok = run_file(source, build, os.path.relpath(doc, source), runnable) and ok
    if ran == 0:
        print("no runnable block found")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
