#!/usr/bin/python3
"""Runs a command under a unit's SystemCallFilter, as systemd would build it
(test package.debs, in_root.sh), so that the test sees what the filter
forbids, without systemd as PID 1.

Usage: unit_seccomp.py UNIT_FILE COMMAND [ARG...]

The groups (@system-service ...) are expanded with `systemd-analyze
syscall-filter`, systemd's own tables. As in systemd: the first
SystemCallFilter= line without ~ makes an allow-list, later ones add to it,
a ~ line takes its calls away again; everything else fails with the errno
of SystemCallErrorNumber= (EPERM when unset). Needs NoNewPrivileges (or
root) to install the filter, as systemd does. Exit 2 on a unit it cannot
read: a missing filter must fail the test, not run unfiltered.
"""
import errno
import os
import re
import subprocess
import sys

import seccomp


def fail(msg):
    sys.stderr.write(f"unit_seccomp: {msg}\n")
    sys.exit(2)


def groups():
    out = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True, check=True).stdout
    table, cur = {}, None
    for line in out.splitlines():
        word = line.strip().split(" ")[0] if line.strip() else ""
        if not word or word.startswith("#"):
            continue
        if not line.startswith(" ") and word.startswith("@"):
            cur = table.setdefault(word, [])
        elif cur is not None:
            cur.append(word)
    return table


def expand(name, table, seen=()):
    if not name.startswith("@"):
        return {name}
    if name not in table:
        fail(f"unknown group {name}")
    out = set()
    for member in table[name]:
        if member not in seen:
            out |= expand(member, table, seen + (name,))
    return out


def main(argv):
    if len(argv) < 2:
        fail(__doc__)
    text = open(argv[0]).read()
    lines = re.findall(r"^SystemCallFilter=(.*)$", text, re.M)
    if not lines:
        fail(f"{argv[0]} has no SystemCallFilter=")
    err = re.search(r"^SystemCallErrorNumber=(\w+)$", text, re.M)
    code = getattr(errno, err.group(1)) if err else errno.EPERM
    table = groups()
    allowed = set()
    for line in lines:
        deny = line.startswith("~")
        names = set()
        for word in line.lstrip("~").split():
            names |= expand(word, table)
        allowed = allowed - names if deny else allowed | names
    f = seccomp.SyscallFilter(seccomp.ERRNO(code))
    n = 0
    for name in sorted(allowed):
        try:
            f.add_rule(seccomp.ALLOW, name)
            n += 1
        except (RuntimeError, ValueError):
            pass  # a name this architecture does not have (e.g. a 32-bit call)
    f.load()
    sys.stderr.write(f"unit_seccomp: {n} system calls allowed, as {os.path.basename(argv[0])}\n")
    os.execvp(argv[1], argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
