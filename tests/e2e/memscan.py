#!/usr/bin/env python3
"""Search a process's whole memory for byte strings (issue 16's memory-secrecy test).

    memscan.py PID NAME=HEX [NAME=HEX ...]

Reads every readable mapping listed in /proc/PID/maps through /proc/PID/mem (needs
root or ptrace rights over PID) and prints one line per needle: "found NAME at ADDR
(MAPPING)" or "absent NAME". Exit status: 0 if every needle is absent, 1 if any is
found, 2 if the memory could not be read at all (so a scan that read nothing cannot
pass as "absent"). Regions are read whole, so a needle across a page boundary is found.
"""
import sys


def regions(pid):
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split(None, 5)
            start, end = (int(x, 16) for x in parts[0].split("-"))
            perms = parts[1]
            name = parts[5].strip() if len(parts) > 5 else "[anon]"
            if perms[0] == "r" and name not in ("[vvar]", "[vsyscall]", "[vvar_vclock]"):
                yield start, end, name


def main():
    pid = int(sys.argv[1])
    needles = []
    for arg in sys.argv[2:]:
        name, hexed = arg.split("=", 1)
        needles.append((name, bytes.fromhex(hexed)))
    found = {}
    read_bytes = 0
    with open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for start, end, name in regions(pid):
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except OSError:
                continue
            read_bytes += len(data)
            for needle_name, needle in needles:
                at = data.find(needle)
                if at >= 0 and needle_name not in found:
                    found[needle_name] = f"{start + at:#x} ({name})"
    if read_bytes == 0:
        print(f"memscan: nothing readable in process {pid}", file=sys.stderr)
        return 2
    print(f"memscan: read {read_bytes} bytes of process {pid}")
    for needle_name, _ in needles:
        if needle_name in found:
            print(f"found {needle_name} at {found[needle_name]}")
        else:
            print(f"absent {needle_name}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
