#!/usr/bin/env python3
"""Every file that a comment or a document names must exist in the repository.

Scans the tracked source, script and documentation files for names of files
of this project's kinds (.rs .md .sh .py .toml, man pages .5/.8, .conf) and
fails, naming file and line, when a name matches no tracked file. A name
matches when it equals a tracked path or is a path suffix of one (comments
say `broker/allow.rs` or `DESIGN.md`). Absolute paths (/etc/ike/ike.conf) and
URLs are not repository files and are skipped; so are names of other
projects' files, which this project cites by their own trees (see
EXTERNAL). A reference into the read-only reference folder outside the
repository (`shared/...`) is always an error: the repository must stand alone.
"""
import os
import re
import subprocess
import sys

SCANNED = (".rs", ".md", ".sh", ".py", ".toml", ".5", ".8", ".conf", "Makefile", "run")
NAME = re.compile(r"(?<![\w/.$-])((?:[\w.-]+/)*[A-Za-z][\w-]*(?:\.[a-z]+)?\.(?:rs|md|sh|py|toml|5|8))(?![\w/])")
# Placeholders in usage texts (tests/interop/scenarios/NAME.sh, DIR/...).
PLACEHOLDER = re.compile(r"(^|/)[A-Z]+(/|\.)")
# Other projects' files, cited by name with their own tree's path: kernel and
# daemon sources, other repositories' docs, system files named without a path.
EXTERNAL = (
    "sys/", "net/", "include/", "iked/", "src/libcharon", "libcharon/", "quinn-proto/",
    "src/wire/udp.rs", "src/wire/ipv4.rs", "strongswan.conf", "swanctl.conf", "iked.conf",
    "ipsec.conf", "resolv.conf", "rc.conf", "sysctl.conf", "pf.conf", "charon.conf",
    "ike.conf", "login.conf", "Cargo.toml", "README.md", "CHANGELOG.md", "lib.rs", "mod.rs",
    "main.rs", "build.rs", "xfrm.h", "rc.subr", "rc.d/", "libexec/", "man5/", "man8/",
)
# Files that tests write at run time and name in comments.
GENERATED = ("child.sh", "swap.sh", "probe.sh", "site.py")
VERSION = re.compile(r"^v?\d")


def tracked():
    out = subprocess.run(["git", "ls-files", "-z"], check=True, capture_output=True).stdout
    return [p for p in out.decode().split("\0") if p]


def exists(name, path, files, suffixes):
    if name.startswith("../") or name.startswith("./"):
        # Relative to the naming file (#[path], links) or to the top (scripts).
        return (os.path.normpath(os.path.join(os.path.dirname(path), name)) in files
                or os.path.normpath(name) in files)
    return name in files or name in suffixes


def main():
    files = tracked()
    fileset = set(files)
    suffixes = set()
    for p in files:
        parts = p.split("/")
        for i in range(1, len(parts)):
            suffixes.add("/".join(parts[i:]))
    bad = []
    for path in files:
        if not (path.endswith(SCANNED) or "/" not in path and path in ("Makefile",)):
            continue
        if path.startswith("docs/DIALECTS.md") or "/data/" in path or "/out/" in path:
            continue
        try:
            text = open(path, encoding="utf-8").read()
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        for lineno, line in enumerate(text.splitlines(), 1):
            for m in NAME.finditer(line):
                name = m.group(1)
                start = m.start(1)
                before = line[max(0, start - 8):start]
                if "://" in before or before.endswith(("/", "~", "$")):
                    continue
                if name.startswith("shared/") or "/shared/" in name:
                    bad.append(f"{path}:{lineno}: {name} is outside the repository")
                    continue
                if PLACEHOLDER.search(name) or VERSION.match(name) or name in GENERATED:
                    continue
                if name.startswith(EXTERNAL) or name.split("/")[-1] in EXTERNAL and "/" not in name:
                    continue
                if not exists(name, path, fileset, suffixes):
                    bad.append(f"{path}:{lineno}: {name} names no file in the repository")
    for b in bad:
        print(b)
    print(f"doc-refs: {len(bad)} dangling reference(s)" if bad else "doc-refs: every named file exists")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
