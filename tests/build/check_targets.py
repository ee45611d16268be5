#!/usr/bin/env python3
"""Checks the build's targets (test build.targets):

1. A part's headers are private to it: the libraries of node/, researcher/
   and repository-server/ export no include directory of a part (their
   INTERFACE_INCLUDE_DIRECTORIES, written at configure time by
   tests/build/CMakeLists.txt into BUILD/part_interfaces.txt).
2. A unit test links what it tests: at most one part library, and it sees
   the private headers of that part only (from CMake's file API codemodel).
3. libfedc (common/) compiles with -Wconversion and -Wsign-conversion.

Usage: check_targets.py BUILD_DIR SOURCE_DIR. Exit 1 with one line per
breach, 0 when there is none.
"""
import glob
import json
import os
import subprocess
import sys

PARTS = {  # part directory -> its library
    "node": "fedc_node_core",
    "researcher": "fedc_researcher_core",
    "repository-server": "fedc_repository_core",
    "sdk": "fedc_plan_sdk",
    "admin": None,
}


def codemodel(build, source):
    reply = os.path.join(build, ".cmake", "api", "v1", "reply")
    if not glob.glob(os.path.join(reply, "index-*.json")):
        # The query is written at configure time, and read by the next run.
        subprocess.run(["cmake", "-S", source, "-B", build], check=True, stdout=subprocess.DEVNULL)
    index = json.load(open(sorted(glob.glob(os.path.join(reply, "index-*.json")))[-1]))
    cm = json.load(open(os.path.join(reply, index["reply"]["codemodel-v2"]["jsonFile"])))
    for ref in cm["configurations"][0]["targets"]:
        yield json.load(open(os.path.join(reply, ref["jsonFile"])))


def part_of_dir(path, source):
    rel = os.path.relpath(path, source)
    top = rel.split(os.sep)[0]
    return top if top in PARTS and rel == top else None


def main():
    build, source = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    errors = []

    with open(os.path.join(build, "part_interfaces.txt")) as f:
        for line in f:
            lib, _, dirs = line.rstrip("\n").partition("=")
            for d in filter(None, dirs.split(";")):
                if part_of_dir(d, source):
                    errors.append(f"{lib} exports its private include directory {d} (make it PRIVATE)")

    libs = {v: k for k, v in PARTS.items() if v}
    units = 0
    for t in codemodel(build, source):
        if t["name"] == "fedc":
            for g in t.get("compileGroups", []):
                flags = " ".join(f["fragment"] for f in g.get("compileCommandFragments", [])).split()
                for want in ("-Wconversion", "-Wsign-conversion"):
                    if want not in flags:
                        errors.append(f"libfedc compiles {len(g['sourceIndexes'])} sources without {want}")
        if not any(s["path"].startswith("tests/unit/test_") for s in t.get("sources", [])):
            continue
        units += 1
        linked = set()
        for frag in t.get("link", {}).get("commandFragments", []):
            base = os.path.basename(frag["fragment"])
            for lib in libs:
                if frag["role"] == "libraries" and base == f"lib{lib}.a" or base == "libfedcplan.a" and lib == "fedc_plan_sdk":
                    linked.add(lib)
        if len(linked) > 1:
            errors.append(f"{t['name']} links {len(linked)} parts ({', '.join(sorted(linked))}): a unit test links what it tests")
        seen = {part_of_dir(i["path"], source) for g in t.get("compileGroups", []) for i in g.get("includes", [])}
        for part in sorted(p for p in seen if p):
            if PARTS[part] not in linked:
                errors.append(f"{t['name']} sees the private headers of {part}/ without testing it")
    if units == 0:
        errors.append("no unit test target found in the codemodel")
    for e in errors:
        print(e)
    print(f"{units} unit tests checked, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
