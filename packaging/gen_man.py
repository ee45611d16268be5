#!/usr/bin/env python3
"""Man pages and bash completions for the installed programs, made at build time
from the same tables the code uses (docs/deployment.md, "Man pages"):

  * a program's page is its own usage text, which fedc_cli_usage() and the
    programs' option tables print (`PROG --help`, then `PROG CMD --help` for
    each command its usage lists), so a new option appears without editing
    anything here;
  * a configuration file's page is the key table the loader uses, as the
    generated tables of docs/ hold it (test config_doc keeps those equal to
    the code's tables).

Usage:
  gen_man.py program BIN SUMMARY OUT.1.gz [--completion OUT]
  gen_man.py config DOC.md TABLE[,TABLE...] NAME SUMMARY OUT.5.gz

Exits 1 with a message naming what is wrong (a program that prints no usage,
a table missing from the doc), so a broken page stops the build.
"""
import gzip
import os
import re
import subprocess
import sys

FOOTER = "fedc"


def fail(msg):
    sys.stderr.write(f"gen_man: {msg}\n")
    sys.exit(1)


def roff_escape(text):
    """Plain text as roff: backslashes, and a leading . or ' that roff would read
    as a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return re.sub(r"^([.'])", r"\\&\1", text, flags=re.M)


def usage_of(argv):
    """What a program prints for --help (stdout, else stderr, for the small
    tools that print their usage on any unknown flag)."""
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
    except (OSError, subprocess.TimeoutExpired) as e:
        fail(f"{' '.join(argv)}: {e}")
    text = p.stdout if p.stdout.strip() else p.stderr
    # "prog: unrecognized option '--help'" is getopt's, not the usage.
    lines = [ln for ln in text.splitlines() if not re.match(r"^\S+: unrecognized option", ln)]
    text = "\n".join(lines).strip("\n")
    if "usage:" not in text:
        fail(f"{' '.join(argv)} printed no usage (exit {p.returncode})")
    return text


def commands_in(usage):
    """Command names of a program with subcommands: the words at two spaces'
    indent under its "commands:" line."""
    names, inside = [], False
    for ln in usage.splitlines():
        if ln.strip() == "commands:":
            inside = True
            continue
        if inside:
            if not ln.strip():
                break
            m = re.match(r"^  ([a-z][a-z0-9-]*)\b", ln)
            if m and m.group(1) not in names:
                names.append(m.group(1))
    return names


def options_in(text):
    return sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text)))


def subcommands_in(prog, cmd, text):
    """The words that follow `PROG CMD` in a command's usage lines
    (`fedc-node dataset add ...`): its subcommands."""
    found = re.findall(rf"^\s*(?:usage: )?{re.escape(prog)} {re.escape(cmd)} ([a-z][a-z0-9-]*)\b", text, re.M)
    return list(dict.fromkeys(found))


def verbatim(text):
    return ".nf\n" + roff_escape(text) + "\n.fi\n"


def header(name, section, summary):
    return (f'.TH "{name.upper()}" "{section}" "" "{FOOTER}" "fedc manual"\n'
            f".SH NAME\n{roff_escape(name)} \\- {roff_escape(summary)}\n")


def write_gz(path, text):
    # mtime 0: the same input makes the same bytes (reproducible packages).
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0,
                                                filename="") as f:
        f.write(text.encode())


def program_page(binary, summary, out, completion):
    name = os.path.basename(binary)
    usage = usage_of([binary, "--help"])
    cmds = commands_in(usage)
    page = header(name, "1", summary)
    page += ".SH SYNOPSIS\n" + verbatim(usage.splitlines()[0].replace("usage: ", "", 1))
    page += ".SH DESCRIPTION\n" + verbatim(usage)
    per_cmd = {}
    if cmds:
        page += ".SH COMMANDS\n"
        for c in cmds:
            text = usage_of([binary, c, "--help"])
            per_cmd[c] = text
            if text != usage:  # a command without a usage of its own prints the program's
                page += f".SS {roff_escape(c)}\n" + verbatim(text)
    page += (".SH EXIT STATUS\n0 done, 1 the operation failed, 2 a bad command line "
             "or configuration.\n"
             ".SH SEE ALSO\n.BR fedc-node (1),\n.BR fedc-researcher (1),\n"
             ".BR fedc-repository (1),\n.BR fedc-admin (1),\n"
             "and /usr/share/doc/fedc/ (docs/ of the source).\n")
    write_gz(out, page)
    if completion:
        subs = {c: subcommands_in(name, c, t) for c, t in per_cmd.items()}
        write_completion(completion, name, options_in(usage), {c: options_in(t) for c, t in per_cmd.items()}, subs)


def write_completion(path, prog, top_opts, cmd_opts, subs):
    """A bash completion: the commands, then each command's options; files
    for everything else (most operands are files or directories)."""
    fn = "_" + re.sub(r"[^A-Za-z0-9_]", "_", prog)
    cases = "".join(f'        {c}) opts="{" ".join(o)}" ;;\n' for c, o in cmd_opts.items())
    cmds = " ".join(cmd_opts)
    sub_cases = "".join(f'        {c}) subs="{" ".join(w)}" ;;\n' for c, w in subs.items() if w)
    text = f"""# bash completion for {prog}: generated from `{prog} --help` (packaging/gen_man.py)
{fn}()
{{
    local cur cmd="" at=0 opts subs="" i
    cur=${{COMP_WORDS[COMP_CWORD]}}
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${{COMP_WORDS[i]}} in
        -*) ;;
        *) if [[ " {cmds} " == *" ${{COMP_WORDS[i]}} "* ]]; then cmd=${{COMP_WORDS[i]}}; at=$i; break; fi ;;
        esac
    done
    case $cmd in
{cases}        *) opts="{" ".join(top_opts)}" ;;
    esac
    case $cmd in
{sub_cases}    esac
    if [[ -n $subs && $COMP_CWORD -eq $((at + 1)) && $cur != -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$subs" -- "$cur")
    elif [[ -z $cmd && $cur != -* && -n "{cmds}" ]]; then
        mapfile -t COMPREPLY < <(compgen -W "{cmds}" -- "$cur")
    elif [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
    else
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
}}
complete -o filenames -F {fn} {prog}
"""
    with open(path, "w") as f:
        f.write(text)


def md_inline(text):
    """A table cell's Markdown as plain text."""
    text = text.replace("\\|", "|")
    text = re.sub(r"\*\*([^*]+)\*\*", r"\1", text)
    text = re.sub(r"\*([^*]+)\*", r"\1", text)
    return text.replace("`", "")


def table_rows(doc, table):
    """The rows of generated table `table` as dicts by column name (section,
    key, type, default, meaning; flag where the program has one)."""
    m = re.search(rf"<!-- BEGIN GENERATED CONFIG {re.escape(table)} -->\n(.*?)<!-- END GENERATED CONFIG {re.escape(table)} -->",
                  doc, re.S)
    if not m:
        fail(f"no generated table '{table}' in the document")
    names, rows = None, []
    for ln in m.group(1).splitlines():
        if not ln.startswith("|") or ln.startswith("| ---"):
            continue
        cells = [md_inline(c.strip()) for c in re.split(r"(?<!\\)\|", ln.strip())[1:-1]]
        if names is None:
            names = cells
            if not {"section", "key", "type", "default", "meaning"} <= set(names):
                fail(f"table '{table}': unexpected columns {names}")
            continue
        if len(cells) != len(names):
            fail(f"table '{table}': a row of {len(cells)} cells, not {len(names)}: {ln[:80]}")
        rows.append(dict(zip(names, cells)))
    if not rows:
        fail(f"table '{table}' is empty")
    return rows


def config_page(doc_path, tables, name, summary, out):
    with open(doc_path) as f:
        doc = f.read()
    page = header(name, "5", summary)
    page += (".SH DESCRIPTION\nAn INI file: [section] headers, key = value lines and ; comments. "
             "An unknown section or key, or a key given twice, is an error that names the file and "
             "line. Relative paths are taken relative to the file's directory.\n")
    section = None
    for t in tables.split(","):
        for row in table_rows(doc, t):
            if row["section"] != section:
                section = row["section"]
                page += f".SH {roff_escape(section)}\n"
            flag = f" (flag {row['flag']})" if row.get("flag") else ""
            page += (f".TP\n.B {roff_escape(row['key'])}\n{roff_escape(row['type'])}; default "
                     f"{roff_escape(row['default'])}{roff_escape(flag)}.\n{roff_escape(row['meaning'])}\n")
    page += (f".SH SEE ALSO\nThe table above is the one the loader uses "
             f"(/usr/share/doc/fedc/{os.path.basename(doc_path)}).\n")
    write_gz(out, page)


def main(argv):
    if len(argv) >= 4 and argv[0] == "program":
        completion = None
        if len(argv) == 6 and argv[4] == "--completion":
            completion = argv[5]
        elif len(argv) != 4:
            fail(__doc__)
        program_page(argv[1], argv[2], argv[3], completion)
    elif len(argv) == 6 and argv[0] == "config":
        config_page(*argv[1:])
    else:
        fail(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
